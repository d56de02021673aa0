"""nfbatch on a stack shared by teams, against moto: fair-share queues (moto supports scheduling policies), a capped
team's own queue, a head job definition per team, and a team budget created as the provider creates it. SubmitJob's
requests are checked as botocore sends them."""

import pytest
from conftest import ACCOUNT, REGION
from test_nfbatch import as_json, nfbatch

from components.contract import RUN_TAG, TEAM_TAG


def sent(hooks, operation: str) -> list[dict]:
    """Record the parameters of every `operation` request, as botocore validated and sent them."""
    requests: list[dict] = []
    hooks.on(f"provide-client-params.batch.{operation}", lambda params, **_: requests.append(dict(params)))
    return requests


def test_run_as_a_team_submits_with_its_share_identifier_definition_and_tag(team_stack, hooks, tmp_path):
    submitted = sent(hooks, "SubmitJob")
    params = tmp_path / "params.yaml"
    params.write_text("input: s3://in/samples.csv\n")
    code, out = nfbatch(team_stack, "run", "hello", "--team", "rna-lab", "--name", "rna-1", "--params-file",
                        str(params), "--json")
    assert code == 0, out
    [request] = submitted
    team = team_stack.outputs["teams"]["rna-lab"]
    assert request["shareIdentifier"] == "rna-lab" and request["jobDefinition"] == team["jobDefinitionArn"]
    assert request["jobQueue"] == team_stack.outputs["headQueueArn"]
    assert request["tags"] == {RUN_TAG: "rna-1", "nfbatch-pipeline": "hello", TEAM_TAG: "rna-lab"}
    # The run policy lets members upload only under params/<team>/.
    key = f"params/rna-lab/rna-1/{params.name}"
    assert as_json(out)["paramsFile"] == f"s3://{team_stack.outputs['bucketName']}/{key}"
    team_stack.endpoint.client("s3").head_object(Bucket=team_stack.outputs["bucketName"], Key=key)


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "hello"], "this stack is shared by teams (genomics-core, rna-lab): say which one you run as"),
    (["run", "hello", "--team", "imaging"], "--team imaging: no such team on this stack; its teams are "
                                            "genomics-core, rna-lab"),
    (["run", "hello", "--team", "Bad Team"], "--team 'Bad Team' is not a team name"),
    (["status", "--team", "imaging"], "--team imaging: no such team on this stack"),
    (["status", "some-run", "--team", "rna-lab"], "--team filters the list of recent runs"),
])
def test_team_mistakes_are_refused_before_any_aws_call(team_stack, hooks, capsys, argv, message):
    code, _ = nfbatch(team_stack, *argv)
    assert code == 2 and message in capsys.readouterr().err
    assert hooks.calls == {}


def test_a_stack_without_teams_refuses_team_verbs(shared_stack, hooks, capsys):
    assert nfbatch(shared_stack, "run", "hello", "--team", "rna-lab")[0] == 2
    assert "--team rna-lab: this stack has no teams" in capsys.readouterr().err
    assert nfbatch(shared_stack, "teams")[0] == 2
    assert "this stack has no teams" in capsys.readouterr().err
    assert hooks.calls == {}


def test_status_of_a_team_shows_only_its_runs(team_stack, hooks):
    for team, name in (("genomics-core", "core-a"), ("rna-lab", "rna-a"), ("genomics-core", "core-b")):
        assert nfbatch(team_stack, "run", "hello", "--team", team, "--name", name)[0] == 0
    code, out = nfbatch(team_stack, "status", "--team", "genomics-core", "--json")
    runs = as_json(out)
    assert code == 0 and [r["run"] for r in runs] == ["core-b", "core-a"]
    assert {r["team"] for r in runs} == {"genomics-core"}
    code, out = nfbatch(team_stack, "status", "--team", "genomics-core", "--limit", "1")
    assert "recent runs of team genomics-core" in out and "core-b" in out and "core-a" not in out


def add_active_jobs(stack, queue_arn: str, team: str | None, statuses: list[str]) -> None:
    """Jobs in the given states on a queue: submitted over HTTP, then put in that state in the in-process backend
    (moto's simple Batch finishes every job at once)."""
    from moto.batch_simple.models import batch_simple_backends

    batch, backend = stack.endpoint.client("batch"), batch_simple_backends[ACCOUNT][REGION]
    for i, status in enumerate(statuses):
        job_id = batch.submit_job(jobName=f"nf-task-{i}", jobQueue=queue_arn,
                                  jobDefinition=stack.outputs["jobDefinitionArn"],
                                  tags={TEAM_TAG: team} if team else {})["jobId"]
        backend.get_job_by_id(job_id).status = status


def test_teams_shows_each_teams_running_vcpus_and_jobs_by_state_and_queue(team_stack, hooks):
    core, rna = team_stack.outputs["teams"]["genomics-core"], team_stack.outputs["teams"]["rna-lab"]
    add_active_jobs(team_stack, core["taskQueueArn"], "genomics-core", ["RUNNING", "RUNNING", "RUNNABLE"])
    add_active_jobs(team_stack, rna["taskQueueArn"], "rna-lab", ["STARTING", "RUNNABLE", "SUBMITTED"])
    add_active_jobs(team_stack, team_stack.outputs["priorityQueueArn"], None, ["RUNNING"])

    def with_vcpus(parsed, **_):  # moto leaves resourceRequirements out of DescribeJobs' container
        for job in parsed.get("jobs", []):
            job.setdefault("container", {})["resourceRequirements"] = [{"type": "VCPU", "value": "4"}]

    hooks.on("after-call.batch.DescribeJobs", with_vcpus)
    code, out = nfbatch(team_stack, "teams", "--json")
    usage = as_json(out)
    assert code == 0
    own, shared = core["taskQueueName"], rna["taskQueueName"]
    assert usage["genomics-core"]["jobs"] == {own: {"RUNNING": 2, "RUNNABLE": 1}}
    assert usage["genomics-core"]["runningVcpus"] == 8 and usage["genomics-core"]["maxVcpus"] == 8
    assert usage["rna-lab"]["jobs"] == {shared: {"STARTING": 1, "RUNNABLE": 1, "SUBMITTED": 1}}
    assert usage["rna-lab"]["runningVcpus"] == 4
    assert usage["(no team)"]["runningVcpus"] == 4
    code, out = nfbatch(team_stack, "teams")
    assert code == 0 and "genomics-core" in out and "running 2" in out


def spend(stack, team: str, actual: str, forecast: str) -> None:
    """What AWS Budgets computes from the bill, set in the in-process backend: moto keeps a budget's CalculatedSpend
    at zero and has no API to change it."""
    from moto.budgets.models import budgets_backends

    name = stack.outputs["teams"][team]["budgetName"]
    budget = budgets_backends[ACCOUNT]["aws"].budgets[ACCOUNT][name].budget
    budget["CalculatedSpend"] = {"ActualSpend": {"Amount": actual, "Unit": "USD"},
                                 "ForecastedSpend": {"Amount": forecast, "Unit": "USD"}}


def test_teams_shows_each_budgeted_teams_spend_this_month(team_stack, hooks):
    spend(team_stack, "genomics-core", actual="1230.4", forecast="1710.9")
    code, out = nfbatch(team_stack, "teams", "--json")
    usage = as_json(out)
    assert code == 0 and hooks.calls["DescribeBudget"] == 1  # rna-lab has no budget to read
    assert usage["genomics-core"]["budget"] == {
        "budgetName": team_stack.outputs["teams"]["genomics-core"]["budgetName"],
        "limitUsd": 1500.0, "actualUsd": 1230.4, "forecastUsd": 1710.9}
    assert "budget" not in usage["rna-lab"]
    code, out = nfbatch(team_stack, "teams")
    assert code == 0 and "$1,230 of $1,500 (82 %), forecast $1,711" in " ".join(out.split())


def test_a_budget_that_cannot_be_read_is_shown_as_such(team_stack, tmp_path):
    import json
    from dataclasses import replace

    gone = replace(team_stack, outputs=json.loads(team_stack.outputs_file.read_text()),
                   outputs_file=tmp_path / "outputs.json")
    gone.outputs["teams"]["rna-lab"]["budgetName"] = "teams-rna-lab-budget-deleted"
    gone.outputs_file.write_text(json.dumps(gone.outputs))
    code, out = nfbatch(gone, "teams")
    assert code == 0
    assert "cannot read teams-rna-lab-budget-deleted: NotFoundException" in " ".join(out.split())


def test_doctor_checks_the_fair_share_queues_team_queues_and_team_definitions(team_stack):
    code, out = nfbatch(team_stack, "doctor", "--json")
    checks = {c["check"]: c for c in as_json(out)}
    assert code == 0 and all(c["ok"] for c in checks.values())
    assert checks["fair-share queues"]["detail"] == "4 queues share by team"  # head, default, priority, core's own
    capped = team_stack.outputs["teams"]["genomics-core"]["taskQueueName"]
    assert {f"team queue {capped} enabled", "team genomics-core head job definition",
            "team rna-lab head job definition"} <= set(checks)


def test_doctor_reads_more_than_a_hundred_team_definitions_in_pages(team_stack, hooks, tmp_path):
    import json
    from dataclasses import replace

    batch, teams = team_stack.endpoint.client("batch"), {}
    container = {"image": "nextflow:25.04.6", "resourceRequirements": [{"type": "VCPU", "value": "1"},
                                                                        {"type": "MEMORY", "value": "2048"}]}
    for i in range(101):  # a shared queue holds up to 500 share identifiers, so 101 uncapped teams are allowed
        arn = batch.register_job_definition(jobDefinitionName=f"many-{i:03d}", type="container",
                                            containerProperties=container)["jobDefinitionArn"]
        teams[f"team-{i:03d}"] = {**team_stack.outputs["teams"]["rna-lab"], "shareIdentifier": f"team-{i:03d}",
                                  "jobDefinitionArn": arn}
    many = replace(team_stack, outputs={**team_stack.outputs, "teams": teams}, outputs_file=tmp_path / "outputs.json")
    many.outputs_file.write_text(json.dumps(many.outputs))
    code, out = nfbatch(many, "doctor", "--json")
    checks = [c for c in as_json(out) if c["check"].endswith("head job definition")]
    assert code == 0 and len(checks) == 102 and all(c["ok"] for c in checks)  # the stack's own, and 101 teams'
    assert hooks.calls["DescribeJobDefinitions"] == 3  # the stack's, then the teams' 100 and 1


@pytest.fixture
def broken_team_stack(aws_env, tmp_path):
    from conftest import _build_stack_in_moto

    return _build_stack_in_moto(aws_env, tmp_path, teams={"genomics-core": 8, "rna-lab": None})


@pytest.mark.parametrize(("breakage", "check", "fix"), [
    ("team-queue-disabled", "team queue", "--state ENABLED"),
    ("team-definition-gone", "team rna-lab head job definition", "pulumi up"),
    ("fifo-queue", "fair-share queues", "pulumi up"),
])
def test_doctor_names_each_team_problem_and_its_fix(broken_team_stack, breakage, check, fix):
    import json

    stack, batch = broken_team_stack, broken_team_stack.endpoint.client("batch")
    teams = stack.outputs["teams"]
    if breakage == "team-queue-disabled":
        batch.update_job_queue(jobQueue=teams["genomics-core"]["taskQueueArn"], state="DISABLED")
    elif breakage == "team-definition-gone":
        batch.deregister_job_definition(jobDefinition=teams["rna-lab"]["jobDefinitionArn"])
    elif breakage == "fifo-queue":  # a priority queue recreated by hand, without the scheduling policy
        order = batch.describe_job_queues(jobQueues=[stack.outputs["priorityQueueArn"]])["jobQueues"][0][
            "computeEnvironmentOrder"]
        fifo = batch.create_job_queue(jobQueueName=f"{stack.outputs['priorityQueueName']}-fifo", priority=10,
                                      state="ENABLED", computeEnvironmentOrder=order)
        stack.outputs.update(priorityQueueArn=fifo["jobQueueArn"], priorityQueueName=fifo["jobQueueName"])
        stack.outputs_file.write_text(json.dumps(stack.outputs))
    code, out = nfbatch(stack, "doctor", "--json")
    failed = [c for c in as_json(out) if not c["ok"]]
    assert code == 1
    assert len(failed) == 1 and failed[0]["check"].startswith(check)
    assert fix in failed[0]["fix"]


def test_outputs_with_a_malformed_teams_map_are_refused(team_stack, tmp_path, capsys):
    import json

    broken = tmp_path / "outputs.json"
    broken.write_text(json.dumps({**team_stack.outputs, "teams": {"rna-lab": {"shareIdentifier": "rna-lab"}}}))
    from nfbatch.cli import main

    assert main(["--outputs", str(broken), "status"]) == 2
    assert "teams must map each team to its shareIdentifier, jobDefinitionArn, taskQueueArn" in \
        capsys.readouterr().err
