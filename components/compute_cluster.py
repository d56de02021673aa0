"""BatchComputeCluster: instance and task IAM roles, spot and on-demand compute environments, and the job queues.

Queue layout is decided by `components.planning.plan_queues` (pure); compute environments use the Batch
service-linked role and a strategy the provider can update (facts.update_rules), so launch template,
instance type and subnet changes update in place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import pulumi
import pulumi_aws as aws

from components.planning import plan_queues
from facts.contract import (
    FARGATE,
    GPU,
    ON_DEMAND,
    SPOT,
    TASK_QUEUES,
    TEAM_TAG,
    stuck_reasons,
    team_queue_key,
)
from facts.limits import partition_for, weight_factor
from policies.iam import assume_role_policy, s3_access_policy

if TYPE_CHECKING:
    from settings import StackSettings


@dataclass(frozen=True)
class BatchComputeClusterArgs:
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    launch_template_id: pulumi.Input[str]
    launch_template_version: pulumi.Input[int]
    work_bucket_arn: pulumi.Input[str]
    read_only_bucket_arns: list[str]
    read_write_bucket_arns: list[str]
    instance_types: list[str]
    spot_max_vcpus: int
    spot_bid_percentage: int
    spot_allocation_strategy: str
    on_demand_max_vcpus: int
    spot_fallback_to_on_demand: bool
    stuck_job_timeout_seconds: int
    update_timeout_minutes: int  # minutes an infrastructure update waits for running jobs (EC2 environments only)
    ssm_access: bool  # attach AmazonSSMManagedInstanceCore to the instance role
    gpu_instance_types: list[str] | None  # None: no GPU environment or queue
    gpu_max_vcpus: int
    head_platform: str  # "ec2": heads share the on-demand environment; "fargate": their own Fargate environment
    head_priority: int
    priority_priority: int
    default_priority: int
    share_weight_factors: dict[str, float]  # team -> Batch weightFactor; empty: no teams, FIFO queues as before
    share_decay_seconds: int
    compute_reservation: int
    team_caps: dict[str, int]  # team -> maxVcpus of its own spot environment and queue
    partition: str  # the region's ARN partition: which stuck-job reasons its queues may act on (facts.contract)

    @classmethod
    def from_settings(
        cls,
        s: StackSettings,
        *,
        subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
        security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
        launch_template_id: pulumi.Input[str],
        launch_template_version: pulumi.Input[int],
        work_bucket_arn: pulumi.Input[str],
        read_only_bucket_arns: list[str],
        read_write_bucket_arns: list[str],
    ) -> BatchComputeClusterArgs:
        c, q = s.compute, s.queues
        return cls(
            subnet_ids=subnet_ids,
            security_group_ids=security_group_ids,
            launch_template_id=launch_template_id,
            launch_template_version=launch_template_version,
            work_bucket_arn=work_bucket_arn,
            read_only_bucket_arns=read_only_bucket_arns,
            read_write_bucket_arns=read_write_bucket_arns,
            instance_types=s.instance_types,
            spot_max_vcpus=c.spot.max_vcpus,
            spot_bid_percentage=c.spot.bid_percentage,
            spot_allocation_strategy=c.spot.allocation_strategy,
            on_demand_max_vcpus=c.on_demand.max_vcpus,
            spot_fallback_to_on_demand=c.spot_fallback_to_on_demand,
            stuck_job_timeout_seconds=c.stuck_job_timeout_seconds,
            update_timeout_minutes=s.update_timeout_minutes,
            ssm_access=s.launch_template.ssm_access,
            gpu_instance_types=list(c.gpu.instance_types) if c.gpu.enabled else None,
            gpu_max_vcpus=c.gpu.max_vcpus,
            head_platform=s.head_job.platform,
            head_priority=q.head_priority,
            priority_priority=q.priority_priority,
            default_priority=q.default_priority,
            share_weight_factors={team: weight_factor(t.weight) for team, t in s.teams.items()},
            share_decay_seconds=q.share_decay_seconds,
            compute_reservation=q.compute_reservation,
            team_caps={team: t.max_vcpus for team, t in s.teams.items() if t.max_vcpus is not None},
            partition=partition_for(s.region),
        )


class SharedResources(TypedDict):
    """The compute resources every EC2 environment (spot, on-demand, GPU, a capped team's) has in common: keyword
    arguments of aws.batch.ComputeEnvironmentComputeResourcesArgs, typed so each is checked against the provider's."""

    min_vcpus: int
    instance_types: list[str]
    subnets: pulumi.Input[Sequence[pulumi.Input[str]]]
    security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    instance_role: pulumi.Output[str]
    ec2_configurations: list[aws.batch.ComputeEnvironmentComputeResourcesEc2ConfigurationArgs]
    launch_template: aws.batch.ComputeEnvironmentComputeResourcesLaunchTemplateArgs


def _shared_resources(args: BatchComputeClusterArgs, instance_profile_arn: pulumi.Output[str]) -> SharedResources:
    """What every EC2 environment shares: no idle instances, the instance types, network, profile and template."""
    return {
        "min_vcpus": 0,  # no instances, no cost, while idle
        "instance_types": list(args.instance_types),
        "subnets": args.subnet_ids,
        "security_group_ids": args.security_group_ids,
        "instance_role": instance_profile_arn,
        "ec2_configurations": [
            aws.batch.ComputeEnvironmentComputeResourcesEc2ConfigurationArgs(image_type="ECS_AL2023")
        ],
        "launch_template": aws.batch.ComputeEnvironmentComputeResourcesLaunchTemplateArgs(
            launch_template_id=args.launch_template_id,
            # `$Latest` would be resolved once at creation and never again.
            version=pulumi.Output.from_input(args.launch_template_version).apply(str),
        ),
    }


def _ec2_update_policy(args: BatchComputeClusterArgs) -> aws.batch.ComputeEnvironmentUpdatePolicyArgs:
    """The update policy of every EC2 environment: running jobs get update_timeout_minutes, never a termination."""
    # An infrastructure update lets running jobs finish for update_timeout_minutes before it replaces their
    # instances; terminating them at once would throw away every running task.
    return aws.batch.ComputeEnvironmentUpdatePolicyArgs(
        job_execution_timeout_minutes=args.update_timeout_minutes, terminate_jobs_on_update=False
    )


def share_distribution(weight_factors: dict[str, float]) -> list[dict]:
    """The fair-share policy's shareDistribution: one share identifier (the team's name) per team, sorted so the
    plan does not change when teams are reordered in the stack file."""
    return [{"shareIdentifier": team, "weightFactor": factor} for team, factor in sorted(weight_factors.items())]


class BatchComputeCluster(pulumi.ComponentResource):
    """Outputs: queue_names / queue_arns (keys head, default, priority, and gpu and team-<name> when present),
    compute environment ARNs, role ARNs."""

    queue_names: dict[str, pulumi.Output[str]]
    queue_arns: dict[str, pulumi.Output[str]]
    compute_environment_arns: dict[str, pulumi.Output[str]]
    team_environment_arns: dict[str, pulumi.Output[str]]  # team-<name> -> its own spot environment
    # The ECS cluster Batch made for each EC2 environment (capacity key or team-<name>; Fargate has no instances):
    # ComputeEnvironmentDetail.ecsClusterArn (botocore's Batch model), what instance records filter on.
    ecs_cluster_arns: dict[str, pulumi.Output[str]]
    task_queue_arns: list[pulumi.Output[str]]
    instance_role_arn: pulumi.Output[str]
    instance_role_name: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: BatchComputeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:compute:BatchComputeCluster", name, None, opts)
        self._name, self._child = name, pulumi.ResourceOptions(parent=self)
        profile, instance_ready = self._roles(args)
        environments = self._environments(args, profile, instance_ready)
        self.ecs_cluster_arns = {k: env.ecs_cluster_arn for k, env in environments.items() if k != FARGATE}
        self._scheduling = self._fair_share(args) if args.share_weight_factors else None
        self._queues(args, environments)
        self._team_queues(args, environments)
        self.compute_environment_arns = {key: env.arn for key, env in environments.items()}
        # Where task jobs run on spot (the spot-reclaim alarm watches these): the task queues and capped teams' own.
        self.task_queue_arns = [self.queue_arns[q] for q in TASK_QUEUES] + [
            self.queue_arns[team_queue_key(team)] for team in sorted(args.team_caps)
        ]
        self.register_outputs(
            {
                "queue_names": self.queue_names,
                "queue_arns": self.queue_arns,
                "compute_environment_arns": self.compute_environment_arns,
                "ecs_cluster_arns": self.ecs_cluster_arns,
                "instance_role_arn": self.instance_role_arn,
                "task_role_arn": self.task_role_arn,
            }
        )

    def _roles(self, args: BatchComputeClusterArgs) -> tuple[aws.iam.InstanceProfile, list[pulumi.Resource]]:
        """The instance role (with its profile) and the task role; returns the profile and what must exist before
        an environment can launch instances with it."""
        name, child = self._name, self._child
        s3_policy = pulumi.Output.all(
            work=args.work_bucket_arn,
            read_write=args.read_write_bucket_arns,
            read_only=args.read_only_bucket_arns,
        ).apply(lambda a: json.dumps(s3_access_policy([a["work"], *a["read_write"]], a["read_only"])))

        # Instances: only what the ECS agent needs. No bucket access: tasks always run with the task role, and the
        # launch template's IMDS hop limit of 1 keeps task containers away from these credentials.
        instance_role = aws.iam.Role(
            f"{name}-instance", assume_role_policy=json.dumps(assume_role_policy("ec2.amazonaws.com")), opts=child
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        managed = {"ecs": "service-role/AmazonEC2ContainerServiceforEC2Role"}
        if args.ssm_access:
            managed["ssm"] = "AmazonSSMManagedInstanceCore"  # opt-in: `aws ssm start-session` onto an instance
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-instance-{key}",
                role=instance_role.name,
                policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", policy),
                opts=child,
            )
            for key, policy in managed.items()
        ]
        profile = aws.iam.InstanceProfile(f"{name}-instance", role=instance_role.name, opts=child)

        # Tasks: Nextflow passes this role to every task job (aws.batch.jobRole).
        task_role = aws.iam.Role(
            f"{name}-task", assume_role_policy=json.dumps(assume_role_policy("ecs-tasks.amazonaws.com")), opts=child
        )
        aws.iam.RolePolicy(f"{name}-task-s3", role=task_role.id, policy=s3_policy, opts=child)
        self.instance_role_arn, self.task_role_arn = instance_role.arn, task_role.arn
        self.instance_role_name = instance_role.name  # the registry cache grants its pulls to this role
        return profile, [*attachments, profile]

    def _environments(
        self, args: BatchComputeClusterArgs, profile: aws.iam.InstanceProfile, depends_on: list[pulumi.Resource]
    ) -> dict[str, aws.batch.ComputeEnvironment]:
        """The spot and on-demand environments, and the GPU and Fargate ones when configured, by capacity key."""
        # Changing these replaces the environment, and a queue still pointing at the old one blocks its deletion:
        # Pulumi's auto-naming plus create-before-delete lets the new one exist first.
        ce_opts = pulumi.ResourceOptions(
            parent=self,
            depends_on=depends_on,
            ignore_changes=["computeResources.desiredVcpus"],  # Batch moves it with load; not drift to undo
        )
        common = _shared_resources(args, profile.arn)
        update_policy = _ec2_update_policy(args)
        self._spot_shape = (common, update_policy, ce_opts)  # a capped team's environment is the same spot kind
        spot = aws.batch.ComputeEnvironment(
            f"{self._name}-spot",
            type="MANAGED",
            update_policy=update_policy,
            # No service_role: the service-linked role is what allows in-place updates.
            compute_resources=aws.batch.ComputeEnvironmentComputeResourcesArgs(
                type="SPOT",
                allocation_strategy=args.spot_allocation_strategy,
                bid_percentage=args.spot_bid_percentage,
                max_vcpus=args.spot_max_vcpus,
                **common,
            ),
            opts=ce_opts,
        )
        on_demand = aws.batch.ComputeEnvironment(
            f"{self._name}-ondemand",
            type="MANAGED",
            update_policy=update_policy,
            compute_resources=aws.batch.ComputeEnvironmentComputeResourcesArgs(
                type="EC2", allocation_strategy="BEST_FIT_PROGRESSIVE", max_vcpus=args.on_demand_max_vcpus, **common
            ),
            opts=ce_opts,
        )
        environments = {SPOT: spot, ON_DEMAND: on_demand}
        if args.gpu_instance_types:
            environments[GPU] = self._gpu_environment(args, args.gpu_instance_types, common, update_policy, ce_opts)
        if args.head_platform == "fargate":
            environments[FARGATE] = self._fargate_environment(args)
        return environments

    def _fargate_environment(self, args: BatchComputeClusterArgs) -> aws.batch.ComputeEnvironment:
        # Fargate starts a task per head and keeps no instance: the on-demand cap bounds it too. No update policy:
        # Batch ignores it on Fargate and refuses it in an update (botocore Batch model, UpdatePolicy; aws-cdk#27054).
        return aws.batch.ComputeEnvironment(
            f"{self._name}-fargate",
            type="MANAGED",
            compute_resources=aws.batch.ComputeEnvironmentComputeResourcesArgs(
                type="FARGATE",
                max_vcpus=args.on_demand_max_vcpus,
                subnets=args.subnet_ids,
                security_group_ids=args.security_group_ids,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _gpu_environment(
        self,
        args: BatchComputeClusterArgs,
        instance_types: list[str],
        common: SharedResources,
        update_policy: aws.batch.ComputeEnvironmentUpdatePolicyArgs,
        ce_opts: pulumi.ResourceOptions,
    ) -> aws.batch.ComputeEnvironment:
        # On-demand: GPU spot pools are thin and a reclaim throws away hours of GPU work; min 0 keeps it free idle.
        # Batch picks the NVIDIA variant of the ECS AMI from the image type.
        gpu: SharedResources = {
            **common,
            "instance_types": list(instance_types),
            "ec2_configurations": [
                aws.batch.ComputeEnvironmentComputeResourcesEc2ConfigurationArgs(image_type="ECS_AL2023_NVIDIA")
            ],
        }
        return aws.batch.ComputeEnvironment(
            f"{self._name}-gpu",
            type="MANAGED",
            update_policy=update_policy,
            compute_resources=aws.batch.ComputeEnvironmentComputeResourcesArgs(
                type="EC2", allocation_strategy="BEST_FIT_PROGRESSIVE", max_vcpus=args.gpu_max_vcpus, **gpu
            ),
            opts=ce_opts,
        )

    def _fair_share(self, args: BatchComputeClusterArgs) -> aws.batch.SchedulingPolicy:
        """One policy, the same weights on every queue; Batch still counts each queue's shares apart ("Share
        identifiers are unique within a job queue and are not aggregated across job queues", AWS Batch user guide,
        https://docs.aws.amazon.com/batch/latest/userguide/share-identifiers.html)."""
        return aws.batch.SchedulingPolicy(
            f"{self._name}-fair-share",
            fair_share_policy=aws.batch.SchedulingPolicyFairSharePolicyArgs(
                compute_reservation=args.compute_reservation,
                share_decay_seconds=args.share_decay_seconds,
                share_distributions=[
                    aws.batch.SchedulingPolicyFairSharePolicyShareDistributionArgs(
                        share_identifier=d["shareIdentifier"], weight_factor=d["weightFactor"]
                    )
                    for d in share_distribution(args.share_weight_factors)
                ],
            ),
            opts=self._child,
        )

    def _queue_options(self) -> dict:
        """With teams, every queue is fair-share: jobs must then name a share identifier (SubmitJob), so the head
        queue needs the policy as much as the task queues. AWS turns no FIFO queue into a fair-share one, and the
        provider refuses to remove a policy (terraform-provider-aws job_queue.go, Update), so adding the first team
        or removing the last replaces the queues (facts/update_rules.py says so in `nfbatch plan --diff`)."""
        opts = pulumi.ResourceOptions(parent=self, replace_on_changes=["schedulingPolicyArn"])
        if self._scheduling is None:
            return {"opts": opts}
        return {"scheduling_policy_arn": self._scheduling.arn, "opts": opts}

    def _stuck_actions(self, args: BatchComputeClusterArgs) -> list[aws.batch.JobQueueJobStateTimeLimitActionArgs]:
        """Cancel a job stuck RUNNABLE on a misconfiguration (facts.contract.stuck_reasons for the partition; never on a
        capacity shortage, see facts.contract.CAPACITY_REASON). CANCEL is the only action for ECS compute environments
        (botocore's Batch model, JobStateTimeLimitAction.action); the provider checks action and state against the
        SDK's enums and maxTimeSeconds within 600-86400 (terraform-provider-aws internal/service/batch/job_queue.go)."""
        return [
            aws.batch.JobQueueJobStateTimeLimitActionArgs(
                action="CANCEL",
                state="RUNNABLE",
                reason=reason,
                max_time_seconds=args.stuck_job_timeout_seconds,
            )
            for reason in stuck_reasons(args.partition)
        ]

    def _team_queues(
        self, args: BatchComputeClusterArgs, environments: dict[str, aws.batch.ComputeEnvironment]
    ) -> None:
        """A capped team's own spot environment (same launch template, subnets and roles as the shared one, capped
        at the team's maxVcpus) and its queue: fair share divides capacity but never limits one team's total."""
        common, update_policy, ce_opts = self._spot_shape
        for team, cap in sorted(args.team_caps.items()):
            key = team_queue_key(team)
            environment = aws.batch.ComputeEnvironment(
                f"{self._name}-{key}",
                type="MANAGED",
                update_policy=update_policy,
                compute_resources=aws.batch.ComputeEnvironmentComputeResourcesArgs(
                    type="SPOT",
                    allocation_strategy=args.spot_allocation_strategy,
                    bid_percentage=args.spot_bid_percentage,
                    max_vcpus=cap,
                    tags={TEAM_TAG: team},  # reaches its instances (not their EBS volumes)
                    **common,
                ),
                tags={TEAM_TAG: team},
                opts=ce_opts,
            )
            queue = aws.batch.JobQueue(
                f"{self._name}-{key}",
                state="ENABLED",
                priority=args.default_priority,
                compute_environment_orders=[
                    aws.batch.JobQueueComputeEnvironmentOrderArgs(order=1, compute_environment=environment.arn)
                ],
                job_state_time_limit_actions=self._stuck_actions(args),
                tags={TEAM_TAG: team},
                **self._queue_options(),
            )
            self.team_environment_arns[key] = environment.arn
            self.ecs_cluster_arns[key] = environment.ecs_cluster_arn
            self.queue_names[key], self.queue_arns[key] = queue.name, queue.arn

    def _queues(self, args: BatchComputeClusterArgs, environments: dict[str, aws.batch.ComputeEnvironment]) -> None:
        stuck_actions = self._stuck_actions(args)
        self.queue_names, self.queue_arns, self.team_environment_arns = {}, {}, {}
        for plan in plan_queues(
            args.head_priority,
            args.priority_priority,
            args.default_priority,
            args.spot_fallback_to_on_demand,
            args.head_platform,
            gpu=bool(args.gpu_instance_types),
        ):
            queue = aws.batch.JobQueue(
                f"{self._name}-{plan.key}",
                state="ENABLED",
                priority=plan.priority,
                compute_environment_orders=[
                    aws.batch.JobQueueComputeEnvironmentOrderArgs(
                        order=i + 1, compute_environment=environments[env].arn
                    )
                    for i, env in enumerate(plan.environments)
                ],
                job_state_time_limit_actions=stuck_actions,
                **self._queue_options(),
            )
            self.queue_names[plan.key] = queue.name
            self.queue_arns[plan.key] = queue.arn
