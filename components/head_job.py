"""NextflowHeadJob: the head job's IAM role, ECR repository (and the head image's build, unless headJob.image is
set), log group and Batch job definition.

The job definition's container properties and the Nextflow config the head writes are pure functions here, so tests
check them against botocore's model and against the container entrypoint's own rendering.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.head_image import CONTENT_TAG_FILTER, build_head_image, head_platforms
from components.launch_template import AWS_CLI_PATH
from facts.contract import (
    CACHE_PREFIX,
    HEAD_SCHEDULING_PRIORITY,
    LOGS_PREFIX,
    NEXTFLOW_SUBMIT_RATE_PER_SECOND,
    PIPELINE_TAG,
    PROCESS_TAG,
    QUEUES,
    RUN_TAG,
    TEAM_TAG,
    WORK_PREFIX,
    team_prefix,
)
from facts.registries import UPSTREAM_BY_KEY
from policies.iam import assume_role_policy, head_job_policy

if TYPE_CHECKING:
    from settings import StackSettings

# The JVM needs room beside its heap (metaspace, threads, the AWS SDK's buffers).
HEAP_FRACTION = 0.75


def nxf_opts(memory_mib: int) -> str:
    return f"-Xms{memory_mib // 4}m -Xmx{int(memory_mib * HEAP_FRACTION)}m"


# What the entrypoint exits with when it was stopped by SIGTERM (128 + 15), whatever Nextflow's own status was.
STOPPED_EXIT_CODE = 143


def retry_strategy(attempts: int) -> dict:
    """Retry only what the infrastructure did to the head, which then resumes from its S3 cache; a failed pipeline
    exits. Batch takes the first rule that matches (job_retries.html: RETRY rules, then a final EXIT for any reason).

    - "Host EC2*": its instance was lost (spot reclaim, instance failure); the status reason reads
      "Host EC2 (instance i-...) terminated." (aws.amazon.com/blogs/compute/introducing-retry-strategies-for-aws-batch)
    - exit code 143: it was stopped from outside while running. A user's stop (TerminateJob) and the head's own
      timeout never reach this rule, as Batch retries neither (job_retries.html: "Jobs that are cancelled or terminated
      aren't retried"; job_timeouts.html). What is left is AWS stopping it, which AWS documents only in part.

    An infrastructure update lets running jobs "run until the timeout set in the job execution timeout in minutes
    (jobExecutionTimeoutMinutes) has elapsed"; only with terminateJobsOnUpdate (not ours) does it say jobs "are
    terminated and might be retried ... depending on the retry settings for the job"
    (docs.aws.amazon.com/batch/latest/userguide/updating-compute-environments.html). What Batch does to a job still
    running after the timeout, and with which status reason, is undocumented; so is Fargate task retirement's. The
    head is retried, and resumes by itself, only if Batch applies this strategy then AND the entrypoint (Nextflow
    cancels its tasks, then it exits 143) ends within the container stop timeout: on EC2 ECS_CONTAINER_STOP_TIMEOUT
    (launchTemplate.ecsAgent.containerStopTimeoutSeconds); on Fargate ECS's default 30 s, which a Batch
    containerProperties job cannot change (botocore ECS model, ContainerDefinition.stopTimeout: "For tasks that use
    the Fargate launch type ... the default value of 30 seconds is used"; Batch documents stopTimeout only for
    ecsProperties containers, TaskContainerProperties). Killed sooner it exits 137, and only a "Host EC2" reason, if
    Batch gives one, still matches. Otherwise the run ends FAILED and the user resumes it with
    `nfbatch run <pipeline> --name <run> --resume` (finished tasks come from the cache).
    """
    return {
        "attempts": attempts,
        "evaluateOnExit": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onExitCode": str(STOPPED_EXIT_CODE), "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }


def head_environment(
    *,
    work_dir: str,
    logs_dir: str,
    cache_dir: str,
    region: str,
    default_queue: str,
    priority_queue: str,
    task_role_arn: str,
    memory_mib: int,
    max_spot_attempts: int,
    gpu_queue: str | None = None,
    team: str | None = None,
    registry_caches: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What the entrypoint reads to write nextflow.config; NF_* names follow the AWS workshop's convention. A team's
    head also names the team: its share identifier on the fair-share queues and its Team tag. NF_REGISTRY_CACHES
    lists the stack's registry caches, of which the entrypoint picks one per run (unqualified_registry)."""
    return {
        "NF_WORKDIR": work_dir,
        "NF_LOGSDIR": logs_dir,
        "NF_CACHEDIR": cache_dir,
        "NF_JOB_QUEUE": default_queue,
        "NF_PRIORITY_QUEUE": priority_queue,
        "NF_TASK_JOB_ROLE": task_role_arn,
        "NF_AWS_REGION": region,
        "NF_AWS_CLI_PATH": AWS_CLI_PATH,
        "NF_MAX_SPOT_ATTEMPTS": str(max_spot_attempts),
        "NXF_OPTS": nxf_opts(memory_mib),
        "NXF_ANSI_LOG": "false",
        **({"NF_GPU_QUEUE": gpu_queue} if gpu_queue else {}),
        **({"NF_TEAM": team} if team else {}),
        **({"NF_REGISTRY_CACHES": registry_caches_env(registry_caches)} if registry_caches else {}),
    }


def fargate_properties(execution_role_arn: str, public_ip: bool) -> dict:
    """What a Fargate job definition adds: the role Fargate pulls the image and writes logs with, and the network.
    A public IP only in public egress mode, where there is no NAT to reach ECR through."""
    return {
        "executionRoleArn": execution_role_arn,
        "networkConfiguration": {"assignPublicIp": "ENABLED" if public_ip else "DISABLED"},
        "fargatePlatformConfiguration": {"platformVersion": "LATEST"},
    }


def container_properties(
    *,
    image: str,
    vcpus: int,
    memory_mib: int,
    job_role_arn: str,
    environment: dict[str, str],
    log_group: str,
    region: str,
    fargate: dict | None = None,
) -> dict:
    """The RegisterJobDefinition containerProperties document (camelCase, as AWS takes it)."""
    return {
        **(fargate or {}),
        "image": image,
        "resourceRequirements": [
            {"type": "VCPU", "value": str(vcpus)},
            {"type": "MEMORY", "value": str(memory_mib)},
        ],
        "jobRoleArn": job_role_arn,
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": "head"},
        },
    }


# nf-amazon 25.04.6 sends process.resourceLabels as SubmitJob tags with propagateTags on
# (plugins/nf-amazon/src/main/nextflow/cloud/aws/batch/AwsBatchTaskHandler.groovy, newSubmitRequest), so they land on
# the ECS task too, whose TagValue allows `([\p{L}\p{Z}\p{N}_.:/=+\-@]*)`, 0-256 (botocore's ECS model; Batch's own
# TagValue only caps the length at 256). The ASCII part of that set, which also keeps Groovy's single quotes closed.
TAG_VALUE_CHARACTERS = frozenset(string.ascii_letters + string.digits + " _.:/=+-@")
TAG_VALUE_MAX = 256


def pipeline_label(pipeline: str) -> str:
    """The pipeline as a tag value ECS and Batch accept: every other byte of its UTF-8 becomes "_", then the first
    256. The entrypoint does the same, byte for byte (container/entrypoint.sh, LC_ALL=C)."""
    return "".join(chr(b) if chr(b) in TAG_VALUE_CHARACTERS else "_" for b in pipeline.encode())[:TAG_VALUE_MAX]


def _resource_labels(run_name: str | None, pipeline: str | None, team: str | None) -> str:
    """The process scope's resourceLabels line (Run, Pipeline, Team and Process tags on every task job), or "" without
    run, pipeline and team."""
    tags = {
        **({RUN_TAG: run_name} if run_name else {}),
        **({PIPELINE_TAG: pipeline_label(pipeline)} if pipeline else {}),
        **({TEAM_TAG: team} if team else {}),
    }
    if not tags:
        return ""
    # A closure, so each task job is also tagged with its own process: directive closures are resolved against the
    # task (nextflow modules/nextflow/src/main/groovy/nextflow/processor/TaskConfig.groovy, LazyMap.get), and
    # process names hold only letters, digits, '_' and ':', which every tag value allows.
    static = ", ".join(f"'{k}': '{v}'" for k, v in tags.items())
    return f"\n    resourceLabels = {{ [{static}, '{PROCESS_TAG}': task.process.take(256)] }}"


def _task_queue(default_queue: str, priority_queue: str, gpu_queue: str | None) -> tuple[str, str]:
    """The process scope's queue closure body and the comment above it: which queue each task attempt goes to."""
    queue = f"task.attempt > 1 ? '{priority_queue}' : '{default_queue}'"
    comment = "Spot first; a retried task moves to on-demand capacity."
    if priority_queue == default_queue:
        queue, comment = f"'{default_queue}'", "Every task, retried or not, on the team's own capped spot queue."
    if gpu_queue:
        # A process with an accelerator directive needs a GPU instance, which only the GPU queue has.
        queue = f"task.accelerator ? '{gpu_queue}' : ({queue})"
    return queue, comment


# The one lever Nextflow 25.04.6 has: docker.registry, prefixed only to names whose first path component has no '.'
# or ':' (modules/nextflow/src/main/groovy/nextflow/container/ContainerHandler.groovy, normalizeDockerImageName and
# isAbsoluteDockerName). The head routes those names through the cache of the registry the pipeline's own resolved
# config names (`nextflow config PIPELINE -value docker.registry`, container/entrypoint.sh), never by its name: an
# nf-core release before tools 2.8 names Docker Hub images such as `nfcore/cellranger:6.0.2` and sets no registry.
# NF_UNQUALIFIED_REGISTRY's value that turns the routing off for one run.
NO_REGISTRY = "none"
DOCKER_HUB_HOSTS = UPSTREAM_BY_KEY["docker-hub"].hosts
# The exported config (laptops, any pipeline) shows this cache's scope commented out: nf-core's own registry since
# tools 2.8 (nf-core/tools CHANGELOG v2.8, #2133: "Defaults to `quay.io`").
EXPORT_REGISTRY = "quay.io"
EXPORT_INSTRUCTION = (
    "// Uncomment for pipelines whose own config sets docker.registry = 'quay.io', e.g. nf-core >= tools 2.8:"
)
NAMED_AS_IS = "Names with a registry (quay.io/..., public.ecr.aws/..., ghcr.io/...) are pulled as named."


def registry_caches_env(caches: Mapping[str, str]) -> str:
    """NF_REGISTRY_CACHES: the stack's caches as `host=uri` pairs, space-separated, sorted by host."""
    return " ".join(f"{host}={caches[host]}" for host in sorted(caches))


def unqualified_registry(own: str | None, caches: Mapping[str, str], asked: str | None = None) -> str | None:
    """The upstream host whose cache docker.registry names, or None (names without a registry resolve as the pipeline
    says). `own` is the pipeline's own resolved docker.registry (None: unset, or its config could not be read);
    `asked` is NF_UNQUALIFIED_REGISTRY (a host, or "none"). Raises ValueError for a host the stack has no cache of."""
    if asked == NO_REGISTRY:
        return None
    if asked:
        if asked not in caches:
            cached = ", ".join(sorted(caches)) or "none: the stack's registryCache is off"
            raise ValueError(f"NF_UNQUALIFIED_REGISTRY={asked}: the stack has no cache of it; cached: {cached}")
        return asked
    host = (own or "").removesuffix("/")  # Nextflow adds the '/' itself when missing (normalizeDockerImageName)
    # Docker Hub only when asked: through its cache, official images need library/ (see _docker_scope).
    return host if host in caches and host not in DOCKER_HUB_HOSTS else None


def _docker_block(why: str, uri: str, prefix: str = "") -> str:
    """docker { registry = uri } with its comments; every line behind `prefix` ("// ": commented out)."""
    lines = ["docker {", f"    // {why}", f"    // {NAMED_AS_IS}", f"    registry = '{uri}'", "}"]
    return "".join(f"{prefix}{line}\n" for line in "\n".join(lines).split("\n"))


def _docker_scope(caches: Mapping[str, str], asked: str | None, own: str | None, export: bool) -> str:
    """The docker scope routing unqualified image names through one cache, or "" (see unqualified_registry). The
    export (`export`: no run behind it) shows the quay.io cache's scope commented out, for laptops with any pipeline."""
    if export and not asked:
        if EXPORT_REGISTRY not in caches:
            return ""
        why = "Through the stack's quay.io cache: the same images from the same upstream, pulled once."
        return f"\n{EXPORT_INSTRUCTION}\n{_docker_block(why, caches[EXPORT_REGISTRY], '// ')}"
    host = unqualified_registry(own, caches, asked)
    if host is None:
        return ""
    if asked:
        why = f"Asked for with --unqualified-registry {host}: names without a registry use its cache."
    else:
        why = f"The pipeline's own config names {host} (docker.registry): the same images, through its cache."
    if host in DOCKER_HUB_HOSTS:
        # ECR User Guide, pull-through-cache-working-pulling: "For Docker Hub official images, the /library prefix
        # must be included".
        why += "\n    // Docker Hub's official images need library/ here: library/ubuntu:22.04, not ubuntu:22.04."
    return f"\n{_docker_block(why, caches[host])}"


def render_nextflow_config(
    *,
    work_dir: str,
    region: str,
    default_queue: str,
    priority_queue: str,
    task_role_arn: str,
    max_spot_attempts: int,
    cli_path: str = AWS_CLI_PATH,
    run_name: str | None = None,
    gpu_queue: str | None = None,
    team: str | None = None,
    pipeline: str | None = None,
    registry_caches: Mapping[str, str] | None = None,
    asked_registry: str | None = None,
    own_registry: str | None = None,
) -> str:
    """The nextflow.config that sends every task to this stack; the container entrypoint writes the same text. Tasks
    are tagged with the run (how `nfbatch status` finds them), the pipeline and the team; a team's also carry its
    share identifier. The docker scope (_docker_scope) names the cache of `own_registry`, the pipeline's own
    docker.registry, or of `asked_registry`; `pipeline` None is the export."""
    labels = _resource_labels(run_name, pipeline, team)
    # nf-amazon's AwsBatchConfig reads aws.batch.shareIdentifier and sets it on every SubmitJob (v25.04.6).
    share = f"\n        shareIdentifier = '{team}'" if team else ""
    queue, comment = _task_queue(default_queue, priority_queue, gpu_queue)
    return f"""// Generated by genomics-batch: runs every task as an AWS Batch job on this stack.
workDir = '{work_dir}'

process {{
    executor = 'awsbatch'
    // {comment}
    queue = {{ {queue} }}{labels}
}}

executor {{
    // AWS Batch throttles SubmitJob at about 50/s per account; stay well below it.
    submitRateLimit = '{NEXTFLOW_SUBMIT_RATE_PER_SECOND}/1s'
}}

aws {{
    region = '{region}'
    batch {{
        cliPath = '{cli_path}'
        jobRole = '{task_role_arn}'
        // Batch retries a task whose spot instance was reclaimed, on the same queue, before Nextflow sees a
        // failure (nf-amazon AwsBatchTaskHandler: RETRY on 'Host EC2*'); Nextflow 25.04 defaults this to 0.
        maxSpotAttempts = {max_spot_attempts}{share}
    }}
}}
{_docker_scope(registry_caches or {}, asked_registry, own_registry, export=pipeline is None)}"""


@dataclass(frozen=True)
class NextflowHeadJobArgs:
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    region: str
    queue_arns: Mapping[str, pulumi.Input[str]]  # keys: facts.contract.QUEUES
    task_role_arn: pulumi.Input[str]
    read_only_bucket_arns: list[str]
    read_write_bucket_arns: list[str]
    vcpus: int
    memory_mib: int
    attempts: int
    timeout_hours: int
    nextflow_version: str
    image: str | None  # None: `pulumi up` builds container/ and pushes it to the stack's repository (head_image.py)
    log_retention_days: int
    force_delete_repository: bool
    max_spot_attempts: int
    platform: str  # "ec2" or "fargate"
    public_ip: bool  # Fargate only: the head task gets a public address (public egress mode)
    architecture: str  # compute.architecture: an EC2 head's instances, so the platform its image is built for
    # registryCache: upstream image host -> cache URI (components/registry_cache.py RegistryCache.caches); empty
    # is a stack without caches (from_settings' default), whose heads route nothing.
    registry_caches: pulumi.Input[Mapping[str, str]]

    @classmethod
    def from_settings(
        cls,
        s: StackSettings,
        *,
        bucket_name: pulumi.Input[str],
        bucket_arn: pulumi.Input[str],
        queue_arns: Mapping[str, pulumi.Input[str]],
        task_role_arn: pulumi.Input[str],
        read_only_bucket_arns: list[str],
        read_write_bucket_arns: list[str],
        registry_caches: pulumi.Input[Mapping[str, str]] | None = None,
    ) -> NextflowHeadJobArgs:
        h = s.head_job
        return cls(
            bucket_name=bucket_name,
            bucket_arn=bucket_arn,
            region=s.region,
            queue_arns=queue_arns,
            task_role_arn=task_role_arn,
            read_only_bucket_arns=read_only_bucket_arns,
            read_write_bucket_arns=read_write_bucket_arns,
            vcpus=h.vcpus,
            memory_mib=h.memory_mib,
            attempts=h.attempts,
            timeout_hours=h.timeout_hours,
            nextflow_version=h.nextflow_version,
            image=h.image,
            log_retention_days=h.log_retention_days,
            force_delete_repository=s.bucket.force_destroy,
            max_spot_attempts=s.compute.spot.max_spot_attempts,
            platform=h.platform,
            public_ip=s.network.mode == "create" and s.network.egress == "public",
            architecture=s.compute.architecture,
            registry_caches=registry_caches if registry_caches is not None else {},
        )


class NextflowHeadJob(pulumi.ComponentResource):
    """Outputs: job_definition_name/arn, repository_url, image (what runs), image_tag, role_arn, log_group_name,
    registry_caches (what the head routes images through, for the exported nextflow.config)."""

    def __init__(self, name: str, args: NextflowHeadJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:nextflow:NextflowHeadJob", name, None, opts)
        self._name, self._child = name, pulumi.ResourceOptions(parent=self)
        role = self._role(args)
        repository = self._repository(args)
        log_group = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=args.log_retention_days, opts=self._child)
        # `image` is what the job definitions run (a built image by digest), `image_tag` the reference to read.
        if args.image:
            self.image = self.image_tag = pulumi.Output.from_input(args.image)
        else:
            built = build_head_image(
                f"{name}-image-build",
                repository,
                nextflow_version=args.nextflow_version,
                platforms=head_platforms(args.architecture, args.platform),
                parent=self,
            )
            self.image, self.image_tag = built.digest, built.tag
        execution = self._execution_role() if args.platform == "fargate" else None
        self.execution_role_arn = execution.arn if execution else None  # teams' Fargate heads use it too
        definition = self._definition(args, role, log_group, execution)
        self.job_definition_name = definition.name
        self.job_definition_arn = definition.arn
        self.repository_url = repository.repository_url
        self.role_arn = role.arn
        self.log_group_name = log_group.name
        self.registry_caches = pulumi.Output.from_input(args.registry_caches)
        self.register_outputs(
            {
                "job_definition_name": self.job_definition_name,
                "job_definition_arn": self.job_definition_arn,
                "repository_url": self.repository_url,
                "image": self.image,
                "image_tag": self.image_tag,
                "role_arn": self.role_arn,
                "log_group_name": self.log_group_name,
                "registry_caches": self.registry_caches,
            }
        )

    def _role(self, args: NextflowHeadJobArgs) -> aws.iam.Role:
        invoke = pulumi.InvokeOutputOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-role",
            assume_role_policy=json.dumps(assume_role_policy("ecs-tasks.amazonaws.com")),
            opts=self._child,
        )
        policy = pulumi.Output.all(
            partition=aws.get_partition_output(opts=invoke).partition,
            account_id=aws.get_caller_identity_output(opts=invoke).account_id,
            task_role_arn=args.task_role_arn,
            bucket_arn=args.bucket_arn,
            read_write=args.read_write_bucket_arns,
            read_only=args.read_only_bucket_arns,
            queue_arns=[args.queue_arns[q] for q in QUEUES],
        ).apply(
            lambda a: json.dumps(
                head_job_policy(
                    partition=a["partition"],
                    region=args.region,
                    account_id=a["account_id"],
                    task_role_arn=a["task_role_arn"],
                    read_write_buckets=[a["bucket_arn"], *a["read_write"]],
                    read_only_buckets=a["read_only"],
                    queue_arns=a["queue_arns"],
                )
            )
        )
        aws.iam.RolePolicy(f"{self._name}-policy", role=role.id, policy=policy, opts=self._child)
        return role

    def _execution_role(self) -> aws.iam.Role:
        """Fargate pulls the head image and writes its log with this role (the ECS task execution policy)."""
        role = aws.iam.Role(
            f"{self._name}-execution",
            assume_role_policy=json.dumps(assume_role_policy("ecs-tasks.amazonaws.com")),
            opts=self._child,
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition
        aws.iam.RolePolicyAttachment(
            f"{self._name}-execution",
            role=role.name,
            policy_arn=partition.apply(
                lambda p: f"arn:{p}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
            ),
            opts=self._child,
        )
        return role

    def _repository(self, args: NextflowHeadJobArgs) -> aws.ecr.Repository:
        repository = aws.ecr.Repository(
            f"{self._name}-image",
            # A pinned tag must always mean the same image; content tags may be pushed again (a rebuild of the same
            # tag under another umask, a rollback to a tag already there), and the definition runs them by digest.
            image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
            image_tag_mutability_exclusion_filters=[
                aws.ecr.RepositoryImageTagMutabilityExclusionFilterArgs(
                    filter=CONTENT_TAG_FILTER, filter_type="WILDCARD"
                )
            ],
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
            force_delete=args.force_delete_repository,
            opts=self._child,
        )
        aws.ecr.LifecyclePolicy(
            f"{self._name}-image-lifecycle",
            repository=repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": "drop untagged layers left by rebuilds",
                            "selection": {
                                "tagStatus": "untagged",
                                "countType": "sinceImagePushed",
                                "countUnit": "days",
                                "countNumber": 7,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
            opts=self._child,
        )
        return repository

    def _definition(
        self,
        args: NextflowHeadJobArgs,
        role: aws.iam.Role,
        log_group: aws.cloudwatch.LogGroup,
        execution: aws.iam.Role | None,
    ) -> aws.batch.JobDefinition:
        values = pulumi.Output.all(
            image=self.image,
            role_arn=role.arn,
            bucket=args.bucket_name,
            log_group=log_group.name,
            default_queue=args.queue_arns["default"],
            priority_queue=args.queue_arns["priority"],
            task_role_arn=args.task_role_arn,
            gpu_queue=args.queue_arns.get("gpu"),
            execution_arn=execution.arn if execution else None,
        )
        return head_definition(f"{self._name}-definition", args, values, opts=self._child)


# What a head job definition is made of, known only at deploy time (HEAD_VALUES keys, one Output of them all).
HEAD_VALUES = (
    "image",
    "role_arn",
    "bucket",
    "log_group",
    "default_queue",
    "priority_queue",
    "task_role_arn",
    "gpu_queue",
    "execution_arn",
)


def _head_container_properties(
    args: NextflowHeadJobArgs, a: dict, team: str | None, caches: Mapping[str, str] | None = None
) -> str:
    """The head's containerProperties (JSON) from the resolved HEAD_VALUES `a` and registry caches; a team's paths
    are its prefixes."""

    def prefix(name: str) -> str:
        return team_prefix(name, team) if team else name

    return json.dumps(
        container_properties(
            image=a["image"],
            vcpus=args.vcpus,
            memory_mib=args.memory_mib,
            job_role_arn=a["role_arn"],
            log_group=a["log_group"],
            region=args.region,
            fargate=fargate_properties(a["execution_arn"], args.public_ip) if a["execution_arn"] else None,
            environment=head_environment(
                work_dir=f"s3://{a['bucket']}/{prefix(WORK_PREFIX)}",
                logs_dir=f"s3://{a['bucket']}/{prefix(LOGS_PREFIX)}",
                cache_dir=f"s3://{a['bucket']}/{prefix(CACHE_PREFIX)}",
                region=args.region,
                default_queue=a["default_queue"],
                priority_queue=a["priority_queue"],
                task_role_arn=a["task_role_arn"],
                memory_mib=args.memory_mib,
                max_spot_attempts=args.max_spot_attempts,
                gpu_queue=a["gpu_queue"],
                team=team,
                registry_caches=caches,
            ),
        )
    )


def _head_retry_strategy(attempts: int) -> aws.batch.JobDefinitionRetryStrategyArgs:
    """retry_strategy(attempts) as the provider's argument types."""
    return aws.batch.JobDefinitionRetryStrategyArgs(
        attempts=attempts,
        evaluate_on_exits=[
            aws.batch.JobDefinitionRetryStrategyEvaluateOnExitArgs(
                action=rule["action"],
                on_status_reason=rule.get("onStatusReason"),
                on_exit_code=rule.get("onExitCode"),
                on_reason=rule.get("onReason"),
            )
            for rule in retry_strategy(attempts)["evaluateOnExit"]
        ],
    )


def head_definition(
    resource_name: str,
    args: NextflowHeadJobArgs,
    values: pulumi.Output[dict],
    opts: pulumi.ResourceOptions,
    team: str | None = None,
) -> aws.batch.JobDefinition:
    """A head job definition: the stack's own, or a team's (its role, its work-bucket prefixes, its Team tag).
    `values` holds HEAD_VALUES (gpu_queue and execution_arn may be None)."""
    return aws.batch.JobDefinition(
        resource_name,
        type="container",
        platform_capabilities=["FARGATE" if args.platform == "fargate" else "EC2"],
        # A team's head routes images as the stack's does: the same caches (args.registry_caches).
        container_properties=pulumi.Output.all(values, args.registry_caches).apply(
            lambda x: _head_container_properties(args, x[0], team, x[1])
        ),
        retry_strategy=_head_retry_strategy(args.attempts),
        timeout=aws.batch.JobDefinitionTimeoutArgs(attempt_duration_seconds=args.timeout_hours * 3600),
        # Run tags (from `nfbatch run`) and a team's Team tag reach the ECS task, so cost reports (split cost
        # allocation data) can split by run and by team.
        propagate_tags=True,
        # A team's head runs on fair-share queues, which refuse it without a scheduling priority unless SubmitJob
        # overrides one (facts.contract says why this value). The stack's own head is for stacks
        # without teams, whose queues are FIFO (with teams it has no share identifier to submit with at all). None sends
        # nothing (pulumi/pulumi sdk/python/lib/pulumi/runtime/rpc.py, serialize_properties: "We treat properties that
        # serialize to None as if they don't exist").
        tags={TEAM_TAG: team} if team else None,
        scheduling_priority=HEAD_SCHEDULING_PRIORITY if team else None,
        opts=opts,
    )
