"""InstanceRecords: a record of the stack's container instances as they happen, so `nfbatch cost` can tell later
which instance type, zone and purchase option each job ran on (ECS describes a stopped instance for about an hour).

One EventBridge rule (more when the clusters outgrow one pattern) sends "ECS Container Instance State Change" events
of the stack's EC2 compute environments' ECS clusters to a log group; nothing runs but EventBridge itself.

The record format, for nfbatch/cost.py: each log event is one EventBridge event, whole, as JSON ("CloudWatch Logs
stores the text from the events as log entries", EventBridge user guide, eb-use-resource-based.html). Its `detail`
resembles the ECS ContainerInstance object (ECS developer guide, ecs_container_instance_events.html):
  clusterArn             the ECS cluster: map it to its compute environment (DescribeComputeEnvironments
                         ecsClusterArn) for the purchase option, SPOT or EC2 (on-demand)
  containerInstanceArn   what DescribeJobs gives as attempts[].container.containerInstanceArn
  ec2InstanceId          the EC2 instance
  attributes[]           {name, value}: ecs.instance-type, ecs.availability-zone (built-in attributes the agent
                         sets at registration; aws-cdk-lib aws-ecs BuiltInAttributes, ec2-service.ts)
  registeredResources[]  {name: CPU, integerValue: CPU units (1024 per vCPU)}, {name: MEMORY, integerValue: MiB}
  status, agentConnected ACTIVE / DRAINING / DEREGISTERING / INACTIVE; the agent's connection
  version, updatedAt     detail.version rises with every change: equal versions are duplicates of one event
The event's top-level `time` is when it happened. The guide's sample carries no registeredAt: take the first event
of a containerInstanceArn as its start and its last (or INACTIVE) as its end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.alerts import numbered, split_for_rules

if TYPE_CHECKING:
    from collections.abc import Sequence

    from settings import StackSettings

CONTAINER_INSTANCE_STATE_CHANGE = {"source": ["aws.ecs"], "detail-type": ["ECS Container Instance State Change"]}
# An ECS cluster ARN at its longest: partition and region together at most 24 characters (as in alerts.py) and a
# cluster name of up to 255 (botocore's ECS model, CreateCluster clusterName). Batch names its clusters
# <environment>_Batch_<uuid> (botocore's Batch examples-1.json), at most 171 characters: 255 bounds both.
LONGEST_CLUSTER_ARN = f"arn:{'p' * 9}:ecs:{'r' * 15}:123456789012:cluster/{'c' * 255}"
# The console lists only log groups under /aws/events/ as rule targets; the API takes any log group ARN (PutTargets
# Arn: botocore's events model, TargetArn). The prefix keeps the records findable there; the provider's unique suffix
# keeps stacks apart (their Stack tag says whose), and no stack name in it keeps a diff of two stack files honest.
LOG_GROUP_PREFIX = "/aws/events/genomics-batch-instances-"


def instance_state_pattern(cluster_arns: Sequence[str]) -> dict:
    """Every container instance state change of these clusters: registration, task placement and stop (resources),
    agent connection and deregistration all send one (ECS developer guide, ecs_container_instance_events.html)."""
    return {**CONTAINER_INSTANCE_STATE_CHANGE, "detail": {"clusterArn": sorted(cluster_arns)}}


def log_write_policy(log_group_arn: str) -> dict:
    """What lets EventBridge write the events into the group: the statement of the EventBridge user guide
    (eb-use-resource-based.html, "CloudWatch Logs permissions": events.amazonaws.com and
    delivery.logs.amazonaws.com, logs:CreateLogStream and logs:PutLogEvents), narrowed to this group's streams.
    No aws:SourceArn condition: the guide gives none for Logs targets (it does for SQS, Lambda and API Gateway), and
    a condition on a key EventBridge does not send would deny every write, silently."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeRecordsInstances",
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group_arn}:*",
            }
        ],
    }


def cluster_groups(cluster_arns: Sequence[pulumi.Input[str]]) -> list[list]:
    """The cluster ARNs in groups that each fit one rule's pattern (EventBridge's 2,048 characters)."""
    return split_for_rules(cluster_arns, instance_state_pattern, LONGEST_CLUSTER_ARN)


@dataclass(frozen=True)
class InstanceRecordsArgs:
    retention_days: int
    """Days the records are kept, 0 for ever (settings: runCosts.recordRetentionDays, its default and reason)."""
    cluster_arns: Sequence[pulumi.Input[str]]
    """The ECS clusters of the stack's EC2 compute environments (BatchComputeCluster.ecs_cluster_arns)."""

    @classmethod
    def from_settings(cls, s: StackSettings, *, cluster_arns: Sequence[pulumi.Input[str]]) -> InstanceRecordsArgs:
        return cls(retention_days=s.run_costs.record_retention_days, cluster_arns=list(cluster_arns))


class InstanceRecords(pulumi.ComponentResource):
    """Outputs: log_group_name (the records; exported as instanceEventsLogGroupName)."""

    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: InstanceRecordsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:instance_records:InstanceRecords", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if not args.cluster_arns:
            raise ValueError("instance records need at least one ECS cluster")
        log = aws.cloudwatch.LogGroup(
            f"{name}-log",
            name_prefix=LOG_GROUP_PREFIX,
            retention_in_days=args.retention_days,
            opts=child,
        )
        # Account-level, as the EventBridge guide documents: at most 10 such policies per account and region ("10
        # policies without resourceARN and one per LogGroup resourceARN": botocore's logs model, PutResourcePolicy;
        # the group-scoped kind is not what the guide shows, nor in moto 5.2.5). Named after the group, whose
        # name_prefix suffix is unique, so two stacks of one name in one account do not collide.
        aws.cloudwatch.LogResourcePolicy(
            f"{name}-policy",
            policy_name=log.name,
            policy_document=log.arn.apply(lambda arn: json.dumps(log_write_policy(arn))),
            opts=child,
        )
        for i, group in enumerate(cluster_groups(args.cluster_arns)):
            suffix = numbered("rule", i)
            rule = aws.cloudwatch.EventRule(
                f"{name}-{suffix}",
                description="genomics-batch: record container instances for nfbatch cost",
                event_pattern=pulumi.Output.all(*group).apply(lambda arns: json.dumps(instance_state_pattern(arns))),
                opts=child,
            )
            aws.cloudwatch.EventTarget(f"{name}-{suffix}", rule=rule.name, arn=log.arn, opts=child)
        self.log_group_name = log.name
        self.register_outputs({"log_group_name": self.log_group_name})
