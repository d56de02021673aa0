"""The stack's contract with its users: bucket layout, tags, names, queues and exports, in plain Python.

Standard library only: the program, `nfbatch`, the guard rules and the tests all import it, and nothing restates it.
"""

from __future__ import annotations

from dataclasses import dataclass

# The Pulumi project name: the config namespace (`genomics-batch:<key>`) and the `Project` cost tag.
PROJECT = "genomics-batch"
# Tags every resource, instance and volume carries, so cost reports can split by project and stack.
COST_TAG_KEYS = ("Project", "Stack")

# Layout of the work bucket. Only the scratch prefixes (work, cache) ever expire.
WORK_PREFIX = "work"
CACHE_PREFIX = "cache"
LOGS_PREFIX = "logs"
RESULTS_PREFIX = "results"
PARAMS_PREFIX = "params"
SCRATCH_PREFIXES = (WORK_PREFIX, CACHE_PREFIX)

# A run is one head job named `nfbatch-<run>`, tagged with the run name; its task jobs carry the same tag.
HEAD_JOB_NAME_PREFIX = "nfbatch-"
RUN_TAG = "nfbatch-run"
PIPELINE_TAG = "nfbatch-pipeline"
# Each task job's Nextflow process (`task.process`, e.g. NFCORE_RNASEQ:RNASEQ:FASTQC), so `nfbatch cost` groups by it.
PROCESS_TAG = "nfbatch-process"
# With teams, every job and every team resource carries the team's name under this tag, so cost reports (split cost
# allocation data for ECS and Batch) and budgets can split the shared cluster by team; the name is also the job's
# share identifier on the fair-share queues.
TEAM_TAG = "Team"
# A fair-share queue refuses a job whose definition has no schedulingPriority unless SubmitJob sends
# schedulingPriorityOverride ("Either schedulingPriority in job definition or schedulingPriorityOverride should be
# specified", nextflow-io/nextflow PR #3505). Team heads carry it in their job definition and `nfbatch run` sends it,
# so either alone suffices. One value for every head: priority orders jobs only within one share identifier (SubmitJob
# reference), and the head queue holds only heads. Not 0: the provider sends scheduling_priority only when non-zero
# (terraform-provider-aws internal/service/batch/job_definition.go, `d.GetOk("scheduling_priority")`).
HEAD_SCHEDULING_PRIORITY = 1
# Nextflow names the job definitions it registers for task images `nf-<image>` (nf-amazon's AwsBatchTaskHandler).
NEXTFLOW_JOB_DEFINITION_PREFIX = "nf-"

# The head's executor.submitRateLimit. AWS Batch throttles SubmitJob at about 50/s per account, and nf-amazon's
# reaper cancels tasks at this same rate (AwsBatchExecutor.createExecutorService), which sizes the stop timeout.
NEXTFLOW_SUBMIT_RATE_PER_SECOND = 20

# Job-state reasons that mean no instance a compute environment can launch will ever run the job: the queues'
# time-limit actions cancel such jobs, and the alerts report them. All four reasons Batch can act on are listed in
# https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_time_limit_actions.html; these are its
# MISCONFIGURATION ones, which waiting never fixes.
EC2_CONFIGURATION_REASON = "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED"
STUCK_REASONS = (
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    EC2_CONFIGURATION_REASON,
)


def stuck_reasons(partition: str) -> tuple[str, ...]:
    """The STUCK_REASONS a partition's queues act on. The China copy of the same page
    (docs.amazonaws.cn/batch/latest/userguide/job_stuck_in_runnable_time_limit_actions.html) lists only three
    supported reasons, without EC2_INSTANCE_CONFIGURATION_UNSUPPORTED: a queue there asking for it may be refused at
    deploy, so aws-cn queues leave it out (such jobs then wait, as before that reason existed)."""
    return tuple(r for r in STUCK_REASONS if r != EC2_CONFIGURATION_REASON) if partition == "aws-cn" else STUCK_REASONS


# The fourth reason no queue acts on. A job waiting for capacity runs once capacity is back (spot pools refill, and
# on-demand shortages of one type pass). Cancelling it fails the task, and under Nextflow's default errorStrategy
# (terminate: nextflow-io/nextflow ProcessConfig.groovy, DEFAULT_CONFIG) that ends the run. That holds for every
# queue: spot queues (default, team-<name>) exist to wait for cheap capacity, and the on-demand head, priority and gpu
# queues would lose a run or a task over a short shortage.
CAPACITY_REASON = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"

# Capacity kinds, each one compute environment: spot and on-demand always, GPU and Fargate when turned on.
SPOT = "spot"
ON_DEMAND = "on-demand"
GPU = "gpu"
FARGATE = "fargate"
CAPACITY = (SPOT, ON_DEMAND)
OPTIONAL_CAPACITY = (GPU, FARGATE)
QUEUES = ("head", "default", "priority")
GPU_QUEUE = "gpu"  # only with compute.gpu.enabled; Nextflow sends processes with an accelerator directive there
# Where Nextflow sends task jobs (the head's generated config): every other queue holds only head jobs.
TASK_QUEUES = ("default", "priority")


def team_prefix(prefix: str, team: str) -> str:
    """A team's own part of a work-bucket prefix: its runs write work/<team>/, results/<team>/ and so on."""
    return f"{prefix}/{team}"


def team_queue_key(team: str) -> str:
    """The queue key of a team with maxVcpus: its own spot queue."""
    return f"team-{team}"


def team_task_queues(team: str, capped: bool) -> tuple[str, str]:
    """(first attempts, retries): the shared default and priority queues, or a capped team's own queue for both,
    so its retries stay under its cap too."""
    return (team_queue_key(team),) * 2 if capped else ("default", "priority")


def queue_capacity(
    spot_fallback_to_on_demand: bool, head_platform: str = "ec2", gpu: bool = False
) -> dict[str, tuple[str, ...]]:
    """Which compute environments each queue uses, in order of preference."""
    return {
        # The Nextflow process must never be reclaimed mid-run, so its queue has no spot capacity at all.
        "head": (FARGATE,) if head_platform == "fargate" else (ON_DEMAND,),
        # Spot only: spill-over to on-demand leaves jobs RUNNABLE when spot is short (opt-in).
        "default": (SPOT, ON_DEMAND) if spot_fallback_to_on_demand else (SPOT,),
        # Retried tasks go to on-demand first, so a task reclaimed once is not reclaimed again.
        "priority": (ON_DEMAND, SPOT),
        **({GPU_QUEUE: (GPU,)} if gpu else {}),
    }


def queue_name_export(queue: str) -> str:
    return f"{queue}QueueName"


def queue_arn_export(queue: str) -> str:
    return f"{queue}QueueArn"


def compute_environment_export(capacity: str) -> str:
    return {
        SPOT: "spotComputeEnvironmentArn",
        ON_DEMAND: "onDemandComputeEnvironmentArn",
        GPU: "gpuComputeEnvironmentArn",
        FARGATE: "fargateComputeEnvironmentArn",
    }[capacity]


@dataclass(frozen=True)
class Export:
    name: str
    description: str
    read_by_nfbatch: bool = True
    optional: bool = False  # only when a setting turns the feature on (or, for the stack-wide config, teams off)


EXPORTS: tuple[Export, ...] = (
    Export("region", "the AWS region of the stack"),
    Export("bucketName", "the work bucket"),
    Export("workDir", f"Nextflow's work directory, `s3://<bucket>/{WORK_PREFIX}`"),
    Export("logsDir", f"where each run's `.nextflow.log` is kept, `s3://<bucket>/{LOGS_PREFIX}`"),
    *(
        e
        for q in QUEUES
        for e in (
            Export(queue_name_export(q), f"the {q} job queue's name", read_by_nfbatch=False),
            Export(queue_arn_export(q), f"the {q} job queue's ARN"),
        )
    ),
    Export(compute_environment_export(SPOT), "the spot compute environment"),
    Export(compute_environment_export(ON_DEMAND), "the on-demand compute environment"),
    Export("jobDefinitionName", "the head job definition (submit pipelines with it)"),
    Export("jobDefinitionArn", "the head job definition's ARN, with revision"),
    Export("ecrRepositoryUrl", "where to push the head image", read_by_nfbatch=False),
    Export("headImage", "the image the head job runs", read_by_nfbatch=False),
    Export("headJobRoleArn", "the head job's role (Nextflow's permissions)"),
    Export("headLogGroupName", "the head job's CloudWatch log group"),
    Export("taskJobRoleArn", "the role every task job runs with"),
    Export("instanceRoleArn", "the role of the Batch instances (ECS agent)"),
    # Not on a stack with teams: its queues are fair-share and refuse every task without a share identifier, so only
    # each team's own entry in `teams` has a nextflow.config and Seqera Platform values.
    Export(
        "nextflowConfig",
        "a nextflow.config for this stack, to launch from a laptop (not with teams: each team has its own in `teams`)",
        optional=True,
    ),
    Export(
        "seqeraPlatform",
        "the values a Seqera Platform manual AWS Batch compute environment asks for (not with "
        "teams: each team has its own in `teams`)",
        read_by_nfbatch=False,
        optional=True,
    ),
    Export(
        queue_name_export(GPU_QUEUE),
        "the GPU job queue's name (only with compute.gpu.enabled)",
        read_by_nfbatch=False,
        optional=True,
    ),
    Export(
        queue_arn_export(GPU_QUEUE),
        "the GPU job queue's ARN (only with compute.gpu.enabled)",
        read_by_nfbatch=False,
        optional=True,
    ),
    Export(
        compute_environment_export(GPU),
        "the GPU compute environment (only with compute.gpu.enabled)",
        read_by_nfbatch=False,
        optional=True,
    ),
    Export(
        compute_environment_export(FARGATE),
        "the Fargate compute environment of the head queue (only with headJob.platform fargate)",
        read_by_nfbatch=False,
        optional=True,
    ),
    Export(
        "teams",
        "with teams: per team its share identifier, task queue, head job definition, task and head "
        "roles, run policy, cap and budget, and its Seqera Platform values",
        optional=True,
    ),
    Export(
        "registryCaches",
        "the ECR pull-through cache of each upstream registry, by the host images name (only with "
        "registryCache.enabled): where to pull `<host>/<repository>` from as `<cache>/<repository>`",
        optional=True,
    ),
    Export(
        "instanceEventsLogGroupName",
        "the log group recording the stack's container instances as they join and leave (type, zone, purchase "
        "option), which `nfbatch cost` prices runs from",
        optional=True,
    ),
    Export(
        "alertTopicArn",
        "the alert topic (only with alerts.emails); `nfbatch doctor` checks its subscriptions",
        read_by_nfbatch=False,
        optional=True,
    ),
)
EXPORT_NAMES = tuple(e.name for e in EXPORTS)
REQUIRED_EXPORT_NAMES = tuple(e.name for e in EXPORTS if not e.optional)
NFBATCH_REQUIRED_EXPORTS = tuple(e.name for e in EXPORTS if e.read_by_nfbatch and not e.optional)
