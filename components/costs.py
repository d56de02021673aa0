"""Cost estimate of a stack from its settings: what it costs idle, and what each running instance adds.

Prices are us-east-1 list prices from the AWS pricing pages of VPC (NAT gateways, endpoints, public IPv4), EBS (gp3),
S3 and CloudWatch; a month is 730 hours. NAT gateways are counted from the network planner's own plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.planning import plan_network

if TYPE_CHECKING:
    from settings import StackSettings

HOURS_PER_MONTH = 730
PRICES = {
    "nat_gateway_hour": 0.045,
    "nat_gateway_gb": 0.045,
    "public_ipv4_hour": 0.005,
    "interface_endpoint_az_hour": 0.01,
    "s3_gateway_endpoint": 0.0,
    "gp3_gb_month": 0.08,
    "gp3_iops_month_above_3000": 0.005,
    "gp3_mibps_month_above_125": 0.04,
    "s3_standard_gb_month": 0.023,
    "cloudwatch_logs_gb_ingested": 0.50,
    "cloudwatch_logs_gb_month_stored": 0.03,  # Amazon CloudWatch pricing, Logs "Store (Archival)"
    "kms_key_month": 1.00,
    # Amazon ECR pricing (https://aws.amazon.com/ecr/pricing/): private storage per GB-month; pulls to EC2 in the
    # same region transfer free.
    "ecr_storage_gb_month": 0.10,
    # AWS Fargate pricing, Linux/x86: per vCPU-hour and per GB-hour.
    "fargate_vcpu_hour": 0.04048,
    "fargate_gb_hour": 0.004445,
}

# Amazon EC2 On-Demand pricing (us-east-1, Linux) of each GPU family's smallest size: what one GPU instance
# costs an hour, the plan's "typical" GPU instance.
# What a cached pipeline's images weigh, compressed as ECR stores them: an nf-core pipeline such as rnaseq pulls a
# few dozen biocontainers of 0.05-1 GB each, so a few GB (our estimate, not a measurement).
TYPICAL_CACHE_GB = 5

GPU_INSTANCE_HOUR = {
    "g4dn": ("g4dn.xlarge", 0.526),
    "g5": ("g5.xlarge", 1.006),
    "g6": ("g6.xlarge", 0.8048),
    "g6e": ("g6e.xlarge", 1.861),
    "g5g": ("g5g.xlarge", 0.42),
    "p4d": ("p4d.24xlarge", 32.7726),
    "p5": ("p5.48xlarge", 98.32),
}


def root_volume_month(size_gib: int, iops: int, throughput_mibps: int) -> float:
    return (
        size_gib * PRICES["gp3_gb_month"]
        + max(0, iops - 3000) * PRICES["gp3_iops_month_above_3000"]
        + max(0, throughput_mibps - 125) * PRICES["gp3_mibps_month_above_125"]
    )


def team_costs(settings: StackSettings) -> dict:
    """Per team: its share of the shared task queues when every team sharing them has work waiting (weights are
    relative; a capped team's tasks run on its own queue instead), its cap, and its monthly budget."""
    total = sum(t.weight for t in settings.teams.values() if t.max_vcpus is None)
    return {
        name: {
            "sharePercent": None if t.max_vcpus else round(100 * t.weight / total, 1),
            "maxVcpus": t.max_vcpus,
            "monthlyBudgetUsd": t.monthly_budget_usd,
        }
        for name, t in sorted(settings.teams.items())
    }


def _option_costs(settings: StackSettings) -> dict:
    """Figures for the compute options, present only when they are on (the plans of stacks without them keep
    their shape)."""
    extra = {}
    gpu = settings.compute.gpu
    if gpu.enabled:
        family = gpu.instance_types[0].split(".")[0]
        if family in GPU_INSTANCE_HOUR:
            name, price = GPU_INSTANCE_HOUR[family]
            extra["gpuInstanceHour"] = {"instanceType": name, "usd": price}
    if settings.teams:
        extra["teams"] = team_costs(settings)
    if settings.registry_cache.enabled:
        extra["registryCache"] = {
            "perGbMonth": PRICES["ecr_storage_gb_month"],
            "typicalGb": TYPICAL_CACHE_GB,
            "typicalMonthly": round(TYPICAL_CACHE_GB * PRICES["ecr_storage_gb_month"], 2),
        }
    head = settings.head_job
    if head.platform == "fargate":
        hour = head.vcpus * PRICES["fargate_vcpu_hour"] + head.memory_mib / 1024 * PRICES["fargate_gb_hour"]
        extra["fargateHeadHour"] = round(hour, 4)
    return extra


# What one "ECS Container Instance State Change" event weighs as EventBridge writes it (compact JSON): the ECS
# guide's sample (ecs_container_instance_events.html) is 2.2 KB with 14 attributes; a current agent registers
# several times as many, so 6 KB (our estimate, not a measurement). Events come 2 per task (placed, stopped: the
# instance's remaining resources change) and, per instance, at registration and deregistration and each time the
# agent reconnects, "several times per hour" (same guide): 6 an hour is assumed.
RECORD_EVENT_BYTES = 6000
RECORD_EVENTS_PER_TASK = 2
RECORD_EVENTS_PER_INSTANCE_HOUR = 6


def instance_record_costs(settings: StackSettings) -> dict:
    """What recording the container instances costs (runCosts.recordInstances): ingestion per 1,000 tasks and per
    1,000 instance-hours, and storage, kept runCosts.recordRetentionDays. No idle cost: no instances, no events."""
    runs = settings.run_costs
    if not runs.record_instances:
        return {}
    gb_per_event = RECORD_EVENT_BYTES / 1e9
    ingest = PRICES["cloudwatch_logs_gb_ingested"]
    return {
        "instanceRecords": {
            "per1000Tasks": round(1000 * RECORD_EVENTS_PER_TASK * gb_per_event * ingest, 4),
            "per1000InstanceHours": round(1000 * RECORD_EVENTS_PER_INSTANCE_HOUR * gb_per_event * ingest, 4),
            "storedPerGbMonth": PRICES["cloudwatch_logs_gb_month_stored"],
            "retentionDays": runs.record_retention_days,
            "eventBytes": RECORD_EVENT_BYTES,
        }
    }


def estimate(settings: StackSettings) -> dict:
    """Plain numbers (US dollars), rounded to the cent or the tenth of a cent."""
    net = settings.network
    network = plan_network(net.mode, net.cidr, net.az_count, net.egress)
    nat = len(network.nat_gateways)  # none in existing mode: egress belongs to the VPC's owner
    idle = {
        "natGateways": nat * PRICES["nat_gateway_hour"] * HOURS_PER_MONTH,
        "natPublicIpv4": nat * PRICES["public_ipv4_hour"] * HOURS_PER_MONTH,
        "s3GatewayEndpoint": PRICES["s3_gateway_endpoint"],
    }
    if settings.alerts.emails:
        idle["alertTopicKey"] = PRICES["kms_key_month"]  # a customer-managed key, so EventBridge may publish
    volume = settings.launch_template.root_volume
    per_instance_hour = {
        "rootVolume": root_volume_month(settings.root_volume_gib, volume.iops, volume.throughput_mibps)
        / HOURS_PER_MONTH,
        "publicIpv4": PRICES["public_ipv4_hour"] if network.public_instances else 0.0,
    }
    return {
        **_option_costs(settings),
        **instance_record_costs(settings),
        "idleMonthly": {k: round(v, 2) for k, v in idle.items()},
        "idleMonthlyTotal": round(sum(idle.values()), 2),
        "perInstanceHour": {k: round(v, 4) for k, v in per_instance_hour.items()},
        "perInstanceHourTotal": round(sum(per_instance_hour.values()), 4),
        "usage": {
            "natPerGb": PRICES["nat_gateway_gb"] if nat else 0.0,
            "s3StandardPerGbMonth": PRICES["s3_standard_gb_month"],
            "logsPerGbIngested": PRICES["cloudwatch_logs_gb_ingested"],
        },
        "assumptions": "us-east-1 list prices, 730 h/month; EC2 instance prices and data transfer not included",
    }
