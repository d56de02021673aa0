"""Rules that involve more than one key, or facts pydantic's types cannot express, checked on a parsed model.

Each rule returns problems as (key path, value, what is allowed); `cross_key_problems` runs them all.
"""

from __future__ import annotations

import ipaddress
import json
import math
from typing import Any

from components.contract import COST_TAG_KEYS, NEXTFLOW_SUBMIT_RATE_PER_SECOND, TEAM_TAG
from components.update_rules import UPDATABLE_ALLOCATION_STRATEGIES
from policies.iam import bucket_arn, head_job_policy, s3_access_policy, team_run_policy, team_s3_statements
from settings.errors import MISSING
from settings.limits import (
    AZ_ID,
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
    instance_architecture,
    instance_capacity,
    instance_family,
    is_gpu_family,
)
from settings.model import StackSettings

Problem = tuple[str, Any, str]

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
        return [("network.cidr", cidr, "must lie inside a private range AWS accepts for a VPC: "
                                       + ", ".join(VPC_RANGES))]
    if network.overlaps(ipaddress.IPv4Network(DOCKER_BRIDGE)):
        return [("network.cidr", cidr, f"overlaps {DOCKER_BRIDGE}, Docker's bridge on every ECS instance; "
                                       "pick another range")]
    return []


def _zones(s: StackSettings) -> list[Problem]:
    zones, problems = s.network.availability_zones or [], []
    for i, zone in enumerate(zones):
        if AZ_ID.fullmatch(zone):
            problems.append((f"network.availabilityZones[{i}]", zone, f"is a zone id; give the zone name, such as "
                                                                      f"{s.region}a"))
        elif not (zone.startswith(s.region) and len(zone) == len(s.region) + 1 and zone[-1].isalpha()):
            problems.append((f"network.availabilityZones[{i}]", zone, f"is not a zone of {s.region}: zone names "
                                                                      f"are the region and a letter, such as "
                                                                      f"{s.region}a"))
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
        problems.append(("network.subnetIds", net.subnet_ids,
                         "needs at least 2 subnets (in 2 availability zones) when network.mode is existing"))
    problems += [(f"network.subnetIds[{i}]", subnet, "must look like subnet-0123456789abcdef0")
                 for i, subnet in enumerate(net.subnet_ids) if not SUBNET_ID.fullmatch(subnet)]
    if len(set(net.subnet_ids)) != len(net.subnet_ids):
        problems.append(("network.subnetIds", net.subnet_ids, "must not repeat a subnet"))
    for key in ("egress", "cidr", "az_count", "availability_zones"):
        if key in net.model_fields_set:
            alias = type(net).model_fields[key].alias
            problems.append((f"network.{alias}", getattr(net, key), "is only used when mode is create; the "
                                                                    "existing VPC decides it"))
    problems += [(f"network.routeTableIds[{i}]", table, "must look like rtb-0123456789abcdef0")
                 for i, table in enumerate(net.route_table_ids) if not ROUTE_TABLE_ID.fullmatch(table)]
    return problems


def _created_network(s: StackSettings) -> list[Problem]:
    net, problems = s.network, _zones(s)
    if net.vpc_id or net.subnet_ids or net.route_table_ids:
        problems.append(("network.mode", net.mode,
                         "vpcId, subnetIds and routeTableIds are only used when mode is existing"))
    if net.availability_zones is not None and len(net.availability_zones) != net.az_count:
        problems.append(("network.availabilityZones", net.availability_zones,
                         f"must list exactly azCount ({net.az_count}) zones"))
    return problems


def _network(s: StackSettings) -> list[Problem]:
    return _cidr(s) + (_existing_network(s) if s.network.mode == "existing" else _created_network(s))


def _bucket(s: StackSettings) -> list[Problem]:
    b, problems = s.bucket, []
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
        problems.append(("launchTemplate.rootVolume.iops", vol.iops,
                         f"gp3 allows at most {GP3_MAX_IOPS_PER_GIB} IOPS per GiB: at most "
                         f"{vol.size_gib * GP3_MAX_IOPS_PER_GIB} for {vol.size_gib} GiB"))
    if vol.throughput_mibps > vol.iops * GP3_MAX_MIBPS_PER_IOPS:
        problems.append(("launchTemplate.rootVolume.throughputMibps", vol.throughput_mibps,
                         f"gp3 allows at most {GP3_MAX_MIBPS_PER_IOPS} MiB/s per IOPS: at most "
                         f"{int(vol.iops * GP3_MAX_MIBPS_PER_IOPS)} for {vol.iops} IOPS"))
    return problems


def _type_list(key: str, types: list[str]) -> list[Problem]:
    """Rules every instance type list obeys: no repeats, optimal alone, real types, one architecture."""
    if len(set(types)) != len(types):
        return [(key, types, "must not repeat an instance type")]
    if "optimal" in types and len(types) > 1:
        return [(key, types, "optimal stands alone: it already means Batch's choice of families")]
    known = ec2_instance_types()
    families = {instance_family(t) for t in known}
    named = [t for t in types if not t.startswith(("optimal", "default_"))]
    unknown = [t for t in named if t not in known | families]
    if unknown:
        return [(key, unknown, "not an EC2 instance type or family in botocore's EC2 model "
                               "(examples: m6i, c6a.4xlarge, optimal)")]
    if len({instance_architecture(instance_family(t)) for t in named}) > 1:
        return [(key, types, "mixes x86_64 and arm64 (Graviton) families; one compute environment runs one "
                             "architecture")]
    return []


def _architecture(s: StackSettings, key: str, types: list[str]) -> list[Problem]:
    arch = s.compute.architecture
    wrong = [t for t in types if not t.startswith(("optimal", "default_"))
             and instance_architecture(instance_family(t)) != arch]
    if wrong:
        return [(key, wrong, f"not {arch} families, as compute.architecture asks (Graviton families have a g, "
                             "such as m7g; x86 ones do not)")]
    return []


def _instance_types(s: StackSettings) -> list[Problem]:
    key, types = "compute.instanceTypes", s.instance_types
    problems = _type_list(key, types) or _architecture(s, key, types)
    if problems:
        return problems
    if s.launch_template.scratch == "nvme":
        without = [t for t in types if t.startswith(("optimal", "default_"))
                   or not has_instance_storage(instance_family(t))]
        if without:
            return [(key, without, "have no NVMe instance storage, which launchTemplate.scratch nvme needs "
                                   "(families with a d, such as m6id, c6id, r6id, m7gd, or i4i)")]
    sized, h = [instance_capacity(t) for t in types], s.head_job
    judged = bool(sized) and all(sized)  # only lists of sized types in the judged classes
    if h.platform == "ec2" and judged and not any(v >= h.vcpus and m * USABLE_MEMORY >= h.memory_mib
                                                   for v, m in sized):
        return [("compute.instanceTypes", types, f"no type can hold the head job ({h.vcpus} vCPUs, "
                                                 f"{h.memory_mib} MiB); add a larger size or a family")]
    return []


def _gpu(s: StackSettings) -> list[Problem]:
    gpu = s.compute.gpu
    if not gpu.enabled:
        return []
    key = "compute.gpu.instanceTypes"
    problems = _type_list(key, gpu.instance_types) or _architecture(s, key, gpu.instance_types)
    not_gpu = [t for t in gpu.instance_types if not is_gpu_family(instance_family(t))]
    if not problems and not_gpu:
        problems = [(key, not_gpu, "not GPU families (g and p classes, such as g5, g6, p4d)")]
    without = [t for t in gpu.instance_types if not has_instance_storage(instance_family(t))]
    if not problems and s.launch_template.scratch == "nvme" and without:
        problems = [(key, without, "have no NVMe instance storage, which launchTemplate.scratch nvme needs on "
                                   "every instance (g5, g6, g4dn and p4d have it)")]
    return problems


def _fargate(s: StackSettings) -> list[Problem]:
    h = s.head_job
    if h.platform != "fargate":
        return []
    if h.vcpus not in FARGATE_MEMORY:
        return [("headJob.vcpus", h.vcpus, "Fargate runs a head with " + ", ".join(map(str, FARGATE_MEMORY))
                 + " vCPUs")]
    choices = fargate_memory_choices(h.vcpus)
    if h.memory_mib not in choices:
        step = choices[1] - choices[0]
        return [("headJob.memoryMib", h.memory_mib, f"Fargate gives {h.vcpus} vCPUs {choices[0]} to {choices[-1]} "
                                                    f"MiB in steps of {step}")]
    return []


def _compute(s: StackSettings) -> list[Problem]:
    c, problems = s.compute, _instance_types(s) + _gpu(s) + _fargate(s)
    head_minutes = s.head_job.timeout_hours * 60
    if c.update_timeout_minutes is not None and c.update_timeout_minutes < head_minutes:
        problems.append(("compute.updateTimeoutMinutes", c.update_timeout_minutes,
                         f"must be at least headJob.timeoutHours × 60 ({head_minutes}), or a stack update stops "
                         f"pipelines still inside their own timeout; lower headJob.timeoutHours to update faster"))
    if c.on_demand.max_vcpus < s.head_job.vcpus:
        problems.append(("compute.onDemand.maxVcpus", c.on_demand.max_vcpus,
                         f"must be at least headJob.vcpus ({s.head_job.vcpus}) or the head job can never start"))
    return problems


def _head_job(s: StackSettings) -> list[Problem]:
    if s.head_job.log_retention_days not in LOG_RETENTION_DAYS:
        return [("headJob.logRetentionDays", s.head_job.log_retention_days,
                 "must be 0 (never expire) or one of " + ", ".join(map(str, LOG_RETENTION_DAYS[1:])))]
    return []


def _tags(s: StackSettings) -> list[Problem]:
    problems, program = [], PROGRAM_TAGS + ((TEAM_TAG,) if s.teams else ())
    if len(s.tags) + len(program) > MAX_TAGS:
        problems.append(("tags", f"{len(s.tags)} tags", f"at most {MAX_TAGS - len(program)}: AWS resources take "
                                                       f"{MAX_TAGS} tags and the program adds "
                                                       f"{', '.join(program)}"))
    lowered: dict[str, str] = {t.lower(): t for t in PROGRAM_TAGS if t not in COST_TAG_KEYS}
    for key in s.tags:
        if key.lower() in lowered and lowered[key.lower()] != key:
            problems.append((f"tags.{key}", s.tags[key], f"differs from the tag {lowered[key.lower()]} only in case; "
                                                         "IAM and cost reports treat tag keys case-insensitively"))
        lowered.setdefault(key.lower(), key)
    for key, value in s.tags.items():
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:") or not TAG_KEY.fullmatch(key):
            problems.append((f"tags.{key}", value, "tag keys must be 1-128 letters, digits, spaces or _.:/=+-@ and "
                                                   "must not start with aws:"))
        elif len(value) > 256 or not TAG_VALUE.fullmatch(value):
            problems.append((f"tags.{key}", value, "tag values must be at most 256 letters, digits, spaces or "
                                                   "_.:/=+-@"))
    reserved = sorted(set(COST_TAG_KEYS) & set(s.tags))
    if reserved:
        problems.append((f"tags.{reserved[0]}", s.tags[reserved[0]], "Project and Stack are set by the program itself"))
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
        "head role": _policy_chars(head_job_policy(
            partition="aws", region=s.region, account_id="123456789012", queue_arns=[queue] * 3,
            task_role_arn="arn:aws:iam::123456789012:role/" + "r" * 40, read_write_buckets=read_write,
            read_only_buckets=read_only)),
    }
    return [("bucket.readOnlyBuckets", f"{len(read_only)} read-only and {len(read_write) - 1} read-write buckets",
             f"make the {role}'s inline policy {size} characters; IAM allows {ROLE_INLINE_POLICY_CHARS} per role: "
             f"list fewer buckets")
            for role, size in sizes.items() if size > ROLE_INLINE_POLICY_CHARS][:1]


def _alerts(s: StackSettings) -> list[Problem]:
    problems = []
    if s.budget.monthly_usd is not None and not s.alerts.emails:
        problems.append(("budget.monthlyUsd", s.budget.monthly_usd, "needs alerts.emails: a budget alerts by email"))
    emails = s.alerts.emails
    if len({e.lower() for e in emails}) != len(emails):
        problems.append(("alerts.emails", emails, "lists an address more than once"))
    return problems


def _team_budget(name: str, team) -> list[Problem]:
    key = f"teams.{name}"
    if team.monthly_budget_usd is not None and not team.budget_emails:
        return [(f"{key}.budgetEmails", MISSING, "is required with monthlyBudgetUsd: a budget alerts by email")]
    if team.budget_emails and team.monthly_budget_usd is None:
        return [(f"{key}.budgetEmails", team.budget_emails, "only used with monthlyBudgetUsd; set a budget or remove "
                                                            "the addresses")]
    if len({e.lower() for e in team.budget_emails}) != len(team.budget_emails):
        return [(f"{key}.budgetEmails", team.budget_emails, "lists an address more than once")]
    return []


def _team_buckets(s: StackSettings) -> list[Problem]:
    """A bucket a team writes is that team's: no other team, and not the stack as a whole, may list it too."""
    problems, stack_wide = [], set(s.bucket.read_only_buckets) | set(s.bucket.read_write_buckets)
    for name, team in s.teams.items():
        key = f"teams.{name}"
        for field, listed in (("readOnlyBuckets", team.read_only_buckets), ("readWriteBuckets",
                                                                            team.read_write_buckets)):
            repeated = sorted({b for b in listed if listed.count(b) > 1})
            if repeated:
                problems.append((f"{key}.{field}", repeated, "lists a bucket more than once"))
            shared = sorted((set(listed) & stack_wide) | ({s.bucket.name} & set(listed)))
            if shared:
                problems.append((f"{key}.{field}", shared, "every team already reaches it (bucket.name, "
                                                           "bucket.readOnlyBuckets or bucket.readWriteBuckets)"))
        both = sorted(set(team.read_only_buckets) & set(team.read_write_buckets))
        if both:
            problems.append((f"{key}.readOnlyBuckets", both, "a bucket cannot be both read-only and read-write"))
        for other, theirs in s.teams.items():
            taken = sorted(set(team.read_only_buckets + team.read_write_buckets) & set(theirs.read_write_buckets))
            if other != name and taken:
                problems.append((f"{key}.readWriteBuckets" if set(taken) & set(team.read_write_buckets)
                                 else f"{key}.readOnlyBuckets", taken,
                                 f"teams.{other} writes it (readWriteBuckets); a team's read-write bucket is its own"))
    return problems


def _team_quotas(s: StackSettings) -> list[Problem]:
    """AWS Batch quotas per account and region (AWS Batch user guide, "AWS Batch service quotas"), counting only
    this stack: other stacks in the account use the same quotas."""
    capped = [n for n, t in s.teams.items() if t.max_vcpus is not None]
    queues = 3 + s.compute.gpu.enabled + len(capped)
    environments = 2 + s.compute.gpu.enabled + (s.head_job.platform == "fargate") + len(capped)
    problems = []
    if len(s.teams) > SHARE_IDENTIFIERS_PER_QUEUE:
        problems.append(("teams", f"{len(s.teams)} teams", f"at most {SHARE_IDENTIFIERS_PER_QUEUE}: a job queue has "
                                                           "at most that many active share identifiers"))
    if queues > JOB_QUEUES_PER_ACCOUNT or environments > COMPUTE_ENVIRONMENTS_PER_ACCOUNT:
        problems.append(("teams", f"{len(capped)} teams with maxVcpus",
                         f"give this stack {queues} job queues and {environments} compute environments; AWS Batch "
                         f"allows {JOB_QUEUES_PER_ACCOUNT} of each per account and region: cap fewer teams (the "
                         "others share by weight)"))
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
        head = head_job_policy(partition="aws", region=s.region, account_id=account,
                               queue_arns=[f"{batch}:job-queue/{queue}"] * 4, read_write_buckets=[],
                               task_role_arn=f"arn:aws:iam::{account}:role/" + "r" * 60, s3_statements=s3)
        run = team_run_policy(partition="aws", region=s.region, account_id=account, team=name,
                              head_queue_arn=f"{batch}:job-queue/{queue}", job_definition_name="d" * 60,
                              bucket_arn=work, log_group_name="l" * 40,
                              budget_name="b" * 60 if team.monthly_budget_usd is not None else None)
        sizes = {"task role's inline policy": (_policy_chars({"Statement": s3}), ROLE_INLINE_POLICY_CHARS),
                 "head role's inline policy": (_policy_chars(head), ROLE_INLINE_POLICY_CHARS),
                 "run policy": (_policy_chars(run), MANAGED_POLICY_CHARS)}
        problems += [(f"teams.{name}.readOnlyBuckets", f"{len(read_only)} read-only and {len(read_write)} read-write "
                      "buckets", f"make the team's {what} {size} characters; IAM allows {limit}: list fewer buckets")
                     for what, (size, limit) in sizes.items() if size > limit][:1]
    return problems


def _teams(s: StackSettings) -> list[Problem]:
    if not s.teams:
        return []
    problems = _team_buckets(s) + _team_quotas(s) + _team_policies(s)
    for name, team in s.teams.items():
        problems += _team_budget(name, team)
        if team.max_vcpus is not None and team.max_vcpus > s.compute.spot.max_vcpus:
            problems.append((f"teams.{name}.maxVcpus", team.max_vcpus,
                             f"must be at most compute.spot.maxVcpus ({s.compute.spot.max_vcpus}): a team's cap is "
                             "a part of the stack's spot capacity"))
        if len(set(team.principals)) != len(team.principals):
            problems.append((f"teams.{name}.principals", team.principals, "lists a principal more than once"))
    if TEAM_TAG in s.tags or TEAM_TAG.lower() in {k.lower() for k in s.tags}:
        problems.append((f"tags.{TEAM_TAG}", s.tags.get(TEAM_TAG, ""), "is set by the program on every team's "
                                                                       "resources and jobs when teams are defined"))
    return problems


RULES = (_network, _bucket, _root_volume, _compute, _head_job, _tags, _inline_policies, _alerts, _teams)


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
    strategy = s.compute.spot.allocation_strategy
    if strategy not in UPDATABLE_ALLOCATION_STRATEGIES:
        found.append(f"WARNING compute.spot.allocationStrategy = {strategy}: the AWS provider cannot update this spot "
                     "compute environment in place, so any change to the launch template, instance types or "
                     "subnets REPLACES it, stopping the jobs running on it; use SPOT_CAPACITY_OPTIMIZED unless "
                     "you accept that")
    needed, stop = stop_seconds_needed(s), s.launch_template.ecs_agent.container_stop_timeout_seconds
    if stop < needed:
        found.append(f"WARNING launchTemplate.ecsAgent.containerStopTimeoutSeconds = {stop}: a stopped head needs "
                     f"about {needed} s to cancel the up to {most_concurrent_tasks(s)} tasks this stack can run at "
                     f"{NEXTFLOW_SUBMIT_RATE_PER_SECOND}/s; Docker kills it sooner and the rest keep running "
                     f"(fix: pulumi config set --path "
                     f"'genomics-batch:launchTemplate.ecsAgent.containerStopTimeoutSeconds' {min(needed, 600)})")
    if s.network.mode == "existing":
        found.append("WARNING network.mode = existing: instances in subnetIds need outbound access (a NAT gateway or "
                     "public IPs) to reach ECR, the ECS and Batch endpoints and the AWS CLI download; without it "
                     "every instance fails its boot and shuts down")
        if not s.network.route_table_ids:
            found.append("WARNING network.routeTableIds is empty: no S3 gateway endpoint is added, so S3 traffic "
                         "takes the VPC's own route (NAT data processing is $0.045/GB)")
    return found
