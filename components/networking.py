"""BatchNetworking: the VPC, subnets, egress and no-ingress security group that Batch instances run in.

`plan_subnets` decides the address plan as a pure function; the component only declares what it returns.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

Egress = Literal["public", "nat-single", "nat-per-az"]


@dataclass(frozen=True)
class SubnetPlan:
    availability_zone: str
    public_cidr: str
    private_cidr: str | None


def plan_subnets(cidr: str, zones: list[str], egress: Egress) -> list[SubnetPlan]:
    """Split `cidr` into equal blocks: one public subnet per zone, plus one private subnet per zone behind NAT."""
    network = ipaddress.IPv4Network(cidr)
    needed = len(zones) * (1 if egress == "public" else 2)
    extra_bits = max(1, math.ceil(math.log2(needed)))
    blocks = list(network.subnets(prefixlen_diff=extra_bits))
    if blocks[0].prefixlen > 28:
        raise ValueError(f"{cidr} is too small for {needed} subnets (AWS subnets are at least /28)")
    plans = []
    for i, zone in enumerate(zones):
        private = None if egress == "public" else str(blocks[len(zones) + i])
        plans.append(SubnetPlan(zone, str(blocks[i]), private))
    return plans


@dataclass(frozen=True)
class BatchNetworkingArgs:
    mode: Literal["create", "existing"] = "create"
    cidr: str = "10.0.0.0/16"
    az_count: int = 2
    egress: Egress = "public"
    availability_zones: list[str] | None = None
    vpc_id: str | None = None
    subnet_ids: list[str] = field(default_factory=list)


class BatchNetworking(pulumi.ComponentResource):
    """Where Batch instances live. Outputs: vpc_id, subnet_ids (for compute environments), security_group_id."""

    vpc_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[list[str]]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: BatchNetworkingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:networking:BatchNetworking", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        if args.mode == "existing":
            self.vpc_id = pulumi.Output.from_input(args.vpc_id)
            self.subnet_ids = pulumi.Output.from_input(list(args.subnet_ids))
        else:
            self._create(name, args, child)

        # Batch instances pull images and talk to AWS APIs outbound; nothing ever needs to reach them.
        sg = aws.ec2.SecurityGroup(
            f"{name}-instances",
            description="AWS Batch instances: no ingress, all egress",
            vpc_id=self.vpc_id,
            ingress=[],
            egress=[aws.ec2.SecurityGroupEgressArgs(
                protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"], ipv6_cidr_blocks=["::/0"],
                description="outbound to AWS APIs, registries and data sources",
            )],
            tags={"Name": f"{name}-instances"},
            opts=child,
        )
        self.security_group_id = sg.id
        self.register_outputs({
            "vpc_id": self.vpc_id, "subnet_ids": self.subnet_ids, "security_group_id": self.security_group_id,
        })

    def _create(self, name: str, args: BatchNetworkingArgs, child: pulumi.ResourceOptions) -> None:
        zones = args.availability_zones
        if zones is None:
            available = aws.get_availability_zones_output(
                state="available", opts=pulumi.InvokeOutputOptions(parent=self))
            zones_output = available.names.apply(lambda names: names[: args.az_count])
        else:
            zones_output = pulumi.Output.from_input(list(zones))

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=args.cidr, enable_dns_hostnames=True, enable_dns_support=True,
                          tags={"Name": f"{name}-vpc"}, opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": f"{name}-public"}, opts=child,
        )
        route_tables = [public_rt]
        public_subnets, private_subnets, nat_gateways = [], [], []
        # The plan's shape (how many subnets) must be known now; only zone names may arrive later.
        shape = plan_subnets(args.cidr, [f"zone-{i}" for i in range(args.az_count)], args.egress)
        for i, planned in enumerate(shape):
            zone = zones_output.apply(lambda zs, i=i: zs[i])
            public = aws.ec2.Subnet(
                f"{name}-public-{i}", vpc_id=vpc.id, cidr_block=planned.public_cidr, availability_zone=zone,
                # Public egress mode: instances need an address to reach ECR and S3; the security group has no ingress.
                map_public_ip_on_launch=args.egress == "public",
                tags={"Name": f"{name}-public-{i}", "Tier": "public"}, opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=public.id, route_table_id=public_rt.id,
                                          opts=child)
            public_subnets.append(public)
            if args.egress == "public":
                continue
            if args.egress == "nat-per-az" or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags={"Name": f"{name}-nat-{i}"}, opts=child)
                nat_gateways.append(aws.ec2.NatGateway(
                    f"{name}-nat-{i}", allocation_id=eip.id, subnet_id=public.id,
                    tags={"Name": f"{name}-nat-{i}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                ))
            private = aws.ec2.Subnet(
                f"{name}-private-{i}", vpc_id=vpc.id, cidr_block=planned.private_cidr, availability_zone=zone,
                map_public_ip_on_launch=False, tags={"Name": f"{name}-private-{i}", "Tier": "private"}, opts=child,
            )
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{i}", vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat_gateways[-1].id)],
                tags={"Name": f"{name}-private-{i}"}, opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=private.id,
                                          route_table_id=private_rt.id, opts=child)
            route_tables.append(private_rt)
            private_subnets.append(private)

        # S3 traffic through the gateway endpoint is free and skips the NAT's per-GB charge.
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self))
        aws.ec2.VpcEndpoint(
            f"{name}-s3", vpc_id=vpc.id, vpc_endpoint_type="Gateway",
            service_name=region.region.apply(lambda r: f"com.amazonaws.{r}.s3"),
            route_table_ids=[rt.id for rt in route_tables], tags={"Name": f"{name}-s3"}, opts=child,
        )
        self.vpc_id = vpc.id
        instance_subnets = private_subnets or public_subnets
        self.subnet_ids = pulumi.Output.all(*[s.id for s in instance_subnets])
