"""The two stacks that use every feature at once, as a reviewer and AWS would see them: a combined stack (teams with a
capped team and budgets, NVMe scratch, GPU tasks, alerts with a stack budget) and a team stack with Fargate heads.
Each plans cleanly, passes every guard rule, keeps to the provider's own validators, and replays into moto: every
Batch resource, budget and rule is created there from exactly what the program declared, as the provider sends it.
"""

import json
import re
import shutil

import botocore.session
import pytest
from conftest import MAIN, ROOT, create_budget_in_moto, run_program
from test_guard import violations_for

from facts.contract import PROJECT
from nfbatch.cli import main

COMBINED = {
    "teams": {
        "core": {"maxVcpus": 8, "monthlyBudgetUsd": 1500, "budgetEmails": ["lead@lab.org"], "weight": 2},
        "rnalab": {},
    },
    "launchTemplate": {"scratch": "nvme"},
    "compute": {"gpu": {"enabled": True}},
    "alerts": {"emails": ["oncall@lab.org"]},
    "budget": {"monthlyUsd": 3000},
}
FARGATE_TEAMS = {
    "teams": {"core": {"maxVcpus": 16}, "rnalab": {"weight": 0.5}},
    "headJob": {"platform": "fargate", "vcpus": 2, "memoryMib": 8192},
}
STACKS = {"combined": COMBINED, "fargate-teams": FARGATE_TEAMS}

CE = "aws:batch/computeEnvironment:ComputeEnvironment"
QUEUE = "aws:batch/jobQueue:JobQueue"
DEFINITION = "aws:batch/jobDefinition:JobDefinition"
POLICY = "aws:batch/schedulingPolicy:SchedulingPolicy"

# terraform-provider-aws internal/service/batch/validate.go, validShareIdentifier.
SHARE_IDENTIFIER = re.compile(r"^[0-9A-Za-z]{0,254}[0-9A-Za-z*]?$")
# terraform-provider-aws internal/service/batch/compute_environment.go: update_policy.job_execution_timeout_minutes
# is validation.IntBetween(1, 360).
PROVIDER_UPDATE_TIMEOUT = (1, 360)


@pytest.fixture(scope="module", params=sorted(STACKS))
def stack(request):
    name = request.param
    return name, run_program("prod", {f"{PROJECT}:{key}": value for key, value in STACKS[name].items()})


def test_both_stacks_plan_cleanly_through_nfbatch(tmp_path, capsys):
    shutil.copy(MAIN, tmp_path / "__main__.py")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for name, settings in STACKS.items():
        config = {"aws:region": "us-east-1", **{f"{PROJECT}:{key}": value for key, value in settings.items()}}
        (tmp_path / f"Pulumi.{name}.yaml").write_text(json.dumps({"config": config}))
        code = main(["plan", "--stack", name, "--project-dir", str(tmp_path), "--format", "json"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "WARNING" not in captured.err, captured.err


def test_both_stacks_pass_every_guard_rule(stack):
    assert violations_for(stack[1]) == {}


def test_both_stacks_keep_to_the_providers_validators(stack):
    name, run = stack
    environments = run.mocks.of_type(CE)
    for ce in environments:
        kind = ce.inputs["computeResources"]["type"]
        if kind == "FARGATE":  # botocore Batch model, UpdatePolicy: "Batch doesn't support updatePolicy for Fargate"
            assert "updatePolicy" not in ce.inputs, ce.name
        else:
            low, high = PROVIDER_UPDATE_TIMEOUT
            assert low <= ce.inputs["updatePolicy"]["jobExecutionTimeoutMinutes"] <= high, ce.name
    assert any(ce.inputs["computeResources"]["type"] == "FARGATE" for ce in environments) == (name == "fargate-teams")
    [policy] = run.mocks.of_type(POLICY)
    shares = [d["shareIdentifier"] for d in policy.inputs["fairSharePolicy"]["shareDistributions"]]
    assert shares == ["core", "rnalab"] and all(SHARE_IDENTIFIER.fullmatch(s) for s in shares)
    # A fair-share queue refuses a job definition without a scheduling priority unless SubmitJob overrides it;
    # the provider sends only non-zero priorities (job_definition.go, d.GetOk).
    team_heads = [d for d in run.mocks.of_type(DEFINITION) if d.name.startswith("teams-")]
    assert len(team_heads) == 2 and all(d.inputs["schedulingPriority"] >= 1 for d in team_heads)


class Replay:
    """Creates declared resources in moto with the requests the provider sends, mapping the mock runtime's ARNs to
    the ones moto returns, so every reference between resources is checked by moto too."""

    def __init__(self, endpoint, run, suffix: str):
        self.batch, self.run, self.suffix, self.arns = endpoint.client("batch"), run, suffix, {}
        ec2, iam = endpoint.client("ec2"), endpoint.client("iam")
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        self.subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.0.0/20")["Subnet"]["SubnetId"]
        self.group = ec2.create_security_group(GroupName=f"replay-{suffix}", Description="replay", VpcId=vpc)["GroupId"]
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        )
        # moto insists on a service role; the real stack uses Batch's service-linked role instead.
        self.service_role = iam.create_role(RoleName=f"replay-batch-{suffix}", AssumeRolePolicyDocument=trust)["Role"][
            "Arn"
        ]
        self.profile = iam.create_instance_profile(InstanceProfileName=f"replay-instance-{suffix}")["InstanceProfile"][
            "Arn"
        ]

    def resources(self, resources: dict) -> dict:
        """What the provider's expandComputeResource sends: camelCase inputs, with minvCpus/maxvCpus and
        ec2Configuration named as the API names them."""
        sent = {k: v for k, v in resources.items() if k not in ("maxVcpus", "minVcpus", "ec2Configurations")}
        sent["maxvCpus"] = int(resources["maxVcpus"])
        if "minVcpus" in resources:
            sent["minvCpus"] = int(resources["minVcpus"])
        if "ec2Configurations" in resources:
            sent["ec2Configuration"] = resources["ec2Configurations"]
        if "bidPercentage" in resources:
            sent["bidPercentage"] = int(resources["bidPercentage"])
        sent["subnets"], sent["securityGroupIds"] = [self.subnet], [self.group]
        if "instanceRole" in resources:
            sent["instanceRole"] = self.profile
        return sent

    def environments(self) -> None:
        for ce in self.run.mocks.of_type(CE):
            update = ce.inputs.get("updatePolicy")
            created = self.batch.create_compute_environment(
                computeEnvironmentName=f"{ce.name}-{self.suffix}",
                type=ce.inputs["type"],
                state="ENABLED",
                serviceRole=self.service_role,
                computeResources=self.resources(ce.inputs["computeResources"]),
                **({"tags": ce.inputs["tags"]} if "tags" in ce.inputs else {}),
            )
            if update:  # the provider sets the update policy with UpdateComputeEnvironment after creating
                self.batch.update_compute_environment(
                    computeEnvironment=created["computeEnvironmentArn"],
                    updatePolicy={
                        "terminateJobsOnUpdate": update["terminateJobsOnUpdate"],
                        "jobExecutionTimeoutMinutes": int(update["jobExecutionTimeoutMinutes"]),
                    },
                )
            self.arns[ce.outputs["arn"]] = created["computeEnvironmentArn"]

    def scheduling_policy(self) -> None:
        [policy] = self.run.mocks.of_type(POLICY)
        share = policy.inputs["fairSharePolicy"]
        created = self.batch.create_scheduling_policy(
            name=f"{policy.name}-{self.suffix}",
            fairsharePolicy={
                "shareDecaySeconds": int(share["shareDecaySeconds"]),
                "computeReservation": int(share["computeReservation"]),
                "shareDistribution": share["shareDistributions"],
            },
        )
        self.arns[policy.outputs["arn"]] = created["arn"]

    def queues(self) -> None:
        for queue in self.run.mocks.of_type(QUEUE):
            inputs = queue.inputs
            created = self.batch.create_job_queue(
                jobQueueName=f"{queue.name}-{self.suffix}",
                state=inputs["state"],
                priority=int(inputs["priority"]),
                schedulingPolicyArn=self.arns[inputs["schedulingPolicyArn"]],
                computeEnvironmentOrder=[
                    {"order": int(o["order"]), "computeEnvironment": self.arns[o["computeEnvironment"]]}
                    for o in inputs["computeEnvironmentOrders"]
                ],
                jobStateTimeLimitActions=[
                    {**a, "maxTimeSeconds": int(a["maxTimeSeconds"])} for a in inputs["jobStateTimeLimitActions"]
                ],
                **({"tags": inputs["tags"]} if "tags" in inputs else {}),
            )
            self.arns[queue.outputs["arn"]] = created["jobQueueArn"]

    def definitions(self) -> list[dict]:
        registered = []
        for definition in self.run.mocks.of_type(DEFINITION):
            inputs = definition.inputs
            retry = inputs["retryStrategy"]
            request = {
                "jobDefinitionName": f"{definition.name}-{self.suffix}",
                "type": inputs["type"],
                "containerProperties": json.loads(inputs["containerProperties"]),
                "platformCapabilities": inputs["platformCapabilities"],
                "propagateTags": inputs["propagateTags"],
                "timeout": {"attemptDurationSeconds": int(inputs["timeout"]["attemptDurationSeconds"])},
                "retryStrategy": {"attempts": int(retry["attempts"]), "evaluateOnExit": retry["evaluateOnExits"]},
                **({"tags": inputs["tags"]} if "tags" in inputs else {}),
                **({"schedulingPriority": int(inputs["schedulingPriority"])} if "schedulingPriority" in inputs else {}),
            }
            registered.append(self.batch.register_job_definition(**request))
        return registered


def test_both_stacks_replay_into_moto(stack, moto_server):
    name, run = stack
    replay = Replay(moto_server, run, name)
    replay.environments()
    replay.scheduling_policy()
    replay.queues()
    definitions = replay.definitions()

    batch = moto_server.client("batch")
    queues = batch.describe_job_queues(jobQueues=[replay.arns[q.outputs["arn"]] for q in run.mocks.of_type(QUEUE)])
    assert len(queues["jobQueues"]) == len(run.mocks.of_type(QUEUE))
    assert all(q["schedulingPolicyArn"] for q in queues["jobQueues"])  # every queue of a team stack is fair-share
    described = batch.describe_job_definitions(jobDefinitions=[d["jobDefinitionArn"] for d in definitions])
    assert {d["jobDefinitionName"].removesuffix(f"-{name}") for d in described["jobDefinitions"]} == {
        "nextflow-definition",
        "teams-core-head",
        "teams-rnalab-head",
    }

    # A team head submitted as nfbatch does (share identifier and priority override) is accepted by the team's
    # fair-share head queue.
    head_queue = replay.arns[run.mocks.named("batch-head", QUEUE).outputs["arn"]]
    core_head = next(d for d in definitions if d["jobDefinitionName"].startswith("teams-core-head"))
    job = batch.submit_job(
        jobName="nfbatch-replay",
        jobQueue=head_queue,
        jobDefinition=core_head["jobDefinitionArn"],
        shareIdentifier="core",
        schedulingPriorityOverride=1,
    )
    assert job["jobId"]

    budgets = run.mocks.of_type("aws:budgets/budget:Budget")
    assert len(budgets) == (2 if name == "combined" else 0)  # the stack budget and the capped team's
    for declared in budgets:
        assert create_budget_in_moto(moto_server, declared, f"-{name}")

    events = moto_server.client("events")
    limit = botocore.session.get_session().get_service_model("events").shape_for("EventPattern").metadata["max"]
    rules = run.mocks.of_type("aws:cloudwatch/eventRule:EventRule")
    assert len(rules) == (3 if name == "combined" else 0) + 1  # and the instance records' (runCosts, on by default)
    for rule in rules:
        assert len(rule.inputs["eventPattern"]) <= limit
        events.put_rule(Name=f"{rule.name}-{name}", EventPattern=rule.inputs["eventPattern"])
