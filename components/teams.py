"""BatchTeams: what each team of a shared stack gets of its own: a task role and a head role that reach only the
team's prefixes and buckets, a head job definition that runs as the team, a run policy for its principals, and, for
a capped team, a budget on the Team tag of its own instances.

The shared cluster (fair-share queues, capped teams' own queues) lives in BatchComputeCluster; the policy documents
are pure functions in policies/iam.py, so tests evaluate what each role and principal can reach.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import pulumi
import pulumi_aws as aws

from components.alerts import tag_budget
from components.head_job import NextflowHeadJobArgs, head_definition
from facts.contract import GPU_QUEUE, TEAM_TAG, team_task_queues
from facts.limits import ACCOUNT_ID, PRINCIPAL_ARN, partition_for, principal_parts
from policies.iam import assume_role_policy, bucket_arn, head_job_policy, team_run_policy, team_s3_statements

if TYPE_CHECKING:
    from settings import StackSettings


@dataclass(frozen=True)
class Team:
    name: str
    capped: bool  # its tasks run on its own capped spot queue
    monthly_budget_usd: float | None  # capped teams only (settings refuse it otherwise): their instances carry Team
    budget_emails: list[str]
    read_only_bucket_arns: list[str]  # the stack's and the team's own
    read_write_bucket_arns: list[str]
    principals: list[str]


@dataclass(frozen=True)
class BatchTeamsArgs:
    teams: list[Team]
    head: NextflowHeadJobArgs  # how every head runs (size, retries, platform, bucket, queues)
    image: pulumi.Input[str]
    log_group_name: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str] | None  # Fargate heads only
    activate_cost_tag: bool  # budget.activateTeamCostTag: a second `pulumi up`, once AWS lists the Team tag key
    # The instance-record log group (components/instance_records.py): with it, members may price their runs with
    # `nfbatch cost`; None when runCosts.recordInstances is off.
    instance_events_log_group: pulumi.Input[str] | None = None

    @classmethod
    def from_settings(
        cls,
        s: StackSettings,
        *,
        head: NextflowHeadJobArgs,
        image: pulumi.Input[str],
        log_group_name: pulumi.Input[str],
        execution_role_arn: pulumi.Input[str] | None,
        instance_events_log_group: pulumi.Input[str] | None = None,
    ) -> BatchTeamsArgs:
        partition = partition_for(s.region)

        def arns(names: list[str]) -> list[str]:
            return [bucket_arn(b, partition) for b in names]

        teams = [
            Team(
                name=name,
                capped=t.max_vcpus is not None,
                monthly_budget_usd=t.monthly_budget_usd,
                budget_emails=list(t.budget_emails),
                read_only_bucket_arns=arns([*s.bucket.read_only_buckets, *t.read_only_buckets]),
                read_write_bucket_arns=arns([*s.bucket.read_write_buckets, *t.read_write_buckets]),
                principals=list(t.principals),
            )
            for name, t in sorted(s.teams.items())
        ]
        return cls(
            teams=teams,
            head=head,
            image=image,
            log_group_name=log_group_name,
            execution_role_arn=execution_role_arn,
            activate_cost_tag=s.budget.activate_team_cost_tag,
            instance_events_log_group=instance_events_log_group,
        )


class TeamOutputs(TypedDict):
    """What BatchTeams builds for one team (components/outputs.py turns it into the `teams` export)."""

    job_definition_name: pulumi.Output[str]
    job_definition_arn: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]
    head_role_arn: pulumi.Output[str]
    run_policy_arn: pulumi.Output[str]
    budget_name: pulumi.Output[str] | None  # None: the team has no budget


def principal_kind_and_name(arn: str) -> tuple[str, str]:
    """("role" or "user", its name) of an IAM principal ARN; attachments take the name, paths dropped."""
    match = PRINCIPAL_ARN.fullmatch(arn)
    if not match:
        raise ValueError(f"not an IAM role or user ARN: {arn}")
    return match.group(2), match.group(3)


def foreign_principals(team: str, principals: list[str], account: str) -> list[str]:
    """One line for each principal of an account other than `account`, the caller's. The run policy is attached by
    role or user name in the caller's account (aws.iam.PolicyAttachment takes names), so such a principal would not
    get it, while a same-named one of the caller's account silently would. Offline (`nfbatch plan`) the account is a
    placeholder, not 12 digits: nothing can be compared, and settings/rules.py checked what it could."""
    if not ACCOUNT_ID.fullmatch(account or ""):
        return []
    owners = [(arn, principal_parts(arn)[1]) for arn in principals]  # settings/rules.py checked each ARN's form
    return [
        f"teams.{team}.principals: {arn} is in account {owner}, but this stack "
        f"deploys to account {account}; the run policy is attached by name there, so it would reach a same-named "
        f"principal of {account} instead. List principals of account {account}, or deploy with credentials of "
        "the principals' account"
        for arn, owner in owners
        if owner != account
    ]


def _head_queues(
    queue_arns: Mapping[str, pulumi.Input[str]], task_queue: str, retry_queue: str
) -> dict[str, pulumi.Input[str]]:
    """The queues a team's head submits to: the head queue, its task and retry queues, and the GPU queue if any."""
    return {q: queue_arns[q] for q in dict.fromkeys(["head", task_queue, retry_queue, GPU_QUEUE]) if q in queue_arns}


def _team_s3(team: Team, bucket_arn: str) -> list[dict]:
    """The team's S3 statements: its own prefixes of the work bucket, and its extra buckets."""
    return team_s3_statements(bucket_arn, team.name, team.read_write_bucket_arns, team.read_only_bucket_arns)


def _task_policy(team: Team, bucket_arn: str) -> str:
    """The team task role's inline policy (JSON): S3 only."""
    return json.dumps({"Version": "2012-10-17", "Statement": _team_s3(team, bucket_arn)})


def _head_policy(team: Team, region: str, *, shared: dict, queues: dict, task_role_arn: str) -> str:
    """The team head role's inline policy (JSON): submit to its queues, pass its task role, its S3 statements."""
    return json.dumps(
        head_job_policy(
            partition=shared["partition"],
            region=region,
            account_id=shared["account"],
            queue_arns=list(queues.values()),
            task_role_arn=task_role_arn,
            read_write_buckets=[],
            s3_statements=_team_s3(team, shared["bucket_arn"]),
        )
    )


def _head_values(
    *, shared: dict, queues: dict, task_role_arn: str, head_role_arn: str, task_queue: str, retry_queue: str
) -> dict:
    """A team head's HEAD_VALUES (components/head_job.py): the shared ones, its own roles and its queues."""
    return {
        "image": shared["image"],
        "role_arn": head_role_arn,
        "bucket": shared["bucket"],
        "log_group": shared["log_group"],
        "default_queue": queues[task_queue],
        "priority_queue": queues[retry_queue],
        "task_role_arn": task_role_arn,
        "gpu_queue": queues.get(GPU_QUEUE),
        "execution_arn": shared["execution_arn"],
    }


class BatchTeams(pulumi.ComponentResource):
    """Outputs: `teams`, per team: job_definition_name/arn, task_role_arn, head_role_arn, run_policy_arn,
    budget_name (None without a budget)."""

    def __init__(self, name: str, args: BatchTeamsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:teams:BatchTeams", name, None, opts)
        self._name, self._child = name, pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        # What every team needs, resolved once; each team then also waits on its own queues and roles only, so
        # team-00's roles do not wait for team-49's queue and fifty teams plan close to one (bench/plan_benchmark.py).
        self._shared = pulumi.Output.all(
            partition=aws.get_partition_output(opts=invoke).partition,
            account=aws.get_caller_identity_output(opts=invoke).account_id,
            bucket_arn=args.head.bucket_arn,
            bucket=args.head.bucket_name,
            image=args.image,
            log_group=args.log_group_name,
            execution_arn=args.execution_role_arn,
            instance_events=args.instance_events_log_group,
        )
        self.teams = {team.name: self._team(args, team) for team in args.teams}
        if args.activate_cost_tag:
            # Budgets and Cost Explorer see Team only once it is active. A second step, never the first deploy: the
            # provider reads the tag back (ListCostAllocationTags) and fails with "empty result" until AWS lists the
            # key, up to 24 h after its first use (terraform-provider-aws internal/service/ce/cost_allocation_tag.go;
            # hashicorp/terraform-provider-aws#29068).
            aws.costexplorer.CostAllocationTag(f"{name}-cost-tag", tag_key=TEAM_TAG, status="Active", opts=self._child)
        self.register_outputs({"teams": self.teams})

    def _team(self, args: BatchTeamsArgs, team: Team) -> TeamOutputs:
        """One team's task and head roles, head job definition, budget (if any) and run policy."""
        prefix, region = f"{self._name}-{team.name}", args.head.region
        task_queue, retry_queue = team_task_queues(team.name, team.capped)
        queues = _head_queues(args.head.queue_arns, task_queue, retry_queue)
        task_role = self._role(
            f"{prefix}-task",
            team,
            pulumi.Output.from_input(args.head.bucket_arn).apply(lambda b: _task_policy(team, b)),
        )
        head_role = self._role(
            f"{prefix}-head",
            team,
            pulumi.Output.all(self._shared, queues, task_role.arn).apply(
                lambda x: _head_policy(team, region, shared=x[0], queues=x[1], task_role_arn=x[2])
            ),
        )
        values = pulumi.Output.all(self._shared, queues, task_role.arn, head_role.arn).apply(
            lambda x: _head_values(
                shared=x[0],
                queues=x[1],
                task_role_arn=x[2],
                head_role_arn=x[3],
                task_queue=task_queue,
                retry_queue=retry_queue,
            )
        )
        definition = head_definition(f"{prefix}-head", args.head, values, opts=self._child, team=team.name)
        budget_name = self._budget(prefix, team)
        run_policy = self._run_policy(prefix, args, team, definition, budget_name)
        return {
            "job_definition_name": definition.name,
            "job_definition_arn": definition.arn,
            "task_role_arn": task_role.arn,
            "head_role_arn": head_role.arn,
            "run_policy_arn": run_policy.arn,
            "budget_name": budget_name,
        }

    def _budget(self, prefix: str, team: Team) -> pulumi.Output[str] | None:
        """The team's monthly budget on its Team tag, when it has one; returns the budget's name."""
        if team.monthly_budget_usd is None:
            return None
        return tag_budget(
            f"{prefix}-budget",
            monthly_usd=team.monthly_budget_usd,
            emails=team.budget_emails,
            tag_key=TEAM_TAG,
            tag_value=team.name,
            opts=self._child,
        ).name

    def _role(self, name: str, team: Team, policy: pulumi.Output[str]) -> aws.iam.Role:
        # The policy inline in the role (one resource, not two): fifty teams plan in a fraction of the time.
        return aws.iam.Role(
            name,
            assume_role_policy=json.dumps(assume_role_policy("ecs-tasks.amazonaws.com")),
            inline_policies=[aws.iam.RoleInlinePolicyArgs(name="genomics-batch", policy=policy)],
            tags={TEAM_TAG: team.name},
            opts=self._child,
        )

    def _run_policy(
        self,
        prefix: str,
        args: BatchTeamsArgs,
        team: Team,
        definition: aws.batch.JobDefinition,
        budget_name: pulumi.Output[str] | None,
    ) -> aws.iam.Policy:
        """The team's run policy, attached to each of its principals (roles and users of this account)."""

        def document_of(x: list) -> str:
            foreign = foreign_principals(team.name, team.principals, x[0]["account"])
            if foreign:  # raised inside an apply, so `pulumi preview` fails before anything is attached
                raise pulumi.RunError("\n".join(foreign))
            return json.dumps(
                team_run_policy(
                    partition=x[0]["partition"],
                    region=args.head.region,
                    account_id=x[0]["account"],
                    team=team.name,
                    head_queue_arn=x[1],
                    job_definition_name=x[2],
                    bucket_arn=x[0]["bucket_arn"],
                    log_group_name=x[0]["log_group"],
                    budget_name=x[3],
                    instance_events_log_group=x[0]["instance_events"],  # `nfbatch cost`, when runs are recorded
                )
            )

        document = pulumi.Output.all(self._shared, args.head.queue_arns["head"], definition.name, budget_name)
        policy = aws.iam.Policy(
            f"{prefix}-run",
            description=f"genomics-batch: run pipelines as team {team.name}",
            policy=document.apply(document_of),
            tags={TEAM_TAG: team.name},
            opts=self._child,
        )
        if team.principals:
            # One exclusive attachment per team: the run policy is the team's, so it reaches exactly the principals
            # the stack file lists, and one attached by hand elsewhere is taken off again at the next `pulumi up`.
            kinds = [principal_kind_and_name(p) for p in team.principals]
            aws.iam.PolicyAttachment(
                f"{prefix}-run",
                policy_arn=policy.arn,
                roles=[n for k, n in kinds if k == "role"] or None,
                users=[n for k, n in kinds if k == "user"] or None,
                opts=self._child,
            )
        return policy
