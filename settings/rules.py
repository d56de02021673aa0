"""Rules that involve more than one key, or facts pydantic's types cannot express, checked on a parsed model.

Each rule returns problems as (key path, value, what is allowed); `cross_key_problems` runs them all.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from components.contract import COST_TAG_KEYS, NEXTFLOW_SUBMIT_RATE_PER_SECOND
from components.update_rules import UPDATABLE_ALLOCATION_STRATEGIES
from settings.errors import MISSING
from settings.limits import (
    GP3_MAX_IOPS_PER_GIB,
    GP3_MAX_MIBPS_PER_IOPS,
    LOG_RETENTION_DAYS,
    ROUTE_TABLE_ID,
    SUBNET_ID,
    TAG_KEY,
    TAG_VALUE,
    VPC_ID,
)
from settings.model import StackSettings

Problem = tuple[str, Any, str]


def _cidr(s: StackSettings) -> list[Problem]:
    cidr = s.network.cidr
    try:
        network = ipaddress.IPv4Network(cidr)
    except ValueError:
        return [("network.cidr", cidr, "must be an IPv4 CIDR block such as 10.0.0.0/16")]
    if not 16 <= network.prefixlen <= 24:
        return [("network.cidr", cidr, "prefix length must be between /16 and /24")]
    if not network.is_private:
        return [("network.cidr", cidr, "must be a private (RFC 1918) range")]
    return []


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
    problems += [(f"network.routeTableIds[{i}]", table, "must look like rtb-0123456789abcdef0")
                 for i, table in enumerate(net.route_table_ids) if not ROUTE_TABLE_ID.fullmatch(table)]
    return problems


def _created_network(s: StackSettings) -> list[Problem]:
    net, problems = s.network, []
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


def _compute(s: StackSettings) -> list[Problem]:
    c, problems = s.compute, []
    if len(set(c.instance_types)) != len(c.instance_types):
        problems.append(("compute.instanceTypes", c.instance_types, "must not repeat an instance type"))
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
                 "must be one of " + ", ".join(map(str, LOG_RETENTION_DAYS)))]
    return []


def _tags(s: StackSettings) -> list[Problem]:
    problems = []
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


RULES = (_network, _bucket, _root_volume, _compute, _head_job, _tags)


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
