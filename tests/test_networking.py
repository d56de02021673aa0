"""BatchNetworking: what the component declares in each egress mode (the address plan is in test_planning)."""

import pulumi
import pytest
from conftest import build_component, component_args, resolve

from components.networking import BatchNetworking, BatchNetworkingArgs

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def build(**kwargs):
    return build_component(lambda: BatchNetworking("net", component_args(BatchNetworkingArgs, **kwargs)))


def routes_of(table):
    return table.inputs.get("routes", [])


def test_public_mode_spreads_subnets_over_zones_with_no_nat():
    mocks, net = build(az_count=3, egress="public")
    subnets = mocks.of_type("aws:ec2/subnet:Subnet")
    assert len(subnets) == 3
    assert sorted(s.inputs["availabilityZone"] for s in subnets) == ZONES
    assert all(s.inputs["mapPublicIpOnLaunch"] for s in subnets)
    assert mocks.of_type("aws:ec2/natGateway:NatGateway") == []
    igw = mocks.named("net-igw")
    [public_rt] = mocks.of_type("aws:ec2/routeTable:RouteTable")
    assert routes_of(public_rt) == [{"cidrBlock": "0.0.0.0/0", "gatewayId": igw.outputs["id"]}]
    assert sorted(resolve(net.subnet_ids)) == sorted(s.outputs["id"] for s in subnets)


@pytest.mark.parametrize(("egress", "nat_count"), [("nat-single", 1), ("nat-per-az", 3)])
def test_nat_modes_put_instances_in_private_subnets(egress, nat_count):
    mocks, net = build(az_count=3, egress=egress)
    nats = mocks.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == nat_count
    public = [s for s in mocks.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["Tier"] == "public"]
    private = [s for s in mocks.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["Tier"] == "private"]
    assert len(public) == len(private) == 3
    assert not any(s.inputs["mapPublicIpOnLaunch"] for s in public + private)
    assert sorted(resolve(net.subnet_ids)) == sorted(s.outputs["id"] for s in private)
    nat_ids = {n.outputs["id"] for n in nats}
    private_tables = [t for t in mocks.of_type("aws:ec2/routeTable:RouteTable") if "private" in t.name]
    assert {routes_of(t)[0]["natGatewayId"] for t in private_tables} == nat_ids
    assert all(n.inputs["subnetId"] in {s.outputs["id"] for s in public} for n in nats)


def test_s3_gateway_endpoint_serves_every_route_table():
    mocks, _ = build(az_count=2, egress="nat-per-az")
    [endpoint] = mocks.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"
    tables = {t.outputs["id"] for t in mocks.of_type("aws:ec2/routeTable:RouteTable")}
    assert set(endpoint.inputs["routeTableIds"]) == tables and len(tables) == 3


def test_security_group_has_no_ingress_and_open_egress():
    mocks, net = build()
    [sg] = mocks.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert sg.inputs.get("ingress", []) == []
    [egress] = sg.inputs["egress"]
    assert egress["protocol"] == "-1" and egress["cidrBlocks"] == ["0.0.0.0/0"]
    assert resolve(net.security_group_id) == sg.outputs["id"]


def test_existing_mode_declares_only_the_security_group():
    subnets = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    mocks, net = build(mode="existing", vpc_id="vpc-0123456789abcdef0", subnet_ids=subnets)
    custom = [r.typ for r in mocks.registrations if r.custom]
    assert custom == ["aws:ec2/securityGroup:SecurityGroup"]
    assert mocks.named("net-instances").inputs["vpcId"] == "vpc-0123456789abcdef0"
    assert resolve(net.subnet_ids) == subnets
    assert resolve(net.vpc_id) == "vpc-0123456789abcdef0"


def test_pinned_zones_are_used_and_zone_lookup_is_skipped():
    mocks, _ = build(availability_zones=["us-east-1c", "us-east-1d"])
    assert sorted(s.inputs["availabilityZone"] for s in mocks.of_type("aws:ec2/subnet:Subnet")) == [
        "us-east-1c",
        "us-east-1d",
    ]
    assert not any(token.endswith("getAvailabilityZones") for token, _ in mocks.calls)


def test_children_are_parented_to_the_component():
    mocks, _net = build(egress="nat-single")
    component = mocks.named("net")
    assert component.typ == "genomics:networking:BatchNetworking"
    assert all(r.parent == component.urn for r in mocks.registrations if r is not component)


def test_existing_mode_adds_the_s3_endpoint_to_the_given_route_tables():
    subnets = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    tables = ["rtb-0123456789abcdef0", "rtb-0fedcba9876543210"]
    mocks, _ = build(mode="existing", vpc_id="vpc-0123456789abcdef0", subnet_ids=subnets, route_table_ids=tables)
    [endpoint] = mocks.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["vpcId"] == "vpc-0123456789abcdef0" and endpoint.inputs["routeTableIds"] == tables
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"


def test_a_region_with_fewer_zones_than_az_count_fails_cleanly():
    from components.networking import first_zones

    assert first_zones(["eu-north-1a", "eu-north-1b", "eu-north-1c"], 2) == ["eu-north-1a", "eu-north-1b"]
    with pytest.raises(
        pulumi.RunError,
        match=r"azCount = 4: this region has only 3 available zones \(a, b, c\); "
        r"fix: pulumi config set --stack \S+ --path 'genomics-batch:network.azCount' 3",  # the stack by name
    ):
        first_zones(["a", "b", "c"], 4)


def test_the_zone_lookup_goes_through_first_zones(monkeypatch):
    import components.networking as networking

    seen = []
    monkeypatch.setattr(
        networking, "first_zones", lambda names, count: seen.append((len(names), count)) or list(names[:count])
    )
    mocks, _ = build(az_count=3)
    assert seen == [(6, 3)]  # the mocked region's six zones, cut to azCount
    assert len(mocks.of_type("aws:ec2/subnet:Subnet")) == 3


def test_existing_mode_without_a_vpc_id_is_refused():
    # Settings require network.vpcId in existing mode (settings/rules.py); built alone, the component says so too.
    with pytest.raises(ValueError, match=r"^BatchNetworkingArgs.vpc_id = None: an existing network needs its VPC id$"):
        build(mode="existing", vpc_id=None, subnet_ids=["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"])
