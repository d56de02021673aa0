"""Rules that involve more than one key, or facts pydantic's types cannot express, checked on a parsed model.

Each rule returns problems as (key path, value, what is allowed); `cross_key_problems` runs them all.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
from typing import Any

from facts.contract import NEXTFLOW_SUBMIT_RATE_PER_SECOND, TEAM_TAG
from facts.limits import (
    AZ_ID,
    BATCH_BUNDLES,
    BUDGET_EMAIL_SUBSCRIBERS,
    COMPUTE_ENVIRONMENTS_PER_ACCOUNT,
    DOCKER_BRIDGE,
    FARGATE_MEMORY,
    GP3_MAX_IOPS_PER_GIB,
    GP3_MAX_MIBPS_PER_IOPS,
    JOB_QUEUES_PER_ACCOUNT,
    LOG_RETENTION_DAYS,
    MANAGED_POLICY_CHARS,
    MAX_TAGS,
    PROGRAM_TAGS,
    ROLE_INLINE_POLICY_CHARS,
    ROUTE_TABLE_ID,
    SHARE_IDENTIFIERS_PER_QUEUE,
    SUBNET_ID,
    TAG_KEY,
    TAG_VALUE,
    VPC_ID,
    VPC_RANGES,
    ec2_instance_types,
    fargate_memory_choices,
    has_instance_storage,
    instance_capacity,
    instance_family,
    is_burstable,
    is_gpu_family,
    nvidia_ami_problem,
    partition_for,
    principal_parts,
    type_architecture,
)
from facts.registries import (
    AZURE_HOST,
    LONGEST_KEY,
    REPOSITORY_PREFIX,
    REPOSITORY_PREFIX_LENGTH,
    UPSTREAM_BY_KEY,
    UPSTREAMS,
    cache_prefix,
)
from policies.iam import bucket_arn, head_job_policy, s3_access_policy, team_run_policy, team_s3_statements
from settings.errors import MISSING
from settings.model import StackSettings

Problem = tuple[str, Any, str]

# The longest cache base: ECR's 30-character rule prefix less "/" and the longest upstream key.
MAX_CACHE_BASE = REPOSITORY_PREFIX_LENGTH[1] - 1 - LONGEST_KEY
# The shortest: the base is the repository creation template's own prefix, which the provider checks apart from the
# rules' (terraform-provider-aws internal/service/ecr/repository_creation_template.go, `StringLenBetween(2, 256)`).
MIN_CACHE_BASE = 2

# AWS Batch user guide, "Compute resource memory management": the OS and the ECS agent keep part of an instance's
# memory, so a job cannot have all of it; 90 % is a safe estimate of what a job can reserve.
USABLE_MEMORY = 0.9


def _cidr(s: StackSettings) -> list[Problem]:
    cidr = s.network.cidr
    if "/" not in cidr:
        return [("network.cidr", cidr, "must be an IPv4 CIDR block with its prefix length, such as 10.0.0.0/16")]
    try:
        network = ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        return [("network.cidr", cidr, "must be an IPv4 CIDR block such as 10.0.0.0/16")]
    if str(network) != cidr:
        return [("network.cidr", cidr, f"has host bits set: the block is {network}")]
    if not 16 <= network.prefixlen <= 24:
        return [("network.cidr", cidr, "prefix length must be between /16 and /24")]
    if not any(network.subnet_of(ipaddress.IPv4Network(r)) for r in VPC_RANGES):
        return [
            ("network.cidr", cidr, "must lie inside a private range AWS accepts for a VPC: " + ", ".join(VPC_RANGES))
        ]
    if network.overlaps(ipaddress.IPv4Network(DOCKER_BRIDGE)):
        return [
            (
                "network.cidr",
                cidr,
                f"overlaps {DOCKER_BRIDGE}, Docker's bridge on every ECS instance; pick another range",
            )
        ]
    return []


def _zones(s: StackSettings) -> list[Problem]:
    zones = s.network.availability_zones or []
    problems: list[Problem] = []
    for i, zone in enumerate(zones):
        if AZ_ID.fullmatch(zone):
            problems.append(
                (f"network.availabilityZones[{i}]", zone, f"is a zone id; give the zone name, such as {s.region}a")
            )
        elif not (zone.startswith(s.region) and len(zone) == len(s.region) + 1 and zone[-1].isalpha()):
            problems.append(
                (
                    f"network.availabilityZones[{i}]",
                    zone,
                    f"is not a zone of {s.region}: zone names are the region and a letter, such as {s.region}a",
                )
            )
    if len(set(zones)) != len(zones):
        problems.append(("network.availabilityZones", zones, "must not repeat a zone"))
    return problems


def _existing_network(s: StackSettings) -> list[Problem]:
    net, problems = s.network, []
    if not net.vpc_id:
        problems.append(("network.vpcId", MISSING, "is required when network.mode is existing"))
    elif not VPC_ID.fullmatch(net.vpc_id):
        problems.append(("network.vpcId", net.vpc_id, "must look like vpc-0123456789abcdef0"))
    if len(net.subnet_ids) < 2:
        problems.append(
            (
                "network.subnetIds",
                net.subnet_ids,
                "needs at least 2 subnets (in 2 availability zones) when network.mode is existing",
            )
        )
    problems += [
        (f"network.subnetIds[{i}]", subnet, "must look like subnet-0123456789abcdef0")
        for i, subnet in enumerate(net.subnet_ids)
        if not SUBNET_ID.fullmatch(subnet)
    ]
    if len(set(net.subnet_ids)) != len(net.subnet_ids):
        problems.append(("network.subnetIds", net.subnet_ids, "must not repeat a subnet"))
    for key in ("egress", "cidr", "az_count", "availability_zones"):
        if key in net.model_fields_set:
            alias = type(net).model_fields[key].alias
            problems.append(
                (f"network.{alias}", getattr(net, key), "is only used when mode is create; the existing VPC decides it")
            )
    problems += [
        (f"network.routeTableIds[{i}]", table, "must look like rtb-0123456789abcdef0")
        for i, table in enumerate(net.route_table_ids)
        if not ROUTE_TABLE_ID.fullmatch(table)
    ]
    return problems


def _created_network(s: StackSettings) -> list[Problem]:
    net, problems = s.network, _zones(s)
    if net.vpc_id or net.subnet_ids or net.route_table_ids:
        problems.append(
            ("network.mode", net.mode, "vpcId, subnetIds and routeTableIds are only used when mode is existing")
        )
    if net.availability_zones is not None and len(net.availability_zones) != net.az_count:
        problems.append(
            ("network.availabilityZones", net.availability_zones, f"must list exactly azCount ({net.az_count}) zones")
        )
    return problems


def _network(s: StackSettings) -> list[Problem]:
    return _cidr(s) + (_existing_network(s) if s.network.mode == "existing" else _created_network(s))


def _bucket(s: StackSettings) -> list[Problem]:
    b = s.bucket
    problems: list[Problem] = []
    if b.protect and b.force_destroy:
        problems.append(("bucket.forceDestroy", True, "cannot be true while bucket.protect is true"))
    overlap = set(b.read_only_buckets) & set(b.read_write_buckets)
    if overlap:
        problems.append(("bucket.readOnlyBuckets", sorted(overlap), "a bucket cannot be both read-only and read-write"))
    for key, listed in (("readOnlyBuckets", b.read_only_buckets), ("readWriteBuckets", b.read_write_buckets)):
        repeated = sorted({x for x in listed if listed.count(x) > 1})
        if repeated:
            problems.append((f"bucket.{key}", repeated, "lists a bucket more than once"))
    if b.name and b.name in set(b.read_only_buckets) | set(b.read_write_buckets):
        problems.append(("bucket.name", b.name, "the work bucket is already read-write; do not list it again"))
    return problems


def _root_volume(s: StackSettings) -> list[Problem]:
    vol, problems = s.launch_template.root_volume, []
    if vol.iops > vol.size_gib * GP3_MAX_IOPS_PER_GIB:
        problems.append(
            (
                "launchTemplate.rootVolume.iops",
                vol.iops,
                f"gp3 allows at most {GP3_MAX_IOPS_PER_GIB} IOPS per GiB: at most "
                f"{vol.size_gib * GP3_MAX_IOPS_PER_GIB} for {vol.size_gib} GiB",
            )
        )
    if vol.throughput_mibps > vol.iops * GP3_MAX_MIBPS_PER_IOPS:
        problems.append(
            (
                "launchTemplate.rootVolume.throughputMibps",
                vol.throughput_mibps,
                f"gp3 allows at most {GP3_MAX_MIBPS_PER_IOPS} MiB/s per IOPS: at most "
                f"{int(vol.iops * GP3_MAX_MIBPS_PER_IOPS)} for {vol.iops} IOPS",
            )
        )
    return problems


def _type_list(key: str, types: list[str]) -> list[Problem]:
    """Rules every instance type list obeys: no repeats, optimal alone, real types, one architecture."""
    if len(set(types)) != len(types):
        return [(key, types, "must not repeat an instance type")]
    if "optimal" in types and len(types) > 1:
        return [(key, types, "optimal stands alone: it already means Batch's choice of families")]
    known = ec2_instance_types()
    families = {instance_family(t) for t in known}
    unknown = [t for t in types if t not in BATCH_BUNDLES and t not in known | families]
    if unknown:
        return [
            (
                key,
                unknown,
                "not an EC2 instance type or family in botocore's EC2 model (examples: m6i, c6a.4xlarge, optimal)",
            )
        ]
    # botocore's Batch model, ComputeResource.instanceTypes: "you can't mix x86 and ARM instances in the same compute
    # environment"; the bundles count too (optimal and default_x86_64 are x86, default_arm64 is ARM).
    if len({type_architecture(t) for t in types}) > 1:
        return [
            (
                key,
                types,
                "mixes x86_64 and arm64 (Graviton) types; one compute environment runs one "
                "architecture (optimal and default_x86_64 are x86_64, default_arm64 is arm64)",
            )
        ]
    return []


def _environments_of(s: StackSettings) -> str:
    """Which compute environments take compute.instanceTypes: a capped team's own one is the same spot kind."""
    capped = sorted(n for n, t in s.teams.items() if t.max_vcpus is not None)
    teams = f" and the capped teams' own ({', '.join(capped)})" if capped else ""
    return f"the spot and on-demand compute environments{teams}"


def _architecture(s: StackSettings, key: str, types: list[str]) -> list[Problem]:
    arch = s.compute.architecture
    wrong = [t for t in types if type_architecture(t) != arch]
    if wrong:
        return [
            (
                key,
                wrong,
                f"not {arch}, as compute.architecture asks of {_environments_of(s)} (Graviton families "
                "have a g, such as m7g; optimal and default_x86_64 are x86_64, default_arm64 is arm64)",
            )
        ]
    return []


def _image_and_head(s: StackSettings, key: str, types: list[str]) -> list[Problem]:
    """What the compute environments' AMI (ECS_AL2023) and the head job, which runs on the on-demand one, exclude."""
    # botocore's Batch model, Ec2Configuration.imageType ECS_AL2023: "Amazon Linux 2023 does not support A1 instances".
    a1 = [t for t in types if instance_family(t) == "a1"]
    if a1:
        return [
            (
                key,
                a1,
                "Amazon Linux 2023 (ECS_AL2023, the AMI of these compute environments) does not support "
                "A1 instances; use a later Graviton family such as m6g or m7g",
            )
        ]
    burstable = [t for t in types if is_burstable(instance_family(t))]
    if burstable and s.head_job.platform == "ec2":
        return [
            (
                key,
                burstable,
                "burstable (t class): the head job runs on the on-demand compute environment, and a "
                "burstable instance drops to a baseline share of its vCPUs once its CPU credits are "
                "spent (or bills the surplus); list m, c or r families, or run the head on Fargate",
            )
        ]
    return []


def _instance_types(s: StackSettings) -> list[Problem]:
    key, types = "compute.instanceTypes", s.instance_types
    problems = _type_list(key, types) or _architecture(s, key, types) or _image_and_head(s, key, types)
    if problems:
        return problems
    if s.launch_template.scratch == "nvme":
        without = [t for t in types if t in BATCH_BUNDLES or not has_instance_storage(instance_family(t))]
        if without:
            return [
                (
                    key,
                    without,
                    "have no NVMe instance storage, which launchTemplate.scratch nvme needs "
                    "(families with a d, such as m6id, c6id, r6id, m7gd, or i4i)",
                )
            ]
    sized, h = [c for t in types if (c := instance_capacity(t)) is not None], s.head_job
    judged = bool(types) and len(sized) == len(types)  # only lists of sized types in the judged classes
    if h.platform == "ec2" and judged and not any(v >= h.vcpus and m * USABLE_MEMORY >= h.memory_mib for v, m in sized):
        return [
            (
                key,
                types,
                f"no type can hold the head job ({h.vcpus} vCPUs, {h.memory_mib} MiB), with about "
                f"{1 - USABLE_MEMORY:.0%} of an instance's memory kept by the OS and ECS agent; add a "
                "larger size or a family",
            )
        ]
    return []


def _gpu_types(s: StackSettings, key: str, types: list[str]) -> list[Problem]:
    """What Batch's GPU AMI, ECS_AL2023_NVIDIA, can run (facts.limits.nvidia_ami_problem cites the sources)."""
    not_gpu = [t for t in types if not is_gpu_family(instance_family(t))]
    if not_gpu:
        return [(key, not_gpu, "not GPU families (g and p classes, such as g5, g6, p4d)")]
    refused = {t: nvidia_ami_problem(instance_family(t)) for t in types}
    refused = {t: why for t, why in refused.items() if why}
    if refused:
        return [
            (
                key,
                list(refused),
                "Batch's GPU AMI (ECS_AL2023_NVIDIA) cannot run them: "
                + "; ".join(f"{t}: {why}" for t, why in refused.items())
                + "; use NVIDIA x86_64 families such as g5, g6, g6e, p4d or p5",
            )
        ]
    without = [t for t in types if not has_instance_storage(instance_family(t))]
    if s.launch_template.scratch == "nvme" and without:
        return [
            (
                key,
                without,
                "have no NVMe instance storage, which launchTemplate.scratch nvme needs on every "
                "instance (g5, g6, g4dn and p4d have it)",
            )
        ]
    return []


def _gpu(s: StackSettings) -> list[Problem]:
    gpu = s.compute.gpu
    if not gpu.enabled:
        return []
    # The GPU compute environment is one of its own, so it could be x86_64 beside arm64 ones; it is refused because
    # compute.architecture is also the architecture of the stack's images: an arm64 stack's head and task images are
    # arm64 builds, while ECS_AL2023_NVIDIA runs x86_64 only (botocore's Batch model, Ec2Configuration.imageType:
    # "non AWS Graviton-based instance types"; aws/amazon-ecs-ami al2023gpu.pkr.hcl builds from x86_64). A GPU step
    # would need x86_64 images of its own, which one architecture setting cannot say.
    if s.compute.architecture == "arm64":
        return [
            (
                "compute.gpu.enabled",
                True,
                "cannot be true with compute.architecture arm64: an arm64 stack's "
                "task images are arm64 builds, while Batch's GPU AMI "
                "(ECS_AL2023_NVIDIA) runs x86_64 only (non-Graviton types), so a GPU "
                "step would need x86_64 images of its own; keep GPUs off, or use "
                "compute.architecture x86_64",
            )
        ]
    key = "compute.gpu.instanceTypes"
    return _type_list(key, gpu.instance_types) or _gpu_types(s, key, gpu.instance_types)


def _fargate(s: StackSettings) -> list[Problem]:
    h = s.head_job
    if h.platform != "fargate":
        return []
    if h.vcpus not in FARGATE_MEMORY:
        return [
            ("headJob.vcpus", h.vcpus, "Fargate runs a head with " + ", ".join(map(str, FARGATE_MEMORY)) + " vCPUs")
        ]
    choices = fargate_memory_choices(h.vcpus)
    if h.memory_mib not in choices:
        step = choices[1] - choices[0]
        return [
            (
                "headJob.memoryMib",
                h.memory_mib,
                f"Fargate gives {h.vcpus} vCPUs {choices[0]} to {choices[-1]} MiB in steps of {step}",
            )
        ]
    return []


def _compute(s: StackSettings) -> list[Problem]:
    c, problems = s.compute, _instance_types(s) + _gpu(s) + _fargate(s)
    # An infrastructure update of the on-demand environment stops an EC2 head that outlasts the update timeout (at most
    # 360 min, the provider's limit); only a new attempt can resume the run without the user. A Fargate head's
    # environment never has one: Fargate environments update only security groups and subnets, and declare no update
    # policy (docs.aws.amazon.com/batch/latest/userguide/updating-compute-environments.html).
    head_minutes = s.head_job.timeout_hours * 60
    if s.head_job.platform == "ec2" and s.head_job.attempts < 2 and head_minutes > c.update_timeout_minutes:
        problems.append(
            (
                "headJob.attempts",
                s.head_job.attempts,
                f"must be at least 2 while headJob.timeoutHours × 60 ({head_minutes}) exceeds "
                f"compute.updateTimeoutMinutes ({c.update_timeout_minutes}): a stack update may stop a "
                f"longer run, and only a new attempt can resume it by itself (or keep "
                f"headJob.timeoutHours × 60 within it, or use headJob.platform fargate)",
            )
        )
    if c.on_demand.max_vcpus < s.head_job.vcpus:
        problems.append(
            (
                "compute.onDemand.maxVcpus",
                c.on_demand.max_vcpus,
                f"must be at least headJob.vcpus ({s.head_job.vcpus}) or the head job can never start",
            )
        )
    return problems


def _head_job(s: StackSettings) -> list[Problem]:
    if s.head_job.log_retention_days not in LOG_RETENTION_DAYS:
        return [
            (
                "headJob.logRetentionDays",
                s.head_job.log_retention_days,
                "must be 0 (never expire) or one of " + ", ".join(map(str, LOG_RETENTION_DAYS[1:])),
            )
        ]
    return []


def _run_costs(s: StackSettings) -> list[Problem]:
    if s.run_costs.record_retention_days not in LOG_RETENTION_DAYS:
        return [
            (
                "runCosts.recordRetentionDays",
                s.run_costs.record_retention_days,
                "must be 0 (never expire) or one of " + ", ".join(map(str, LOG_RETENTION_DAYS[1:])),
            )
        ]
    return []


# Where the program sets each tag of its own. A user tag with the same key in any case collides: IAM refuses two tag
# keys that differ only in case on one role or policy ("Duplicate tag keys found. Please note that Tag keys are case
# insensitive", moto/iam/exceptions.py reproduces it), and the provider's default tags carry the user's to every role.
PROGRAM_TAG_USES = {
    "Project": "on every resource, instance and volume",
    "Stack": "on every resource, instance and volume",
    "Name": "it names the VPC, subnets, gateways and security group",
    "Tier": "it marks each subnet public or private",
    TEAM_TAG: "on every team's resources and jobs when teams are defined",
}


def _tags(s: StackSettings) -> list[Problem]:
    problems, program = [], PROGRAM_TAGS + ((TEAM_TAG,) if s.teams else ())
    if len(s.tags) + len(program) > MAX_TAGS:
        problems.append(
            (
                "tags",
                f"{len(s.tags)} tags",
                f"at most {MAX_TAGS - len(program)}: AWS resources take "
                f"{MAX_TAGS} tags and the program adds "
                f"{', '.join(program)}",
            )
        )
    ours = {t.lower(): t for t in program}
    lowered: dict[str, str] = {}  # a key of s.tags, lower-cased -> as written
    for key, value in s.tags.items():
        tag = ours.get(key.lower())
        if tag:
            problems.append(
                (
                    f"tags.{key}",
                    value,
                    f"{'is' if key == tag else 'collides with'} the tag {tag}, which "
                    f"the program sets itself ({PROGRAM_TAG_USES[tag]}); tag keys "
                    "that differ only in case are one key to IAM: pick another key",
                )
            )
        elif key.lower() in lowered:
            problems.append(
                (
                    f"tags.{key}",
                    value,
                    f"differs from the tag {lowered[key.lower()]} only in case; IAM treats tag keys case-insensitively",
                )
            )
        lowered.setdefault(key.lower(), key)
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:") or not TAG_KEY.fullmatch(key):
            problems.append(
                (
                    f"tags.{key}",
                    value,
                    "tag keys must be 1-128 letters, digits, spaces or _.:/=+-@ and must not start with aws:",
                )
            )
        elif len(value) > 256 or not TAG_VALUE.fullmatch(value):
            problems.append(
                (f"tags.{key}", value, "tag values must be at most 256 letters, digits, spaces or _.:/=+-@")
            )
    return problems


def _policy_chars(document: dict) -> int:
    return len(json.dumps(document, separators=(",", ":")))


def _inline_policies(s: StackSettings) -> list[Problem]:
    """Each role's inline policy must fit IAM's per-role quota; the longest bucket names make the worst case."""
    work = bucket_arn(s.bucket.name or "w" * 63)
    read_write = [work, *(bucket_arn(b) for b in s.bucket.read_write_buckets)]
    read_only = [bucket_arn(b) for b in s.bucket.read_only_buckets]
    queue = "arn:aws:batch:" + s.region + ":123456789012:job-queue/" + "q" * 40
    sizes = {
        "task role": _policy_chars(s3_access_policy(read_write, read_only)),
        "head role": _policy_chars(
            head_job_policy(
                partition="aws",
                region=s.region,
                account_id="123456789012",
                queue_arns=[queue] * 3,
                task_role_arn="arn:aws:iam::123456789012:role/" + "r" * 40,
                read_write_buckets=read_write,
                read_only_buckets=read_only,
            )
        ),
    }
    return [
        (
            "bucket.readOnlyBuckets",
            f"{len(read_only)} read-only and {len(read_write) - 1} read-write buckets",
            f"make the {role}'s inline policy {size} characters; IAM allows {ROLE_INLINE_POLICY_CHARS} per role: "
            f"list fewer buckets",
        )
        for role, size in sizes.items()
        if size > ROLE_INLINE_POLICY_CHARS
    ][:1]


def _emails(key: str, emails: list[str], budget: bool) -> list[Problem]:
    """An address list: no address twice, and at most Budgets' email subscribers when a budget mails it."""
    if len({e.lower() for e in emails}) != len(emails):
        return [(key, emails, "lists an address more than once")]
    if budget and len(emails) > BUDGET_EMAIL_SUBSCRIBERS:
        return [
            (
                key,
                f"{len(emails)} addresses",
                f"at most {BUDGET_EMAIL_SUBSCRIBERS}: each budget notification "
                f"mails them, and AWS Budgets takes at most "
                f"{BUDGET_EMAIL_SUBSCRIBERS} email subscribers per notification; "
                "list a mailing list's address instead",
            )
        ]
    return []


def as_written(usd: float) -> float | int:
    """1500, as the stack file says, rather than the model's 1500.0."""
    return int(usd) if usd.is_integer() else usd


def _alerts(s: StackSettings) -> list[Problem]:
    problems = []
    if s.budget.monthly_usd is not None and not s.alerts.emails:
        problems.append(
            ("budget.monthlyUsd", as_written(s.budget.monthly_usd), "needs alerts.emails: a budget alerts by email")
        )
    return problems + _emails("alerts.emails", s.alerts.emails, budget=s.budget.monthly_usd is not None)


def _team_budget(name: str, team) -> list[Problem]:
    key = f"teams.{name}"
    if team.monthly_budget_usd is not None and not team.budget_emails:
        return [(f"{key}.budgetEmails", MISSING, "is required with monthlyBudgetUsd: a budget alerts by email")]
    if team.budget_emails and team.monthly_budget_usd is None:
        return [
            (
                f"{key}.budgetEmails",
                team.budget_emails,
                "only used with monthlyBudgetUsd; set a budget or remove the addresses",
            )
        ]
    return _emails(f"{key}.budgetEmails", team.budget_emails, budget=True)


def _team_buckets(s: StackSettings) -> list[Problem]:
    """A bucket a team writes is that team's: no other team, and not the stack as a whole, may list it too."""
    problems, stack_wide = [], set(s.bucket.read_only_buckets) | set(s.bucket.read_write_buckets)
    for name, team in s.teams.items():
        key = f"teams.{name}"
        for field, listed in (
            ("readOnlyBuckets", team.read_only_buckets),
            ("readWriteBuckets", team.read_write_buckets),
        ):
            repeated = sorted({b for b in listed if listed.count(b) > 1})
            if repeated:
                problems.append((f"{key}.{field}", repeated, "lists a bucket more than once"))
            shared = sorted((set(listed) & stack_wide) | (set(listed) & {s.bucket.name}))
            if shared:
                problems.append(
                    (
                        f"{key}.{field}",
                        shared,
                        "every team already reaches it (bucket.name, "
                        "bucket.readOnlyBuckets or bucket.readWriteBuckets)",
                    )
                )
        both = sorted(set(team.read_only_buckets) & set(team.read_write_buckets))
        if both:
            problems.append((f"{key}.readOnlyBuckets", both, "a bucket cannot be both read-only and read-write"))
        for other, theirs in s.teams.items():
            taken = sorted(set(team.read_only_buckets + team.read_write_buckets) & set(theirs.read_write_buckets))
            if other != name and taken:
                problems.append(
                    (
                        f"{key}.readWriteBuckets"
                        if set(taken) & set(team.read_write_buckets)
                        else f"{key}.readOnlyBuckets",
                        taken,
                        f"teams.{other} writes it (readWriteBuckets); a team's read-write bucket is its own",
                    )
                )
    return problems


def _team_quotas(s: StackSettings) -> list[Problem]:
    """AWS Batch quotas per account and region (AWS Batch user guide, "AWS Batch service quotas"), counting only
    this stack: other stacks in the account use the same quotas."""
    capped = [n for n, t in s.teams.items() if t.max_vcpus is not None]
    queues = 3 + s.compute.gpu.enabled + len(capped)
    environments = 2 + s.compute.gpu.enabled + (s.head_job.platform == "fargate") + len(capped)
    problems = []
    if len(s.teams) > SHARE_IDENTIFIERS_PER_QUEUE:
        problems.append(
            (
                "teams",
                f"{len(s.teams)} teams",
                f"at most {SHARE_IDENTIFIERS_PER_QUEUE}: a job queue has at most that many active share identifiers",
            )
        )
    if queues > JOB_QUEUES_PER_ACCOUNT or environments > COMPUTE_ENVIRONMENTS_PER_ACCOUNT:
        problems.append(
            (
                "teams",
                f"{len(capped)} teams with maxVcpus",
                f"give this stack {queues} job queues and {environments} compute environments; AWS Batch "
                f"allows {JOB_QUEUES_PER_ACCOUNT} of each per account and region: cap fewer teams (the "
                "others share by weight)",
            )
        )
    return problems


def _team_policies(s: StackSettings) -> list[Problem]:
    """Each team's role policies and run policy must fit IAM's quotas; the longest names make the worst case."""
    work, account, queue = bucket_arn(s.bucket.name or "w" * 63), "123456789012", "q" * 40
    batch = f"arn:aws:batch:{s.region}:{account}"
    problems = []
    for name, team in s.teams.items():
        read_write = [bucket_arn(b) for b in [*s.bucket.read_write_buckets, *team.read_write_buckets]]
        read_only = [bucket_arn(b) for b in [*s.bucket.read_only_buckets, *team.read_only_buckets]]
        s3 = team_s3_statements(work, name, read_write, read_only)
        head = head_job_policy(
            partition="aws",
            region=s.region,
            account_id=account,
            queue_arns=[f"{batch}:job-queue/{queue}"] * 4,
            read_write_buckets=[],
            task_role_arn=f"arn:aws:iam::{account}:role/" + "r" * 60,
            s3_statements=s3,
        )
        run = team_run_policy(
            partition="aws",
            region=s.region,
            account_id=account,
            team=name,
            head_queue_arn=f"{batch}:job-queue/{queue}",
            job_definition_name="d" * 60,
            bucket_arn=work,
            log_group_name="l" * 40,
            budget_name="b" * 60 if team.monthly_budget_usd is not None else None,
            instance_events_log_group="i" * 60 if s.run_costs.record_instances else None,
        )
        sizes = {
            "task role's inline policy": (_policy_chars({"Statement": s3}), ROLE_INLINE_POLICY_CHARS),
            "head role's inline policy": (_policy_chars(head), ROLE_INLINE_POLICY_CHARS),
            "run policy": (_policy_chars(run), MANAGED_POLICY_CHARS),
        }
        problems += [
            (
                f"teams.{name}.readOnlyBuckets",
                f"{len(read_only)} read-only and {len(read_write)} read-write buckets",
                f"make the team's {what} {size} characters; IAM allows {limit}: list fewer buckets",
            )
            for what, (size, limit) in sizes.items()
            if size > limit
        ][:1]
    return problems


def _teams(s: StackSettings) -> list[Problem]:
    if not s.teams:
        return []
    problems = _team_buckets(s) + _team_quotas(s) + _team_policies(s)
    for name, team in s.teams.items():
        problems += _team_budget(name, team)
        if team.max_vcpus is not None and team.max_vcpus > s.compute.spot.max_vcpus:
            problems.append(
                (
                    f"teams.{name}.maxVcpus",
                    team.max_vcpus,
                    f"must be at most compute.spot.maxVcpus ({s.compute.spot.max_vcpus}): a team's cap is "
                    "a part of the stack's spot capacity",
                )
            )
    return problems  # principals: _team_principals; a user's Team tag: _tags


def _principal_account_problem(s: StackSettings, arn_partition: str, account: str, first: tuple[str, str]) -> str:
    """Why a principal's partition or account keeps the run policy from it ("" if none); `first`: (account, key)."""
    partition = partition_for(s.region)
    if arn_partition != partition:
        return (
            f"is in the {arn_partition} partition, but {s.region} is in {partition}: "
            "the run policy can be attached only to principals of the stack's own "
            "partition and account"
        )
    if s.allowed_account_ids and account not in s.allowed_account_ids:
        return (
            f"is in account {account}, which aws:allowedAccountIds does not list "
            f"({', '.join(s.allowed_account_ids)}): the run policy is attached by "
            "name in the stack's own account, so it would reach a same-named "
            "principal there, not this one; list a principal of the stack's "
            "account"
        )
    if account != first[0]:
        return (
            f"is in account {account}, but {first[1]} is in {first[0]}: the run "
            "policy is attached in the stack's own account, so every principal must "
            "be of that one account"
        )
    return ""


def _team_principals(s: StackSettings) -> list[Problem]:
    """Each principal gets its team's run policy attached by name in the stack's own account (components/teams.py:
    aws.iam.PolicyAttachment takes role and user names), so every principal must be of the region's partition and of
    one account. The stack's account is unknown offline: that all principals share one, and that it is one of the
    provider's aws:allowedAccountIds when the stack file sets them, is what can be checked here (components/teams.py
    compares them with the caller's account at deploy time).
    IAM names are unique in an account whatever their path, and "Names are not distinguished by case" (botocore's IAM
    model, CreateRole.RoleName): role/a/X and role/b/x are one role, listed twice."""
    problems: list[Problem] = []
    first: tuple[str, str] | None = None  # (account, key) of the first principal listed
    seen: dict[tuple[str, str, str], tuple[str, str]] = {}  # (team, kind, lower-cased name) -> (key, ARN)
    for name, team in sorted(s.teams.items()):
        for i, arn in enumerate(team.principals):
            key = f"teams.{name}.principals[{i}]"
            arn_partition, account, kind, _, principal = principal_parts(arn)
            first = first or (account, key)
            misplaced = _principal_account_problem(s, arn_partition, account, first)
            if misplaced:
                problems.append((key, arn, misplaced))
            same = seen.setdefault((name, kind, principal.lower()), (key, arn))
            if same[0] != key:
                problems.append(
                    (
                        key,
                        arn,
                        f"is the {kind} {same[0]} already lists ({same[1]}): IAM {kind} names "
                        "are unique in an account whatever their path, and not distinguished by "
                        "case",
                    )
                )
    return problems


def _team_budgets_need_caps(s: StackSettings) -> list[Problem]:
    """A team budget filters the data AWS Budgets reads (Cost Explorer's) on the Team tag. Only a capped team's own
    compute environment tags instances with it; shared instances carry no Team tag, and split cost allocation data,
    which divides them by job, lands only in CUR and Data Exports
    (https://docs.aws.amazon.com/cur/latest/userguide/split-cost-allocation-data.html). An uncapped team's budget
    would read near zero whatever the team spent, so it is refused rather than trusted."""
    return [
        (
            f"teams.{name}.monthlyBudgetUsd",
            as_written(team.monthly_budget_usd),
            "needs maxVcpus: a budget sees only instances tagged with the team, which only a capped team has (shared "
            "instances are split by team only in the Cost and Usage Report); cap the team or drop the budget",
        )
        for name, team in s.teams.items()
        if team.monthly_budget_usd is not None and team.max_vcpus is None
    ]


def _team_cost_tag(s: StackSettings) -> list[Problem]:
    if s.budget.activate_team_cost_tag and not s.teams:
        return [
            (
                "budget.activateTeamCostTag",
                True,
                "only used with teams: no resource of this stack carries the Team tag to activate",
            )
        ]
    return []


def default_cache_base(stack: str) -> str:
    """The stack name as a cache prefix: lowercased, runs of other characters as one '-'; a name too long for ECR's
    prefix limit cut to 10 characters, and a one-character one padded, each plus 8 of its SHA-256, so every stack name
    gives a valid, distinct one. Unique per stack, not per account: two projects' `dev` stacks share `dev`."""
    clean = re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-") or "stack"
    if MIN_CACHE_BASE <= len(clean) <= MAX_CACHE_BASE:
        return clean
    return f"{clean[:10].strip('-')}-{hashlib.sha256(stack.encode()).hexdigest()[:8]}"


def cache_base(s: StackSettings) -> str:
    """The stack's cache prefix: registryCache.repositoryPrefix, or one made of the stack name."""
    return s.registry_cache.repository_prefix or default_cache_base(s.stack)


def _cache_prefix(s: StackSettings) -> list[Problem]:
    # Every upstream's rule prefix `<base>/<key>` must pass the provider's validator (facts/registries.py), for
    # each upstream ECR knows, so that adding one later never turns a working prefix into a bad one.
    base, (low, high) = cache_base(s), REPOSITORY_PREFIX_LENGTH
    if len(base) < MIN_CACHE_BASE:
        return [
            (
                "registryCache.repositoryPrefix",
                base,
                f"must be {MIN_CACHE_BASE} to {MAX_CACHE_BASE} lowercase letters, digits and separators: it is also "
                f"the repository creation template's prefix, which the provider refuses under {MIN_CACHE_BASE} "
                "characters (unset, a one-letter stack name's default is padded: `x` gives x-<8 hex of its hash>)",
            )
        ]
    prefixes = [cache_prefix(base, u.key) for u in UPSTREAMS]
    if all(REPOSITORY_PREFIX.fullmatch(p) and low <= len(p) <= high for p in prefixes):
        return []
    return [
        (
            "registryCache.repositoryPrefix",
            base,
            f"must be lowercase letters and digits, '.', '_' or '-' between them, '/' between parts, at most "
            f"{MAX_CACHE_BASE} characters (ECR's {high}-character rule prefix less '/<upstream>')",
        )
    ]


def _upstream_problems(s: StackSettings, key: str, upstream) -> list[Problem]:
    path, found = f"registryCache.upstreams.{key}", []
    needs_secret = UPSTREAM_BY_KEY[key].credentials == "secret"
    if needs_secret and upstream.credential_arn is None:
        found.append(
            (
                f"{path}.credentialArn",
                MISSING,
                f"{key} needs credentials: the ARN of a Secrets Manager "
                'secret named ecr-pullthroughcache/... holding {"username": ..., "accessToken": ...}',
            )
        )
    if upstream.credential_arn is not None:
        arn = upstream.credential_arn.split(":")
        partition, region, account = arn[1], arn[3], arn[4]
        wanted = partition_for(s.region)
        if (partition, region) != (wanted, s.region) or account not in (s.allowed_account_ids or [account]):
            found.append(
                (
                    f"{path}.credentialArn",
                    upstream.credential_arn,
                    "the secret must be in the stack's "
                    f"account and region ({wanted}, {s.region}): ECR reads no secret of another",
                )
            )
    if key == "azure" and not (upstream.url and AZURE_HOST.fullmatch(upstream.url)):
        found.append(
            (
                f"{path}.url",
                upstream.url if upstream.url else MISSING,
                "azure needs your registry's host, <name>.azurecr.io (5-50 lowercase letters and digits)",
            )
        )
    if key != "azure" and upstream.url is not None:
        found.append((f"{path}.url", upstream.url, f"only azure takes a url; {key}'s is {UPSTREAM_BY_KEY[key].url}"))
    return found


def _registry_cache(s: StackSettings) -> list[Problem]:
    # Checked when the cache is off too: a bad value waiting there would fail only on the day it is turned on.
    upstreams = s.registry_cache.all_upstreams
    return _cache_prefix(s) + [p for key, up in upstreams.items() for p in _upstream_problems(s, key, up)]


RULES = (
    _network,
    _bucket,
    _root_volume,
    _compute,
    _head_job,
    _run_costs,
    _tags,
    _inline_policies,
    _alerts,
    _teams,
    _team_principals,
    _team_budgets_need_caps,
    _team_cost_tag,
    _registry_cache,
)


def cross_key_problems(s: StackSettings) -> list[Problem]:
    return [p for rule in RULES for p in rule(s)]


# Beyond cancelling tasks, a stopped head needs time for the JVM to shut down and the entrypoint to upload its log:
# 0.9 s against moto (bench/stop_benchmark.py, 200 tasks: 10.9 s in all); the margin allows for real AWS latency.
STOP_MARGIN_SECONDS = 30


def most_concurrent_tasks(s: StackSettings) -> int:
    """Every task takes at least one vCPU, and the head keeps its own."""
    return s.compute.spot.max_vcpus + s.compute.on_demand.max_vcpus - s.head_job.vcpus


def stop_seconds_needed(s: StackSettings) -> int:
    """How long a stopped head needs to cancel every task the stack can run at once, at Nextflow's cancel rate,
    plus the shutdown margin."""
    return math.ceil(most_concurrent_tasks(s) / NEXTFLOW_SUBMIT_RATE_PER_SECOND) + STOP_MARGIN_SECONDS


def warnings(s: StackSettings) -> list[str]:
    """Valid choices with a cost a reviewer must see: the plan prints each at its top."""
    found = []
    needed, stop = stop_seconds_needed(s), s.launch_template.ecs_agent.container_stop_timeout_seconds
    if stop < needed:
        found.append(
            f"WARNING launchTemplate.ecsAgent.containerStopTimeoutSeconds = {stop}: a stopped head needs "
            f"about {needed} s to cancel the up to {most_concurrent_tasks(s)} tasks this stack can run at "
            f"{NEXTFLOW_SUBMIT_RATE_PER_SECOND}/s; Docker kills it sooner and the rest keep running "
            f"(fix: pulumi config set --stack {s.stack} --path "
            f"'genomics-batch:launchTemplate.ecsAgent.containerStopTimeoutSeconds' {min(needed, 600)})"
        )
    if s.budget.activate_team_cost_tag:
        # terraform-provider-aws internal/service/ce/cost_allocation_tag.go: create sets the status, then reads it
        # back with ListCostAllocationTags and fails on an empty answer (NewEmptyResultError) while AWS does not list
        # the key: "it can take up to 24 hours for the tag keys to appear" after resources first carry them
        # (https://www.pulumi.com/registry/packages/aws/api-docs/costexplorer/costallocationtag/).
        found.append(
            f"WARNING budget.activateTeamCostTag = true: the deploy fails while AWS does not list the "
            f"{TEAM_TAG} tag key yet (the provider reads the tag back and gets an empty answer), which it "
            f"does up to 24 h after a resource first carries {TEAM_TAG}; turn it on in a later deploy than "
            f"the one that adds the first team, once `aws ce list-cost-allocation-tags --tag-keys "
            f"{TEAM_TAG}` lists the key (`nfbatch doctor` checks it)"
        )
    if s.network.mode == "existing":
        found.append(
            "WARNING network.mode = existing: instances in subnetIds need outbound access (a NAT gateway or "
            "public IPs) to reach ECR, the ECS and Batch endpoints and the AWS CLI download; without it "
            "every instance fails its boot and shuts down"
        )
        if not s.network.route_table_ids:
            found.append(
                "WARNING network.routeTableIds is empty: no S3 gateway endpoint is added, so S3 traffic "
                "takes the VPC's own route (NAT data processing is $0.045/GB)"
            )
    return found
