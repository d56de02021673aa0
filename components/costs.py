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
    "kms_key_month": 1.00,
}


def root_volume_month(size_gib: int, iops: int, throughput_mibps: int) -> float:
    return (size_gib * PRICES["gp3_gb_month"] + max(0, iops - 3000) * PRICES["gp3_iops_month_above_3000"]
            + max(0, throughput_mibps - 125) * PRICES["gp3_mibps_month_above_125"])


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
        "rootVolume": root_volume_month(volume.size_gib, volume.iops, volume.throughput_mibps) / HOURS_PER_MONTH,
        "publicIpv4": PRICES["public_ipv4_hour"] if network.public_instances else 0.0,
    }
    return {
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
