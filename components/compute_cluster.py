"""BatchComputeCluster: instance and task IAM roles, spot and on-demand compute environments, and the job queues.

Queue layout is decided by `plan_queues` (pure); compute environments use the Batch service-linked role and a
non-BEST_FIT strategy so launch template, instance type and subnet changes update in place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from policies.iam import assume_role_policy, s3_access_policy
from settings import DEFAULT_INSTANCE_TYPES

# Job-state reasons that mean no instance this environment can launch will ever run the job.
STUCK_REASONS = (
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
)


@dataclass(frozen=True)
class QueuePlan:
    key: str
    priority: int
    environments: tuple[str, ...]  # "spot" / "on-demand", in order of preference


def plan_queues(head: int, priority: int, default: int, spot_fallback: bool) -> list[QueuePlan]:
    """The three queues: head (on-demand), default (spot, optional on-demand spill-over), priority (both)."""
    return [
        # The Nextflow process must never be reclaimed mid-run, so its queue has no spot capacity at all.
        QueuePlan("head", head, ("on-demand",)),
        QueuePlan("default", default, ("spot", "on-demand") if spot_fallback else ("spot",)),
        QueuePlan("priority", priority, ("on-demand", "spot")),
    ]


@dataclass(frozen=True)
class BatchComputeClusterArgs:
    subnet_ids: pulumi.Input[list[str]]
    security_group_ids: pulumi.Input[list[str]]
    launch_template_id: pulumi.Input[str]
    launch_template_version: pulumi.Input[int]
    work_bucket_arn: pulumi.Input[str]
    read_only_bucket_arns: list[str] = field(default_factory=list)
    read_write_bucket_arns: list[str] = field(default_factory=list)
    instance_types: list[str] = field(default_factory=lambda: list(DEFAULT_INSTANCE_TYPES))
    spot_max_vcpus: int = 256
    spot_bid_percentage: int = 100
    on_demand_max_vcpus: int = 64
    spot_fallback_to_on_demand: bool = False
    stuck_job_timeout_seconds: int = 1800
    update_timeout_minutes: int = 30
    head_priority: int = 100
    priority_priority: int = 50
    default_priority: int = 10


class BatchComputeCluster(pulumi.ComponentResource):
    """Outputs: queue_names / queue_arns (keys head, default, priority), compute environment ARNs, role ARNs."""

    queue_names: dict[str, pulumi.Output[str]]
    queue_arns: dict[str, pulumi.Output[str]]
    compute_environment_arns: dict[str, pulumi.Output[str]]
    instance_role_arn: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: BatchComputeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:compute:BatchComputeCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s3_policy = pulumi.Output.all(args.work_bucket_arn, args.read_write_bucket_arns,
                                      args.read_only_bucket_arns).apply(
            lambda a: json.dumps(s3_access_policy([a[0], *a[1]], a[2])))

        # Instances: the ECS agent's managed policy, plus the buckets for tasks that run without a job role.
        instance_role = aws.iam.Role(f"{name}-instance", assume_role_policy=json.dumps(
            assume_role_policy("ec2.amazonaws.com")), opts=child)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        ecs_attachment = aws.iam.RolePolicyAttachment(
            f"{name}-instance-ecs", role=instance_role.name,
            policy_arn=partition.apply(
                lambda p: f"arn:{p}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"),
            opts=child,
        )
        instance_s3 = aws.iam.RolePolicy(f"{name}-instance-s3", role=instance_role.id, policy=s3_policy, opts=child)
        profile = aws.iam.InstanceProfile(f"{name}-instance", role=instance_role.name, opts=child)

        # Tasks: Nextflow passes this role to every task job (aws.batch.jobRole).
        task_role = aws.iam.Role(f"{name}-task", assume_role_policy=json.dumps(
            assume_role_policy("ecs-tasks.amazonaws.com")), opts=child)
        aws.iam.RolePolicy(f"{name}-task-s3", role=task_role.id, policy=s3_policy, opts=child)

        # Changing these replaces the environment, and a queue still pointing at the old one blocks its deletion:
        # Pulumi's auto-naming plus create-before-delete lets the new one exist first.
        ce_opts = pulumi.ResourceOptions(
            parent=self,
            depends_on=[ecs_attachment, instance_s3, profile],
            ignore_changes=["computeResources.desiredVcpus"],  # Batch moves it with load; not drift to undo
        )
        common = {
            "min_vcpus": 0,  # no instances, no cost, while idle
            "instance_types": list(args.instance_types),
            "subnets": args.subnet_ids,
            "security_group_ids": args.security_group_ids,
            "instance_role": profile.arn,
            "ec2_configurations": [aws.batch.ComputeEnvironmentComputeResourcesEc2ConfigurationArgs(
                image_type="ECS_AL2023")],
            "launch_template": aws.batch.ComputeEnvironmentComputeResourcesLaunchTemplateArgs(
                launch_template_id=args.launch_template_id,
                # `$Latest` would be resolved once at creation and never again.
                version=pulumi.Output.from_input(args.launch_template_version).apply(str),
            ),
        }
        update_policy = aws.batch.ComputeEnvironmentUpdatePolicyArgs(
            job_execution_timeout_minutes=args.update_timeout_minutes, terminate_jobs_on_update=False)
        spot = aws.batch.ComputeEnvironment(
            f"{name}-spot", type="MANAGED", update_policy=update_policy,
            # No service_role: the service-linked role is what allows in-place updates.
            compute_resources=aws.batch.ComputeEnvironmentComputeResourcesArgs(
                type="SPOT", allocation_strategy="SPOT_PRICE_CAPACITY_OPTIMIZED",
                bid_percentage=args.spot_bid_percentage, max_vcpus=args.spot_max_vcpus, **common),
            opts=ce_opts,
        )
        on_demand = aws.batch.ComputeEnvironment(
            f"{name}-ondemand", type="MANAGED", update_policy=update_policy,
            compute_resources=aws.batch.ComputeEnvironmentComputeResourcesArgs(
                type="EC2", allocation_strategy="BEST_FIT_PROGRESSIVE", max_vcpus=args.on_demand_max_vcpus,
                **common),
            opts=ce_opts,
        )
        environments = {"spot": spot, "on-demand": on_demand}

        stuck_actions = [aws.batch.JobQueueJobStateTimeLimitActionArgs(
            action="CANCEL", state="RUNNABLE", reason=reason, max_time_seconds=args.stuck_job_timeout_seconds,
        ) for reason in STUCK_REASONS]
        self.queue_names, self.queue_arns = {}, {}
        for plan in plan_queues(args.head_priority, args.priority_priority, args.default_priority,
                                args.spot_fallback_to_on_demand):
            queue = aws.batch.JobQueue(
                f"{name}-{plan.key}", state="ENABLED", priority=plan.priority,
                compute_environment_orders=[aws.batch.JobQueueComputeEnvironmentOrderArgs(
                    order=i + 1, compute_environment=environments[env].arn)
                    for i, env in enumerate(plan.environments)],
                job_state_time_limit_actions=stuck_actions,
                opts=child,
            )
            self.queue_names[plan.key] = queue.name
            self.queue_arns[plan.key] = queue.arn

        self.compute_environment_arns = {key: env.arn for key, env in environments.items()}
        self.instance_role_arn = instance_role.arn
        self.task_role_arn = task_role.arn
        self.register_outputs({
            "queue_names": self.queue_names, "queue_arns": self.queue_arns,
            "compute_environment_arns": self.compute_environment_arns,
            "instance_role_arn": self.instance_role_arn, "task_role_arn": self.task_role_arn,
        })
