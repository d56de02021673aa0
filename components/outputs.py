"""The stack's exports, built from the components: exactly the names `facts.contract.EXPORTS` lists."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import pulumi

from components.alerts import StackAlerts
from components.compute_cluster import BatchComputeCluster
from components.head_job import NextflowHeadJob, render_nextflow_config
from components.instance_records import InstanceRecords
from components.registry_cache import RegistryCache
from components.storage import WorkBucket
from components.teams import BatchTeams
from facts.contract import (
    CAPACITY,
    EXPORT_NAMES,
    GPU_QUEUE,
    LOGS_PREFIX,
    OPTIONAL_CAPACITY,
    QUEUES,
    REQUIRED_EXPORT_NAMES,
    RESULTS_PREFIX,
    WORK_PREFIX,
    compute_environment_export,
    queue_arn_export,
    queue_name_export,
    team_prefix,
    team_task_queues,
)

if TYPE_CHECKING:
    from settings import StackSettings


def _team_config(s: StackSettings, name: str, a: dict, work_dir: str, caches: dict) -> str:
    """A team's nextflow.config; with `caches`, the quay.io cache's docker scope commented out (components/head_job.py
    _docker_scope): laptops use it with any pipeline, and Docker Hub names such as ubuntu:22.04 are not in it."""
    return render_nextflow_config(
        work_dir=work_dir,
        region=s.region,
        default_queue=a["queue_name"],
        priority_queue=a["retry_queue_name"],
        task_role_arn=a["task_role_arn"],
        gpu_queue=a["gpu_queue"],
        max_spot_attempts=s.compute.spot.max_spot_attempts,
        team=name,
        registry_caches=caches,
    )


def _team_entry(s: StackSettings, name: str, a: dict) -> dict:
    """One team's entry of the `teams` export, from its resolved values `a` (queues, roles, bucket, budget)."""
    settings = s.teams[name]
    work_dir = f"s3://{a['bucket']}/{team_prefix(WORK_PREFIX, name)}"
    config = _team_config(s, name, a, work_dir, a["registry_caches"])
    return {
        "shareIdentifier": name,
        "weight": settings.weight,
        "maxVcpus": settings.max_vcpus,
        "monthlyBudgetUsd": settings.monthly_budget_usd,
        "budgetName": a["budget_name"],
        "taskQueue": a["queue_key"],
        "taskQueueName": a["queue_name"],
        "taskQueueArn": a["queue_arn"],
        "jobDefinitionName": a["job_definition_name"],
        "jobDefinitionArn": a["job_definition_arn"],
        "taskJobRoleArn": a["task_role_arn"],
        "headJobRoleArn": a["head_role_arn"],
        "runPolicyArn": a["run_policy_arn"],
        "workDir": work_dir,
        "resultsDir": f"s3://{a['bucket']}/{team_prefix(RESULTS_PREFIX, name)}",
        "nextflowConfig": config,
        # Seqera Platform's manual AWS Batch compute environment, one per team; its "Nextflow config" field
        # takes nextflowConfig, which carries the share identifier the fair-share queues require. Without the docker
        # scope: Platform applies it to every pipeline it launches, and a non-nf-core pipeline's unqualified Docker
        # Hub names (ubuntu:22.04) are not in the quay.io cache.
        "seqeraPlatform": {
            "region": s.region,
            "workDir": work_dir,
            "headQueue": a["head_queue_name"],
            "computeQueue": a["queue_name"],
            "headJobRole": a["head_role_arn"],
            "computeJobRole": a["task_role_arn"],
            "nextflowConfig": _team_config(s, name, a, work_dir, {}),
        },
    }


def team_outputs(
    s: StackSettings,
    bucket: WorkBucket,
    cluster: BatchComputeCluster,
    teams: BatchTeams,
    registry_caches: pulumi.Input[Mapping[str, str]] | None = None,
) -> dict:
    """The `teams` export: what a team's members and tools need, per team (one Output per team: fifty teams' worth
    of nested Outputs would cost the plan more than the resources they describe). `registry_caches`: the head's
    (NextflowHeadJob.registry_caches), which a team's nextflowConfig routes nf-core's images through too."""
    exported = {}
    for name, team in teams.teams.items():
        key, retry_key = team_task_queues(name, capped=s.teams[name].max_vcpus is not None)
        # partial binds this team's name now (mypy types no lambda default: python/mypy#15459)
        exported[name] = pulumi.Output.all(
            bucket=bucket.bucket,
            queue_key=key,
            queue_name=cluster.queue_names[key],
            queue_arn=cluster.queue_arns[key],
            retry_queue_name=cluster.queue_names[retry_key],
            head_queue_name=cluster.queue_names["head"],
            gpu_queue=cluster.queue_names.get(GPU_QUEUE),
            registry_caches=registry_caches or {},
            **team,
        ).apply(partial(_team_entry, s, name))
    return exported


def launch_outputs(
    s: StackSettings, cluster: BatchComputeCluster, head: NextflowHeadJob, work_dir: pulumi.Output[str]
) -> dict[str, Any]:
    """The stack-wide nextflow.config and Seqera Platform values. A stack with teams exports neither: its queues are
    fair-share, and SubmitJob refuses a job without a share identifier there (botocore's Batch model, SubmitJob
    shareIdentifier: "If the job queue has a fair-share scheduling policy, then this parameter must be specified"),
    so every task launched with them would be refused; each team's entry in `teams` has its own."""
    return {
        "nextflowConfig": pulumi.Output.all(
            work_dir=work_dir,
            default_queue=cluster.queue_names["default"],
            priority_queue=cluster.queue_names["priority"],
            task_role_arn=cluster.task_role_arn,
            gpu_queue=cluster.queue_names.get(GPU_QUEUE),
            # The quay.io cache's docker scope, commented out: a laptop may launch any pipeline with this config.
            registry_caches=head.registry_caches,
        ).apply(
            lambda a: render_nextflow_config(region=s.region, max_spot_attempts=s.compute.spot.max_spot_attempts, **a)
        ),
        # What a Seqera Platform "manual" AWS Batch compute environment asks for.
        "seqeraPlatform": {
            "region": s.region,
            "workDir": work_dir,
            "headQueue": cluster.queue_names["head"],
            "computeQueue": cluster.queue_names["default"],
            "headJobRole": head.role_arn,
            "computeJobRole": cluster.task_role_arn,
        },
    }


def stack_outputs(
    s: StackSettings,
    bucket: WorkBucket,
    cluster: BatchComputeCluster,
    head: NextflowHeadJob,
    alerts: StackAlerts | None,
    teams: BatchTeams | None = None,
    cache: RegistryCache | None = None,
    records: InstanceRecords | None = None,
) -> dict[str, Any]:
    region = s.region
    work_dir = bucket.bucket.apply(lambda b: f"s3://{b}/{WORK_PREFIX}")
    outputs = {
        "region": region,
        "bucketName": bucket.bucket,
        "workDir": work_dir,
        "logsDir": bucket.bucket.apply(lambda b: f"s3://{b}/{LOGS_PREFIX}"),
        **{queue_name_export(q): cluster.queue_names[q] for q in QUEUES},
        **{queue_arn_export(q): cluster.queue_arns[q] for q in QUEUES},
        **{compute_environment_export(c): cluster.compute_environment_arns[c] for c in CAPACITY},
        "jobDefinitionName": head.job_definition_name,
        "jobDefinitionArn": head.job_definition_arn,
        "ecrRepositoryUrl": head.repository_url,
        "headImage": head.image_tag,  # the human tag; the job definitions run head.image, by digest
        "headJobRoleArn": head.role_arn,
        "headLogGroupName": head.log_group_name,
        "taskJobRoleArn": cluster.task_role_arn,
        "instanceRoleArn": cluster.instance_role_arn,
    }
    if teams is None:
        outputs.update(launch_outputs(s, cluster, head, work_dir))
    if GPU_QUEUE in cluster.queue_arns:
        outputs[queue_name_export(GPU_QUEUE)] = cluster.queue_names[GPU_QUEUE]
        outputs[queue_arn_export(GPU_QUEUE)] = cluster.queue_arns[GPU_QUEUE]
    for capacity in OPTIONAL_CAPACITY:
        if capacity in cluster.compute_environment_arns:
            outputs[compute_environment_export(capacity)] = cluster.compute_environment_arns[capacity]
    if alerts is not None:
        outputs["alertTopicArn"] = alerts.topic_arn
    if teams is not None:
        outputs["teams"] = team_outputs(s, bucket, cluster, teams, head.registry_caches)
    if cache is not None:
        outputs["registryCaches"] = cache.caches
    if records is not None:
        outputs["instanceEventsLogGroupName"] = records.log_group_name
    if not set(REQUIRED_EXPORT_NAMES) <= set(outputs) <= set(EXPORT_NAMES):
        raise AssertionError(f"exports differ from the contract: {sorted(set(outputs) ^ set(EXPORT_NAMES))}")
    return outputs
