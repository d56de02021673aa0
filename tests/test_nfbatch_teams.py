"""nfbatch on a stack shared by teams, against moto: fair-share queues (moto supports scheduling policies), a capped
team's own queue, a head job definition per team, and a team budget created as the provider creates it. SubmitJob's
requests are checked as botocore sends them."""

import re

import botocore.session
import pytest
from botocore.validate import validate_parameters
from conftest import ACCOUNT, REGION, run_program
from test_nfbatch import as_json, nfbatch

from facts.contract import HEAD_SCHEDULING_PRIORITY, RUN_TAG, TEAM_TAG
from nfbatch.maintenance import COST_TAG_CHECK, cost_tag_check


def sent(hooks, operation: str) -> list[dict]:
    """Record the parameters of every `operation` request, as botocore validated and sent them."""
    requests: list[dict] = []
    hooks.on(f"provide-client-params.batch.{operation}", lambda params, **_: requests.append(dict(params)))
    return requests


def test_run_as_a_team_submits_with_its_share_identifier_definition_and_tag(team_stack, hooks, tmp_path):
    submitted = sent(hooks, "SubmitJob")
    params = tmp_path / "params.yaml"
    params.write_text("input: s3://in/samples.csv\n")
    code, out = nfbatch(
        team_stack, "run", "hello", "--team", "rnalab", "--name", "rna-1", "--params-file", str(params), "--json"
    )
    assert code == 0, out
    [request] = submitted
    team = team_stack.outputs["teams"]["rnalab"]
    assert request["shareIdentifier"] == team["shareIdentifier"] == "rnalab"
    assert request["jobDefinition"] == team["jobDefinitionArn"]
    # terraform-provider-aws internal/service/batch/validate.go (validShareIdentifier): what the queues were made with.
    assert re.fullmatch(r"[0-9A-Za-z]{0,254}[0-9A-Za-z*]?", request["shareIdentifier"])
    # A fair-share queue refuses a job with no scheduling priority in its definition and no override (nextflow-io/
    # nextflow PR #3505): this moto definition has none, so the override alone must carry it.
    assert request["schedulingPriorityOverride"] == HEAD_SCHEDULING_PRIORITY
    definition = team_stack.endpoint.client("batch").describe_job_definitions(
        jobDefinitions=[team["jobDefinitionArn"]]
    )["jobDefinitions"][0]
    assert "schedulingPriority" not in definition
    validate_parameters(
        request, botocore.session.get_session().get_service_model("batch").operation_model("SubmitJob").input_shape
    )  # the whole request, against botocore's model (0-9999 for the override)
    assert request["jobQueue"] == team_stack.outputs["headQueueArn"]
    assert request["tags"] == {RUN_TAG: "rna-1", "nfbatch-pipeline": "hello", TEAM_TAG: "rnalab"}
    # The run policy lets members upload only under params/<team>/.
    key = f"params/rnalab/rna-1/{params.name}"
    assert as_json(out)["paramsFile"] == f"s3://{team_stack.outputs['bucketName']}/{key}"
    team_stack.endpoint.client("s3").head_object(Bucket=team_stack.outputs["bucketName"], Key=key)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "hello"], "this stack is shared by teams (genomicscore, rnalab): say which one you run as"),
        (
            ["run", "hello", "--team", "imaging"],
            "--team imaging: no such team on this stack; its teams are genomicscore, rnalab",
        ),
        (["run", "hello", "--team", "Bad Team"], "--team 'Bad Team' is not a team name"),
        (["status", "--team", "imaging"], "--team imaging: no such team on this stack"),
        (["status", "some-run", "--team", "rnalab"], "--team filters the list of recent runs"),
    ],
)
def test_team_mistakes_are_refused_before_any_aws_call(team_stack, hooks, capsys, argv, message):
    code, _ = nfbatch(team_stack, *argv)
    assert code == 2 and message in capsys.readouterr().err
    assert hooks.calls == {}


def test_a_stack_without_teams_refuses_team_verbs(shared_stack, hooks, capsys):
    assert nfbatch(shared_stack, "run", "hello", "--team", "rnalab")[0] == 2
    assert "--team rnalab: this stack has no teams" in capsys.readouterr().err
    assert nfbatch(shared_stack, "teams")[0] == 2
    assert "this stack has no teams" in capsys.readouterr().err
    assert nfbatch(shared_stack, "config", "--team", "rnalab")[0] == 2
    assert "--team rnalab: this stack has no teams" in capsys.readouterr().err
    assert hooks.calls == {}


def test_config_on_a_team_stack_needs_a_team_and_prints_its_own(tmp_path, hooks, capsys):
    import json

    from nfbatch.cli import main

    # The exports as the program builds them. A fair-share queue refuses a task without a share identifier (SubmitJob
    # reference), so there is no stack-wide config to print, only each team's.
    outputs = run_program("dev", {"genomics-batch:teams": {"genomicscore": {"maxVcpus": 8}, "rnalab": {}}}).outputs
    assert "nextflowConfig" not in outputs
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    assert main(["--outputs", str(path), "config"]) == 2
    err = capsys.readouterr().err
    assert "this stack is shared by teams (genomicscore, rnalab): say which one you run as" in err
    assert "--team genomicscore" in err
    assert main(["--outputs", str(path), "config", "--team", "rnalab"]) == 0
    printed = capsys.readouterr().out
    assert printed == outputs["teams"]["rnalab"]["nextflowConfig"] and "shareIdentifier = 'rnalab'" in printed
    assert main(["--outputs", str(path), "config", "schema", "--team", "rnalab"]) == 2
    assert "drop --team: nfbatch config schema" in capsys.readouterr().err
    assert hooks.calls == {}


def test_status_of_a_team_shows_only_its_runs(team_stack, hooks):
    for team, name in (("genomicscore", "core-a"), ("rnalab", "rna-a"), ("genomicscore", "core-b")):
        assert nfbatch(team_stack, "run", "hello", "--team", team, "--name", name)[0] == 0
    code, out = nfbatch(team_stack, "status", "--team", "genomicscore", "--json")
    runs = as_json(out)
    assert code == 0 and [r["run"] for r in runs] == ["core-b", "core-a"]
    assert {r["team"] for r in runs} == {"genomicscore"}
    code, out = nfbatch(team_stack, "status", "--team", "genomicscore", "--limit", "1")
    assert "recent runs of team genomicscore" in out and "core-b" in out and "core-a" not in out


def add_active_jobs(stack, queue_arn: str, team: str | None, statuses: list[str]) -> None:
    """Jobs in the given states on a queue: submitted over HTTP, then put in that state in the in-process backend
    (moto's simple Batch finishes every job at once)."""
    from moto.batch_simple.models import batch_simple_backends

    batch, backend = stack.endpoint.client("batch"), batch_simple_backends[ACCOUNT][REGION]
    for i, status in enumerate(statuses):
        job_id = batch.submit_job(
            jobName=f"nf-task-{i}",
            jobQueue=queue_arn,
            jobDefinition=stack.outputs["jobDefinitionArn"],
            tags={TEAM_TAG: team} if team else {},
        )["jobId"]
        backend.get_job_by_id(job_id).status = status


def test_teams_shows_each_teams_running_vcpus_and_jobs_by_state_and_queue(team_stack, hooks):
    core, rna = team_stack.outputs["teams"]["genomicscore"], team_stack.outputs["teams"]["rnalab"]
    add_active_jobs(team_stack, core["taskQueueArn"], "genomicscore", ["RUNNING", "RUNNING", "RUNNABLE"])
    add_active_jobs(team_stack, rna["taskQueueArn"], "rnalab", ["STARTING", "RUNNABLE", "SUBMITTED"])
    add_active_jobs(team_stack, team_stack.outputs["priorityQueueArn"], None, ["RUNNING"])

    def with_vcpus(parsed, **_):  # moto leaves resourceRequirements out of DescribeJobs' container
        for job in parsed.get("jobs", []):
            job.setdefault("container", {})["resourceRequirements"] = [{"type": "VCPU", "value": "4"}]

    hooks.on("after-call.batch.DescribeJobs", with_vcpus)
    code, out = nfbatch(team_stack, "teams", "--json")
    usage = as_json(out)
    assert code == 0
    own, shared = core["taskQueueName"], rna["taskQueueName"]
    assert usage["genomicscore"]["jobs"] == {own: {"RUNNING": 2, "RUNNABLE": 1}}
    assert usage["genomicscore"]["runningVcpus"] == 8 and usage["genomicscore"]["maxVcpus"] == 8
    assert usage["rnalab"]["jobs"] == {shared: {"STARTING": 1, "RUNNABLE": 1, "SUBMITTED": 1}}
    assert usage["rnalab"]["runningVcpus"] == 4
    assert usage["(no team)"]["runningVcpus"] == 4
    code, out = nfbatch(team_stack, "teams")
    assert code == 0 and "genomicscore" in out and "running 2" in out


def spend(stack, team: str, actual: str, forecast: str) -> None:
    """What AWS Budgets computes from the bill, set in the in-process backend: moto keeps a budget's CalculatedSpend
    at zero and has no API to change it."""
    from moto.budgets.models import budgets_backends

    name = stack.outputs["teams"][team]["budgetName"]
    budget = budgets_backends[ACCOUNT]["aws"].budgets[ACCOUNT][name].budget
    budget["CalculatedSpend"] = {
        "ActualSpend": {"Amount": actual, "Unit": "USD"},
        "ForecastedSpend": {"Amount": forecast, "Unit": "USD"},
    }


def test_teams_shows_each_budgeted_teams_spend_this_month(team_stack, hooks):
    spend(team_stack, "genomicscore", actual="1230.4", forecast="1710.9")
    code, out = nfbatch(team_stack, "teams", "--json")
    usage = as_json(out)
    assert code == 0 and hooks.calls["DescribeBudget"] == 1  # rnalab has no budget to read
    assert usage["genomicscore"]["budget"] == {
        "budgetName": team_stack.outputs["teams"]["genomicscore"]["budgetName"],
        "limitUsd": 1500.0,
        "actualUsd": 1230.4,
        "forecastUsd": 1710.9,
    }
    assert "budget" not in usage["rnalab"]
    code, out = nfbatch(team_stack, "teams")
    assert code == 0 and "$1,230 of $1,500 (82 %), forecast $1,711" in " ".join(out.split())


def test_a_budget_that_cannot_be_read_is_shown_as_such(team_stack, tmp_path):
    import json
    from dataclasses import replace

    gone = replace(
        team_stack, outputs=json.loads(team_stack.outputs_file.read_text()), outputs_file=tmp_path / "outputs.json"
    )
    gone.outputs["teams"]["rnalab"]["budgetName"] = "teams-rnalab-budget-deleted"
    gone.outputs_file.write_text(json.dumps(gone.outputs))
    code, out = nfbatch(gone, "teams")
    assert code == 0
    assert "cannot read teams-rnalab-budget-deleted: NotFoundException" in " ".join(out.split())


def test_doctor_checks_the_fair_share_queues_team_queues_and_team_definitions(team_stack):
    code, out = nfbatch(team_stack, "doctor", "--json")
    checks = {c["check"]: c for c in as_json(out)}
    # Only the cost tag's check fails: moto cannot answer it (below), and genomicscore's budget depends on it.
    assert code == 1 and all(c["ok"] for name, c in checks.items() if name != COST_TAG_CHECK)
    assert checks["fair-share queues"]["detail"] == "4 queues share by team"  # head, default, priority, core's own
    capped = team_stack.outputs["teams"]["genomicscore"]["taskQueueName"]
    assert {
        f"team queue {capped} enabled",
        "team genomicscore head job definition",
        "team rnalab head job definition",
    } <= set(checks)


def test_doctor_reads_more_than_a_hundred_team_definitions_in_pages(team_stack, hooks, tmp_path):
    import json
    from dataclasses import replace

    batch, teams = team_stack.endpoint.client("batch"), {}
    container = {
        "image": "nextflow:25.04.6",
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
    }
    for i in range(101):  # a shared queue holds up to 500 share identifiers, so 101 uncapped teams are allowed
        arn = batch.register_job_definition(
            jobDefinitionName=f"many-{i:03d}", type="container", containerProperties=container
        )["jobDefinitionArn"]
        teams[f"team{i:03d}"] = {
            **team_stack.outputs["teams"]["rnalab"],
            "shareIdentifier": f"team{i:03d}",
            "jobDefinitionArn": arn,
        }
    many = replace(team_stack, outputs={**team_stack.outputs, "teams": teams}, outputs_file=tmp_path / "outputs.json")
    many.outputs_file.write_text(json.dumps(many.outputs))
    code, out = nfbatch(many, "doctor", "--json")
    checks = [c for c in as_json(out) if c["check"].endswith("head job definition")]
    assert code == 0 and len(checks) == 102 and all(c["ok"] for c in checks)  # the stack's own, and 101 teams'
    assert hooks.calls["DescribeJobDefinitions"] == 3  # the stack's, then the teams' 100 and 1


@pytest.fixture
def broken_team_stack(aws_env, tmp_path):
    from conftest import _build_stack_in_moto

    return _build_stack_in_moto(aws_env, tmp_path, teams={"genomicscore": 8, "rnalab": None})


@pytest.mark.parametrize(
    ("breakage", "check", "fix"),
    [
        ("team-queue-disabled", "team queue", "--state ENABLED"),
        ("team-definition-gone", "team rnalab head job definition", "pulumi up"),
        ("fifo-queue", "fair-share queues", "pulumi up"),
    ],
)
def test_doctor_names_each_team_problem_and_its_fix(broken_team_stack, breakage, check, fix):
    import json

    stack, batch = broken_team_stack, broken_team_stack.endpoint.client("batch")
    teams = stack.outputs["teams"]
    if breakage == "team-queue-disabled":
        batch.update_job_queue(jobQueue=teams["genomicscore"]["taskQueueArn"], state="DISABLED")
    elif breakage == "team-definition-gone":
        batch.deregister_job_definition(jobDefinition=teams["rnalab"]["jobDefinitionArn"])
    elif breakage == "fifo-queue":  # a priority queue recreated by hand, without the scheduling policy
        order = batch.describe_job_queues(jobQueues=[stack.outputs["priorityQueueArn"]])["jobQueues"][0][
            "computeEnvironmentOrder"
        ]
        fifo = batch.create_job_queue(
            jobQueueName=f"{stack.outputs['priorityQueueName']}-fifo",
            priority=10,
            state="ENABLED",
            computeEnvironmentOrder=order,
        )
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
    broken.write_text(json.dumps({**team_stack.outputs, "teams": {"rnalab": {"shareIdentifier": "rnalab"}}}))
    from nfbatch.cli import main

    assert main(["--outputs", str(broken), "status"]) == 2
    assert "teams must map each team to its shareIdentifier, jobDefinitionArn, taskQueueArn" in capsys.readouterr().err


# --- another team's run, a task's id, a hand-edited teams export (issue 17) ---------------------------------------


def capped_and_shared(stack) -> tuple[str, str]:
    """The fixture's team with its own capped queue, and the one on the shared queues (whatever they are named)."""
    teams = stack.outputs["teams"]
    capped = next(n for n, t in sorted(teams.items()) if t["maxVcpus"] is not None)
    return capped, next(n for n in sorted(teams) if n != capped)


def test_resuming_another_teams_run_is_refused(team_stack, hooks, capsys):
    capped, shared = capped_and_shared(team_stack)
    assert nfbatch(team_stack, "run", "hello", "--team", capped, "--name", "owned-run")[0] == 0
    submitted = sent(hooks, "SubmitJob")
    code, _ = nfbatch(team_stack, "run", "hello", "--team", shared, "--name", "owned-run", "--resume")
    err = capsys.readouterr().err
    assert code == 2 and f"run owned-run belongs to team {capped}, not {shared}" in err
    assert "under cache/<team>/" in err and f"resume it as its team (--team {capped})" in err
    assert submitted == []  # refused before the head job is submitted
    assert nfbatch(team_stack, "run", "hello", "--team", capped, "--name", "owned-run", "--resume")[0] == 0
    assert len(submitted) == 1 and submitted[0]["tags"][TEAM_TAG] == capped


def test_resuming_a_run_that_had_no_team_is_refused(team_stack, hooks, capsys):
    capped, _ = capped_and_shared(team_stack)
    team_stack.endpoint.client("batch").submit_job(  # submitted by hand, as docs/running.md's generic command does
        jobName="nfbatch-teamless",
        jobQueue=team_stack.outputs["headQueueArn"],
        jobDefinition=team_stack.outputs["jobDefinitionArn"],
        tags={RUN_TAG: "teamless"},
    )
    submitted = sent(hooks, "SubmitJob")
    code, _ = nfbatch(team_stack, "run", "hello", "--team", capped, "--name", "teamless", "--resume")
    err = capsys.readouterr().err
    assert code == 2 and f"run teamless was run without a team, not {capped}" in err and submitted == []
    assert "give this run a new --name" in err


def test_a_resume_with_no_earlier_run_of_that_name_still_starts(team_stack, hooks):
    _, shared = capped_and_shared(team_stack)
    assert nfbatch(team_stack, "run", "hello", "--team", shared, "--name", "fresh-resume", "--resume")[0] == 0


def test_a_task_on_a_capped_teams_own_queue_is_named_as_a_task(team_stack, hooks, capsys):
    capped, _ = capped_and_shared(team_stack)
    assert nfbatch(team_stack, "run", "hello", "--team", capped, "--name", "queued-task")[0] == 0
    task = team_stack.endpoint.client("batch").submit_job(
        jobName="nf-align",
        jobQueue=team_stack.outputs["teams"][capped]["taskQueueArn"],
        shareIdentifier=capped,
        jobDefinition=team_stack.outputs["jobDefinitionArn"],
        tags={RUN_TAG: "queued-task", TEAM_TAG: capped},
    )["jobId"]
    code, _ = nfbatch(team_stack, "stop", task)
    err = capsys.readouterr().err
    assert code == 2 and f"job {task} is a task of run queued-task, not a run" in err
    assert "TerminateJob" not in hooks.calls


TEAMS_EDITED = [
    (
        "weight-word",
        lambda t, c: {c: {**t[c], "weight": "heavy"}},
        "teams.{c}.weight = heavy: must be a number above 0",
    ),
    ("weight-bool", lambda t, c: {c: {**t[c], "weight": True}}, "teams.{c}.weight = true: must be a number above 0"),
    (
        "cap-text",
        lambda t, c: {c: {**t[c], "maxVcpus": "8"}},
        "teams.{c}.maxVcpus = 8: must be a whole number of vCPUs",
    ),
    (
        "queue-name",
        lambda t, c: {c: {**t[c], "taskQueueArn": t[c]["taskQueueName"]}},
        "teams.{c}.taskQueueArn = {queue}: must be a job queue ARN",
    ),
    (
        "queue-other-region",
        lambda t, c: {c: {**t[c], "taskQueueArn": t[c]["taskQueueArn"].replace(f":{REGION}:", ":eu-central-1:")}},
        "must be in region us-east-1, the stack's region",
    ),
    (
        "definition-name",
        lambda t, c: {c: {**t[c], "jobDefinitionArn": t[c]["jobDefinitionName"]}},
        "teams.{c}.jobDefinitionArn = {definition}: must be a job definition ARN",
    ),
    (
        "share-list",
        lambda t, c: {c: {**t[c], "shareIdentifier": [c]}},
        'teams.{c}.shareIdentifier = ["{c}"]: must be a non-empty string',
    ),
    (
        "budget-number",
        lambda t, c: {c: {**t[c], "budgetName": 1500}},
        "teams.{c}.budgetName = 1500: must be a non-empty string",
    ),
    ("entry-list", lambda t, c: {c: [t[c]["taskQueueArn"]]}, "teams.{c} = "),
    ("bad-name", lambda t, c: {"Bad Team": t[c]}, 'teams: "Bad Team" is not a team name'),
    (
        "arn-other-account",
        lambda t, c: {c: {**t[c], "jobDefinitionArn": t[c]["jobDefinitionArn"].replace(ACCOUNT, "210987654321")}},
        f"must be in account {ACCOUNT}, the account of headQueueArn",
    ),
]


@pytest.mark.parametrize(("edit", "message"), [(e, m) for _, e, m in TEAMS_EDITED], ids=[i for i, _, _ in TEAMS_EDITED])
def test_a_hand_edited_teams_export_is_refused_with_the_key_and_value(
    team_stack, hooks, capsys, tmp_path, edit, message
):
    import json

    from nfbatch.cli import main

    capped, _ = capped_and_shared(team_stack)
    teams = team_stack.outputs["teams"]
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({**team_stack.outputs, "teams": {**teams, **edit(teams, capped)}}))
    for verb in (["teams"], ["status"], ["run", "hello", "--team", capped]):  # `teams` formatted a word as a number
        assert main(["--outputs", str(path), *verb]) == 2
        err = capsys.readouterr().err
        expected = message.format(
            c=capped, queue=teams[capped]["taskQueueName"], definition=teams[capped]["jobDefinitionName"]
        )
        assert expected in err and "Traceback" not in err and hooks.calls == {}


# --- the Team cost allocation tag --------------------------------------------------------------------------------
# moto 5.2.5 does not implement Cost Explorer's ListCostAllocationTags (its ce backend answers "The
# list_cost_allocation_tags action has not been implemented", an HTTP 500). So the request doctor sends and how it
# takes a failed read run against moto; what each answer means is a pure function, given answers that botocore's
# Cost Explorer model validates (no hand-made server).


def test_doctor_asks_for_the_team_key_and_says_when_it_cannot_read_it(team_stack, hooks):
    requests: list[dict] = []
    attempts: list[object] = []
    hooks.on("provide-client-params.ce.ListCostAllocationTags", lambda params, **_: requests.append(dict(params)))
    hooks.on("before-send.ce.ListCostAllocationTags", lambda request, **_: attempts.append(request))
    code, out = nfbatch(team_stack, "doctor", "--json")
    [check] = [c for c in as_json(out) if c["check"] == COST_TAG_CHECK]
    assert requests == [{"TagKeys": [TEAM_TAG], "Type": "UserDefined"}]
    validate_parameters(
        requests[0],
        botocore.session.get_session().get_service_model("ce").operation_model("ListCostAllocationTags").input_shape,
    )
    assert len(attempts) == 2  # an advisory read: moto's 500 is retried once, not nine times with backoff
    assert code == 1 and not check["ok"]  # genomicscore's budget needs the tag
    assert check["detail"] == "cannot read its status: ListCostAllocationTags answered 500"
    assert "ce:ListCostAllocationTags" in check["fix"]


def listed(*tags: dict) -> list[dict]:
    """ListCostAllocationTags' answer, checked against botocore's Cost Explorer model (output shape)."""
    response = {"CostAllocationTags": list(tags)}
    validate_parameters(
        response,
        botocore.session.get_session().get_service_model("ce").operation_model("ListCostAllocationTags").output_shape,
    )
    return response["CostAllocationTags"]


def test_the_cost_tag_fix_names_the_stack_in_its_config_and_up_commands():
    inactive = listed({"TagKey": TEAM_TAG, "Type": "UserDefined", "Status": "Inactive"})
    fix = cost_tag_check(inactive, ["core"], stack="prod")["fix"]
    # budget.activateTeamCostTag is nested in the budget object: `pulumi config set --path` sets it.
    assert fix.startswith(
        "`pulumi config set --stack prod --path 'genomics-batch:budget.activateTeamCostTag' true`, then "
        "`pulumi up --stack prod` (or `aws ce update-cost-allocation-tags-status"
    )
    assert "--stack prod" in cost_tag_check(listed(), ["core"], stack="prod")["fix"]  # the not-listed-yet fix too


def test_the_cost_tag_check_reads_active_inactive_and_absent():
    active = cost_tag_check(listed({"TagKey": TEAM_TAG, "Type": "UserDefined", "Status": "Active"}), ["core"])
    assert active["ok"] and active["detail"].startswith("Active")
    inactive = cost_tag_check(listed({"TagKey": TEAM_TAG, "Type": "UserDefined", "Status": "Inactive"}), ["core"])
    assert not inactive["ok"] and inactive["detail"] == "Inactive; the budgets of core count nothing until it is Active"
    assert "activateTeamCostTag" in inactive["fix"] and f"TagKey={TEAM_TAG},Status=Active" in inactive["fix"]
    absent = cost_tag_check(listed(), ["core"])
    assert not absent["ok"] and "AWS does not list Team yet (it does up to 24 h after" in absent["detail"]
    assert absent["fix"].startswith(f"wait until `aws ce list-cost-allocation-tags --tag-keys {TEAM_TAG}` lists it")
    # Only the key the program tags with counts.
    assert not cost_tag_check(listed({"TagKey": "team", "Type": "UserDefined", "Status": "Active"}), ["core"])["ok"]
    # Without a team budget nothing depends on the tag: reported, not failed.
    assert (
        cost_tag_check(listed(), [])["ok"]
        and cost_tag_check(listed({"TagKey": TEAM_TAG, "Type": "UserDefined", "Status": "Inactive"}), [])["ok"]
    )
