"""BatchNetworking: the VPC, subnets, egress and no-ingress security group that Batch instances run in.

`components.planning.plan_network` decides subnets and NAT placement; this component only declares what it says.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.planning import Egress, NetworkMode, NetworkPlan, SubnetPlan, plan_network

if TYPE_CHECKING:
    from settings import StackSettings


@dataclass(frozen=True)
class BatchNetworkingArgs:
    mode: NetworkMode
    cidr: str
    az_count: int
    egress: Egress
    availability_zones: list[str] | None  # None: the region's first az_count zones, looked up at deploy time
    vpc_id: str | None
    subnet_ids: list[str]
    route_table_ids: list[str]  # existing mode: where the S3 gateway endpoint goes

    @classmethod
    def from_settings(cls, s: StackSettings) -> BatchNetworkingArgs:
        n = s.network
        return cls(
            mode=n.mode,
            cidr=n.cidr,
            az_count=n.az_count,
            egress=n.egress,
            availability_zones=n.availability_zones,
            vpc_id=n.vpc_id,
            subnet_ids=list(n.subnet_ids),
            route_table_ids=list(n.route_table_ids),
        )


def first_zones(names: list[str], count: int) -> list[str]:
    """The region's first `count` available zones; a clean error, naming the fix, when it has fewer."""
    if len(names) < count:
        raise pulumi.RunError(
            f"genomics-batch:network.azCount = {count}: this region has only {len(names)} available zones "
            f"({', '.join(names)}); fix: pulumi config set --stack {pulumi.get_stack()} --path "
            f"'genomics-batch:network.azCount' {len(names)}"
        )
    return list(names[:count])


class BatchNetworking(pulumi.ComponentResource):
    """Where Batch instances live. Outputs: vpc_id, subnet_ids (for compute environments), security_group_id."""

    vpc_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[list[str]]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: BatchNetworkingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:networking:BatchNetworking", name, None, opts)
        self._name, self._child = name, pulumi.ResourceOptions(parent=self)
        if args.mode == "existing":
            if args.vpc_id is None:  # settings require network.vpcId in this mode; a component built alone may not
                raise ValueError("BatchNetworkingArgs.vpc_id = None: an existing network needs its VPC id")
            self.vpc_id = pulumi.Output.from_input(args.vpc_id)
            self.subnet_ids = pulumi.Output.from_input(list(args.subnet_ids))
            if args.route_table_ids:
                self._s3_endpoint(self.vpc_id, list(args.route_table_ids))
        else:
            self._create(args, plan_network(args.mode, args.cidr, args.az_count, args.egress))
        self.security_group_id = self._security_group().id
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "subnet_ids": self.subnet_ids,
                "security_group_id": self.security_group_id,
            }
        )

    def _security_group(self) -> aws.ec2.SecurityGroup:
        # Batch instances pull images and talk to AWS APIs outbound; nothing ever needs to reach them.
        return aws.ec2.SecurityGroup(
            f"{self._name}-instances",
            description="AWS Batch instances: no ingress, all egress",
            vpc_id=self.vpc_id,
            ingress=[],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    protocol="-1",
                    from_port=0,
                    to_port=0,
                    cidr_blocks=["0.0.0.0/0"],
                    ipv6_cidr_blocks=["::/0"],
                    description="outbound to AWS APIs, registries and data sources",
                )
            ],
            tags={"Name": f"{self._name}-instances"},
            opts=self._child,
        )

    def _zones(self, args: BatchNetworkingArgs) -> pulumi.Output[list[str]]:
        if args.availability_zones is not None:
            return pulumi.Output.from_input(list(args.availability_zones))
        available = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self))
        return available.names.apply(lambda names: first_zones(names, args.az_count))

    def _create(self, args: BatchNetworkingArgs, plan: NetworkPlan) -> None:
        name, child = self._name, self._child
        zones = self._zones(args)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": f"{name}-public"},
            opts=child,
        )
        route_tables, public_subnets, private_subnets = [public_rt], [], []
        nat_gateways: dict[int, aws.ec2.NatGateway] = {}
        for planned in plan.subnets:
            # itemgetter binds this subnet's index now; a lambda would need a default (python/mypy#15459).
            zone = zones.apply(itemgetter(planned.index))
            public_subnets.append(self._public_subnet(vpc, planned, zone, public_rt, plan.public_instances))
            if planned.index in plan.nat_gateways:
                nat_gateways[planned.index] = self._nat_gateway(planned.index, public_subnets[-1], igw)
            if planned.private_cidr is not None and planned.nat is not None:  # plan_network sets both or neither
                subnet, table = self._private_subnet(vpc, planned, zone, nat_gateways[planned.nat])
                private_subnets.append(subnet)
                route_tables.append(table)

        self._s3_endpoint(vpc.id, [rt.id for rt in route_tables])
        self.vpc_id = vpc.id
        self.subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets or public_subnets])

    def _s3_endpoint(self, vpc_id: pulumi.Input[str], route_table_ids: list[pulumi.Input[str]]) -> None:
        # S3 traffic through the gateway endpoint is free and skips the NAT's per-GB charge.
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self))
        aws.ec2.VpcEndpoint(
            f"{self._name}-s3",
            vpc_id=vpc_id,
            vpc_endpoint_type="Gateway",
            service_name=region.region.apply(lambda r: f"com.amazonaws.{r}.s3"),
            route_table_ids=route_table_ids,
            tags={"Name": f"{self._name}-s3"},
            opts=self._child,
        )

    def _public_subnet(
        self,
        vpc: aws.ec2.Vpc,
        planned: SubnetPlan,
        zone: pulumi.Output[str],
        table: aws.ec2.RouteTable,
        public_instances: bool,
    ) -> aws.ec2.Subnet:
        name, i = self._name, planned.index
        subnet = aws.ec2.Subnet(
            f"{name}-public-{i}",
            vpc_id=vpc.id,
            cidr_block=planned.public_cidr,
            availability_zone=zone,
            # Public egress mode: instances need an address to reach ECR and S3; the security group has no ingress.
            map_public_ip_on_launch=public_instances,
            tags={"Name": f"{name}-public-{i}", "Tier": "public"},
            opts=self._child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public-{i}", subnet_id=subnet.id, route_table_id=table.id, opts=self._child
        )
        return subnet

    def _nat_gateway(self, i: int, subnet: aws.ec2.Subnet, igw: aws.ec2.InternetGateway) -> aws.ec2.NatGateway:
        name = self._name
        eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags={"Name": f"{name}-nat-{i}"}, opts=self._child)
        return aws.ec2.NatGateway(
            f"{name}-nat-{i}",
            allocation_id=eip.id,
            subnet_id=subnet.id,
            tags={"Name": f"{name}-nat-{i}"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
        )

    def _private_subnet(
        self, vpc: aws.ec2.Vpc, planned: SubnetPlan, zone: pulumi.Output[str], nat: aws.ec2.NatGateway
    ) -> tuple[aws.ec2.Subnet, aws.ec2.RouteTable]:
        name, i, child = self._name, planned.index, self._child
        subnet = aws.ec2.Subnet(
            f"{name}-private-{i}",
            vpc_id=vpc.id,
            cidr_block=planned.private_cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={"Name": f"{name}-private-{i}", "Tier": "private"},
            opts=child,
        )
        table = aws.ec2.RouteTable(
            f"{name}-private-{i}",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
            tags={"Name": f"{name}-private-{i}"},
            opts=child,
        )
        aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=subnet.id, route_table_id=table.id, opts=child)
        return subnet, table
