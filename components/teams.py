"""BatchTeams: what each team of a shared stack gets of its own: a task role and a head role that reach only the
team's prefixes and buckets, a head job definition that runs as the team, a run policy for its principals, and a
budget on its Team tag.

The shared cluster (fair-share queues, capped teams' own queues) lives in BatchComputeCluster; the policy documents
are pure functions in policies/iam.py, so tests evaluate what each role and principal can reach.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.alerts import tag_budget
from components.contract import GPU_QUEUE, TEAM_TAG, team_queue_key
from components.head_job import NextflowHeadJobArgs, head_definition
from policies.iam import assume_role_policy, bucket_arn, head_job_policy, team_run_policy, team_s3_statements
from settings.limits import PRINCIPAL_ARN, partition_for

if TYPE_CHECKING:
    from settings import StackSettings


@dataclass(frozen=True)
class Team:
    name: str
    capped: bool  # its tasks run on its own capped spot queue
    monthly_budget_usd: float | None
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
    activate_cost_tag: bool

    @classmethod
    def from_settings(cls, s: StackSettings, *, head: NextflowHeadJobArgs, image: pulumi.Input[str],
                      log_group_name: pulumi.Input[str],
                      execution_role_arn: pulumi.Input[str] | None) -> BatchTeamsArgs:
        partition = partition_for(s.region)

        def arns(names: list[str]) -> list[str]:
            return [bucket_arn(b, partition) for b in names]

        teams = [Team(
            name=name, capped=t.max_vcpus is not None, monthly_budget_usd=t.monthly_budget_usd,
            budget_emails=list(t.budget_emails),
            read_only_bucket_arns=arns([*s.bucket.read_only_buckets, *t.read_only_buckets]),
            read_write_bucket_arns=arns([*s.bucket.read_write_buckets, *t.read_write_buckets]),
            principals=list(t.principals),
        ) for name, t in sorted(s.teams.items())]
        return cls(teams=teams, head=head, image=image, log_group_name=log_group_name,
                   execution_role_arn=execution_role_arn, activate_cost_tag=s.budget.activate_team_cost_tag)


def principal_kind_and_name(arn: str) -> tuple[str, str]:
    """("role" or "user", its name) of an IAM principal ARN; attachments take the name, paths dropped."""
    match = PRINCIPAL_ARN.fullmatch(arn)
    if not match:
        raise ValueError(f"not an IAM role or user ARN: {arn}")
    return match.group(2), match.group(3)


def _suffix(text: str) -> str:
    # Stable per principal, so reordering the list renames (and replaces) nothing.
    return hashlib.sha256(text.encode()).hexdigest()[:8]


class BatchTeams(pulumi.ComponentResource):
    """Outputs: `teams`, per team: job_definition_name/arn, task_role_arn, head_role_arn, run_policy_arn."""

    def __init__(self, name: str, args: BatchTeamsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:teams:BatchTeams", name, None, opts)
        self._name, self._child = name, pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self._account = aws.get_caller_identity_output(opts=invoke).account_id
        self._partition = aws.get_partition_output(opts=invoke).partition
        self.teams = {team.name: self._team(args, team) for team in args.teams}
        if args.activate_cost_tag:
            # Cost Explorer then splits costs by Team; the tag must have appeared on a resource first.
            aws.costexplorer.CostAllocationTag(f"{name}-cost-tag", tag_key=TEAM_TAG, status="Active",
                                               opts=self._child)
        self.register_outputs({"teams": self.teams})

    def _team(self, args: BatchTeamsArgs, team: Team) -> dict[str, pulumi.Output]:
        prefix, queues = f"{self._name}-{team.name}", args.head.queue_arns
        task_queue = team_queue_key(team.name) if team.capped else "default"
        retry_queue = team_queue_key(team.name) if team.capped else "priority"
        s3 = pulumi.Output.from_input(args.head.bucket_arn).apply(lambda work: team_s3_statements(
            work, team.name, team.read_write_bucket_arns, team.read_only_bucket_arns))
        task_role = self._role(f"{prefix}-task", team, s3.apply(lambda st: {"Version": "2012-10-17",
                                                                              "Statement": st}))
        reach = ["head", task_queue, retry_queue, *([GPU_QUEUE] if GPU_QUEUE in queues else [])]
        head_policy = pulumi.Output.all(
            partition=self._partition, account=self._account, task_role=task_role.arn, s3=s3,
            queue_arns=[queues[q] for q in dict.fromkeys(reach)],
        ).apply(lambda a: head_job_policy(
            partition=a["partition"], region=args.head.region, account_id=a["account"], queue_arns=a["queue_arns"],
            task_role_arn=a["task_role"], read_write_buckets=[], s3_statements=a["s3"]))
        head_role = self._role(f"{prefix}-head", team, head_policy)
        definition = head_definition(
            f"{prefix}-head", args.head, image=args.image, role_arn=head_role.arn,
            log_group_name=args.log_group_name, execution_role_arn=args.execution_role_arn,
            default_queue=queues[task_queue], priority_queue=queues[retry_queue], gpu_queue=queues.get(GPU_QUEUE),
            task_role_arn=task_role.arn, team=team.name, opts=self._child)
        run_policy = self._run_policy(prefix, args, team, definition)
        if team.monthly_budget_usd is not None:
            tag_budget(f"{prefix}-budget", monthly_usd=team.monthly_budget_usd, emails=team.budget_emails,
                       tag_key=TEAM_TAG, tag_value=team.name, opts=self._child)
        return {"job_definition_name": definition.name, "job_definition_arn": definition.arn,
                "task_role_arn": task_role.arn, "head_role_arn": head_role.arn, "run_policy_arn": run_policy.arn}

    def _role(self, name: str, team: Team, policy: pulumi.Output[dict]) -> aws.iam.Role:
        role = aws.iam.Role(name, assume_role_policy=json.dumps(assume_role_policy("ecs-tasks.amazonaws.com")),
                            tags={TEAM_TAG: team.name}, opts=self._child)
        aws.iam.RolePolicy(name, role=role.id, policy=policy.apply(json.dumps), opts=self._child)
        return role

    def _run_policy(self, prefix: str, args: BatchTeamsArgs, team: Team,
                    definition: aws.batch.JobDefinition) -> aws.iam.Policy:
        """The team's run policy, attached to each of its principals (roles and users of this account)."""
        document = pulumi.Output.all(
            partition=self._partition, account=self._account, head_queue=args.head.queue_arns["head"],
            definition=definition.name, bucket=args.head.bucket_arn, log_group=args.log_group_name,
        ).apply(lambda a: json.dumps(team_run_policy(
            partition=a["partition"], region=args.head.region, account_id=a["account"], team=team.name,
            head_queue_arn=a["head_queue"], job_definition_name=a["definition"], bucket_arn=a["bucket"],
            log_group_name=a["log_group"])))
        policy = aws.iam.Policy(f"{prefix}-run", description=f"genomics-batch: run pipelines as team {team.name}",
                                policy=document, tags={TEAM_TAG: team.name}, opts=self._child)
        for principal in team.principals:
            kind, principal_name = principal_kind_and_name(principal)
            attachment = aws.iam.RolePolicyAttachment if kind == "role" else aws.iam.UserPolicyAttachment
            attachment(f"{prefix}-run-{_suffix(principal)}", policy_arn=policy.arn,
                       **{kind: principal_name}, opts=self._child)
        return policy
