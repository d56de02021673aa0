"""Teams: one shared cluster, fair share, capped teams, per-team roles and run policies, budgets, and nfbatch.

The program runs under the mocks with one, three (one capped) and fifty teams; each team's policies are evaluated
with tests/iam_eval.py like the head role's; nfbatch's team verbs run against a moto stack with fair-share queues.
"""

import json
import re

import pytest
from conftest import ACCOUNT, REGION, run_program
from hypothesis import given
from hypothesis.strategies import from_regex
from iam_eval import decision

from components.compute_cluster import share_distribution
from components.teams import principal_kind_and_name
from facts.contract import HEAD_SCHEDULING_PRIORITY, TEAM_TAG
from facts.limits import TEAM_NAME, weight_factor
from facts.update_rules import JOB_QUEUE, action_for
from policies.guard import rules
from policies.iam import reaches_other_results, team_run_policy, team_s3_statements
from settings import SettingsError, load_settings

BATCH = f"arn:aws:batch:{REGION}:{ACCOUNT}"
CORE = {
    "weight": 2,
    "maxVcpus": 32,
    "monthlyBudgetUsd": 1500,
    "budgetEmails": ["lead@lab.org"],
    "readOnlyBuckets": ["1000genomes"],
    "readWriteBuckets": ["core-results"],
    "principals": [f"arn:aws:iam::{ACCOUNT}:role/lab/GenomicsCoreRunner"],
}
THREE = {"genomicscore": CORE, "rnalab": {"principals": [f"arn:aws:iam::{ACCOUNT}:user/alice"]}, "imaging": {}}


@pytest.fixture(scope="module")
def three():
    return run_program("dev", {"genomics-batch:teams": THREE})


@pytest.fixture(scope="module")
def one():
    return run_program("dev", {"genomics-batch:teams": {"rnalab": {}}})


DEFINITION = "aws:batch/jobDefinition:JobDefinition"


def policy_of(run, role: str) -> dict:
    """A team role's policy, inline in the role."""
    [inline] = run.mocks.named(role, "aws:iam/role:Role").inputs["inlinePolicies"]
    return json.loads(inline["policy"])


def queue(run, name: str):
    return run.mocks.named(name, JOB_QUEUE)


def environment_of(run, definition: str) -> dict[str, str]:
    properties = json.loads(run.mocks.named(definition, DEFINITION).inputs["containerProperties"])
    return {e["name"]: e["value"] for e in properties["environment"]}


# --- the shared cluster ---------------------------------------------------------------------------------------


def test_without_teams_nothing_of_teams_is_declared(dev_run):
    assert not dev_run.mocks.of_type("aws:batch/schedulingPolicy:SchedulingPolicy")
    assert not dev_run.mocks.of_type("genomics:teams:BatchTeams")
    assert all("schedulingPolicyArn" not in q.inputs for q in dev_run.mocks.of_type(JOB_QUEUE))
    assert "teams" not in dev_run.outputs


def test_weights_become_batch_weight_factors_where_smaller_is_a_larger_share():
    # Batch: a weightFactor of 0.125 gets 8 times the capacity of 1 (ShareAttributes); a weight of 8 says the same.
    assert weight_factor(8) == 0.125 and weight_factor(1) == 1 and weight_factor(3) == 0.3333
    assert weight_factor(0.001) == 999.9999 and weight_factor(10000) == 0.0001  # Batch's range, never beyond
    assert share_distribution({"b": 1.0, "a": 0.5}) == [
        {"shareIdentifier": "a", "weightFactor": 0.5},
        {"shareIdentifier": "b", "weightFactor": 1.0},
    ]


def test_one_team_gets_a_fair_share_policy_on_every_queue(one):
    [policy] = one.mocks.of_type("aws:batch/schedulingPolicy:SchedulingPolicy")
    fair = policy.inputs["fairSharePolicy"]
    assert fair["shareDistributions"] == [{"shareIdentifier": "rnalab", "weightFactor": 1}]
    assert (fair["shareDecaySeconds"], fair["computeReservation"]) == (3600, 10)
    arn = policy.outputs["arn"]
    # Fair-share queues require a share identifier on every job, so heads too run on a fair-share queue.
    assert {q.name: q.inputs.get("schedulingPolicyArn") for q in one.mocks.of_type(JOB_QUEUE)} == {
        "batch-head": arn,
        "batch-default": arn,
        "batch-priority": arn,
    }
    [team] = one.outputs["teams"].values()
    assert team["shareIdentifier"] == "rnalab" and team["taskQueueArn"] == one.outputs["defaultQueueArn"]


def test_three_teams_share_by_weight_and_the_capped_one_gets_its_own_spot_capacity(three):
    [policy] = three.mocks.of_type("aws:batch/schedulingPolicy:SchedulingPolicy")
    assert policy.inputs["fairSharePolicy"]["shareDistributions"] == [
        {"shareIdentifier": "genomicscore", "weightFactor": 0.5},
        {"shareIdentifier": "imaging", "weightFactor": 1},
        {"shareIdentifier": "rnalab", "weightFactor": 1},
    ]
    spot = three.mocks.named("batch-spot").inputs["computeResources"]
    capped = three.mocks.named("batch-team-genomicscore", "aws:batch/computeEnvironment:ComputeEnvironment")
    resources = capped.inputs["computeResources"]
    assert (resources["type"], resources["maxVcpus"], resources["tags"]) == ("SPOT", 32, {TEAM_TAG: "genomicscore"})
    for same in (
        "launchTemplate",
        "subnets",
        "securityGroupIds",
        "instanceRole",
        "instanceTypes",
        "allocationStrategy",
    ):
        assert resources[same] == spot[same], same
    own = queue(three, "batch-team-genomicscore")
    assert [o["computeEnvironment"] for o in own.inputs["computeEnvironmentOrders"]] == [capped.outputs["arn"]]
    assert own.inputs["schedulingPolicyArn"] == policy.outputs["arn"]
    assert len(three.mocks.of_type(JOB_QUEUE)) == 4  # no queue for the teams that share


def test_each_team_head_runs_as_its_team(three):
    core, rna = environment_of(three, "teams-genomicscore-head"), environment_of(three, "teams-rnalab-head")
    own = queue(three, "batch-team-genomicscore").outputs["arn"]
    assert core["NF_JOB_QUEUE"] == core["NF_PRIORITY_QUEUE"] == own  # retries too stay under the cap
    assert (rna["NF_JOB_QUEUE"], rna["NF_PRIORITY_QUEUE"]) == (
        three.outputs["defaultQueueArn"],
        three.outputs["priorityQueueArn"],
    )
    bucket = three.outputs["bucketName"]
    assert (rna["NF_TEAM"], rna["NF_WORKDIR"], rna["NF_CACHEDIR"]) == (
        "rnalab",
        f"s3://{bucket}/work/rnalab",
        f"s3://{bucket}/cache/rnalab",
    )
    assert rna["NF_TASK_JOB_ROLE"] == three.mocks.named("teams-rnalab-task", "aws:iam/role:Role").outputs["arn"]
    definition = three.mocks.named("teams-rnalab-head", DEFINITION)
    assert definition.inputs["tags"] == {TEAM_TAG: "rnalab"} and definition.inputs["propagateTags"] is True
    config = three.outputs["teams"]["rnalab"]["nextflowConfig"]
    assert "shareIdentifier = 'rnalab'" in config and "'Team': 'rnalab'" in config


def test_a_team_waits_only_on_its_own_queues_and_roles(three):
    # Dependencies order `pulumi up`: an uncapped team's roles and definition must not wait for (or be deleted
    # after) a capped team's queue, and its task role needs nothing but the bucket.
    capped_queue = queue(three, "batch-team-genomicscore").urn
    rna = {r.typ.rsplit(":", 1)[-1]: r for r in three.mocks.registrations if r.name.startswith("teams-rnalab-")}
    assert all(capped_queue not in r.dependencies for r in rna.values())
    names = {r.urn: r.name for r in three.mocks.registrations}
    assert [names[u] for u in three.mocks.named("teams-rnalab-task", "aws:iam/role:Role").dependencies] == [
        "work-bucket"
    ]
    core_head = three.mocks.named("teams-genomicscore-head", "aws:iam/role:Role")
    assert capped_queue in core_head.dependencies  # and a capped team's own head does wait for it


def test_the_teams_export_has_what_runs_and_seqera_need(three):
    core = three.outputs["teams"]["genomicscore"]
    assert core["taskQueueArn"] == queue(three, "batch-team-genomicscore").outputs["arn"]
    assert core["jobDefinitionArn"] == three.mocks.named("teams-genomicscore-head", DEFINITION).outputs["arn"]
    assert (core["weight"], core["maxVcpus"], core["monthlyBudgetUsd"]) == (2, 32, 1500)
    assert core["resultsDir"] == f"s3://{three.outputs['bucketName']}/results/genomicscore"
    seqera = core["seqeraPlatform"]
    assert seqera["computeQueue"] == core["taskQueueName"] and seqera["headQueue"] == three.outputs["headQueueName"]
    assert seqera["computeJobRole"] == core["taskJobRoleArn"] and "shareIdentifier" in seqera["nextflowConfig"]


# terraform-provider-aws internal/service/batch/validate.go, validShareIdentifier (the provider refuses others).
PROVIDER_SHARE_IDENTIFIER = re.compile(r"^[0-9A-Za-z]{0,254}[0-9A-Za-z*]?$")


def test_every_place_a_team_is_named_uses_one_share_identifier_the_provider_accepts(three):
    [policy] = three.mocks.of_type("aws:batch/schedulingPolicy:SchedulingPolicy")
    scheduled = {d["shareIdentifier"] for d in policy.inputs["fairSharePolicy"]["shareDistributions"]}
    assert scheduled == set(THREE)
    for team, entry in three.outputs["teams"].items():
        run = json.loads(three.mocks.named(f"teams-{team}-run", "aws:iam/policy:Policy").inputs["policy"])
        submit = next(st for st in run["Statement"] if st["Sid"] == "SubmitAsTeam")
        used = {
            "export (what nfbatch run submits)": entry["shareIdentifier"],
            "IAM condition": submit["Condition"]["StringEquals"]["batch:ShareIdentifier"],
            # The head's entrypoint writes aws.batch.shareIdentifier from NF_TEAM (container/entrypoint.sh).
            "head job definition": environment_of(three, f"teams-{team}-head")["NF_TEAM"],
            "nextflowConfig": re.search(r"shareIdentifier = '([^']*)'", entry["nextflowConfig"])[1],
        }
        assert set(used.values()) == {team}, used
        assert team in scheduled and PROVIDER_SHARE_IDENTIFIER.fullmatch(team)


@given(from_regex(TEAM_NAME, fullmatch=True))
def test_every_allowed_team_name_is_a_share_identifier_the_provider_accepts(name):
    assert PROVIDER_SHARE_IDENTIFIER.fullmatch(name)


def test_a_hyphenated_team_name_is_refused_before_the_provider_refuses_it_at_preview():
    with pytest.raises(SettingsError) as error:
        load_settings({"aws:region": REGION, "genomics-batch:teams": json.dumps({"genomics-core": {}})}, "dev")
    assert "teams.genomics-core = genomics-core: is not a team name: 2-32 lowercase letters or digits" in str(
        error.value
    )
    assert not PROVIDER_SHARE_IDENTIFIER.fullmatch("genomics-core")  # why: it would fail `pulumi preview`


def test_team_heads_carry_a_scheduling_priority_the_provider_sends(three, dev_run):
    import botocore.session
    from botocore.validate import validate_parameters

    # A fair-share queue refuses a job with neither schedulingPriority in its definition nor an override at submit
    # (nextflow-io/nextflow PR #3505); the provider sends the attribute only when non-zero (job_definition.go, GetOk).
    definition = three.mocks.named("teams-rnalab-head", DEFINITION).inputs
    assert definition["schedulingPriority"] == HEAD_SCHEDULING_PRIORITY >= 1
    model = botocore.session.get_session().get_service_model("batch")
    validate_parameters(
        {  # the RegisterJobDefinition request the provider makes of it, checked against the model
            "jobDefinitionName": "teams-rnalab-head",
            "type": definition["type"],
            # The engine carries numbers as floats; the provider's schema types it TypeInt, and 1.0 is the integer 1.
            "schedulingPriority": int(definition["schedulingPriority"]),
            "propagateTags": definition["propagateTags"],
            "containerProperties": json.loads(definition["containerProperties"]),
            "tags": definition["tags"],
        },
        model.operation_model("RegisterJobDefinition").input_shape,
    )
    assert HEAD_SCHEDULING_PRIORITY <= 9999  # botocore's Batch model: "the maximum supported value is 9999"
    # The stack's own head, on the FIFO queues of a stack without teams, is unchanged.
    assert "schedulingPriority" not in dev_run.mocks.named("nextflow-definition", DEFINITION).inputs
    # scheduling_priority is not ForceNew: a change registers a new revision (job_definition.go, Update), which is
    # what a deployed team stack sees when this lands.
    change = action_for(DEFINITION, ["schedulingPriority"], {})
    assert (change.kind, change.note) == ("update", "a new revision is registered")


def test_a_team_stack_exports_no_stack_wide_config_its_queues_would_refuse(three, dev_run):
    # SubmitJob (botocore's Batch model): on a fair-share queue "this parameter [shareIdentifier] must be specified".
    assert "nextflowConfig" not in three.outputs and "seqeraPlatform" not in three.outputs
    for team in three.outputs["teams"].values():  # each team's own config carries its share identifier
        assert "shareIdentifier = " in team["nextflowConfig"]
        # Less the commented-out docker scope, which Seqera Platform would apply to every pipeline
        # (tests/test_registry_routing.py).
        assert team["seqeraPlatform"]["nextflowConfig"] == team["nextflowConfig"].split("\n// Uncomment for")[0]
    assert "shareIdentifier" not in dev_run.outputs["nextflowConfig"] and "seqeraPlatform" in dev_run.outputs


def test_the_cost_estimate_splits_the_shared_queues_among_uncapped_teams_only():
    from components.costs import estimate

    s = load_settings({"aws:region": REGION, "genomics-batch:teams": json.dumps(THREE)}, "dev")
    teams = estimate(s)["teams"]
    # genomicscore (weight 2) is capped, so rnalab and imaging (weight 1 each) share the task queues.
    assert teams == {
        "genomicscore": {"sharePercent": None, "maxVcpus": 32, "monthlyBudgetUsd": 1500},
        "imaging": {"sharePercent": 50.0, "maxVcpus": None, "monthlyBudgetUsd": None},
        "rnalab": {"sharePercent": 50.0, "maxVcpus": None, "monthlyBudgetUsd": None},
    }
    assert "teams" not in estimate(load_settings({"aws:region": REGION}, "dev"))


def test_fifty_teams_plan_within_quotas():
    teams = {f"team{i:02d}": ({"maxVcpus": 8} if i < 10 else {"weight": 1 + i % 3}) for i in range(50)}
    run = run_program("dev", {"genomics-batch:teams": teams})
    [policy] = run.mocks.of_type("aws:batch/schedulingPolicy:SchedulingPolicy")
    assert len(policy.inputs["fairSharePolicy"]["shareDistributions"]) == 50
    assert len(run.mocks.of_type(JOB_QUEUE)) == 13 and len(run.outputs["teams"]) == 50
    assert len(run.mocks.of_type("aws:batch/jobDefinition:JobDefinition")) == 51


def test_adding_the_first_team_replaces_the_queues_in_the_plan_diff():
    # A FIFO queue cannot become fair-share in place; the plan says so before `pulumi up` does it.
    action = action_for(JOB_QUEUE, ["schedulingPolicyArn"], {})
    assert action.kind == "replace" and action.because == ("schedulingPolicyArn",)
    assert action_for(JOB_QUEUE, ["priority"], {}).kind == "update"


# --- what each role and principal can reach ---------------------------------------------------------------------


def test_a_team_task_role_reaches_its_prefixes_and_buckets_only(three):
    bucket = f"arn:aws:s3:::{three.outputs['bucketName']}"
    task = [policy_of(three, "teams-genomicscore-task")]
    allowed = [
        ("s3:PutObject", f"{bucket}/work/genomicscore/ab/cd/.command.out", {}),
        ("s3:PutObject", f"{bucket}/results/genomicscore/run-1/multiqc.html", {}),
        ("s3:GetObject", f"{bucket}/params/genomicscore/run-1/params.yaml", {}),
        ("s3:ListBucket", bucket, {"s3:prefix": "work/genomicscore/ab/"}),
        ("s3:PutObject", "arn:aws:s3:::core-results/cohort/x.vcf", {}),
        ("s3:GetObject", "arn:aws:s3:::1000genomes/phase3/x.bam", {}),
    ]
    denied = [
        ("s3:GetObject", f"{bucket}/results/rnalab/run-9/counts.tsv", {}),
        ("s3:PutObject", f"{bucket}/work/rnalab/ab/cd/.command.sh", {}),
        ("s3:ListBucket", bucket, {"s3:prefix": "results/rnalab/"}),
        ("s3:ListBucket", bucket, {}),
        ("s3:PutObject", f"{bucket}/params/genomicscore/x", {}),
        ("s3:PutObject", "arn:aws:s3:::1000genomes/x", {}),
    ]
    assert [decision(task, a, r, c) for a, r, c in allowed] == ["Allow"] * len(allowed)
    assert [decision(task, a, r, c) for a, r, c in denied] == ["ImplicitDeny"] * len(denied)
    rna = [policy_of(three, "teams-rnalab-task")]
    assert decision(rna, "s3:PutObject", "arn:aws:s3:::core-results/x") == "ImplicitDeny"


def test_a_team_head_submits_to_its_queues_and_passes_only_its_task_role(three):
    head = [policy_of(three, "teams-genomicscore-head")]
    own_queue = queue(three, "batch-team-genomicscore").outputs["arn"]
    task_role = three.mocks.named("teams-genomicscore-task", "aws:iam/role:Role").outputs["arn"]
    assert decision(head, "batch:SubmitJob", own_queue) == "Allow"
    assert decision(head, "iam:PassRole", task_role) == "Allow"
    assert (
        decision(head, "s3:PutObject", f"arn:aws:s3:::{three.outputs['bucketName']}/work/genomicscore/x/.command.run")
        == "Allow"
    )
    others = [
        ("iam:PassRole", three.mocks.named("teams-rnalab-task", "aws:iam/role:Role").outputs["arn"]),
        ("iam:PassRole", three.outputs["taskJobRoleArn"]),
        ("s3:GetObject", f"arn:aws:s3:::{three.outputs['bucketName']}/results/rnalab/x"),
    ]
    assert [decision(head, a, r) for a, r in others] == ["ImplicitDeny"] * 3
    rna_head = [policy_of(three, "teams-rnalab-head")]
    assert decision(rna_head, "batch:SubmitJob", own_queue) == "ImplicitDeny"  # another team's capped queue
    assert decision(rna_head, "batch:SubmitJob", three.outputs["defaultQueueArn"]) == "Allow"


RUN = team_run_policy(
    partition="aws",
    region=REGION,
    account_id=ACCOUNT,
    team="genomicscore",
    head_queue_arn=f"{BATCH}:job-queue/batch-head-1a2b",
    job_definition_name="teams-core-head-9f",
    bucket_arn="arn:aws:s3:::lab-work",
    log_group_name="nextflow-logs-3c",
    budget_name="teams-core-budget-1f",
)


@pytest.mark.parametrize(
    ("action", "resource", "context", "expected"),
    [
        ("batch:SubmitJob", f"{BATCH}:job-queue/batch-head-1a2b", {"batch:ShareIdentifier": "genomicscore"}, "Allow"),
        (
            "batch:SubmitJob",
            f"{BATCH}:job-definition/teams-core-head-9f:4",
            {"batch:ShareIdentifier": "genomicscore"},
            "Allow",
        ),
        ("batch:SubmitJob", f"{BATCH}:job-queue/batch-head-1a2b", {"batch:ShareIdentifier": "rnalab"}, "ImplicitDeny"),
        ("batch:SubmitJob", f"{BATCH}:job-queue/batch-head-1a2b", {}, "ImplicitDeny"),
        (
            "batch:SubmitJob",
            f"{BATCH}:job-queue/batch-default-5e",
            {"batch:ShareIdentifier": "genomicscore"},
            "ImplicitDeny",
        ),
        (
            "batch:SubmitJob",
            f"{BATCH}:job-definition/teams-rna-head-7a:1",
            {"batch:ShareIdentifier": "genomicscore"},
            "ImplicitDeny",
        ),
        ("batch:TagResource", f"{BATCH}:job/0a1b", {f"aws:RequestTag/{TEAM_TAG}": "genomicscore"}, "Allow"),
        ("batch:TagResource", f"{BATCH}:job/0a1b", {f"aws:RequestTag/{TEAM_TAG}": "rnalab"}, "ImplicitDeny"),
        ("batch:TerminateJob", f"{BATCH}:job/0a1b", {f"aws:ResourceTag/{TEAM_TAG}": "genomicscore"}, "Allow"),
        ("batch:TerminateJob", f"{BATCH}:job/0a1b", {f"aws:ResourceTag/{TEAM_TAG}": "rnalab"}, "ImplicitDeny"),
        ("batch:DescribeJobs", "*", {}, "Allow"),
        (
            "logs:GetLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:nextflow-logs-3c:log-stream:head/x",
            {},
            "Allow",
        ),
        ("s3:PutObject", "arn:aws:s3:::lab-work/params/genomicscore/run-1/p.yaml", {}, "Allow"),
        ("s3:PutObject", "arn:aws:s3:::lab-work/params/rnalab/run-1/p.yaml", {}, "ImplicitDeny"),
        ("s3:GetObject", "arn:aws:s3:::lab-work/results/genomicscore/run-1/x", {}, "Allow"),
        ("s3:GetObject", "arn:aws:s3:::lab-work/results/rnalab/run-1/x", {}, "ImplicitDeny"),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/anything", {}, "ImplicitDeny"),
        ("budgets:ViewBudget", f"arn:aws:budgets::{ACCOUNT}:budget/teams-core-budget-1f", {}, "Allow"),
        ("budgets:ViewBudget", f"arn:aws:budgets::{ACCOUNT}:budget/teams-rna-budget-2a", {}, "ImplicitDeny"),
    ],
)
def test_the_run_policy_lets_principals_run_only_as_their_team(action, resource, context, expected):
    assert decision([RUN], action, resource, context) == expected


def test_principals_get_the_run_policy_attached_by_name(three):
    attachments = {a.name: a.inputs for a in three.mocks.of_type("aws:iam/policyAttachment:PolicyAttachment")}
    assert set(attachments) == {"teams-genomicscore-run", "teams-rnalab-run"}  # imaging lists no principals
    assert attachments["teams-genomicscore-run"]["roles"] == ["GenomicsCoreRunner"]  # the path is not in the name
    assert attachments["teams-rnalab-run"]["users"] == ["alice"]
    policy = three.mocks.named("teams-rnalab-run", "aws:iam/policy:Policy")
    assert attachments["teams-rnalab-run"]["policyArn"] == policy.outputs["arn"]
    assert principal_kind_and_name(f"arn:aws-cn:iam::{ACCOUNT}:user/ops/bob") == ("user", "bob")


def test_the_declared_budget_is_created_as_the_provider_sends_it_and_filters_on_the_team_tag(three, aws_env):
    from conftest import create_budget_in_moto

    declared = three.mocks.named("teams-genomicscore-budget", "aws:budgets/budget:Budget")
    name = create_budget_in_moto(aws_env, declared)  # botocore checks every request against the Budgets model
    budgets = aws_env.client("budgets")
    budget = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=name)["Budget"]
    assert budget["CostFilters"] == {"TagKeyValue": ["user:Team$genomicscore"]}
    assert (budget["BudgetLimit"], budget["TimeUnit"]) == ({"Amount": "1500.00", "Unit": "USD"}, "MONTHLY")
    notifications = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=name)["Notifications"]
    assert sorted((n["Threshold"], n["NotificationType"]) for n in notifications) == [
        (80, "FORECASTED"),
        (100, "ACTUAL"),
    ]
    # Its members may read it (nfbatch teams), by the name the stack exports; rnalab has no budget to read.
    core, rna = (
        json.loads(three.mocks.named(f"teams-{t}-run", "aws:iam/policy:Policy").inputs["policy"])
        for t in ("genomicscore", "rnalab")
    )
    assert decision([core], "budgets:ViewBudget", declared.outputs["arn"]) == "Allow"
    assert three.outputs["teams"]["genomicscore"]["budgetName"] == name
    assert three.outputs["teams"]["rnalab"]["budgetName"] is None
    assert "ReadOwnBudget" not in [st["Sid"] for st in rna["Statement"]]


def test_parliament_knows_which_condition_keys_each_batch_action_takes():
    from parliament import analyze_policy_string

    # The run policy's conditions are checked against the Service Authorization Reference (parliament's copy):
    # a key the action does not take, as batch:ShareIdentifier on TerminateJob, is a finding.
    stop = next(st for st in RUN["Statement"] if st["Sid"] == "StopOwnRuns")
    assert not analyze_policy_string(json.dumps({**RUN, "Statement": [stop]})).findings
    wrong = {**stop, "Condition": {"StringEquals": {"batch:ShareIdentifier": "genomicscore"}}}
    assert {f.issue for f in analyze_policy_string(json.dumps({**RUN, "Statement": [wrong]})).findings} == {
        "UNKNOWN_CONDITION_FOR_ACTION"
    }


def test_a_team_budget_filters_on_its_team_tag(three):
    [budget] = three.mocks.of_type("aws:budgets/budget:Budget")
    assert budget.name == "teams-genomicscore-budget"
    assert budget.inputs["costFilters"] == [{"name": "TagKeyValue", "values": ["user:Team$genomicscore"]}]
    assert budget.inputs["limitAmount"] == "1500.00"
    assert sorted(
        (n["threshold"], n["notificationType"], tuple(n["subscriberEmailAddresses"]))
        for n in budget.inputs["notifications"]
    ) == [(80, "FORECASTED", ("lead@lab.org",)), (100, "ACTUAL", ("lead@lab.org",))]


def test_the_team_cost_tag_is_activated_only_when_asked(three):
    assert not three.mocks.of_type("aws:costexplorer/costAllocationTag:CostAllocationTag")
    run = run_program(
        "dev", {"genomics-batch:teams": {"imaging": {}}, "genomics-batch:budget": {"activateTeamCostTag": True}}
    )
    [tag] = run.mocks.of_type("aws:costexplorer/costAllocationTag:CostAllocationTag")
    assert (tag.inputs["tagKey"], tag.inputs["status"]) == (TEAM_TAG, "Active")


def test_no_team_policy_reaches_another_teams_results(three):
    from test_guard import violations_for

    assert violations_for(three) == {}
    work = "arn:aws:s3:::lab-work"
    widened = {
        "Statement": [
            *team_s3_statements(work, "imaging"),
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{work}/results/*"},
        ]
    }
    assert reaches_other_results(widened, work, "imaging") == [f"{work}/results/*"]
    assert reaches_other_results({"Statement": team_s3_statements(work, "imaging")}, work, "imaging") == []
    assert reaches_other_results(
        {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}, work, "imaging"
    ) == ["*"]
    assert reaches_other_results(
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": f"{work}/*"}]}, work, "imaging"
    ) == [f"{work}/*"]


def test_the_guard_rule_flags_a_widened_team_role(three):
    from test_guard import violations_for

    weakened = run_program("dev", {"genomics-batch:teams": THREE})
    [inline] = weakened.mocks.named("teams-imaging-task", "aws:iam/role:Role").inputs["inlinePolicies"]
    document = json.loads(inline["policy"])
    bucket = f"arn:aws:s3:::{weakened.outputs['bucketName']}"
    document["Statement"].append(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket}/results/genomicscore/*"}
    )
    inline["policy"] = json.dumps(document)
    found = violations_for(weakened)
    assert list(found) == ["teams-keep-to-their-results"]
    assert "team imaging's policy grants" in found["teams-keep-to-their-results"][0]
    assert rules.check_teams_keep_to_their_results([]) == []


# --- bad team settings --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("teams", "extra", "message"),
    [
        ({"Genomics": {}}, {}, "teams.Genomics = Genomics: is not a team name"),
        ({"g": {}}, {}, "teams.g = g: is not a team name"),
        ({"a" * 33: {}}, {}, "is not a team name: 2-32 lowercase"),
        ({"core": {"weight": 0}}, {}, "teams.core.weight = 0: must be between 0.001 and 10000"),
        ({"core": {"maxVcpus": 512}}, {}, "teams.core.maxVcpus = 512: must be at most compute.spot.maxVcpus (64)"),
        ({"core": {"monthlyBudgetUsd": 0, "budgetEmails": ["a@lab.org"]}}, {}, "teams.core.monthlyBudgetUsd = 0"),
        ({"core": {"monthlyBudgetUsd": -5, "budgetEmails": ["a@lab.org"]}}, {}, "teams.core.monthlyBudgetUsd = -5"),
        ({"core": {"monthlyBudgetUsd": 100}}, {}, "teams.core.budgetEmails: is required with monthlyBudgetUsd"),
        # Budgets read Cost Explorer, where an uncapped team's shared instances carry no Team tag (split cost allocation
        # data is in CUR / Data Exports only: docs.aws.amazon.com/cur/latest/userguide/split-cost-allocation-data.html).
        (
            {"core": {"monthlyBudgetUsd": 100, "budgetEmails": ["a@lab.org"]}},
            {},
            "teams.core.monthlyBudgetUsd = 100: needs maxVcpus",
        ),
        ({"genomics-core": {}}, {}, "teams.genomics-core = genomics-core: is not a team name"),
        ({"core": {"budgetEmails": ["a@lab.org"]}}, {}, "only used with monthlyBudgetUsd"),
        ({"core": {"principals": ["arn:aws:iam::12345:role/x"]}}, {}, "not an IAM role or user ARN"),
        ({"core": {"principals": [f"arn:aws:iam::{ACCOUNT}:group/devs"]}}, {}, "not an IAM role or user ARN"),
        ({"core": {"principals": ["alice"]}}, {}, "not an IAM role or user ARN"),
        ({"core": {"principals": [f"arn:aws:iam::{ACCOUNT}:user/a"] * 2}}, {}, "is the user teams.core.principals[0]"),
        (
            {"core": {"readWriteBuckets": ["shared"]}, "rna": {"readWriteBuckets": ["shared"]}},
            {},
            'teams.core.readWriteBuckets = ["shared"]: teams.rna writes it',
        ),
        (
            {"core": {"readWriteBuckets": ["shared"]}, "rna": {"readOnlyBuckets": ["shared"]}},
            {},
            'teams.rna.readOnlyBuckets = ["shared"]: teams.core writes it',
        ),
        (
            {"core": {"readWriteBuckets": ["ref"]}},
            {"genomics-batch:bucket": {"readOnlyBuckets": ["ref"]}},
            "every team already reaches it",
        ),
        ({"core": {"readOnlyBuckets": ["xlab"], "readWriteBuckets": ["xlab"]}}, {}, "both read-only and read-write"),
        ({"core": {"wieght": 2}}, {}, "unknown key (did you mean 'weight'?)"),
        ({"core": []}, {}, "teams.core = []"),
        ({f"t{i:02d}": {"maxVcpus": 1} for i in range(48)}, {}, "AWS Batch allows 50 of each per account"),
        (
            {"core": {}},
            {"genomics-batch:tags": {"Team": "x"}},
            "tags.Team = x: is the tag Team, which the program sets",
        ),
    ],
)
def test_bad_team_settings_are_refused_with_the_key_and_what_is_allowed(teams, extra, message):
    raw = {
        "aws:region": REGION,
        "genomics-batch:compute": json.dumps({"spot": {"maxVcpus": 64}}),
        "genomics-batch:teams": json.dumps(teams),
        **{k: json.dumps(v) for k, v in extra.items()},
    }
    with pytest.raises(SettingsError) as error:
        load_settings(raw, "dev")
    assert message in str(error.value)
    assert "fix:" in str(error.value)


def test_more_teams_than_share_identifiers_are_refused():
    from settings.model import TeamSettings
    from settings.rules import _team_quotas

    many = {f"t{i}": TeamSettings() for i in range(501)}
    s = load_settings({"aws:region": REGION}, "dev").model_copy(update={"teams": many})
    assert _team_quotas(s) == [
        ("teams", "501 teams", "at most 500: a job queue has at most that many active share identifiers")
    ]


def test_parliament_finds_nothing_above_low_in_any_team_policy(three):
    from parliament import analyze_policy_string
    from test_program import severity

    documents = [
        (r.name, p["policy"])
        for r in three.mocks.of_type("aws:iam/role:Role")
        for p in r.inputs.get("inlinePolicies") or []
    ]
    documents += [(r.name, r.inputs["policy"]) for r in three.mocks.of_type("aws:iam/policy:Policy")]
    assert len(documents) == 9  # a task role, a head role and a run policy for each of the three teams
    for name, document in documents:
        serious = [(f.issue, f.detail) for f in analyze_policy_string(document).findings if severity(f) != "LOW"]
        assert serious == [], name


def test_a_team_named_twice_in_the_stack_file_is_refused(tmp_path):
    from settings.stack_file import StackFileError, read_stack_config

    stack = tmp_path / "Pulumi.dup.yaml"
    stack.write_text(
        "config:\n  aws:region: us-east-1\n  genomics-batch:teams:\n    imaging: {}\n"
        "    rnalab: {}\n    imaging:\n      weight: 2\n"
    )
    with pytest.raises(StackFileError) as error:
        read_stack_config(stack)
    assert "key 'imaging' is given twice (first on line 4)" in str(error.value)


def test_teams_with_fargate_heads_and_a_gpu_queue_reach_both():
    run = run_program(
        "dev",
        {
            "genomics-batch:teams": {"imaging": {"maxVcpus": 16}, "rnalab": {}},
            "genomics-batch:headJob": {"platform": "fargate", "vcpus": 2, "memoryMib": 4096},
            "genomics-batch:compute": {"spot": {"maxVcpus": 64}, "gpu": {"enabled": True}},
        },
    )
    properties = json.loads(run.mocks.named("teams-imaging-head", DEFINITION).inputs["containerProperties"])
    assert properties["executionRoleArn"] == run.mocks.named("nextflow-execution", "aws:iam/role:Role").outputs["arn"]
    environment = {e["name"]: e["value"] for e in properties["environment"]}
    assert environment["NF_GPU_QUEUE"] == run.outputs["gpuQueueArn"]
    head = [policy_of(run, "teams-imaging-head")]
    assert decision(head, "batch:SubmitJob", run.outputs["gpuQueueArn"]) == "Allow"
    assert "task.accelerator" in run.outputs["teams"]["imaging"]["nextflowConfig"]


# --- principals of another account than the caller's ---------------------------------------------------------------


def team_with_principals(principals: list[str]):
    from components.teams import Team

    return Team(
        name="core",
        capped=False,
        monthly_budget_usd=None,
        budget_emails=[],
        read_only_bucket_arns=[],
        read_write_bucket_arns=[],
        principals=principals,
    )


def test_a_principal_of_another_account_than_the_callers_fails_the_deploy_clearly():
    # The run policy is attached by name (aws.iam.PolicyAttachment takes role and user names), in the caller's
    # account: a principal of another account would silently grant a same-named one of the caller's. The mocked caller
    # is ACCOUNT (tests/conftest.py, getCallerIdentity), so a principal of 111122223333 is foreign here.
    import pulumi
    from conftest import build_component, component_args

    from components.head_job import NextflowHeadJobArgs
    from components.teams import BatchTeams, BatchTeamsArgs

    head = component_args(
        NextflowHeadJobArgs,
        bucket_name="lab-work",
        bucket_arn="arn:aws:s3:::lab-work",
        queue_arns={q: f"{BATCH}:job-queue/{q}-q" for q in ("head", "default", "priority")},
        task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/task",
    )

    def teams(principals: list[str]) -> BatchTeamsArgs:
        return BatchTeamsArgs(
            teams=[team_with_principals(principals)],
            head=head,
            image="nextflow:25.04.6",
            log_group_name="/head",
            execution_role_arn=None,
            activate_cost_tag=False,
        )

    own = f"arn:aws:iam::{ACCOUNT}:role/Runner"
    mocks, _ = build_component(lambda: BatchTeams("teams", teams([own])))
    assert mocks.named("teams-core-run", "aws:iam/policyAttachment:PolicyAttachment").inputs["roles"] == ["Runner"]
    with pytest.raises(pulumi.RunError) as error:
        build_component(lambda: BatchTeams("teams", teams([own, "arn:aws:iam::111122223333:role/Runner"])))
    assert str(error.value) == (
        "teams.core.principals: arn:aws:iam::111122223333:role/Runner is in account 111122223333, but this stack "
        f"deploys to account {ACCOUNT}; the run policy is attached by name there, so it would reach a same-named "
        f"principal of {ACCOUNT} instead. List principals of account {ACCOUNT}, or deploy with credentials of the "
        "principals' account"
    )


def test_offline_the_caller_account_is_unknown_and_principals_of_one_account_plan(tmp_path):
    # nfbatch plan answers getCallerIdentity with a placeholder (nfbatch/plan.py, PlanMocks): nothing to compare,
    # so a real user's principals of 111122223333 still plan; settings/rules.py checked one account and the partition.
    import shutil

    from conftest import MAIN, ROOT

    from components.teams import foreign_principals
    from nfbatch.plan import build_plan

    assert foreign_principals("core", ["arn:aws:iam::111122223333:role/R"], "(known after deploy: account id)") == []
    assert foreign_principals("core", ["arn:aws:iam::111122223333:role/R"], "111122223333") == []
    shutil.copy(MAIN, tmp_path / "__main__.py")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.lab.yaml").write_text(
        "config:\n  aws:region: us-east-1\n  genomics-batch:teams:\n"
        "    core: {principals: [arn:aws:iam::111122223333:role/Runner, arn:aws:iam::111122223333:user/alice]}\n"
    )
    plan = build_plan("lab", tmp_path)
    [attachment] = [r for r in plan["resources"] if r["type"] == "aws:iam/policyAttachment:PolicyAttachment"]
    assert attachment["inputs"]["roles"] == ["Runner"] and attachment["inputs"]["users"] == ["alice"]


def _cost_statements(run, team: str) -> list[dict]:
    document = json.loads(run.mocks.named(f"teams-{team}-run", "aws:iam/policy:Policy").inputs["policy"])
    return [s for s in document["Statement"] if "logs:FilterLogEvents" in s["Action"]]


def test_a_team_may_read_the_instance_records_to_price_its_runs_only_while_they_are_recorded(three):
    # `nfbatch cost` reads the records group (nfbatch/cost.py); the grant names that group and no other.
    group = three.mocks.named("instance-records-log", "aws:cloudwatch/logGroup:LogGroup").outputs["name"]
    [statement] = _cost_statements(three, "rnalab")
    assert statement["Resource"] and all(f":log-group:{group}" in r for r in statement["Resource"])
    off = run_program(
        "dev", {"genomics-batch:teams": {"rnalab": {}}, "genomics-batch:runCosts": {"recordInstances": False}}
    )
    assert not _cost_statements(off, "rnalab")
