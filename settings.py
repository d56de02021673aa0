"""The stack's settings: one typed, validated model of everything in Pulumi.<stack>.yaml.

Every key has a default chosen to be safe and cheap, with its reason beside it. `load_settings` turns raw stack
config into `StackSettings` or raises `SettingsError` listing every bad key, its value and what is allowed.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

PROJECT = "genomics-batch"

# gp3 limits as botocore's EC2 model documents them (CreateVolume), plus the two ratio rules AWS enforces.
GP3_SIZE_GIB = (1, 65536)
GP3_IOPS = (3000, 80000)
GP3_THROUGHPUT_MIBPS = (125, 2000)
GP3_MAX_IOPS_PER_GIB = 500
GP3_MAX_MIBPS_PER_IOPS = 0.25

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)

WORK_PREFIX = "work"
CACHE_PREFIX = "cache"
LOGS_PREFIX = "logs"
RESULTS_PREFIX = "results"
PARAMS_PREFIX = "params"


class SettingsError(ValueError):
    """Stack config that cannot be deployed; the message lists every problem, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def _no_bool(value: Any) -> Any:
    # pydantic's lax mode reads `true` as 1; a boolean where a number belongs is always a typo.
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


Int = Annotated[int, BeforeValidator(_no_bool)]


def _bucket_name_problem(name: str) -> str | None:
    """Why S3 would reject `name` as a general-purpose bucket name, or None when it is acceptable."""
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters long"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name):
        return "must use only lowercase letters, digits, dots and hyphens, and start and end with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "must not contain '..', '.-' or '-.'"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        return "must not look like an IP address"
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return f"must not start with '{prefix}'"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            return f"must not end with '{suffix}'"
    return None


def _check_bucket_name(value: Any) -> Any:
    if isinstance(value, str):
        problem = _bucket_name_problem(value)
        if problem:
            raise ValueError(f"not a valid S3 bucket name: {problem}")
    return value


BucketName = Annotated[str, BeforeValidator(_check_bucket_name)]


class _Model(BaseModel):
    # camelCase keys in YAML, snake_case in Python; unknown keys are typos and fail loudly.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class NetworkSettings(_Model):
    mode: Literal["create", "existing"] = "create"
    # A private /16 leaves room for public and private subnets in up to six AZs with thousands of addresses each.
    cidr: str = Field("10.0.0.0/16", description="VPC range in create mode; split evenly across the subnets")
    # Two AZs: the fewest that survive one AZ's outage and give spot two capacity pools per instance type.
    az_count: Int = Field(2, ge=2, le=6)
    # `public`: instances get public IPs and a no-ingress security group; costs $0 while idle (a NAT gateway is
    # ~$33/month before traffic). Use nat-single or nat-per-az when instances must have no public address.
    egress: Literal["public", "nat-single", "nat-per-az"] = "public"
    availability_zones: list[str] | None = Field(None, description="pin AZs; default: the region's first azCount")
    vpc_id: str | None = None
    subnet_ids: list[str] = Field(default_factory=list)


class BucketSettings(_Model):
    name: BucketName | None = Field(None, description="default: auto-named by Pulumi, which avoids collisions")
    # Scratch files of finished runs are rarely needed after a month; results and logs never expire.
    work_expiration_days: Int = Field(30, ge=1, le=3650)
    # The safe defaults keep data: a stack that forgets to say otherwise gets versioning and protection.
    versioning: bool = True
    protect: bool = True
    force_destroy: bool = False
    read_only_buckets: list[BucketName] = Field(default_factory=list)
    read_write_buckets: list[BucketName] = Field(default_factory=list)


class RootVolumeSettings(_Model):
    # gp3's included baseline (3000 IOPS, 125 MiB/s) costs nothing extra; 100 GiB holds most task images and inputs.
    size_gib: Int = Field(100, ge=GP3_SIZE_GIB[0], le=GP3_SIZE_GIB[1])
    iops: Int = Field(3000, ge=GP3_IOPS[0], le=GP3_IOPS[1])
    throughput_mibps: Int = Field(125, ge=GP3_THROUGHPUT_MIBPS[0], le=GP3_THROUGHPUT_MIBPS[1])


class EcsAgentSettings(_Model):
    # `once` pulls a task image one time per instance: thousands of tasks on one image would otherwise hit ECR
    # (and its throttles) on every start.
    image_pull_behavior: Literal["default", "always", "once", "prefer-cached"] = "once"
    # Two minutes lets a stopped Nextflow head cancel its child jobs before Docker sends SIGKILL (ECS default: 30 s).
    container_stop_timeout_seconds: Int = Field(120, ge=30, le=600)
    # Remove stopped task containers and unused images soon: genomics images are large and fill the root volume.
    task_cleanup_wait_minutes: Int = Field(10, ge=1, le=1440)
    image_cleanup_interval_minutes: Int = Field(30, ge=10, le=1440)
    image_minimum_cleanup_age_minutes: Int = Field(60, ge=1, le=10080)


class LaunchTemplateSettings(_Model):
    root_volume: RootVolumeSettings = Field(default_factory=RootVolumeSettings)
    ecs_agent: EcsAgentSettings = Field(default_factory=EcsAgentSettings)
    # Nextflow's aws.batch.cliPath needs an AWS CLI on the host; turn off only with Fusion/Wave.
    install_aws_cli: bool = True
    # No SSH key: instances have no ingress; use SSM Session Manager if you must get onto one.
    key_name: str | None = None


class SpotSettings(_Model):
    # 256 vCPUs bounds a runaway pipeline's spend while fitting a typical cohort's fan-out.
    max_vcpus: Int = Field(256, ge=1, le=100000)
    # 100 % of on-demand: never pay more than on-demand, but do not lose capacity to a low bid.
    bid_percentage: Int = Field(100, ge=1, le=100)


class OnDemandSettings(_Model):
    # On-demand runs head jobs and retries from the priority queue; a small cap keeps mistakes cheap.
    max_vcpus: Int = Field(64, ge=1, le=100000)


# Pinned, and the head image tag with it: Nextflow changes only when someone bumps it on purpose.
DEFAULT_NEXTFLOW_VERSION = "25.04.6"
DEFAULT_INSTANCE_TYPES = ("m6i", "m6a", "c6i", "c6a", "r6i", "r6a", "m7i", "c7i", "r7i")
_INSTANCE_TYPE = re.compile(r"optimal|default_x86_64|default_arm64|[a-z][a-z0-9-]*[0-9][a-z0-9-]*(\.[a-z0-9-]+)?")


def _check_instance_type(value: Any) -> Any:
    if isinstance(value, str) and not _INSTANCE_TYPE.fullmatch(value):
        raise ValueError("not an EC2 instance type or family (examples: m6i, c6a.4xlarge, optimal)")
    return value


InstanceType = Annotated[str, BeforeValidator(_check_instance_type)]


class ComputeSettings(_Model):
    # Current-generation x86 families, sizes left to Batch: many pools make spot capacity deep and cheap.
    instance_types: list[InstanceType] = Field(default_factory=lambda: list(DEFAULT_INSTANCE_TYPES), min_length=1)
    spot: SpotSettings = Field(default_factory=SpotSettings)
    on_demand: OnDemandSettings = Field(default_factory=OnDemandSettings)
    # Off: spill-over from spot to on-demand leaves jobs RUNNABLE when spot capacity is short (see REFERENCE).
    spot_fallback_to_on_demand: bool = False
    # Jobs no instance type can ever run are cancelled after 30 min rather than waiting (and confusing) forever.
    stuck_job_timeout_seconds: Int = Field(1800, ge=600, le=86400)
    # How long running jobs may keep going when an update replaces instances.
    update_timeout_minutes: Int = Field(30, ge=1, le=360)


class QueueSettings(_Model):
    # Head jobs are tiny and gate everything else, so they go first on the shared on-demand capacity.
    head_priority: Int = Field(100, ge=0, le=1000)
    # Retried tasks (priority queue) outrank fresh tasks (default queue) where both want the same spot capacity.
    priority_priority: Int = Field(50, ge=0, le=1000)
    default_priority: Int = Field(10, ge=0, le=1000)


class HeadJobSettings(_Model):
    vcpus: Int = Field(2, ge=1, le=16)
    # Under 4 GiB the Nextflow JVM dies of heap exhaustion on large pipelines.
    memory_mib: Int = Field(4096, ge=2048, le=65536)
    # Five attempts ride out host and spot interruptions; other failures exit at once.
    attempts: Int = Field(5, ge=1, le=10)
    # A week covers large cohorts and bounds the cost of a hung head job.
    timeout_hours: Int = Field(168, ge=1, le=720)
    nextflow_version: str = Field(DEFAULT_NEXTFLOW_VERSION, pattern=r"^\d{2}\.\d{2}\.\d+(-edge)?$")
    image: str | None = Field(None, description="full image URI; default: the stack's ECR repository at the pinned tag")
    # A month of head-job logs is enough to debug a run; older logs cost without use.
    log_retention_days: Int = 30


TOP_LEVEL = {
    "network": NetworkSettings,
    "bucket": BucketSettings,
    "launchTemplate": LaunchTemplateSettings,
    "compute": ComputeSettings,
    "queues": QueueSettings,
    "headJob": HeadJobSettings,
    "tags": dict,
}


class StackSettings(_Model):
    stack: str
    region: str
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    bucket: BucketSettings = Field(default_factory=BucketSettings)
    launch_template: LaunchTemplateSettings = Field(default_factory=LaunchTemplateSettings)
    compute: ComputeSettings = Field(default_factory=ComputeSettings)
    queues: QueueSettings = Field(default_factory=QueueSettings)
    head_job: HeadJobSettings = Field(default_factory=HeadJobSettings)
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def cost_tags(self) -> dict[str, str]:
        """The tags every resource and every launched instance and volume carries."""
        return {"Project": PROJECT, "Stack": self.stack, **self.tags}


# --- loading ------------------------------------------------------------------------------------------------------

def _parse(value: Any) -> Any:
    """Pulumi hands structured config over as JSON text and scalars as plain strings."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, (dict, list)):
            return parsed
    return value


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _field_at(model: type, loc: tuple) -> Any:
    """The pydantic FieldInfo that an error location (in aliases) points at, or None."""
    field = None
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        current = field.annotation
        while get_origin(current) is not None and get_origin(current) is not Literal:
            args = [a for a in get_args(current) if a is not type(None)]
            current = args[0] if args else None
    return field


def _allowed(model: type, loc: tuple, error: dict) -> str:
    kind = error["type"]
    field = _field_at(model, loc)
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"} and field is not None:
        bounds = {type(m).__name__: m for m in field.metadata}
        low = getattr(bounds.get("Ge"), "ge", None)
        high = getattr(bounds.get("Le"), "le", None)
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
    if kind == "literal_error":
        return "must be one of " + error["ctx"]["expected"].replace("'", "")
    if kind == "extra_forbidden":
        parent = _field_at(model, loc[:-1]).annotation if len(loc) > 1 else model
        while get_origin(parent) is not None:
            parent = next(a for a in get_args(parent) if a is not type(None))
        known = sorted(f.alias or n for n, f in parent.model_fields.items())
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key{hint}; allowed keys: {', '.join(known)}"
    if kind == "missing":
        return "is required"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message[0].lower() + message[1:]


def _format(top: str, loc: tuple, value: Any, allowed: str) -> str:
    path = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    key = f"{PROJECT}:{top}" + (f".{path}" if path else "")
    return f"{key} = {_show(value)}: {allowed}" if value is not _MISSING else f"{key}: {allowed}"


_MISSING = object()


def _cross_checks(s: StackSettings) -> list[tuple[str, Any, str]]:
    """Rules that involve more than one key; each problem is (key path, value, what is allowed)."""
    problems: list[tuple[str, Any, str]] = []
    net = s.network
    try:
        cidr = ipaddress.IPv4Network(net.cidr)
    except ValueError:
        problems.append(("network.cidr", net.cidr, "must be an IPv4 CIDR block such as 10.0.0.0/16"))
    else:
        if not 16 <= cidr.prefixlen <= 24:
            problems.append(("network.cidr", net.cidr, "prefix length must be between /16 and /24"))
        elif not cidr.is_private:
            problems.append(("network.cidr", net.cidr, "must be a private (RFC 1918) range"))
    if net.mode == "existing":
        if not net.vpc_id:
            problems.append(("network.vpcId", _MISSING, "is required when network.mode is existing"))
        elif not re.fullmatch(r"vpc-[0-9a-f]{8,17}", net.vpc_id):
            problems.append(("network.vpcId", net.vpc_id, "must look like vpc-0123456789abcdef0"))
        if len(net.subnet_ids) < 2:
            problems.append(("network.subnetIds", net.subnet_ids,
                             "needs at least 2 subnets (in 2 availability zones) when network.mode is existing"))
        for i, subnet in enumerate(net.subnet_ids):
            if not re.fullmatch(r"subnet-[0-9a-f]{8,17}", subnet):
                problems.append((f"network.subnetIds[{i}]", subnet, "must look like subnet-0123456789abcdef0"))
        if len(set(net.subnet_ids)) != len(net.subnet_ids):
            problems.append(("network.subnetIds", net.subnet_ids, "must not repeat a subnet"))
    else:
        if net.vpc_id or net.subnet_ids:
            problems.append(("network.mode", net.mode, "vpcId and subnetIds are only used when mode is existing"))
        if net.availability_zones is not None and len(net.availability_zones) != net.az_count:
            problems.append(("network.availabilityZones", net.availability_zones,
                             f"must list exactly azCount ({net.az_count}) zones"))

    b = s.bucket
    if b.protect and b.force_destroy:
        problems.append(("bucket.forceDestroy", True, "cannot be true while bucket.protect is true"))
    overlap = set(b.read_only_buckets) & set(b.read_write_buckets)
    if overlap:
        problems.append(("bucket.readOnlyBuckets", sorted(overlap), "a bucket cannot be both read-only and read-write"))
    if b.name and b.name in set(b.read_only_buckets) | set(b.read_write_buckets):
        problems.append(("bucket.name", b.name, "the work bucket is already read-write; do not list it again"))

    vol = s.launch_template.root_volume
    if vol.iops > vol.size_gib * GP3_MAX_IOPS_PER_GIB:
        problems.append(("launchTemplate.rootVolume.iops", vol.iops,
                         f"gp3 allows at most {GP3_MAX_IOPS_PER_GIB} IOPS per GiB: at most "
                         f"{vol.size_gib * GP3_MAX_IOPS_PER_GIB} for {vol.size_gib} GiB"))
    if vol.throughput_mibps > vol.iops * GP3_MAX_MIBPS_PER_IOPS:
        problems.append(("launchTemplate.rootVolume.throughputMibps", vol.throughput_mibps,
                         f"gp3 allows at most {GP3_MAX_MIBPS_PER_IOPS} MiB/s per IOPS: at most "
                         f"{int(vol.iops * GP3_MAX_MIBPS_PER_IOPS)} for {vol.iops} IOPS"))

    c = s.compute
    if len(set(c.instance_types)) != len(c.instance_types):
        problems.append(("compute.instanceTypes", c.instance_types, "must not repeat an instance type"))
    if c.on_demand.max_vcpus < s.head_job.vcpus:
        problems.append(("compute.onDemand.maxVcpus", c.on_demand.max_vcpus,
                         f"must be at least headJob.vcpus ({s.head_job.vcpus}) or the head job can never start"))

    if s.head_job.log_retention_days not in LOG_RETENTION_DAYS:
        problems.append(("headJob.logRetentionDays", s.head_job.log_retention_days,
                         "must be one of " + ", ".join(map(str, LOG_RETENTION_DAYS))))

    for key, value in s.tags.items():
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:") or not re.fullmatch(r"[\w .:/=+\-@]+", key):
            problems.append((f"tags.{key}", value, "tag keys must be 1-128 letters, digits, spaces or _.:/=+-@ and "
                                                   "must not start with aws:"))
        elif len(value) > 256 or not re.fullmatch(r"[\w .:/=+\-@]*", value):
            problems.append((f"tags.{key}", value, "tag values must be at most 256 letters, digits, spaces or "
                                                   "_.:/=+-@"))
    reserved = {"Project", "Stack"} & set(s.tags)
    if reserved:
        problems.append((f"tags.{sorted(reserved)[0]}", s.tags[sorted(reserved)[0]],
                         "Project and Stack are set by the program itself"))
    return problems


def load_settings(raw: Mapping[str, Any], stack: str) -> StackSettings:
    """Validate raw stack config (keys like `genomics-batch:compute`, values as Pulumi stores them).

    Raises SettingsError naming every bad key path, its value and what is allowed.
    """
    problems: list[str] = []
    data: dict[str, Any] = {}
    for key, value in raw.items():
        namespace, _, name = key.partition(":")
        if namespace != PROJECT:
            continue
        if name not in TOP_LEVEL:
            close = difflib.get_close_matches(name, list(TOP_LEVEL), n=1)
            hint = f" (did you mean '{PROJECT}:{close[0]}'?)" if close else ""
            problems.append(f"{key}: unknown key{hint}; allowed keys: "
                            + ", ".join(f"{PROJECT}:{k}" for k in TOP_LEVEL))
            continue
        data[name] = _parse(value)

    region = raw.get("aws:region")
    if not region:
        # No default on purpose: the region decides where genomic data lives, which is not ours to guess.
        problems.append("aws:region: is required (pulumi config set aws:region eu-west-1)")
    elif not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", str(region)):
        problems.append(f"aws:region = {region}: must be an AWS region name such as us-east-1")

    for name, value in data.items():
        model = TOP_LEVEL[name]
        if model is dict:
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                problems.append(_format(name, (), value, "must be a map of tag names to string values"))
            continue
        if not isinstance(value, dict):
            problems.append(_format(name, (), value, "must be a map of settings (a YAML object)"))
            continue
        try:
            model.model_validate(value)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                shown = err.get("input", _MISSING) if err["type"] != "missing" else _MISSING
                problems.append(_format(name, loc, shown, _allowed(model, loc, err)))
    if problems:
        raise SettingsError(problems)

    settings = StackSettings.model_validate({"stack": stack, "region": region, **data})
    cross = _cross_checks(settings)
    if cross:
        raise SettingsError([f"{PROJECT}:{path}: {allowed}" if value is _MISSING
                             else f"{PROJECT}:{path} = {_show(value)}: {allowed}" for path, value, allowed in cross])
    return settings


def raw_stack_config() -> dict[str, Any]:
    """Every config value the Pulumi engine handed this program (the CLI passes them in either of two ways)."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def partition_for(region: str) -> str:
    """The ARN partition of a region name."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
