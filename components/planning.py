"""Pure planners: every layout decision of the stack, as plain functions of plain values.

The components declare exactly what these return, and the cost estimate counts from the same plans, so a decision
is made once. Standard library only; tested directly, without mocks.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Literal

from facts.contract import queue_capacity

Egress = Literal["public", "nat-single", "nat-per-az"]
NetworkMode = Literal["create", "existing"]
# AWS subnets are at most /16 and at least /28 (CreateSubnet).
SMALLEST_SUBNET_PREFIX = 28


@dataclass(frozen=True)
class SubnetPlan:
    """One availability zone's subnets: the zone is known by position only; names arrive at deploy time."""

    index: int
    public_cidr: str
    private_cidr: str | None  # None in public egress mode: instances live in the public subnet
    nat: int | None  # which NAT gateway (by index) the private subnet routes through


@dataclass(frozen=True)
class NetworkPlan:
    subnets: tuple[SubnetPlan, ...]
    nat_gateways: tuple[int, ...]  # each NAT gateway sits in the public subnet of this index
    public_instances: bool  # instances get public IPv4 addresses (billed per hour)


def plan_network(mode: NetworkMode, cidr: str, az_count: int, egress: Egress) -> NetworkPlan:
    """Split `cidr` into equal blocks: one public subnet per zone, plus, behind NAT, one private subnet per zone.

    `nat-single` puts one NAT gateway in the first public subnet for every zone; `nat-per-az` one per zone, so a
    zone's outage never cuts another zone's egress. In `existing` mode the VPC's owner decides all of it.
    """
    if mode == "existing":
        return NetworkPlan(subnets=(), nat_gateways=(), public_instances=False)
    network = ipaddress.IPv4Network(cidr)
    needed = az_count * (1 if egress == "public" else 2)
    blocks = list(network.subnets(prefixlen_diff=max(1, math.ceil(math.log2(needed)))))
    if blocks[0].prefixlen > SMALLEST_SUBNET_PREFIX:
        raise ValueError(
            f"{cidr} is too small for {needed} subnets (AWS subnets are at least /{SMALLEST_SUBNET_PREFIX})"
        )
    nat_gateways = {"public": (), "nat-single": (0,), "nat-per-az": tuple(range(az_count))}[egress]
    subnets = tuple(
        SubnetPlan(
            index=i,
            public_cidr=str(blocks[i]),
            private_cidr=None if egress == "public" else str(blocks[az_count + i]),
            nat=None if egress == "public" else (i if egress == "nat-per-az" else 0),
        )
        for i in range(az_count)
    )
    return NetworkPlan(subnets=subnets, nat_gateways=nat_gateways, public_instances=egress == "public")


@dataclass(frozen=True)
class QueuePlan:
    key: str
    priority: int
    environments: tuple[str, ...]  # capacity kinds (facts.contract.SPOT / ON_DEMAND), in order of preference


def plan_queues(
    head: int, priority: int, default: int, spot_fallback: bool, head_platform: str = "ec2", gpu: bool = False
) -> list[QueuePlan]:
    """The queues with their priorities and the capacity each uses (from the contract). The GPU queue alone uses
    the GPU environment, so its priority only orders it among other queues of that environment: the default's."""
    priorities = {"head": head, "default": default, "priority": priority, "gpu": default}
    return [
        QueuePlan(key, priorities[key], capacity)
        for key, capacity in queue_capacity(spot_fallback, head_platform, gpu).items()
    ]
