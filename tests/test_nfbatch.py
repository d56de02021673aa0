"""nfbatch against a moto server holding a stack-like environment (CEs, queues, job definition, bucket, logs).

Faults (throttling, access denied) and job states moto cannot produce (a RUNNING head job) are injected through
botocore's own event hooks on real requests to moto, so retries and parsing run exactly as they would against AWS.
"""

import contextlib
import dataclasses
import io
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.awsrequest import AWSResponse
from conftest import ACCOUNT, IMAGE_MANIFEST, REGION, ROOT
from rich.console import Console

from nfbatch import aws as nfbatch_aws
from nfbatch import runs
from nfbatch.cli import main


def nfbatch(stack, *argv):
    """Run the CLI in-process; returns (exit code, stdout text)."""
    out = io.StringIO()
    code = main(["--outputs", str(stack.outputs_file), *argv], console=Console(file=out, width=250))
    return code, out.getvalue()


def as_json(text: str):
    return json.loads(text)


def head_jobs(stack, run: str = "*"):
    """Head jobs on the stack's head queue (of one run, or all)."""
    batch = stack.endpoint.client("batch")
    name = "*" if run == "*" else f"{runs.JOB_PREFIX}{run}"
    summaries = batch.list_jobs(
        jobQueue=stack.outputs["headQueueArn"], filters=[{"name": "JOB_NAME", "values": [name]}]
    )["jobSummaryList"]
    return batch.describe_jobs(jobs=[s["jobId"] for s in summaries])["jobs"] if summaries else []


def submit_tasks(stack, run: str, count: int, queue: str = "defaultQueueArn", definition: str | None = None):
    batch = stack.endpoint.client("batch")
    definition = definition or stack.outputs["jobDefinitionArn"]

    def submit(i: int) -> str:
        return batch.submit_job(
            jobName=f"nf-task-{i}", jobQueue=stack.outputs[queue], jobDefinition=definition, tags={"nfbatch-run": run}
        )["jobId"]

    with ThreadPoolExecutor(max_workers=8) as pool:  # setup only: the moto server is threaded
        return list(pool.map(submit, range(count)))


def add_tasks_directly(stack, run: str, count: int) -> None:
    """Setup shortcut for many jobs: submit through the server's own (in-process) Batch backend, not over HTTP."""
    from moto.batch_simple.models import batch_simple_backends

    backend = batch_simple_backends[ACCOUNT][REGION]
    for i in range(count):
        backend.submit_job(
            job_name=f"nf-task-{i}",
            job_def_id=stack.outputs["jobDefinitionArn"],
            job_queue=stack.outputs["defaultQueueArn"],
            array_properties={},
            tags={"nfbatch-run": run},
        )


def error_response(status: int, code: str, message: str):
    def handler(request, **_):
        body = json.dumps({"__type": code, "message": message}).encode()
        raw = io.BytesIO(body)
        raw.stream = lambda **__: iter([body])  # botocore reads error bodies via .stream()
        return AWSResponse(request.url, status, {"x-amzn-ErrorType": code}, raw)

    return handler


def running_for(first_n: int):
    """After-call hook: report the head job as RUNNING for the first `first_n` DescribeJobs answers."""
    seen = {"n": 0}

    def handler(parsed, **_):
        seen["n"] += 1
        if seen["n"] <= first_n:
            for job in parsed.get("jobs", []):
                if job["jobName"].startswith(runs.JOB_PREFIX):
                    job["status"] = "RUNNING"
                    job.pop("stoppedAt", None)

    return handler


# --- run --------------------------------------------------------------------------------------------------------


def test_run_submits_the_head_job_with_options_tags_and_params(shared_stack, hooks, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("input: s3://in/samples.csv\n")
    code, out = nfbatch(
        shared_stack,
        "run",
        "nf-core/rnaseq",
        "-r",
        "3.14.0",
        "--profile",
        "test",
        "--params-file",
        str(params),
        "--name",
        "rna-1",
        "--json",
        "--",
        "--outdir",
        "s3://out/my results",
    )
    assert code == 0
    result = as_json(out)
    assert set(result) == {"run", "headJobId", "jobName", "paramsFile"} and result["run"] == "rna-1"
    bucket = shared_stack.outputs["bucketName"]
    assert result["paramsFile"] == f"s3://{bucket}/params/rna-1/params.yaml"
    body = shared_stack.endpoint.client("s3").get_object(Bucket=bucket, Key="params/rna-1/params.yaml")["Body"]
    assert body.read() == params.read_bytes()
    [job] = head_jobs(shared_stack, "rna-1")
    assert job["jobId"] == result["headJobId"] and job["jobName"] == "nfbatch-rna-1"
    assert job["jobQueue"] == shared_stack.outputs["headQueueArn"]
    assert job["jobDefinition"] == shared_stack.outputs["jobDefinitionArn"]
    assert job["container"]["command"] == [
        "nf-core/rnaseq",
        "-r",
        "3.14.0",
        "-profile",
        "test",
        "-params-file",
        result["paramsFile"],
        "--outdir",
        "s3://out/my results",
    ]
    assert {"name": "NF_RUN_NAME", "value": "rna-1"} in job["container"]["environment"]
    assert job["tags"] == {"nfbatch-run": "rna-1", "nfbatch-pipeline": "nf-core/rnaseq"}


@pytest.fixture
def cached_stack(shared_stack, tmp_path):
    """The shared stack's outputs with the registryCaches export of a stack with the default caches."""
    registry = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    caches = {"quay.io": f"{registry}/dev/quay", "public.ecr.aws": f"{registry}/dev/ecr-public"}
    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps({**shared_stack.outputs, "registryCaches": caches}))
    return dataclasses.replace(shared_stack, outputs_file=outputs_file)


def test_run_can_ask_for_a_cached_registry_for_names_without_one(cached_stack, hooks):
    # The head reads NF_UNQUALIFIED_REGISTRY (container/entrypoint.sh; tests/test_container.py runs it).
    args = ("run", "hello", "--name", "asked-ecr", "--unqualified-registry", "public.ecr.aws")
    assert nfbatch(cached_stack, *args)[0] == 0
    [job] = head_jobs(cached_stack, "asked-ecr")
    assert {"name": "NF_UNQUALIFIED_REGISTRY", "value": "public.ecr.aws"} in job["container"]["environment"]
    assert nfbatch(cached_stack, "run", "hello", "--name", "plain-routing")[0] == 0
    [plain] = head_jobs(cached_stack, "plain-routing")
    assert all(e["name"] != "NF_UNQUALIFIED_REGISTRY" for e in plain["container"]["environment"])


@pytest.mark.parametrize(("cached", "fix"), [(True, "use one of public.ecr.aws, quay.io, or none"), (False, "is off")])
def test_run_refuses_a_registry_the_stack_does_not_cache_before_submitting(
    shared_stack, cached_stack, hooks, capsys, cached, fix
):
    stack, name = (cached_stack, "asked-ghcr") if cached else (shared_stack, "asked-ghcr-off")
    code, _ = nfbatch(stack, "run", "hello", "--name", name, "--unqualified-registry", "ghcr.io")
    err = capsys.readouterr().err
    assert code != 0 and "--unqualified-registry ghcr.io: the stack has no cache of it" in err and fix in err
    assert head_jobs(stack, name) == []


def test_resume_reuses_the_named_runs_cache(shared_stack, hooks):
    assert nfbatch(shared_stack, "run", "hello", "--name", "again", "--resume")[0] == 0
    assert head_jobs(shared_stack, "again")[0]["container"]["command"] == ["hello", "-resume"]


def test_generated_run_names_are_valid_and_distinct():
    names = {runs.new_run_name("nf-core/RNA seq") for _ in range(20)}
    assert len(names) == 20 and all(runs.RUN_NAME.fullmatch(n) and n.startswith("rna-seq-") for n in names)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "hello", "--name", "bad name!"], "run name 'bad name!' is not allowed"),
        (["run", "hello", "--resume"], "--resume needs --name"),
        (
            ["run", "hello", "--params-file", "/nonexistent/params.yaml"],
            "params file /nonexistent/params.yaml does not exist",
        ),
        (["status", "--", "-resume"], "arguments after `--` are only for `nfbatch run`"),
        (["prune-job-definitions", "--older-than", "0"], "--older-than 0: must be at least 1 day"),
        (["status", "--limit", "0"], "--limit 0: must be at least 1"),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(shared_stack, hooks, capsys, argv, message):
    code, _ = nfbatch(shared_stack, *argv)
    assert code == 2
    assert message in capsys.readouterr().err
    assert hooks.calls == {}


def test_run_refuses_a_disabled_head_queue_and_says_how_to_fix_it(fake_stack, hooks, capsys):
    batch = fake_stack.endpoint.client("batch")
    batch.update_job_queue(jobQueue=fake_stack.outputs["headQueueArn"], state="DISABLED")
    code, _ = nfbatch(fake_stack, "run", "hello")
    err = capsys.readouterr().err
    assert code == 2 and "head queue" in err and "is DISABLED" in err
    assert "aws batch update-job-queue" in err and "--state ENABLED" in err
    assert head_jobs(fake_stack) == []


def test_watch_ends_with_the_runs_outcome(shared_stack, hooks, monkeypatch):
    code, out = nfbatch(shared_stack, "run", "hello", "--name", "ok-run", "--watch", "--interval", "0")
    assert code == 0 and "run ok-run: SUCCEEDED" in out
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")  # moto's simple Batch then fails every job
    code, out = nfbatch(shared_stack, "run", "hello", "--name", "bad-run", "--watch", "--interval", "0")
    assert code == 1 and "run bad-run: FAILED" in out


def test_ctrl_c_while_watching_leaves_the_run_alone(shared_stack, hooks, monkeypatch):
    hooks.on("after-call.batch.DescribeJobs", running_for(10**6))

    def interrupt(_):
        raise KeyboardInterrupt

    monkeypatch.setattr("nfbatch.cli.time.sleep", interrupt)
    code, out = nfbatch(shared_stack, "run", "hello", "--name", "long", "--watch")
    assert code == 130 and "the run goes on" in out and "nfbatch stop long" in out
    assert "TerminateJob" not in hooks.calls and "CancelJob" not in hooks.calls


# --- status -----------------------------------------------------------------------------------------------------


def test_status_lists_recent_runs_newest_first(shared_stack, hooks):
    for name in ("first", "second"):
        assert nfbatch(shared_stack, "run", "hello", "--name", name)[0] == 0
        time.sleep(0.01)
    code, out = nfbatch(shared_stack, "status", "--limit", "2", "--json")
    listed = as_json(out)
    assert code == 0 and [r["run"] for r in listed] == ["second", "first"]
    assert set(listed[0]) == {
        "run",
        "team",
        "pipeline",
        "state",
        "reason",
        "createdAt",
        "startedAt",
        "stoppedAt",
        "durationSeconds",
        "headJobId",
        "exitCode",
        "logStream",
    }
    assert listed[0]["team"] is None  # a stack without teams
    code, table = nfbatch(shared_stack, "status")
    assert code == 0 and "recent runs" in table and "second" in table and "SUCCEEDED" in table


def test_status_of_one_run_counts_only_its_own_tasks(shared_stack, hooks, monkeypatch):
    assert nfbatch(shared_stack, "run", "hello", "--name", "mine")[0] == 0
    submit_tasks(shared_stack, "mine", 3)
    submit_tasks(shared_stack, "mine", 1, queue="priorityQueueArn")
    submit_tasks(shared_stack, "someone-else", 2)
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    submit_tasks(shared_stack, "mine", 2)
    code, out = nfbatch(shared_stack, "status", "mine", "--json")
    detail = as_json(out)
    assert code == 0 and detail["run"] == "mine" and detail["taskTotal"] == 6
    assert detail["tasks"]["SUCCEEDED"] == 4 and detail["tasks"]["FAILED"] == 2
    code, table = nfbatch(shared_stack, "status", "mine")
    assert "succeeded 4" in table and "failed 2" in table


def test_status_of_a_run_of_a_thousand_jobs_takes_at_most_ten_describe_calls(fake_stack, hooks):
    # A fresh stack: moto ignores ListJobs' AFTER_CREATED_AT filter, so other tests' tasks would be described too.
    assert nfbatch(fake_stack, "run", "hello", "--name", "big")[0] == 0
    add_tasks_directly(fake_stack, "big", 999)  # with the head job: 1000 jobs
    hooks.calls.clear()
    code, out = nfbatch(fake_stack, "status", "big", "--json")
    assert code == 0 and as_json(out)["taskTotal"] == 999
    assert hooks.calls["DescribeJobs"] <= 10


def test_unknown_run_is_a_clear_error(shared_stack, hooks, capsys):
    code, _ = nfbatch(shared_stack, "status", "no-such-run")
    assert code == 2 and "no run named no-such-run" in capsys.readouterr().err


# --- logs -------------------------------------------------------------------------------------------------------


def put_log(stack, stream: str, lines: list[str], group: str | None = None):
    logs = stack.endpoint.client("logs")
    group = group or stack.outputs["headLogGroupName"]
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)],
    )


def test_logs_print_the_head_jobs_stream(shared_stack, hooks):
    assert nfbatch(shared_stack, "run", "hello", "--name", "talky")[0] == 0
    [job] = head_jobs(shared_stack, "talky")
    put_log(shared_stack, job["container"]["logStreamName"], ["N E X T F L O W", "[ab/123456] hello [100%]"])
    code, out = nfbatch(shared_stack, "logs", "talky")
    assert code == 0 and out.splitlines() == ["N E X T F L O W", "[ab/123456] hello [100%]"]
    code, out = nfbatch(shared_stack, "logs", "talky", "--json")
    assert [e["message"] for e in as_json(out)] == ["N E X T F L O W", "[ab/123456] hello [100%]"]
    assert all(isinstance(e["timestamp"], int) for e in as_json(out))


def test_follow_waits_for_a_stream_that_does_not_exist_yet(shared_stack, hooks):
    assert nfbatch(shared_stack, "run", "hello", "--name", "slow")[0] == 0
    [job] = head_jobs(shared_stack, "slow")
    hooks.on("after-call.batch.DescribeJobs", running_for(2))
    created = []

    def sleep(_):  # the stream appears while we wait, as it does when the container starts
        if not created:
            put_log(shared_stack, job["container"]["logStreamName"], ["started", "done"])
            created.append(True)

    aws = nfbatch_aws.Aws("us-east-1")
    from nfbatch.stack import StackOutputs

    events = list(runs.follow_head_log(aws, StackOutputs(shared_stack.outputs), "slow", True, 0, sleep=sleep))
    assert [e["message"] for e in events] == ["started", "done"]
    assert created


def test_logs_tasks_failed_shows_reasons_and_log_tails(shared_stack, hooks, monkeypatch):
    assert nfbatch(shared_stack, "run", "hello", "--name", "broken")[0] == 0
    submit_tasks(shared_stack, "broken", 1)
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    [failed] = submit_tasks(shared_stack, "broken", 1)
    job = shared_stack.endpoint.client("batch").describe_jobs(jobs=[failed])["jobs"][0]
    group = job["container"].get("logConfiguration", {}).get("options", {}).get("awslogs-group", "/aws/batch/job")
    put_log(shared_stack, job["container"]["logStreamName"], [f"line {i}" for i in range(30)], group=group)
    code, out = nfbatch(shared_stack, "logs", "broken", "--tasks", "failed", "--json")
    [report] = as_json(out)
    assert code == 0 and report["jobId"] == failed and report["state"] == "FAILED"
    assert report["logTail"] == [f"line {i}" for i in range(10, 30)]
    code, out = nfbatch(shared_stack, "logs", "broken", "--tasks", "all", "--json")
    assert len(as_json(out)) == 2


# --- stop -------------------------------------------------------------------------------------------------------


def test_stop_terminates_a_running_head_job_and_lists_active_tasks(shared_stack, hooks):
    assert nfbatch(shared_stack, "run", "hello", "--name", "halt")[0] == 0
    active = submit_tasks(shared_stack, "halt", 2)
    submit_tasks(shared_stack, "other-run", 1)

    def still_running(parsed, **_):  # moto finishes jobs at once; here the run and its tasks are mid-flight
        for job in parsed.get("jobs", []):
            job["status"] = "RUNNING"

    hooks.on("after-call.batch.DescribeJobs", still_running)
    code, out = nfbatch(shared_stack, "stop", "halt", "--json")
    result = as_json(out)
    assert code == 0 and result["terminated"] is True and result["run"] == "halt"
    assert hooks.calls["TerminateJob"] == 1
    assert sorted(result["activeTasks"]) == sorted(active)
    code, out = nfbatch(shared_stack, "stop", "halt")
    assert "Nextflow cancels 2 active task job(s)" in out


def test_stop_of_an_ended_run_changes_nothing(shared_stack, hooks):
    assert nfbatch(shared_stack, "run", "hello", "--name", "done")[0] == 0
    code, out = nfbatch(shared_stack, "stop", "done")
    assert code == 0 and "already ended" in out and "TerminateJob" not in hooks.calls


# --- doctor -----------------------------------------------------------------------------------------------------


def test_doctor_passes_on_a_healthy_stack(shared_stack, hooks):
    code, out = nfbatch(shared_stack, "doctor", "--json")
    checks = as_json(out)
    # 20: the registry cache's rules and grant say "off" (no registryCaches export), and no recent pull failure.
    assert code == 0 and len(checks) == 20 and all(c["ok"] for c in checks)
    assert set(checks[0]) == {"check", "ok", "detail", "fix"}


@pytest.mark.parametrize(
    ("breakage", "check", "fix"),
    [
        ("queue-disabled", "default queue enabled", "--state ENABLED"),
        ("queue-order", "priority queue order", "pulumi up"),
        ("ce-disabled", "spot compute environment enabled", "update-compute-environment"),
        ("definition-gone", "head job definition", "pulumi up"),
        ("policy-gone", "work bucket TLS-only policy", "pulumi up"),
        ("role-gone", "task job role", "pulumi up"),
    ],
)
def test_doctor_names_each_problem_and_its_fix(fake_stack, hooks, breakage, check, fix):
    o, client = fake_stack.outputs, fake_stack.endpoint.client
    if breakage == "queue-disabled":
        client("batch").update_job_queue(jobQueue=o["defaultQueueArn"], state="DISABLED")
    elif breakage == "queue-order":
        client("batch").update_job_queue(
            jobQueue=o["priorityQueueArn"],
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": o["spotComputeEnvironmentArn"]}],
        )
    elif breakage == "ce-disabled":
        client("batch").update_compute_environment(computeEnvironment=o["spotComputeEnvironmentArn"], state="DISABLED")
    elif breakage == "definition-gone":
        client("batch").deregister_job_definition(jobDefinition=o["jobDefinitionArn"])
    elif breakage == "policy-gone":
        client("s3").delete_bucket_policy(Bucket=o["bucketName"])
    elif breakage == "role-gone":
        client("iam").delete_role(RoleName=o["taskJobRoleArn"].rsplit("/", 1)[-1])
    code, out = nfbatch(fake_stack, "doctor", "--json")
    failed = [c for c in as_json(out) if not c["ok"]]
    assert code == 1
    assert [c["check"] for c in failed] == [check]
    assert fix in failed[0]["fix"]
    code, table = nfbatch(fake_stack, "doctor")
    assert "FAIL" in table and check in table


def test_doctor_fixes_that_redeploy_name_the_stack(fake_stack, hooks):
    # Issue 18: every fix line names the stack, as `pulumi up --stack S` (the redeploy fixes and the inline ones).
    o, client = fake_stack.outputs, fake_stack.endpoint.client
    client("batch").deregister_job_definition(jobDefinition=o["jobDefinitionArn"])
    client("batch").update_job_queue(
        jobQueue=o["priorityQueueArn"],
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": o["spotComputeEnvironmentArn"]}],
    )
    code, out = main_json(fake_stack, "--stack", "lab-dev", "doctor")
    fixes = {c["check"]: c["fix"] for c in out if not c["ok"]}
    assert code == 1 and fixes["head job definition"] == "run `pulumi up --stack lab-dev`"
    assert fixes["priority queue order"] == "someone changed the queue by hand; `pulumi up --stack lab-dev` restores it"


def test_doctor_fails_and_names_the_head_image_until_it_is_in_the_repository(fake_stack, hooks):
    # The first-deploy trap of issue 18: an empty repository, every run failing with CannotPullContainerError.
    o, ecr = fake_stack.outputs, fake_stack.endpoint.client("ecr")
    repository, tag = o["headImage"].split("/", 1)[1].split(":")
    ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageTag": tag}])
    assert ecr.describe_images(repositoryName=repository)["imageDetails"] == []
    code, out = main_json(fake_stack, "--stack", "lab-dev", "doctor")
    [failed] = [c for c in out if not c["ok"]]
    assert code == 1 and failed["check"] == "head image in ECR"
    assert failed["detail"] == f"{o['headImage']}: no such image; every run fails with CannotPullContainerError"
    # The stack's own repository is filled by `pulumi up` (headJob.image unset) once a refresh has found the tag gone.
    assert failed["fix"] == (
        "`pulumi refresh --stack lab-dev` (it finds the tag gone), then `pulumi up --stack lab-dev` builds container/ "
        "and pushes it again (Docker needed)"
    )
    assert hooks.calls["DescribeImages"] >= 1
    ecr.put_image(repositoryName=repository, imageManifest=IMAGE_MANIFEST, imageTag=tag)
    code, out = main_json(fake_stack, "doctor")
    image = next(c for c in out if c["check"] == "head image in ECR")
    assert code == 0 and image == {"check": "head image in ECR", "ok": True, "detail": o["headImage"], "fix": None}


def main_json(stack, *argv):
    """The CLI's exit code and its --json answer."""
    code, out = nfbatch(stack, *argv, "--json")
    return code, as_json(out)


def test_doctor_says_how_to_mend_an_image_someone_else_pushes(fake_stack):
    # headJob.image names an image in a repository that does not exist: RepositoryNotFoundException.
    from nfbatch.aws import Aws
    from nfbatch.maintenance import head_image_check
    from nfbatch.stack import StackOutputs

    outputs, image = StackOutputs(fake_stack.outputs), f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/lab/nextflow:1"
    check = head_image_check(Aws(REGION), outputs, {"containerProperties": {"image": image}}, "prod")
    assert check["ok"] is False and check["detail"].startswith(f"{image}: its repository does not exist")
    assert f"push {image}, or point headJob.image at an image that exists" in check["fix"]
    assert "pulumi config set --stack prod --path 'genomics-batch:headJob.image'" in check["fix"]
    public = head_image_check(Aws(REGION), outputs, {"containerProperties": {"image": "nextflow/nextflow:25.04.6"}})
    assert public["ok"] is True and public["detail"].endswith("not in a private ECR registry, not checked")


@pytest.mark.parametrize(
    ("image", "request_"),
    [
        (
            f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/nextflow-image-1a2b3c:25.04.6-0123456789abcdef",
            {"region": "eu-west-1", "repositoryName": "nextflow-image-1a2b3c", "tag": "25.04.6-0123456789abcdef"},
        ),
        (
            f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn/lab/nextflow@sha256:{'a' * 64}",
            {"region": "cn-north-1", "repositoryName": "lab/nextflow", "digest": f"sha256:{'a' * 64}"},
        ),
        # No tag is Docker's `latest`.
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/lab/nextflow", {"region": "us-east-1", "tag": "latest"}),
        ("public.ecr.aws/lab/nextflow:25.04.6", None),
        ("nextflow/nextflow:25.04.6", None),
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com.evil.example/x:1", None),
    ],
)
def test_ecr_images_become_describe_images_requests(image, request_):
    import botocore.session
    from botocore.validate import ParamValidator

    from nfbatch.maintenance import ecr_image

    found = ecr_image(image)
    if request_ is None:
        assert found is None
        return
    assert found["region"] == request_["region"] and found["registryId"] == ACCOUNT
    assert found["repositoryName"] == request_.get("repositoryName", "lab/nextflow")
    expected_id = {"imageDigest": request_["digest"]} if "digest" in request_ else {"imageTag": request_["tag"]}
    assert found["imageIds"] == [expected_id]
    # What ECR takes: the request checked against botocore's model of DescribeImages.
    shape = botocore.session.get_session().get_service_model("ecr").operation_model("DescribeImages").input_shape
    params = {k: v for k, v in found.items() if k != "region"}
    assert not ParamValidator().validate(params, shape).has_errors()


# --- prune ------------------------------------------------------------------------------------------------------


def register(stack, name: str) -> str:
    return stack.endpoint.client("batch").register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={
            "image": "busybox",
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )["jobDefinitionArn"]


@pytest.fixture
def definitions(fake_stack):
    """Two stale nf-* definitions, one in use, one that is not Nextflow's, and the stack's own under an nf- name.

    Names carry this stack's suffix: the moto server, like an AWS account, holds other tests' definitions too.
    """
    suffix = fake_stack.outputs["bucketName"].removeprefix("work-")
    names = {key: f"{key}-{suffix}" for key in ("nf-stack-head", "nf-old-a", "nf-old-b", "nf-used", "custom-keep")}
    arns = {key: register(fake_stack, name) for key, name in names.items()}
    fake_stack.outputs.update(jobDefinitionArn=arns["nf-stack-head"], jobDefinitionName=names["nf-stack-head"])
    fake_stack.outputs_file.write_text(json.dumps(fake_stack.outputs))
    submit_tasks(fake_stack, "some-run", 1, definition=arns["nf-used"])
    return names


def active(stack) -> set[str]:
    paginator = stack.endpoint.client("batch").get_paginator("describe_job_definitions")
    return {d["jobDefinitionName"] for page in paginator.paginate(status="ACTIVE") for d in page["jobDefinitions"]}


def test_prune_is_a_dry_run_by_default(fake_stack, hooks, definitions):
    code, out = nfbatch(fake_stack, "prune-job-definitions", "--json")
    assert code == 0
    listed = [d["name"] for d in as_json(out)["wouldDeregister"]]
    assert definitions["nf-old-a"] in listed and definitions["nf-old-b"] in listed
    assert not {definitions[k] for k in ("nf-used", "custom-keep", "nf-stack-head")} & set(listed)
    assert set(definitions.values()) <= active(fake_stack)
    assert "DeregisterJobDefinition" not in hooks.calls


def test_prune_apply_never_touches_protected_or_used_definitions(fake_stack, hooks, definitions):
    code, out = nfbatch(fake_stack, "prune-job-definitions", "--apply", "--json")
    assert code == 0
    gone = {d["name"] for d in as_json(out)["deregistered"]}
    assert {definitions["nf-old-a"], definitions["nf-old-b"]} <= gone
    remaining = active(fake_stack)
    assert not gone & remaining
    assert {definitions[k] for k in ("nf-used", "custom-keep", "nf-stack-head")} <= remaining


# --- config and stack resolution ----------------------------------------------------------------------------------


def test_config_prints_the_stacks_nextflow_config(shared_stack, capsys):
    assert main(["--outputs", str(shared_stack.outputs_file), "config"]) == 0
    assert capsys.readouterr().out == shared_stack.outputs["nextflowConfig"]


def test_outputs_come_from_the_environment_variable(shared_stack, monkeypatch, capsys):
    monkeypatch.setenv("NFBATCH_OUTPUTS", str(shared_stack.outputs_file))
    assert main(["config"]) == 0


def test_missing_output_keys_are_named(shared_stack, tmp_path, capsys):
    partial = {k: v for k, v in shared_stack.outputs.items() if k not in ("headQueueArn", "bucketName")}
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(partial))
    assert main(["--outputs", str(path), "status"]) == 2
    err = capsys.readouterr().err
    assert "lack bucketName, headQueueArn" in err and "pulumi up" in err


def test_without_pulumi_or_outputs_file_the_error_says_what_to_pass(monkeypatch, capsys):
    monkeypatch.delenv("NFBATCH_OUTPUTS", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["status"]) == 2
    assert "--outputs" in capsys.readouterr().err


# --- AWS faults ---------------------------------------------------------------------------------------------------


def test_no_credentials_is_a_clear_error(shared_stack, monkeypatch, capsys):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    code, _ = nfbatch(shared_stack, "status")
    err = capsys.readouterr().err
    assert code == 2 and "no usable AWS credentials" in err and "AWS_PROFILE" in err
    assert "Traceback" not in err


def test_access_denied_names_the_missing_permission(shared_stack, hooks, capsys):
    hooks.on(
        "before-send.batch.SubmitJob",
        error_response(
            403,
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
            "batch:SubmitJob on resource: job-queue/head",
        ),
    )
    code, _ = nfbatch(shared_stack, "run", "hello")
    err = capsys.readouterr().err
    assert code == 2 and "access denied: your credentials lack batch:SubmitJob" in err


def test_access_denied_without_a_named_action_falls_back_to_the_operation(shared_stack, hooks, capsys):
    hooks.on("before-send.batch.DescribeComputeEnvironments", error_response(403, "AccessDeniedException", "Forbidden"))
    code, _ = nfbatch(shared_stack, "doctor")
    assert code == 2 and "lack batch:DescribeComputeEnvironments" in capsys.readouterr().err


@pytest.mark.parametrize("code_name", ["TooManyRequestsException", "ThrottlingException"])
def test_throttling_is_retried_and_survived(shared_stack, hooks, code_name):
    name = f"busy-{code_name.lower()}"  # one run each: a run name is never reused without --resume
    assert nfbatch(shared_stack, "run", "hello", "--name", name)[0] == 0
    throttled = {"left": 1}  # one throttled answer: each retry waits a jittered backoff
    throttle = error_response(429, code_name, "Too Many Requests")

    def sometimes(request, **kwargs):
        if throttled["left"]:
            throttled["left"] -= 1
            return throttle(request, **kwargs)
        return None

    hooks.on("before-send.batch.ListJobs", sometimes)
    hooks.calls.clear()
    code, out = nfbatch(shared_stack, "status", "--limit", "1", "--json")
    assert code == 0 and as_json(out)[0]["run"] == name
    assert throttled["left"] == 0
    assert nfbatch_aws.RETRY_CONFIG.retries["mode"] == "standard"


def test_nfbatch_is_installed_as_a_console_script_and_a_module():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "nfbatch"
    for command in ([str(script), "--help"], [sys.executable, "-m", "nfbatch", "--help"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        for verb in ("run", "status", "logs", "stop", "doctor", "prune-job-definitions", "config"):
            assert verb in result.stdout


LIGHT_PROBE = """
import json, sys
from nfbatch.cli import main
codes = []
for argv in json.loads(sys.argv[1]):
    try:
        codes.append(main(argv))
    except SystemExit as stop:
        codes.append(stop.code)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pulumi", "pulumi_aws", "grpc", "pydantic"))
print(json.dumps({"codes": codes, "heavy": heavy}), file=sys.stderr)
"""
OPERATIONAL = [["--help"], ["status"], ["doctor"], ["config"], ["logs", "nobody"], ["prune-job-definitions"]]


def test_operational_verbs_never_import_pulumi_grpc_or_pydantic(shared_stack):
    import subprocess
    import sys

    # One fresh process runs every verb in turn: whatever any of them imported is still in sys.modules at the end.
    env = {**shared_stack.endpoint.env(), "NFBATCH_OUTPUTS": str(shared_stack.outputs_file), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_PROBE, json.dumps(OPERATIONAL)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    probe = json.loads(result.stderr.strip().splitlines()[-1])
    assert probe["heavy"] == [], probe
    # Each verb ran to its own end: --help exits 0, `logs nobody` is a clean 2, doctor may find moto's stack unhealthy.
    assert probe["codes"][0] == 0 and probe["codes"][4] == 2 and all(c in (0, 1, 2) for c in probe["codes"])


def test_offline_verbs_print_the_schema_and_the_reference(capsys, monkeypatch):
    from settings.reference import config_table, schema_text

    monkeypatch.delenv("NFBATCH_OUTPUTS", raising=False)  # offline: no stack outputs needed
    assert main(["config", "schema"]) == 0
    assert capsys.readouterr().out == schema_text()
    assert main(["config", "reference"]) == 0
    assert capsys.readouterr().out == config_table()


def test_status_table_is_readable_at_80_columns_and_the_cli_describes_itself(shared_stack, capsys):
    long_name = "a-rather-long-run-name-for-a-cohort-of-two-thousand-samples-2026"
    assert nfbatch(shared_stack, "run", "nf-core/sarek", "--name", long_name)[0] == 0
    out = io.StringIO()
    code = main(
        ["--outputs", str(shared_stack.outputs_file), "status", "--limit", "3"], console=Console(file=out, width=80)
    )  # what a pipe or a narrow terminal gets
    lines = out.getvalue().splitlines()
    assert code == 0 and all(len(line) <= 80 for line in lines)
    table = out.getvalue()
    assert "SUCCEEDED" in table and "head job" not in table  # the id column is for wide terminals
    assert "".join(line.split("│")[1].strip() for line in lines if line.count("│") > 2).find(long_name) >= 0
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("nfbatch ")
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "Everything after `--` is passed to `nextflow run` unchanged" in capsys.readouterr().out


# --- bad input, tried as an adversary would ---------------------------------------------------------------------


def _files(tmp_path) -> dict[str, str]:
    (tmp_path / "params-dir").mkdir()
    written = {"bad.yaml": "input: [unclosed\n", "list.yaml": "- a\n- b\n", "ok.json": '{"input": "s3://x"}'}
    for name, text in written.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.yaml").write_bytes(b"title: caf\xe9\n")
    return {name: str(tmp_path / name) for name in [*written, "latin1.yaml", "params-dir"]}


BEFORE_AWS = [
    (["run", "hello", "--name", ""], "run name '' is not allowed"),
    (["run", "hello", "--name", "_hidden"], "run name '_hidden' is not allowed"),
    (["run", "hello", "--name", "a" * 101], "is not allowed"),
    (["run", "hello", "--name", "semi;colon"], "run name 'semi;colon' is not allowed"),
    (["run", "nf core/rnaseq"], "pipeline 'nf core/rnaseq' is not allowed"),
    (["run", "hello;id"], "pipeline 'hello;id' is not allowed"),
    (["run", "$(id)"], "pipeline '$(id)' is not allowed"),
    (["run", "https://github.com/lab/my pipeline"], "is not allowed"),
    (["run", "nf-core/rnaseq`id`"], "is not allowed"),
    (["run", "hello", "--params-file", "{params-dir}"], "is a directory"),
    (["run", "hello", "--params-file", "{bad.yaml}"], "is not valid YAML or JSON at line 2"),
    (["run", "hello", "--params-file", "{list.yaml}"], "must hold a mapping of parameter names to values"),
    (["run", "hello", "--params-file", "{latin1.yaml}"], "is not UTF-8 text"),
    (["status", "--limit", "-5"], "--limit -5: must be at least 1"),
    (["prune-job-definitions", "--older-than", "-1"], "--older-than -1: must be at least 1 day"),
    (["stop", "bad name!"], "run name 'bad name!' is not allowed"),
    (["logs", "../../etc"], "run name '../../etc' is not allowed"),
    (["status", "x" * 200], "is not allowed"),
    (["logs", "x", "--", "-resume"], "arguments after `--` are only for `nfbatch run`"),
]


@pytest.mark.parametrize(("argv", "message"), BEFORE_AWS, ids=[" ".join(a)[:40] for a, _ in BEFORE_AWS])
def test_more_bad_input_is_refused_before_any_aws_call(shared_stack, hooks, capsys, tmp_path, argv, message):
    files = _files(tmp_path)
    code, _ = nfbatch(shared_stack, *[files[a[1:-1]] if a.startswith("{") else a for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert hooks.calls == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"region": 42}, "region = 42: must be a non-empty string"),
        ({"headQueueArn": None}, "headQueueArn = null: must be a non-empty string"),
        ({"region": "us-east-9"}, "region = us-east-9: not an AWS region"),
        ({"jobDefinitionArn": ""}, 'jobDefinitionArn = "": must be a non-empty string'),
        ({"workDir": ["s3://a"]}, 'workDir = ["s3://a"]: must be a non-empty string'),
    ],
)
def test_outputs_files_are_type_checked(shared_stack, hooks, capsys, tmp_path, change, message):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({**shared_stack.outputs, **change}))
    assert main(["--outputs", str(path), "status"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and hooks.calls == {}


@pytest.mark.parametrize("code_name", ["ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"])
def test_bad_credentials_get_their_own_message(shared_stack, hooks, capsys, code_name):
    hooks.on("before-send.batch.ListJobs", error_response(403, code_name, "The security token is not valid"))
    code, _ = nfbatch(shared_stack, "status")
    err = capsys.readouterr().err
    assert code == 2 and f"your AWS credentials are expired or not valid ({code_name})" in err
    assert "aws sso login" in err and "grant" not in err


def test_a_missing_profile_gets_a_fix_line(shared_stack, capsys, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, _ = nfbatch(shared_stack, "status")
    err = capsys.readouterr().err
    assert code == 2 and "no-such-profile" in err and "aws configure list-profiles" in err


def test_a_bad_or_unreachable_endpoint_is_a_clean_and_quick_error(shared_stack, hooks, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "not a url")
    code, _ = nfbatch(shared_stack, "status")
    err = capsys.readouterr().err
    assert code == 2 and "AWS_ENDPOINT_URL = not a url" in err and "Traceback" not in err
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed}")
    sent = []
    hooks.on("before-send.batch", lambda **_: sent.append(1))
    code, _ = nfbatch(shared_stack, "status")
    err = capsys.readouterr().err
    assert code == 2 and f"cannot reach AWS_ENDPOINT_URL http://127.0.0.1:{closed} (tried 2 times)" in err
    assert len(sent) == 2  # not botocore's ten attempts with backoff


def failed_before_logging(parsed, **_):
    for job in parsed.get("jobs", []):
        if job["jobName"].startswith(runs.JOB_PREFIX):
            job.update(
                status="FAILED",
                statusReason="CannotPullContainerError: pull image manifest has been retried 5 time(s): not found",
            )
            job.get("container", {}).pop("logStreamName", None)


def test_logs_of_a_head_that_failed_before_logging_end_with_the_reason(shared_stack, hooks, capsys):
    assert nfbatch(shared_stack, "run", "hello", "--name", "no-image")[0] == 0
    hooks.on("after-call.batch.DescribeJobs", failed_before_logging)
    for argv in (["logs", "no-image", "--follow", "--interval", "0"], ["logs", "no-image"]):
        code, _ = nfbatch(shared_stack, *argv)
        err = capsys.readouterr().err
        assert code == 1 and "run no-image ended FAILED before writing a log: CannotPullContainerError" in err
        assert "fix: `nfbatch doctor` checks the head image and says how to get it there" in err


def test_logs_of_a_head_still_waiting_say_so(shared_stack, hooks, capsys):
    assert nfbatch(shared_stack, "run", "hello", "--name", "waiting")[0] == 0

    def runnable(parsed, **_):
        for job in parsed.get("jobs", []):
            job["status"] = "RUNNABLE"
            job.get("container", {}).pop("logStreamName", None)

    hooks.on("after-call.batch.DescribeJobs", runnable)
    code, _ = nfbatch(shared_stack, "logs", "waiting")
    err = capsys.readouterr().err
    assert code == 0 and "note: run waiting has no log yet: its head job is RUNNABLE" in err


def test_reusing_a_run_name_needs_resume(shared_stack, hooks, capsys):
    assert nfbatch(shared_stack, "run", "hello", "--name", "twice")[0] == 0
    code, _ = nfbatch(shared_stack, "run", "hello", "--name", "twice")
    err = capsys.readouterr().err
    assert code == 2 and "a run named twice already exists" in err and "--name twice --resume" in err
    assert nfbatch(shared_stack, "run", "hello", "--name", "twice", "--resume")[0] == 0


def test_doctor_says_when_alert_subscriptions_wait_for_confirmation(fake_stack, hooks, capsys):
    sns = fake_stack.endpoint.client("sns")
    topic = sns.create_topic(Name="alerts-doctor")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@lab.org")
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="lead@lab.org")
    fake_stack.outputs_file.write_text(json.dumps({**fake_stack.outputs, "alertTopicArn": topic}))

    def pending(parsed, **_):  # moto confirms email subscriptions at once; AWS waits for the click
        for subscription in parsed["Subscriptions"]:
            if subscription["Endpoint"] == "lead@lab.org":
                subscription["SubscriptionArn"] = "PendingConfirmation"

    hooks.on("after-call.sns.ListSubscriptionsByTopic", pending)
    code, out = nfbatch(fake_stack, "doctor", "--json")
    assert code == 1  # a failed check fails the doctor
    [check] = [c for c in as_json(out) if c["check"].startswith("alert subscriptions")]
    assert check["ok"] is False and check["detail"] == "waiting for confirmation: lead@lab.org"
    assert "Confirm subscription" in check["fix"] and "--notification-endpoint lead@lab.org" in check["fix"]


# --- a job id that is not this stack's run ----------------------------------------------------------------------


def all_running(answers: int = 20):
    """After-call hook: moto finishes jobs at once; here every job described is mid-flight, so `stop` would terminate
    whatever it found. Only for the first `answers` DescribeJobs answers, so a `logs --follow` that took a task for
    a run would still end."""
    seen = {"n": 0}

    def handler(parsed, **_):
        seen["n"] += 1
        for job in parsed.get("jobs", []) if seen["n"] <= answers else []:
            job["status"] = "RUNNING"
            job.pop("stoppedAt", None)

    return handler


TASK_ID_VERBS = [
    (["status"], "status task-owner"),
    (["logs"], "logs task-owner"),
    (["logs", "--follow", "--interval", "0"], "logs task-owner --follow"),
    (["logs", "--tasks", "failed"], "logs task-owner --tasks failed"),
    (["stop"], "stop task-owner"),
]


@pytest.mark.parametrize(("verb", "again"), TASK_ID_VERBS, ids=[" ".join(v) for v, _ in TASK_ID_VERBS])
def test_a_task_job_id_is_named_as_a_task_of_its_run(shared_stack, hooks, capsys, verb, again):
    if not head_jobs(shared_stack, "task-owner"):
        assert nfbatch(shared_stack, "run", "hello", "--name", "task-owner")[0] == 0
    [task] = submit_tasks(shared_stack, "task-owner", 1, queue="priorityQueueArn")
    hooks.on("after-call.batch.DescribeJobs", all_running())
    hooks.calls.clear()
    code, out = nfbatch(shared_stack, verb[0], task, *verb[1:])
    err = capsys.readouterr().err
    assert code == 2 and f"job {task} is a task of run task-owner, not a run" in err and "Traceback" not in err
    assert f"give the run instead: `nfbatch {again}`" in err
    assert out == "" and "TerminateJob" not in hooks.calls  # nothing reported as a run, nothing stopped


def test_a_task_job_id_without_a_run_tag_is_still_not_a_run(shared_stack, hooks, capsys):
    batch = shared_stack.endpoint.client("batch")
    stray = batch.submit_job(
        jobName="by-hand",
        jobQueue=shared_stack.outputs["defaultQueueArn"],
        jobDefinition=shared_stack.outputs["jobDefinitionArn"],
    )["jobId"]
    hooks.on("after-call.batch.DescribeJobs", all_running())
    code, _ = nfbatch(shared_stack, "stop", stray)
    err = capsys.readouterr().err
    queue = shared_stack.outputs["defaultQueueName"]
    assert code == 2 and f"job {stray} is a task job on this stack's task queue {queue}, not a run's head job" in err
    assert "TerminateJob" not in hooks.calls


@pytest.mark.parametrize(
    "verb", [["status"], ["logs"], ["logs", "--follow", "--interval", "0"], ["logs", "--tasks", "all"], ["stop"]]
)
def test_another_stacks_head_job_id_is_refused(shared_stack, fake_stack, hooks, capsys, verb):
    assert nfbatch(fake_stack, "run", "hello", "--name", "elsewhere")[0] == 0
    [other] = head_jobs(fake_stack, "elsewhere")
    hooks.on("after-call.batch.DescribeJobs", all_running())
    hooks.calls.clear()
    code, out = nfbatch(shared_stack, verb[0], other["jobId"], *verb[1:])
    err = capsys.readouterr().err
    queue = fake_stack.outputs["headQueueName"]
    assert code == 2 and f"job {other['jobId']} is not on this stack's head queue: it is on queue {queue}" in err
    assert "--stack or --outputs" in err and out == "" and "TerminateJob" not in hooks.calls


def test_a_head_job_id_of_this_stack_still_finds_its_run(shared_stack, hooks, capsys):
    assert nfbatch(shared_stack, "run", "hello", "--name", "by-id")[0] == 0
    [head] = head_jobs(shared_stack, "by-id")
    code, out = nfbatch(shared_stack, "status", head["jobId"], "--json")
    assert code == 0 and as_json(out)["run"] == "by-id" and as_json(out)["headJobId"] == head["jobId"]
    code, out = nfbatch(shared_stack, "stop", head["jobId"])
    assert code == 0 and "run by-id had already ended" in out


def test_a_job_id_that_batch_does_not_know_is_named_as_such(shared_stack, hooks, capsys):
    code, _ = nfbatch(shared_stack, "status", "0" * 8 + "-0000-0000-0000-" + "0" * 12)
    err = capsys.readouterr().err
    assert code == 2 and "on the head queue, and no job with that id" in err


# --- outputs files, hand-edited as an adversary would ---------------------------------------------------------------


def _in_region(arn: str, region: str) -> str:
    return arn.replace(f":{REGION}:", f":{region}:")


HAND_EDITED = [
    (
        "definition-name",
        lambda o: {"jobDefinitionArn": o["jobDefinitionName"]},
        "jobDefinitionArn = {jobDefinitionName}: must be a job definition ARN with its revision",
    ),
    (
        "definition-without-revision",
        lambda o: {"jobDefinitionArn": o["jobDefinitionArn"].rsplit(":", 1)[0]},
        "must be a job definition ARN with its revision",
    ),
    (
        "queue-name",
        lambda o: {"headQueueArn": o["headQueueName"]},
        "headQueueArn = {headQueueName}: must be a job queue ARN",
    ),
    (
        "queue-list",
        lambda o: {"defaultQueueArn": [o["defaultQueueArn"]]},
        'defaultQueueArn = ["{defaultQueueArn}"]: must be a non-empty string',
    ),
    (
        "queue-other-region",
        lambda o: {"priorityQueueArn": _in_region(o["priorityQueueArn"], "eu-west-1")},
        "priorityQueueArn = arn:aws:batch:eu-west-1:" + ACCOUNT + ":job-queue/{priorityQueueName}: must be in region "
        "us-east-1, the stack's region",
    ),
    (
        "queue-arn-as-role",
        lambda o: {"taskJobRoleArn": o["defaultQueueArn"]},
        "taskJobRoleArn = {defaultQueueArn}: must be an IAM role ARN",
    ),
    ("ce-arn-as-queue", lambda o: {"defaultQueueArn": o["spotComputeEnvironmentArn"]}, "must be a job queue ARN"),
    (
        "role-other-account",
        lambda o: {"headJobRoleArn": o["headJobRoleArn"].replace(ACCOUNT, "999999999999")},
        f"headJobRoleArn = arn:aws:iam::999999999999:role/{{headJobRole}}: must be in account {ACCOUNT}, the account "
        "of headQueueArn",
    ),
    (
        "partition",
        lambda o: {
            "onDemandComputeEnvironmentArn": o["onDemandComputeEnvironmentArn"].replace("arn:aws:", "arn:aws-cn:")
        },
        "must be in partition aws, the partition of region us-east-1",
    ),
    ("bucket-uppercase", lambda o: {"bucketName": "My_Bucket"}, "bucketName = My_Bucket: must use only lowercase"),
    ("workdir-not-s3", lambda o: {"workDir": "/mnt/work"}, "workDir = /mnt/work: must be an s3://<bucket>/<prefix>"),
    ("log-group-number", lambda o: {"headLogGroupName": 7}, "headLogGroupName = 7: must be a non-empty string"),
    (
        "log-group-spaces",
        lambda o: {"headLogGroupName": "my logs"},
        "headLogGroupName = my logs: must be a log group name",
    ),
    (
        "config-object",
        lambda o: {"nextflowConfig": {"workDir": "s3://x"}},
        'nextflowConfig = {{"workDir": "s3://x"}}: must be a non-empty string',
    ),
    ("optional-gpu-queue", lambda o: {"gpuQueueArn": "gpu"}, "gpuQueueArn = gpu: must be a job queue ARN"),
    (
        "optional-topic",
        lambda o: {"alertTopicArn": o["defaultQueueArn"]},
        "alertTopicArn = {defaultQueueArn}: must be an SNS topic ARN",
    ),
    ("seqera-string", lambda o: {"seqeraPlatform": "none"}, "seqeraPlatform = none: must be a JSON object"),
    (
        "cache-other-region",
        lambda o: {"registryCaches": {"quay.io": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dev/quay"}},
        "quay.io: must be a cache URI, <account>.dkr.ecr.us-east-1.amazonaws.com/<prefix>",
    ),
    (
        "cache-list",
        lambda o: {"registryCaches": ["quay.io"]},
        "must be a JSON object of image hosts to cache URIs",
    ),
    (
        "records-group-spaces",
        lambda o: {"instanceEventsLogGroupName": "instance records"},
        "instanceEventsLogGroupName = instance records: must be a log group name",
    ),
    (
        "two-at-once",
        lambda o: {"workDir": "work", "headQueueArn": 5},
        "have 2 problems:\n  - workDir = work: must "
        "be an s3://<bucket>/<prefix> URI\n  - "
        "headQueueArn = 5: must be a non-empty string",
    ),
]


@pytest.mark.parametrize(("change", "message"), [(c, m) for _, c, m in HAND_EDITED], ids=[i for i, _, _ in HAND_EDITED])
def test_a_hand_edited_outputs_file_is_refused_with_the_key_value_and_what_is_expected(
    shared_stack, hooks, capsys, tmp_path, change, message
):
    o = shared_stack.outputs
    names = {**o, "headJobRole": o["headJobRoleArn"].rsplit("/", 1)[-1]}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({**o, **change(o)}))
    assert main(["--outputs", str(path), "status"]) == 2
    err = capsys.readouterr().err
    assert message.format(**names) in err and "Traceback" not in err and hooks.calls == {}
    assert "fix: write the file again with `pulumi stack output --json`" in err


def test_every_export_of_the_contract_has_a_check():
    from facts.contract import EXPORT_NAMES
    from nfbatch.exports import CHECKS

    assert set(CHECKS) | {"region", "teams"} == set(EXPORT_NAMES)  # region and teams are checked on their own


def test_arn_checks_accept_the_layouts_the_service_authorization_reference_gives():
    from pathlib import Path

    import parliament

    from nfbatch.exports import COMPUTE_ENVIRONMENT, JOB_DEFINITION, JOB_QUEUE, ROLE, TOPIC

    # parliament's iam_definition.json is its copy of the Service Authorization Reference's resource types.
    definition = json.loads((Path(parliament.__file__).parent / "iam_definition.json").read_text())
    layouts = {(s["prefix"], r["resource"]): r["arn"] for s in definition for r in s["resources"]}
    values = {
        "${Partition}": "aws",
        "${Region}": REGION,
        "${Account}": ACCOUNT,
        "${JobQueueName}": "head-q_1",
        "${ComputeEnvironmentName}": "spot-1",
        "${JobDefinitionName}": "nextflow-1",
        "${Revision}": "12",
        "${RoleNameWithPath}": "service/head-role",
        "${TopicName}": "alerts-1",
    }
    for kind, key in (
        (JOB_QUEUE, ("batch", "job-queue")),
        (JOB_DEFINITION, ("batch", "job-definition-revision")),
        (COMPUTE_ENVIRONMENT, ("batch", "compute-environment")),
        (ROLE, ("iam", "role")),
        (TOPIC, ("sns", "topic")),
    ):
        arn = layouts[key]
        for placeholder, value in values.items():
            arn = arn.replace(placeholder, value)
        assert "$" not in arn and kind.problem(arn, REGION) is None, arn
        assert kind.problem(arn.replace(f":{ACCOUNT}:", ":12345:"), REGION) is not None  # an account is 12 digits


@pytest.mark.parametrize(
    "overrides",
    [
        None,
        {
            "genomics-batch:compute": {"gpu": {"enabled": True}},
            "genomics-batch:headJob": {"platform": "fargate"},
            "genomics-batch:alerts": {"emails": ["oncall@lab.org"]},
        },
    ],
    ids=["defaults", "every-optional-export"],
)
def test_the_programs_own_exports_pass_the_checks(overrides, dev_run, prod_run):
    from conftest import run_program

    from nfbatch.stack import parse_outputs

    for run in (dev_run, prod_run) if overrides is None else (run_program("dev", overrides),):
        exported = json.dumps(run.outputs, default=str)
        assert parse_outputs(exported, "the program").values == json.loads(exported)


# --- what a reviewer trips on: colour, widths, which file ---------------------------------------------------------

SGR = re.compile(r"\x1b\[([\d;]*)m")


def colors(text: str) -> list[str]:
    """The ANSI colour parameters (30-49 and 90-107: foreground and background) in `text`; bold and the like are
    not colour, which no-color.org leaves alone."""
    params = [p for group in SGR.findall(text) for p in group.split(";") if p]
    return [p for p in params if 30 <= int(p) <= 49 or 90 <= int(p) <= 107]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("no_color", [None, "", "1", "false"])
def test_no_color_set_and_not_empty_turns_off_every_colour(fake_stack, hooks, monkeypatch, no_color):
    # no-color.org: NO_COLOR "when present and not an empty string (regardless of its value), prevents the addition
    # of ANSI color". Each output path: a rich table (doctor), the error line (rich, on stderr) and the plan diff.
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    coloured = not no_color
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: a terminal even when captured, so colour would show
    out = io.StringIO()
    fake_stack.endpoint.client("batch").update_job_queue(
        jobQueue=fake_stack.outputs["defaultQueueArn"], state="DISABLED"
    )
    main(["--outputs", str(fake_stack.outputs_file), "doctor"], console=Console(file=out, width=250))
    assert bool(colors(out.getvalue())) is coloured and "FAIL" in out.getvalue()
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        assert main(["--outputs", str(fake_stack.outputs_file), "status", "--limit", "0"]) == 2
    assert "--limit 0" in errors.getvalue() and bool(colors(errors.getvalue())) is coloured
    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(["plan", "--stack", "dev", "--diff", "prod", "--project-dir", str(ROOT)]) == 0
    assert "!! REPLACE" in terminal.getvalue() and bool(colors(terminal.getvalue())) is coloured


def test_the_plain_plan_fits_the_terminal_like_the_diff(monkeypatch, capsys):
    # Both take their width from shutil.get_terminal_size, which reads COLUMNS first (Python's shutil docs).
    for columns in (80, 200):
        monkeypatch.setenv("COLUMNS", str(columns))
        assert main(["plan", "--stack", "prod", "--project-dir", str(ROOT)]) == 0
        text = capsys.readouterr().out
        prose = text.split("\nIAM policy documents\n")[0]  # documents, config and user data print verbatim
        assert max(len(line) for line in prose.splitlines()) <= columns
        assert ("\n    s3GatewayEndpoint $0.00)" in prose) is (columns == 80)  # wrapped, indented, nothing cut
        assert "s3GatewayEndpoint $0.00)" in prose
        assert main(["plan", "--stack", "dev", "--diff", "prod", "--project-dir", str(ROOT)]) == 0
        assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= columns


@pytest.mark.parametrize(
    ("argv", "message", "fix"),
    [
        (
            ["--diff", "staging"],
            "--diff staging: no stack file {root}/Pulumi.staging.yaml",
            "--diff dev or --diff prod",
        ),
        (
            ["--diff", "Pulumi.prod.yaml"],
            "(--diff takes a stack name, such as prod, not a file)",
            "name a stack of {root}: --diff dev or --diff prod",
        ),
        (["--stack", "stagign"], "--stack stagign: no stack file {root}/Pulumi.stagign.yaml", "--stack dev or --stack"),
    ],
)
def test_a_plan_of_a_missing_stack_file_says_which_option_named_which_file(capsys, argv, message, fix):
    assert main(["plan", *argv, "--project-dir", str(ROOT)]) == 2
    err = capsys.readouterr().err
    fix_line = next(line for line in err.splitlines() if line.startswith("fix: "))
    assert message.format(root=ROOT) in err and fix.format(root=ROOT) in fix_line


def test_the_push_fix_knows_the_stacks_own_image_by_tag_and_by_digest():
    # The head definition names the built image by digest (components/head_image.py), headImage by its tag: both are
    # the stack's own repository, refilled by a refresh and an up; any other image is for its owner to push.
    from types import SimpleNamespace

    from nfbatch.maintenance import _push_fix

    repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/nextflow-image-abc"
    outputs = SimpleNamespace(values={"ecrRepositoryUrl": repo})
    for image in (f"{repo}:25.04.6-7ddf0855bada46bc", f"{repo}@sha256:" + "a" * 64):
        assert _push_fix(image, outputs, "prod").startswith("`pulumi refresh --stack prod`"), image
    other = _push_fix("public.ecr.aws/lab/nextflow:1", outputs, "prod")
    assert other.startswith("push public.ecr.aws/lab/nextflow:1") and "then `pulumi up --stack prod`" in other
    assert _push_fix(f"{repo}-other:1", outputs, None).startswith("push ")
