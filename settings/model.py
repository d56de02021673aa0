"""The user-facing model of a stack file: every key, its type, its range, its default and the reason for it.

This is the one home of every default. The configuration reference (docs/configuration.md) and the stack-file
JSON Schema are generated from it (`settings/reference.py`), and the components take every value from it explicitly.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel
from pydantic.alias_generators import to_camel

from facts.contract import COST_TAG_KEYS, PROJECT
from facts.limits import (
    ACCOUNT_ID,
    BUDGET_EMAIL_SUBSCRIBERS,
    COMPUTE_RESERVATION,
    GP3_IOPS,
    GP3_SIZE_GIB,
    GP3_THROUGHPUT_MIBPS,
    IMAGE_REFERENCE,
    IMAGE_REFERENCE_MAX,
    INSTANCE_TYPE_NAME,
    JOB_STATE_TIME_LIMIT_SECONDS,
    KEY_NAME,
    LOG_RETENTION_DAYS,
    PRINCIPAL_ARN,
    SHARE_DECAY_SECONDS,
    TEAM_NAME,
    TEAM_NAME_RULE,
    UPDATE_TIMEOUT_MINUTES,
    bucket_name_problem,
    checked_email,
    partition_for,
    principal_problem,
    team_name_suggestion,
)
from facts.registries import (
    CREDENTIAL_ARN,
    CREDENTIAL_ARN_LENGTH,
    DEFAULT_UPSTREAMS,
    EXPIRE_UNUSED_DAYS_MAX,
    LONGEST_KEY,
    REPOSITORY_PREFIX_LENGTH,
    UPSTREAM_BY_KEY,
    WAVE_COMMUNITY_HOST,
)
from policies.iam import bucket_arn


def setting(
    default: Any = ..., why: str = "", allowed: str | None = None, schema: dict | None = None, **constraints: Any
) -> Any:
    """A setting with its default, the reason for that default (`why`), and, where the type and range do not say
    it, what is allowed in words. The reason lands in docs/configuration.md and in the JSON Schema's description;
    `schema` adds JSON Schema keywords for rules pydantic's types cannot express."""
    extra = {**(schema or {}), **({"allowed": allowed} if allowed else {})} or None
    if "default_factory" not in constraints:
        constraints["default"] = default
    return Field(description=why, json_schema_extra=extra, **constraints)


def _no_bool(value: Any) -> Any:
    # pydantic's lax mode reads `true` as 1; a boolean where a number belongs is always a typo.
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


Int = Annotated[int, BeforeValidator(_no_bool)]


def _check_bucket_name(value: Any) -> Any:
    if isinstance(value, str):
        problem = bucket_name_problem(value)
        if problem:
            raise ValueError(f"not a valid S3 bucket name: {problem}")
    return value


BucketName = Annotated[str, BeforeValidator(_check_bucket_name)]


def _check_instance_type(value: Any) -> Any:
    if isinstance(value, str) and not INSTANCE_TYPE_NAME.fullmatch(value):
        raise ValueError("not an EC2 instance type or family (examples: m6i, c6a.4xlarge, optimal)")
    return value


InstanceType = Annotated[str, BeforeValidator(_check_instance_type)]


def _check_key_name(value: Any) -> Any:
    if value == "":
        return None  # an empty name means no key pair
    if isinstance(value, str) and not KEY_NAME.fullmatch(value):
        raise ValueError("not an EC2 key pair name: 1 to 255 printable ASCII characters")
    return value


def _check_image(value: Any) -> Any:
    if isinstance(value, str) and (len(value) > IMAGE_REFERENCE_MAX or not IMAGE_REFERENCE.fullmatch(value)):
        raise ValueError(
            f"not a container image reference: registry/name[:tag][@sha256:digest], at most "
            f"{IMAGE_REFERENCE_MAX} characters, lowercase name, no spaces or shell characters "
            f"(example: public.ecr.aws/lab/nextflow:25.04.6)"
        )
    return value


def _check_email(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    address, problem = checked_email(value)
    if problem:
        raise ValueError(f"not an email address such as oncall@lab.org: {problem[0].lower()}{problem[1:]}")
    return address  # the ASCII form (limits.checked_email): what SNS and Budgets are sent


EmailAddress = Annotated[str, BeforeValidator(_check_email)]
KeyName = Annotated[str | None, BeforeValidator(_check_key_name)]
ImageReference = Annotated[str, BeforeValidator(_check_image)]

# Pinned, and the head image tag with it: Nextflow changes only when someone bumps it on purpose.
DEFAULT_NEXTFLOW_VERSION = "25.04.6"
# Current-generation families, sizes left to Batch: many pools make spot capacity deep and cheap. With NVMe
# scratch, the same classes with local NVMe instance storage ("d").
DEFAULT_INSTANCE_TYPES = ("m6i", "m6a", "c6i", "c6a", "r6i", "r6a", "m7i", "c7i", "r7i")
DEFAULT_INSTANCE_TYPES_BY = {
    ("x86_64", "root"): DEFAULT_INSTANCE_TYPES,
    ("arm64", "root"): ("m7g", "c7g", "r7g", "m6g", "c6g", "r6g", "m8g", "c8g", "r8g"),
    ("x86_64", "nvme"): ("m6id", "c6id", "r6id", "m5d", "c5d", "r5d"),
    ("arm64", "nvme"): ("m7gd", "c7gd", "r7gd", "m6gd", "c6gd", "r6gd"),
}
# With NVMe scratch the root volume holds only the OS and images: the AMI's 30 GiB plus room for a few images.
NVME_ROOT_GIB = 40


class _Model(BaseModel):
    # camelCase keys in YAML, snake_case in Python; unknown keys are typos and fail loudly.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class NetworkSettings(_Model):
    mode: Literal["create", "existing"] = setting(
        "create", "a VPC made for the cluster; `existing` uses yours (vpcId, subnetIds)"
    )
    cidr: str = setting(
        "10.0.0.0/16",
        "a private /16 leaves room for public and private subnets in up to six AZs",
        allowed="a private (RFC 1918) IPv4 range, /16 to /24; create mode only",
    )
    az_count: Int = setting(
        2, "the fewest AZs that survive one AZ's outage and give spot two capacity pools", ge=2, le=6
    )
    egress: Literal["public", "nat-single", "nat-per-az"] = setting(
        "public",
        "instances get public IPs behind a no-ingress security group: $0 while idle (a NAT gateway is "
        "~$33/month before traffic); pick a nat-* mode when instances must have no public address",
    )
    availability_zones: list[str] | None = setting(
        None, "the region's first azCount zones, found at deploy time", allowed="exactly azCount zone names"
    )
    vpc_id: str | None = setting(None, "only used in existing mode", allowed="required in existing mode")
    subnet_ids: list[str] = setting(
        default_factory=list, why="only used in existing mode", allowed="at least 2 subnets (in 2 AZs) in existing mode"
    )
    route_table_ids: list[str] = setting(
        default_factory=list,
        why="existing mode: the route tables of subnetIds get an S3 gateway endpoint, so S3 "
        "traffic is free and skips any NAT; none: the VPC's owner routes S3",
        allowed="route table ids (rtb-...) in existing mode",
    )


class BucketSettings(_Model):
    name: BucketName | None = setting(
        None, "auto-named by Pulumi, which avoids collisions between stacks", allowed="a valid S3 bucket name"
    )
    work_expiration_days: Int = setting(
        30,
        "scratch of finished runs is rarely needed after a month; applies to work/ and cache/ only; results/ "
        "and logs/ never expire",
        ge=1,
        le=3650,
    )
    versioning: bool = setting(True, "the safe default keeps overwritten and deleted objects recoverable")
    protect: bool = setting(
        True, "`pulumi destroy` and replacements cannot delete the bucket; it is retained on delete"
    )
    force_destroy: bool = setting(
        False,
        "only with protect: false; destroy then empties the bucket and deletes the head-image repository "
        "with its images",
    )
    read_only_buckets: list[BucketName] = setting(
        default_factory=list, why="extra buckets tasks may read, e.g. 1000genomes", allowed="S3 bucket names"
    )
    read_write_buckets: list[BucketName] = setting(
        default_factory=list, why="extra buckets tasks may write", allowed="S3 bucket names"
    )


class RootVolumeSettings(_Model):
    size_gib: Int = setting(
        100,
        "holds most task images and inputs; at least the ECS AL2023 AMI's 30 GiB "
        "(40 with nvme scratch, which no longer lives here)",
        ge=GP3_SIZE_GIB[0],
        le=GP3_SIZE_GIB[1],
    )
    iops: Int = setting(
        3000, "gp3's included baseline costs nothing extra; at most 500 per GiB", ge=GP3_IOPS[0], le=GP3_IOPS[1]
    )
    throughput_mibps: Int = setting(
        125,
        "gp3's included baseline costs nothing extra; at most 0.25 per IOPS",
        ge=GP3_THROUGHPUT_MIBPS[0],
        le=GP3_THROUGHPUT_MIBPS[1],
    )


class EcsAgentSettings(_Model):
    image_pull_behavior: Literal["default", "always", "once", "prefer-cached"] = setting(
        "once",
        "pull a task image once per instance: thousands of tasks on one image would otherwise hit ECR and "
        "its throttles on every start",
    )
    container_stop_timeout_seconds: Int = setting(
        120,
        "lets a stopped Nextflow head cancel its task jobs before Docker sends SIGKILL (ECS default: 30 s)",
        ge=30,
        le=600,
    )
    task_cleanup_wait_minutes: Int = setting(
        10, "stopped task containers go soon: genomics images and scratch fill the root volume", ge=1, le=1440
    )
    image_cleanup_interval_minutes: Int = setting(
        30, "unused images are removed often for the same reason", ge=10, le=1440
    )
    image_minimum_cleanup_age_minutes: Int = setting(
        60, "an image kept an hour serves the next wave of tasks", ge=1, le=10080
    )


class LaunchTemplateSettings(_Model):
    scratch: Literal["root", "nvme"] = setting(
        "root",
        "task scratch on the gp3 root volume works on every instance type; nvme puts it on the instances' "
        "local NVMe disks (faster, no EBS cost, lost with the instance) and needs types that have them",
    )
    root_volume: RootVolumeSettings = Field(default_factory=RootVolumeSettings)
    ecs_agent: EcsAgentSettings = Field(default_factory=EcsAgentSettings)
    install_aws_cli: bool = setting(
        True, "Nextflow's aws.batch.cliPath needs an AWS CLI on the host; turn off only with Fusion/Wave"
    )
    aws_cli_version: str = setting(
        "2.22.0",
        "pinned, so every instance runs the same CLI and a new release arrives only when bumped; the boot "
        "script checks its signature against the AWS CLI team's key",
        pattern=r"^2\.\d+\.\d+$",
        allowed="an AWS CLI v2 release such as 2.22.0",
    )
    key_name: KeyName = setting(
        None, "no SSH key: instances have no ingress at all", allowed="an EC2 key pair name; empty means none"
    )
    ssm_access: bool = setting(
        False,
        "off: nobody gets a shell on an instance; on attaches "
        "AmazonSSMManagedInstanceCore so `aws ssm start-session` works",
    )


class SpotSettings(_Model):
    max_vcpus: Int = setting(
        256, "bounds a runaway pipeline's spend while fitting a typical cohort's fan-out", ge=1, le=100000
    )
    bid_percentage: Int = setting(
        100, "never pay more than on-demand, and never lose capacity to a low bid", ge=1, le=100
    )
    max_spot_attempts: Int = setting(
        3,
        "Nextflow's aws.batch.maxSpotAttempts: Batch retries a task whose spot instance was reclaimed (Nextflow "
        "25.04 defaults to 0, so one reclaim fails the task)",
        ge=0,
        le=10,
    )
    allocation_strategy: Literal["SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"] = setting(
        "SPOT_CAPACITY_OPTIMIZED",
        "deep spot pools with few reclaims, updated in place by the AWS provider; SPOT_PRICE_CAPACITY_OPTIMIZED "
        "(AWS's recommendation: the cheapest of the deep pools) updates in place too since terraform-provider-aws "
        "6.10.0, and switching between the two is an in-place update",
    )


class OnDemandSettings(_Model):
    max_vcpus: Int = setting(
        64,
        "on-demand runs head jobs and retried tasks; a small cap keeps mistakes cheap; at least headJob.vcpus",
        ge=1,
        le=100000,
    )


class GpuSettings(_Model):
    enabled: bool = setting(False, "GPU instances cost dollars an hour: only when a pipeline has GPU steps")
    instance_types: list[InstanceType] = setting(
        default_factory=lambda: ["g5", "g6"],
        min_length=1,
        why="NVIDIA A10G and L4 families: widely available, enough for basecalling and structure prediction",
        allowed="NVIDIA GPU families or sizes of x86_64 (g4dn, g5, g6, g6e, p4d, p5 …), not g5g, g4ad, p2, g2, p3 "
        "or g3 (Batch's GPU AMI cannot run them); only with compute.architecture x86_64",
    )
    max_vcpus: Int = setting(64, "bounds GPU spend: a few GPU instances at most", ge=1, le=100000)


class ComputeSettings(_Model):
    architecture: Literal["x86_64", "arm64"] = setting(
        "x86_64",
        "every biocontainer image runs on x86_64; arm64 (Graviton) is cheaper per vCPU but needs "
        "multi-arch images for the head and every task",
    )
    instance_types: list[InstanceType] = setting(
        default_factory=lambda: list(DEFAULT_INSTANCE_TYPES),
        min_length=1,
        why="current-generation families of the architecture, sizes left to Batch: many pools make spot deep and "
        "cheap (arm64: m7g c7g r7g …; nvme scratch: the same classes with local NVMe, such as m6id)",
        allowed="families or sizes, or optimal",
    )
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    spot: SpotSettings = Field(default_factory=SpotSettings)
    on_demand: OnDemandSettings = Field(default_factory=OnDemandSettings)
    spot_fallback_to_on_demand: bool = setting(
        False, "spill-over from spot to on-demand leaves jobs RUNNABLE when spot capacity is short"
    )
    stuck_job_timeout_seconds: Int = setting(
        1800,
        "jobs no instance type can ever run are cancelled after 30 min rather than waiting forever",
        ge=JOB_STATE_TIME_LIMIT_SECONDS[0],
        le=JOB_STATE_TIME_LIMIT_SECONDS[1],
    )
    update_timeout_minutes: Int = setting(
        UPDATE_TIMEOUT_MINUTES[1],
        "the longest the AWS provider accepts (the API allows 7200): when a stack update "
        "replaces instances, jobs on them get 6 h to finish; what Batch does to a head still running then is not "
        "documented: a new attempt resumes it if Batch retries it (headJob.attempts), else resume it with nfbatch run "
        "--resume",
        ge=UPDATE_TIMEOUT_MINUTES[0],
        le=UPDATE_TIMEOUT_MINUTES[1],
    )


class QueueSettings(_Model):
    head_priority: Int = setting(100, "head jobs are tiny and gate everything else, so they go first", ge=0, le=1000)
    priority_priority: Int = setting(
        50, "retried tasks outrank fresh tasks where both want the same spot capacity", ge=0, le=1000
    )
    default_priority: Int = setting(10, "fresh tasks go last", ge=0, le=1000)
    share_decay_seconds: Int = setting(
        3600,
        "with teams: a team's use over the last hour counts against its share, so a burst is paid back within "
        "the hour rather than for days (0 means Batch's 600 s minimum)",
        ge=SHARE_DECAY_SECONDS[0],
        le=SHARE_DECAY_SECONDS[1],
    )
    compute_reservation: Int = setting(
        10,
        "with teams: holds (10 %)^active-teams of the queues' vCPUs for a team that is not running yet, so a "
        "newcomer starts within minutes instead of waiting for another team's jobs to end (10 % with one active "
        "team, 1 % with two)",
        ge=COMPUTE_RESERVATION[0],
        le=COMPUTE_RESERVATION[1],
    )


class HeadJobSettings(_Model):
    platform: Literal["ec2", "fargate"] = setting(
        "ec2",
        "the head shares the on-demand compute environment and starts in seconds when an instance is up; "
        "fargate keeps no instance for heads but takes a minute or two to start",
    )
    vcpus: Int = setting(2, "the Nextflow process is mostly idle, waiting on its tasks", ge=1, le=16)
    memory_mib: Int = setting(
        4096,
        "under 4 GiB the Nextflow JVM dies of heap exhaustion on large pipelines; NXF_OPTS gets 75 % as heap",
        ge=2048,
        le=65536,
    )
    attempts: Int = setting(
        5,
        "rides out a lost host and, if Batch retries it, a head AWS stopped (exit 143); other failures exit at once",
        ge=1,
        le=10,
    )
    timeout_hours: Int = setting(
        120,
        "five days covers large cohorts and bounds a hung head's cost (Batch does not retry a timed-out job); "
        "a stack update may stop an EC2 head sooner (compute.updateTimeoutMinutes): a new attempt resumes it "
        "only if Batch retries it, else nfbatch run --resume does",
        ge=1,
        le=120,
    )
    nextflow_version: str = setting(
        DEFAULT_NEXTFLOW_VERSION,
        "pinned, and the head image built with it (its NEXTFLOW_VERSION): Nextflow changes only on purpose",
        pattern=r"^\d{2}\.\d{2}\.\d+(-edge)?$",
        allowed="a Nextflow release such as 25.04.6",
    )
    image: ImageReference | None = setting(
        None,
        "pulumi up builds container/ and pushes it to the stack's ECR repository, tagged nextflowVersion-<content "
        "digest>: a first deploy needs no manual push",
        allowed="an image reference such as public.ecr.aws/lab/nextflow:25.04.6",
    )
    log_retention_days: Int = setting(
        30,
        "a month of head logs is enough to debug a run; older logs cost without use",
        allowed="0 (never expire) or a CloudWatch Logs retention period: "
        + ", ".join(map(str, LOG_RETENTION_DAYS[1:])),
        schema={"enum": list(LOG_RETENTION_DAYS)},
    )


class AlertSettings(_Model):
    emails: list[EmailAddress] = setting(
        default_factory=list,
        why="none: no topic, no rules, nothing created (alerts are opt-in)",
        allowed="email addresses, at most 10 with budget.monthlyUsd (Budgets' limit); each gets a confirmation "
        "email first",
    )
    head_failures: bool = setting(True, "a failed pipeline run is the first thing a lab wants to hear about")
    stuck_jobs: bool = setting(True, "a job cancelled as stuck RUNNABLE means a queue can never run what it was given")
    spot_interruptions_per_hour: Int = setting(
        20,
        "a few reclaims an hour are normal spot life; twenty task jobs lost in an hour means the instance types "
        "are too few or too scarce (0 turns the alarm off)",
        ge=0,
        le=100000,
    )


class BudgetSettings(_Model):
    monthly_usd: float | None = setting(
        None,
        "no budget unless asked; a budget on the stack's Stack tag alerts alerts.emails at 80 % forecast and "
        "100 % actual",
        gt=0,
        le=10_000_000,
        allowed="US dollars a month, more than 0",
    )
    activate_team_cost_tag: bool = setting(
        False,
        "with teams: activates Team as a cost allocation tag (aws.costexplorer.CostAllocationTag), which team "
        "budgets need. A second step: AWS lists a new tag key up to 24 h after its first use and the "
        "activation fails before that, so turn it on once `aws ce list-cost-allocation-tags --tag-keys Team` "
        "shows the key. Account-wide: one stack per account owns it, deployed with the payer account",
    )


def _check_principal(value: Any) -> Any:
    if isinstance(value, str) and not PRINCIPAL_ARN.fullmatch(value):
        raise ValueError(
            "not an IAM role or user ARN such as arn:aws:iam::123456789012:role/GenomicsCoreRunner (a "
            "12-digit account, role/ or user/, an optional path, then a name of 1-64 ASCII letters, "
            "digits or +=,.@_-)"
        )
    problem = principal_problem(value) if isinstance(value, str) else None
    if problem:
        raise ValueError(f"is {problem}")
    return value


PrincipalArn = Annotated[str, BeforeValidator(_check_principal)]


class TeamSettings(_Model):
    weight: float = setting(
        1,
        "every team an equal share of the shared queues; 2 gets twice the vCPUs of 1 when both have work waiting",
        ge=0.001,
        le=10000,
        allowed="a number from 0.001 to 10000 (Batch weight factors 999.9999 to 0.0001)",
    )
    max_vcpus: Int | None = setting(
        None,
        "none: the team shares the stack's spot capacity by weight; a number gives it its own spot compute "
        "environment and queue capped there (fair share alone cannot cap a team)",
        ge=1,
        le=100000,
        allowed="1 to compute.spot.maxVcpus",
    )
    monthly_budget_usd: float | None = setting(
        None,
        "no budget unless asked; one on the Team tag of the team's own instances alerts budgetEmails at 80 % "
        "forecast and 100 % actual (only a capped team has instances of its own: shared instances carry no "
        "Team tag, and Budgets never sees split cost allocation data)",
        gt=0,
        le=10_000_000,
        allowed="US dollars a month, more than 0; only with maxVcpus",
    )
    budget_emails: list[EmailAddress] = setting(
        default_factory=list,
        why="where the team's budget alerts go",
        schema={"maxItems": BUDGET_EMAIL_SUBSCRIBERS},
        allowed="email addresses, at most 10 (Budgets' limit); required with monthlyBudgetUsd",
    )
    read_only_buckets: list[BucketName] = setting(
        default_factory=list, why="extra buckets this team's tasks may read", allowed="S3 bucket names"
    )
    read_write_buckets: list[BucketName] = setting(
        default_factory=list,
        why="extra buckets this team's tasks may write; no other team may list them as read-write",
        allowed="S3 bucket names",
    )
    principals: list[PrincipalArn] = setting(
        default_factory=list,
        why="none: nobody is given the team's run policy; each listed role or user gets it attached",
        allowed="IAM role or user ARNs of the stack's own account and partition (and of aws:allowedAccountIds when "
        "set), each once; not service-linked (AWSServiceRoleFor*) or IAM Identity Center (AWSReservedSSO_*) "
        "roles, whatever their path",
    )


def _check_team_name(value: Any) -> Any:
    # A key validator: pydantic reports a bad key at teams.<name> with the name as the value (settings/errors.py).
    if not (isinstance(value, str) and TEAM_NAME.fullmatch(value)):
        raise ValueError(
            f"is not a team name: {TEAM_NAME_RULE}; rename the team, for example to {team_name_suggestion(str(value))}"
        )
    return value


Teams = dict[Annotated[str, BeforeValidator(_check_team_name)], TeamSettings]


class TeamsSection(RootModel[Teams]):
    """The `teams` section: team names to their settings (validated as one section, like the others)."""


def _check_upstream_key(value: Any) -> Any:
    # A key validator: pydantic reports a bad key at registryCache.upstreams.<key> with the key as the value.
    if isinstance(value, str) and value in UPSTREAM_BY_KEY:
        return value
    if isinstance(value, str) and ("wave" in value or "seqera" in value):
        raise ValueError(
            f"is not an upstream ECR can cache: {WAVE_COMMUNITY_HOST} builds images on request (Wave) and is no "
            f"registry a pull-through cache rule accepts (botocore's ECR model, UpstreamRegistry); its images are "
            f"pulled directly. Allowed: {', '.join(UPSTREAM_BY_KEY)}"
        )
    if value == "ecr":
        raise ValueError(
            "private ECR is not offered: the rule needs a role ECR assumes and the upstream registry's policy, and "
            "the instance role already pulls from ECR directly. Allowed: " + ", ".join(UPSTREAM_BY_KEY)
        )
    raise ValueError("is not an upstream registry ECR can cache; allowed: " + ", ".join(UPSTREAM_BY_KEY))


def _check_credential_arn(value: Any) -> Any:
    low, high = CREDENTIAL_ARN_LENGTH
    if isinstance(value, str) and not (low <= len(value) <= high and CREDENTIAL_ARN.fullmatch(value)):
        raise ValueError(
            "not a Secrets Manager secret ARN whose name starts with ecr-pullthroughcache/ (ECR reads only those), "
            "such as arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
        )
    return value


class UpstreamSettings(_Model):
    credential_arn: Annotated[str, BeforeValidator(_check_credential_arn)] | None = setting(
        None,
        "none: quay, ecr-public and k8s need no credentials; docker-hub, github, gitlab, azure and chainguard "
        "refuse a rule without one",
        allowed="a Secrets Manager secret ARN of the stack's account and region, its name starting with "
        'ecr-pullthroughcache/, holding {"username": ..., "accessToken": ...}',
    )
    url: str | None = setting(
        None,
        "only azure has a registry of your own; every other upstream's URL is fixed (facts/registries.py)",
        allowed="azure only: your registry's host, `<name>.azurecr.io`",
    )


def _default_upstreams() -> dict[str, UpstreamSettings]:
    return {key: UpstreamSettings() for key in DEFAULT_UPSTREAMS}


class RegistryCacheSettings(_Model):
    enabled: bool = setting(
        True,
        "task images pulled once into the stack's account: no upstream rate limits (Docker Hub allows 10 "
        "anonymous pulls an hour per IP), layers through the free S3 gateway endpoint instead of NAT; rules cost "
        "nothing until used",
    )
    repository_prefix: str | None = setting(
        None,
        "the stack name lowercased (a name over 19 characters cut to 10, a one-letter one padded, each plus 8 of "
        "its hash): each stack's caches apart (dev/quay, prod/quay), and its grants with them. Unique per stack, "
        "not per account: a second project's `dev` stack in the same account and region fails at `pulumi up` "
        "(TemplateAlreadyExistsException, PullThroughCacheRuleAlreadyExistsException); set this there",
        allowed="lowercase letters, digits and . _ - separators, '/' between parts, 2 to "
        f"{REPOSITORY_PREFIX_LENGTH[1] - 1 - LONGEST_KEY} characters (ECR's 30-character rule prefix less "
        "`/<upstream>`; the creation template's prefix takes at least 2)",
    )
    upstreams: dict[Annotated[str, BeforeValidator(_check_upstream_key)], UpstreamSettings] = setting(
        default_factory=dict,
        why="none beyond the two always cached, quay (nf-core's biocontainers) and ecr-public, which need no "
        "credentials (list quay again to give it a secret for private repositories)",
        allowed="upstream keys (" + ", ".join(UPSTREAM_BY_KEY) + ") to their settings, below",
    )
    expire_unused_days: Int = setting(
        90,
        "an image no task pulled for a quarter is deleted (ECR lifecycle countType sinceImagePulled): a "
        "pipeline run monthly keeps its images, and an expired one costs only a fresh pull from upstream",
        ge=1,
        le=EXPIRE_UNUSED_DAYS_MAX,
        allowed=f"days, 1 to {EXPIRE_UNUSED_DAYS_MAX} (ECR's countNumber takes positive integers; beyond ten "
        "years is no expiry at all)",
    )

    @property
    def all_upstreams(self) -> dict[str, UpstreamSettings]:
        """The defaults, with the listed upstreams added (or their settings replaced), in a stable order."""
        merged = {**_default_upstreams(), **self.upstreams}
        return {key: merged[key] for key in UPSTREAM_BY_KEY if key in merged}


class RunCostsSettings(_Model):
    record_instances: bool = setting(
        True,
        "without a record of each container instance (type, zone) no run can be priced later: ECS describes a "
        "stopped instance for about an hour only; the records cost cents a month (docs/costs.md)",
    )
    record_retention_days: Int = setting(
        365,
        "a year of records prices any run of the last year (annual and grant reports); stored records cost "
        "$0.03 per GB-month",
        allowed="0 (never expire) or a CloudWatch Logs retention period: "
        + ", ".join(map(str, LOG_RETENTION_DAYS[1:])),
        schema={"enum": list(LOG_RETENTION_DAYS)},
    )


# The top-level keys of a stack file, each `genomics-batch:<key>`.
TOP_LEVEL: dict[str, type] = {
    "network": NetworkSettings,
    "bucket": BucketSettings,
    "launchTemplate": LaunchTemplateSettings,
    "compute": ComputeSettings,
    "queues": QueueSettings,
    "headJob": HeadJobSettings,
    "alerts": AlertSettings,
    "budget": BudgetSettings,
    "teams": TeamsSection,
    "registryCache": RegistryCacheSettings,
    "runCosts": RunCostsSettings,
    "tags": dict,
}


class StackSettings(_Model):
    stack: str
    region: str = setting(
        why="the region decides where genomic data lives, which is not ours to guess",
        allowed="an AWS region name such as us-east-1",
    )
    allowed_account_ids: list[Annotated[str, Field(pattern=ACCOUNT_ID.pattern)]] | None = setting(
        None,
        "any account: the AWS provider's guard is off. A list is handed to the program's provider, which then "
        "refuses credentials of any other account (an explicit provider reads no aws:* config itself: "
        "pulumi/pulumi-aws#1307), and team principals must be of one of these accounts",
        allowed="12-digit AWS account ids, each quoted (YAML reads a bare number and drops a leading 0)",
        min_length=1,
    )
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    bucket: BucketSettings = Field(default_factory=BucketSettings)
    launch_template: LaunchTemplateSettings = Field(default_factory=LaunchTemplateSettings)
    compute: ComputeSettings = Field(default_factory=ComputeSettings)
    queues: QueueSettings = Field(default_factory=QueueSettings)
    head_job: HeadJobSettings = Field(default_factory=HeadJobSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    registry_cache: RegistryCacheSettings = Field(default_factory=RegistryCacheSettings)
    run_costs: RunCostsSettings = Field(default_factory=RunCostsSettings)
    teams: Teams = setting(
        default_factory=dict,
        why="none: one tenant, no fair share, no per-team roles (the stack as before)",
        allowed=f"team names to their settings, below; a name is {TEAM_NAME_RULE}",
        schema={"propertyNames": {"pattern": f"^{TEAM_NAME.pattern}$"}},
    )
    tags: dict[str, str] = setting(
        default_factory=dict,
        why="extra cost tags; Project and Stack are always set",
        allowed="tag names to string values",
    )

    @property
    def instance_types(self) -> list[str]:
        """The task and head instance types: as set, or the defaults of the architecture and scratch."""
        if "instance_types" in self.compute.model_fields_set:
            return list(self.compute.instance_types)
        return list(DEFAULT_INSTANCE_TYPES_BY[(self.compute.architecture, self.launch_template.scratch)])

    @property
    def root_volume_gib(self) -> int:
        """The root volume's size: as set, or smaller with NVMe scratch, which no longer lives there."""
        volume = self.launch_template.root_volume
        if "size_gib" in volume.model_fields_set or self.launch_template.scratch == "root":
            return volume.size_gib
        return NVME_ROOT_GIB

    @property
    def update_timeout_minutes(self) -> int:
        """How long an infrastructure update lets running jobs finish before Batch replaces their instances."""
        return self.compute.update_timeout_minutes

    @property
    def extra_bucket_arns(self) -> dict[str, list[str]]:
        """The stack-wide extra buckets as ARNs, under the names the components take them by."""
        partition = partition_for(self.region)
        return {
            "read_only_bucket_arns": [bucket_arn(b, partition) for b in self.bucket.read_only_buckets],
            "read_write_bucket_arns": [bucket_arn(b, partition) for b in self.bucket.read_write_buckets],
        }

    @property
    def cost_tags(self) -> dict[str, str]:
        """The tags every resource and every launched instance and volume carries."""
        project_key, stack_key = COST_TAG_KEYS
        return {project_key: PROJECT, stack_key: self.stack, **self.tags}
