"""The head image: Dockerfile lint, and the entrypoint executed for real (real AWS CLI, moto S3, stand-in nextflow)."""

import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import ACCOUNT, REGION, ROOT, tool

from components.head_job import render_nextflow_config
from facts.contract import NEXTFLOW_SUBMIT_RATE_PER_SECOND
from settings import DEFAULT_NEXTFLOW_VERSION

ENTRYPOINT = ROOT / "container" / "entrypoint.sh"
JOB_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"  # Batch keeps one job id across a job's attempts
DOCKERFILE = ROOT / "container" / "Dockerfile"

# Stand-in for nextflow. `pull` and `config` record their arguments; pull fails when FAKE_PULL_FAILS is set and hangs
# when FAKE_PULL_HANGS is; config prints FAKE_OWN_REGISTRY (then FAKE_CONFIG_WARNING, as CmdConfig prints warnings
# after the value), or when it is unset fails as the real one does for an option the pipeline does not define
# (nextflow v25.04.6 cli/CmdConfig.groovy printValue0: "Configuration option '$name' not found"). Any other command
# is the run: it records its arguments (NUL-separated), its -c config and the session and cloud-cache settings it was
# given, then behaves as FAKE_MODE says: exit with FAKE_STATUS, or wait for SIGTERM and then exit with FAKE_TERM_STATUS.
FAKE_NEXTFLOW = r"""#!/bin/bash
record="$FAKE_RECORD"
case "$1" in
  pull)
    printf '%s\0' "$@" > "$record/pull"
    [[ -z "${FAKE_PULL_FAILS:-}" ]] || { echo "Checking $2 ..."; echo "Cannot find $2 -- no network"; exit 1; }
    [[ -z "${FAKE_PULL_HANGS:-}" ]] || exec sleep 60
    echo "Checking $2 ..."
    exit 0 ;;
  config)
    printf '%s\0' "$@" > "$record/config-args"
    [[ -n "${FAKE_OWN_REGISTRY:-}" ]] && { echo "$FAKE_OWN_REGISTRY"; echo "${FAKE_CONFIG_WARNING:-}"; exit 0; }
    echo "ERROR ~ Configuration option 'docker.registry' not found" >&2
    exit 1 ;;
esac
printf '%s\0' "$@" > "$record/args"
cp "$2" "$record/config"
echo "$NXF_UUID $NXF_CLOUDCACHE_PATH" > "$record/session"
echo "$AWS_REGION $AWS_DEFAULT_REGION" > "$record/region"
echo "nextflow log line" > .nextflow.log
if [[ "${FAKE_MODE:-exit}" == wait ]]; then
  trap 'echo TERM > "$record/signal"; exit "${FAKE_TERM_STATUS:-143}"' TERM
  echo started > "$record/started"
  while :; do sleep 0.05; done
fi
exit "${FAKE_STATUS:-0}"
"""


def test_entrypoint_passes_shellcheck():
    result = subprocess.run([tool("shellcheck"), "--severity=style", str(ENTRYPOINT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_dockerfile_passes_hadolint():
    result = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_dockerfile_pins_nextflow_and_runs_the_entrypoint_as_pid_one():
    text = DOCKERFILE.read_text()
    # The image's pin and the job definition's default tag must name the same Nextflow.
    assert DEFAULT_NEXTFLOW_VERSION == "25.04.6"
    assert f"ARG NEXTFLOW_VERSION={DEFAULT_NEXTFLOW_VERSION}\n" in text
    assert 'ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]' in text


def test_the_entrypoint_submits_at_the_rate_of_the_contract():
    # A literal in the script, not an NF_* variable: one more variable in every head job definition would change the
    # dev and prod plans. The entrypoint runs below compare whole configs, but only where moto and the AWS CLI run.
    rates = re.findall(r"submitRateLimit = '(\d+)/1s'", ENTRYPOINT.read_text())
    assert rates == [str(NEXTFLOW_SUBMIT_RATE_PER_SECOND)]


def make_head(tmp_path, moto_server):
    """Everything one entrypoint run needs: a bucket in moto, a stand-in nextflow, the job's environment."""
    bucket = f"work-{uuid.uuid4().hex[:10]}"
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket=bucket)
    bin_dir, record, launch = tmp_path / "bin", tmp_path / "record", tmp_path / "launch"
    for d in (bin_dir, record):
        d.mkdir()
    fake = bin_dir / "nextflow"
    fake.write_text(FAKE_NEXTFLOW)
    fake.chmod(0o755)
    env = {
        **moto_server.env(),
        # The stand-in nextflow first, then the aws CLI from requirements-dev, then the system's basics.
        "PATH": f"{bin_dir}:{Path(tool('aws')).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "FAKE_RECORD": str(record),
        "NF_LAUNCH_DIR": str(launch),
        "NF_WORKDIR": f"s3://{bucket}/work",
        "NF_LOGSDIR": f"s3://{bucket}/logs",
        "NF_CACHEDIR": f"s3://{bucket}/cache",
        "NF_JOB_QUEUE": "arn:aws:batch:us-east-1:123456789012:job-queue/default",
        "NF_PRIORITY_QUEUE": "arn:aws:batch:us-east-1:123456789012:job-queue/priority",
        "NF_TASK_JOB_ROLE": "arn:aws:iam::123456789012:role/task",
        "NF_AWS_REGION": "us-east-1",
        "NF_RUN_NAME": "run-1",
        "NF_MAX_SPOT_ATTEMPTS": "4",
        "AWS_BATCH_JOB_ID": JOB_ID,
    }
    return {"bucket": bucket, "s3": s3, "record": record, "env": env}


@pytest.fixture
def head(tmp_path, moto_server):
    return make_head(tmp_path, moto_server)


ARGS = [
    "nf-core/rnaseq",
    "-r",
    "3.14.0",
    "--input",
    "s3://in/my samples.csv",
    "--title",
    'it\'s "quoted"',
    "--glob",
    "*.fastq.gz",
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, moto_server):
    """One successful run, shared by the tests that only read what it left behind (each run costs seconds)."""
    head = make_head(tmp_path_factory.mktemp("finished"), moto_server)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):  # as in a Batch container on EC2
        del head["env"][name]
    head["result"] = run(head, *ARGS)
    return head


def run(head, *args, **env):
    return subprocess.run(
        ["bash", str(ENTRYPOINT), *args], env={**head["env"], **env}, capture_output=True, text=True, timeout=60
    )


def config_for(env: dict, **extra) -> str:
    """The config the stack renders for a head job with this environment (a run named run-1, 4 spot attempts)."""
    return render_nextflow_config(
        work_dir=env["NF_WORKDIR"],
        region=env["NF_AWS_REGION"],
        default_queue=env["NF_JOB_QUEUE"],
        priority_queue=env["NF_PRIORITY_QUEUE"],
        task_role_arn=env["NF_TASK_JOB_ROLE"],
        run_name="run-1",
        max_spot_attempts=4,
        **extra,
    )


def keys(head, prefix):
    listed = head["s3"].list_objects_v2(Bucket=head["bucket"], Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_arguments_with_spaces_and_quotes_reach_nextflow_unchanged(finished):
    assert finished["result"].returncode == 0, finished["result"].stderr
    recorded = (finished["record"] / "args").read_text().split("\0")[:-1]
    assert recorded[0] == "-c" and recorded[2] == "run"
    assert recorded[3:] == ARGS


def test_config_matches_the_one_the_stack_exports(finished):
    env = finished["env"]
    assert (finished["record"] / "config").read_text() == config_for(env, pipeline="nf-core/rnaseq")


@pytest.mark.parametrize("capped", [False, True], ids=["shared queues", "capped team queue"])
def test_a_team_head_writes_the_config_the_stack_exports_for_that_team(head, capped):
    # A team's head job definition adds NF_TEAM; a capped team's default and priority queues are its own queue.
    queue = "arn:aws:batch:us-east-1:123456789012:job-queue/team-core"
    env = {"NF_TEAM": "genomicscore", **({"NF_JOB_QUEUE": queue, "NF_PRIORITY_QUEUE": queue} if capped else {})}
    result = run(head, "hello", **env)
    assert result.returncode == 0, result.stderr
    e = {**head["env"], **env}
    written = (head["record"] / "config").read_text()
    assert written == config_for(e, team="genomicscore", pipeline="hello")
    assert "shareIdentifier = 'genomicscore'" in written and "'Team': 'genomicscore'" in written
    assert (f"queue = {{ '{queue}' }}" in written) == capped


def test_a_bad_team_name_stops_the_head_before_nextflow(head):
    result = run(head, "hello", NF_TEAM="Core'; rm -rf /")
    assert result.returncode == 64 and "NF_TEAM must be a team name" in result.stderr
    assert not (head["record"] / "args").exists()


def recorded_args(head) -> list[str]:
    return (head["record"] / "args").read_text().split("\0")[:-1]


def test_the_first_attempt_fixes_the_session_and_caches_it_in_s3(finished):
    head = finished
    # Nextflow's cloud cache under the run's prefix, with the head job's id as the session id, saved beside it.
    assert (head["record"] / "session").read_text().split() == [JOB_ID, f"s3://{head['bucket']}/cache/run-1"]
    assert keys(head, "cache/run-1/") == ["cache/run-1/session-id"]
    body = head["s3"].get_object(Bucket=head["bucket"], Key="cache/run-1/session-id")["Body"].read().decode()
    assert body.strip() == JOB_ID
    assert "-resume" not in recorded_args(head)
    assert keys(head, "logs/run-1/") == ["logs/run-1/nextflow-attempt-1.log"]


def test_nfbatch_resume_continues_the_saved_session_of_the_run(head):
    assert run(head, "hello").returncode == 0
    # A later run with the same name (a new head job) and a bare -resume, as `nfbatch run --resume` sends it.
    result = run(head, "hello", "-resume", "--greeting", "hi", AWS_BATCH_JOB_ID="7d444840-9dc0-11d1-b245-5ffdce74fad2")
    assert result.returncode == 0, result.stderr
    assert recorded_args(head)[3:] == ["hello", "--greeting", "hi", "-resume", JOB_ID]
    # An explicit session id is the user's own: it passes through untouched and becomes the run's saved session.
    other = "3b241101-e2bb-4255-8caf-4136c566a962"
    assert run(head, "hello", "-resume", other).returncode == 0
    assert recorded_args(head)[3:] == ["hello", "-resume", other]
    assert (head["record"] / "session").read_text().split()[0] == other


def test_resume_without_a_saved_session_starts_afresh(head):
    result = run(head, "hello", "-resume")
    assert result.returncode == 0
    assert "no saved session for run run-1" in result.stderr
    assert recorded_args(head)[3:] == ["hello"]


def test_a_retried_head_resumes_and_cancels_the_lost_attempts_tasks(head, shared_stack):
    from moto.batch_simple.models import batch_simple_backends

    outputs = shared_stack.outputs
    backend = batch_simple_backends[ACCOUNT][REGION]
    run_env = {
        "NF_JOB_QUEUE": outputs["defaultQueueArn"],
        "NF_PRIORITY_QUEUE": outputs["priorityQueueArn"],
        "NF_RUN_NAME": "lost-run",
    }
    assert run(head, "hello", **run_env).returncode == 0

    def task(queue: str, run_name: str) -> str:
        _, job_id, _ = backend.submit_job(
            job_name="nf-task",
            job_def_id=outputs["jobDefinitionArn"],
            job_queue=outputs[queue],
            array_properties={},
            tags={"nfbatch-run": run_name},
        )
        backend._jobs[job_id].status = "RUNNING"  # moto finishes jobs at once; these are still running
        return job_id

    lost = [task("defaultQueueArn", "lost-run"), task("priorityQueueArn", "lost-run")]
    bystander = task("defaultQueueArn", "another-run")
    result = run(head, "hello", AWS_BATCH_JOB_ATTEMPT="2", **run_env)
    assert result.returncode == 0, result.stderr
    assert recorded_args(head)[3:] == ["hello", "-resume", JOB_ID]
    # moto records TerminateJob as a stop with its reason.
    stopped = {j: backend._jobs[j].job_stopped_reason if backend._jobs[j].stop else None for j in [*lost, bystander]}
    reason = "head attempt 2 resumes the run"
    assert stopped == {lost[0]: reason, lost[1]: reason, bystander: None}, result.stderr
    assert keys(head, "logs/lost-run/") == [
        "logs/lost-run/nextflow-attempt-1.log",
        "logs/lost-run/nextflow-attempt-2.log",
    ]


def test_the_region_comes_from_the_job_definition_not_from_instance_metadata(finished):
    # IMDS answers one hop only (launch template), so the container has no region unless the entrypoint names it;
    # the shared run has none in its environment, only NF_AWS_REGION.
    assert "AWS_REGION" not in finished["env"] and "AWS_DEFAULT_REGION" not in finished["env"]
    assert (finished["record"] / "region").read_text().split() == ["us-east-1", "us-east-1"]
    assert keys(finished, "logs/run-1/")  # the CLI's own upload found its region too


def test_nextflows_exit_status_is_the_jobs(head):
    result = run(head, "hello", FAKE_STATUS="3")
    assert result.returncode == 3
    assert keys(head, "logs/run-1/")  # the log is uploaded on failure too


def stop_with_sigterm(head, nextflow_status: str) -> tuple[int, str]:
    """Start the entrypoint, send it SIGTERM once nextflow runs, and return its exit code and stderr."""
    env = {**head["env"], "FAKE_MODE": "wait", "FAKE_TERM_STATUS": nextflow_status}
    process = subprocess.Popen(
        ["bash", str(ENTRYPOINT), "hello"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    started = head["record"] / "started"
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "nextflow never started"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert (head["record"] / "signal").read_text().strip() == "TERM"
    return process.returncode, stderr


def test_sigterm_reaches_nextflow_and_the_log_is_still_saved(head):
    code, stderr = stop_with_sigterm(head, "143")
    assert code == 143
    assert "received TERM" in stderr
    assert keys(head, "logs/run-1/") == ["logs/run-1/nextflow-attempt-1.log"]


@pytest.mark.parametrize(("nextflow_status", "head_status"), [("1", 143), ("0", 0)])
def test_a_stopped_head_exits_143_for_the_retry_rule_unless_the_run_finished(head, nextflow_status, head_status):
    # The job definition retries exit code 143 (components.head_job.retry_strategy), whatever Nextflow said when it
    # stopped; a run that completed as the signal came is not run again.
    code, stderr = stop_with_sigterm(head, nextflow_status)
    assert code == head_status
    assert f"nextflow exited with status {nextflow_status}" in stderr
    assert ("exiting 143" in stderr) == (head_status == 143)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NF_WORKDIR": ""}, "NF_WORKDIR is not set"),
        ({"NF_JOB_QUEUE": "it's"}, "NF_JOB_QUEUE must not contain quotes"),
        ({"NF_RUN_NAME": "../escape"}, "NF_RUN_NAME must be 1-128 letters"),
        ({"NF_MAX_SPOT_ATTEMPTS": "3; rm -rf /"}, "NF_MAX_SPOT_ATTEMPTS must be a whole number"),
    ],
)
def test_bad_environment_stops_before_nextflow_runs(head, env, message):
    result = run(head, "hello", **env)
    assert result.returncode == 64
    assert message in result.stderr
    assert not (head["record"] / "args").exists()


def test_no_pipeline_is_a_usage_error(head):
    result = run(head)
    assert result.returncode == 64 and "usage" in result.stderr


def test_with_a_gpu_queue_the_config_still_matches_the_stacks(head):
    gpu = "arn:aws:batch:us-east-1:123456789012:job-queue/gpu"
    assert run(head, "hello", NF_GPU_QUEUE=gpu).returncode == 0
    env = head["env"]
    assert (head["record"] / "config").read_text() == config_for(env, gpu_queue=gpu, pipeline="hello")


# The stack's caches as the job definition lists them (components/head_job.py, head_environment).
CACHES = {
    "quay.io": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dev/quay",
    "public.ecr.aws": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dev/ecr-public",
    "docker.io": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dev/docker-hub",
}


def expected_config(head, pipeline: str, caches: dict, asked: str | None = None, own: str | None = None) -> str:
    return config_for(head["env"], pipeline=pipeline, registry_caches=caches, asked_registry=asked, own_registry=own)


LOCAL = "<a local directory>"
# (pipeline, caches, NF_UNQUALIFIED_REGISTRY, the pipeline's own docker.registry, the stand-in's extra env, the
# cache host docker.registry must name). The decision follows the pipeline's own config, never its name.
ROUTES = {
    # nf-core/tools >= 2.8 template: docker.registry = 'quay.io' (nf-core/tools CHANGELOG v2.8, #2133).
    "nf-core": ("nf-core/rnaseq", CACHES, None, "quay.io", {}, "quay.io"),
    "nf-core by URL": ("https://github.com/nf-core/sarek", CACHES, None, "quay.io", {}, "quay.io"),
    # Before tools 2.8 modules named e.g. `nfcore/cellranger:6.0.2` (nf-core/tools 2.7 nf_core/download.py) with no
    # docker.registry: Docker Hub's, which the quay.io cache does not hold.
    "pre-2.8 nf-core release": ("nf-core/scrnaseq", CACHES, None, None, {}, None),
    "community pipeline on the nf-core template": ("my-lab/variant-calling", CACHES, None, "quay.io", {}, "quay.io"),
    "other pipeline": ("my-lab/variant-calling", CACHES, None, None, {}, None),
    "own registry with a slash": ("my-lab/variant-calling", CACHES, None, "quay.io/", {}, "quay.io"),
    "own registry not cached": ("my-lab/variant-calling", CACHES, None, "ghcr.io", {}, None),
    "own registry Docker Hub": ("my-lab/variant-calling", CACHES, None, "docker.io", {}, None),  # only when asked
    "pull fails": ("nf-core/rnaseq", CACHES, None, "quay.io", {"FAKE_PULL_FAILS": "1"}, None),
    "local directory": (LOCAL, CACHES, None, "quay.io", {}, "quay.io"),
    "asked for": ("hello", CACHES, "public.ecr.aws", "quay.io", {}, "public.ecr.aws"),
    "asked for none": ("nf-core/rnaseq", CACHES, "none", "quay.io", {}, None),
    "cache off": ("nf-core/rnaseq", {}, None, "quay.io", {}, None),  # nf-core's own docker.registry applies
}


@pytest.mark.parametrize(("pipeline", "caches", "asked", "own", "extra", "host"), ROUTES.values(), ids=ROUTES.keys())
def test_the_head_routes_unqualified_names_as_the_stack_renders_it(
    head, tmp_path, pipeline, caches, asked, own, extra, host
):
    if pipeline == LOCAL:
        pipeline = str(tmp_path / "pipeline")
        Path(pipeline).mkdir()
    env = {"NF_REGISTRY_CACHES": " ".join(f"{h}={u}" for h, u in sorted(caches.items())), **extra}
    env |= {"NF_UNQUALIFIED_REGISTRY": asked} if asked else {}
    result = run(head, pipeline, **env, **({"FAKE_OWN_REGISTRY": own} if own else {}))
    assert result.returncode == 0, result.stderr
    written = (head["record"] / "config").read_text()
    read_own = own if caches and not asked and not extra else None  # what the head learnt from `nextflow config`
    assert written == expected_config(head, pipeline, caches, asked, read_own)
    assert re.findall(r"registry = '([^']+)'", written) == ([CACHES[host]] if host else [])
    # The lookup runs only when it can matter (a cache, nothing asked), and pulls only what is not a local directory.
    assert (head["record"] / "config-args").exists() == bool(caches and not asked and not extra)
    assert (head["record"] / "pull").exists() == bool(caches and not asked and pipeline != str(tmp_path / "pipeline"))
    if extra:  # one line says why nothing is routed
        assert "could not pull nf-core/rnaseq to read its docker.registry (Cannot find nf-core/rnaseq" in result.stderr


def test_the_lookup_pulls_and_reads_the_revision_and_profile_the_run_asks_for(head):
    # CmdPull takes -r/-revision and HubOptions' -hub/-user; CmdConfig takes -profile, not -r (nextflow v25.04.6 cli/).
    env = {"NF_REGISTRY_CACHES": f"quay.io={CACHES['quay.io']}", "FAKE_OWN_REGISTRY": "quay.io"}
    run_args = ["my-lab/private", "-r", "v2.1", "-profile", "docker,test", "-hub", "gitlab", "-user", "me:s3cret"]
    result = run(head, *run_args, "--input", "s3://in/x.csv", **env)
    assert result.returncode == 0, result.stderr
    pulled = (head["record"] / "pull").read_text().split("\0")[:-1]
    assert pulled == ["pull", "my-lab/private", "-r", "v2.1", "-hub", "gitlab", "-user", "me:s3cret"]
    read = (head["record"] / "config-args").read_text().split("\0")[:-1]
    assert read == ["config", "my-lab/private", "-profile", "docker,test", "-value", "docker.registry"]
    assert recorded_args(head)[3:] == [*run_args, "--input", "s3://in/x.csv"]  # the run itself: unchanged
    assert not [line for line in result.stderr.splitlines() if "docker.registry" in line]  # quay.io was read
    # Nextflow takes `-user name:password` (HubOptions.getHubPassword); the head's log shows the name only.
    assert "s3cret" not in result.stderr and "-user me:*** --input" in result.stderr


def test_a_pipeline_without_docker_registry_says_so_in_one_line(head):
    result = run(head, "my-lab/variant-calling", NF_REGISTRY_CACHES=f"quay.io={CACHES['quay.io']}")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "docker.registry" in line]
    assert lines == [
        "entrypoint: my-lab/variant-calling sets no docker.registry (or its config could not be read): "
        "no cache chosen for this run"
    ]


def test_docker_hub_asked_for_names_the_library_caveat(head):
    env = {"NF_REGISTRY_CACHES": f"docker.io={CACHES['docker.io']}", "NF_UNQUALIFIED_REGISTRY": "docker.io"}
    assert run(head, "my-lab/pipeline", **env).returncode == 0
    assert not (head["record"] / "pull").exists()  # asked for: the pipeline's own config is not read
    written = (head["record"] / "config").read_text()
    assert written == expected_config(head, "my-lab/pipeline", {"docker.io": CACHES["docker.io"]}, "docker.io")
    assert "library/ubuntu:22.04, not ubuntu:22.04" in written


@pytest.mark.parametrize(
    ("caches", "asked", "message"),
    [
        (
            {"quay.io": CACHES["quay.io"]},
            "ghcr.io",
            "NF_UNQUALIFIED_REGISTRY=ghcr.io: the stack has no cache of it; cached: quay.io",
        ),
        ({}, "quay.io", "cached: none: the stack's registryCache is off"),
        (CACHES, "quay.io'; x", "NF_UNQUALIFIED_REGISTRY must be a registry host such as quay.io, or none"),
    ],
    ids=["uncached host", "cache off", "not a host"],
)
def test_asking_for_a_registry_without_a_cache_stops_before_nextflow(head, caches, asked, message):
    env = {"NF_REGISTRY_CACHES": " ".join(f"{h}={u}" for h, u in caches.items()), "NF_UNQUALIFIED_REGISTRY": asked}
    result = run(head, "hello", **env)
    assert result.returncode == 64 and message in result.stderr
    assert not (head["record"] / "args").exists()


def test_a_bad_cache_list_stops_before_nextflow(head):
    result = run(head, "nf-core/rnaseq", NF_REGISTRY_CACHES="quay.io=x'; rm -rf /")
    assert result.returncode == 64 and "NF_REGISTRY_CACHES must be host=uri pairs" in result.stderr


def test_the_pipeline_label_is_a_tag_value_ecs_accepts(head):
    # ECS TagValue (botocore's ECS model): ([\p{L}\p{Z}\p{N}_.:/=+\-@]*), at most 256; Batch's own: at most 256.
    pipeline = "https://example.org/lab/pipe~line?ref=it's" + "é" + "x" * 300
    assert run(head, pipeline).returncode == 0
    written = (head["record"] / "config").read_text()
    assert written == expected_config(head, pipeline, {})
    [label] = re.findall(r"'nfbatch-pipeline': '([^']*)'", written)
    assert re.fullmatch(r"[A-Za-z0-9 _.:/=+@-]{256}", label)
    assert label.startswith("https://example.org/lab/pipe_line_ref=it_s__xxx")  # é is two bytes: two "_"


def test_a_stalled_lookup_gives_up_and_the_run_goes_ahead_unrouted(head):
    # A black-holed egress or a stalled git server: the pull is cut off after NF_REGISTRY_LOOKUP_SECONDS.
    env = {"NF_REGISTRY_CACHES": f"quay.io={CACHES['quay.io']}", "FAKE_PULL_HANGS": "1"}
    started = time.monotonic()
    result = run(head, "nf-core/rnaseq", NF_REGISTRY_LOOKUP_SECONDS="1", **env)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30 and "could not pull nf-core/rnaseq" in result.stderr
    assert "registry =" not in (head["record"] / "config").read_text()


def test_a_config_warning_after_the_value_does_not_hide_it(head):
    # CmdConfig prints the value, then its builder's warnings, both on stdout.
    env = {"NF_REGISTRY_CACHES": f"quay.io={CACHES['quay.io']}", "FAKE_OWN_REGISTRY": "quay.io"}
    result = run(head, "nf-core/rnaseq", FAKE_CONFIG_WARNING="WARN: Unknown config attribute `foo`", **env)
    assert result.returncode == 0, result.stderr
    assert f"registry = '{CACHES['quay.io']}'" in (head["record"] / "config").read_text()


def test_a_password_given_as_user_equals_is_hidden_from_the_log_too(head):
    result = run(head, "my-lab/private", "-user=me:s3cret")
    assert "s3cret" not in result.stderr and "-user=me:***" in result.stderr


def test_a_lookup_timeout_that_is_not_a_number_is_refused(head):
    result = run(head, "nf-core/rnaseq", NF_REGISTRY_LOOKUP_SECONDS="5m")
    assert result.returncode == 64
    assert "NF_REGISTRY_LOOKUP_SECONDS must be a whole number of seconds, 1 to 99999: 5m" in result.stderr
