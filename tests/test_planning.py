"""The pure planners: network (subnets and NAT placement, with hypothesis properties) and queues."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.planning import plan_network, plan_queues
from facts.contract import ON_DEMAND, SPOT

EGRESS = ["public", "nat-single", "nat-per-az"]


@st.composite
def private_cidrs(draw) -> str:
    """Any private range the settings accept: /16 to /24 inside one of the RFC 1918 blocks."""
    block = ipaddress.IPv4Network(draw(st.sampled_from(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])))
    prefix = draw(st.integers(min_value=max(16, block.prefixlen), max_value=24))
    offset = draw(st.integers(min_value=0, max_value=block.num_addresses - 1))
    return str(ipaddress.IPv4Network((int(block.network_address) + offset, prefix), strict=False))


@given(cidr=private_cidrs(), az_count=st.integers(min_value=2, max_value=6), egress=st.sampled_from(EGRESS))
def test_every_network_plan_fits_the_vpc_without_overlap(cidr, az_count, egress):
    plan = plan_network("create", cidr, az_count, egress)
    vpc = ipaddress.IPv4Network(cidr)
    public = [ipaddress.IPv4Network(s.public_cidr) for s in plan.subnets]
    private = [ipaddress.IPv4Network(s.private_cidr) for s in plan.subnets if s.private_cidr]
    blocks = public + private
    assert all(b.subnet_of(vpc) and b.prefixlen <= 28 for b in blocks)
    assert all(not a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    # One public subnet per zone; private subnets exactly when egress goes through NAT.
    assert [s.index for s in plan.subnets] == list(range(az_count))
    assert len(private) == (0 if egress == "public" else az_count)
    # NAT gateways sit in public subnets only, and every private subnet routes through one that exists.
    assert set(plan.nat_gateways) <= {s.index for s in plan.subnets}
    assert all((s.nat is None) == (s.private_cidr is None) for s in plan.subnets)
    assert all(s.nat in plan.nat_gateways for s in plan.subnets if s.private_cidr)
    assert len(plan.nat_gateways) == {"public": 0, "nat-single": 1, "nat-per-az": az_count}[egress]
    assert plan.public_instances == (egress == "public")


def test_nat_per_az_keeps_each_zone_on_its_own_gateway():
    plan = plan_network("create", "10.0.0.0/16", 3, "nat-per-az")
    assert [s.nat for s in plan.subnets] == [0, 1, 2]
    single = plan_network("create", "10.0.0.0/16", 3, "nat-single")
    assert single.nat_gateways == (0,) and [s.nat for s in single.subnets] == [0, 0, 0]


def test_existing_mode_plans_nothing():
    plan = plan_network("existing", "10.0.0.0/16", 2, "nat-per-az")
    assert plan.subnets == () and plan.nat_gateways == () and not plan.public_instances


def test_a_vpc_too_small_for_the_zones_is_refused():
    with pytest.raises(ValueError, match="too small"):
        plan_network("create", "10.0.0.0/28", 3, "nat-per-az")


def test_head_queue_is_on_demand_only_and_default_is_spot_only():
    plans = {p.key: p for p in plan_queues(100, 50, 10, spot_fallback=False)}
    assert plans["head"].environments == (ON_DEMAND,)
    assert plans["default"].environments == (SPOT,)
    assert plans["priority"].environments == (ON_DEMAND, SPOT)
    assert (plans["head"].priority, plans["priority"].priority, plans["default"].priority) == (100, 50, 10)


def test_spill_over_is_opt_in():
    plans = {p.key: p for p in plan_queues(100, 50, 10, spot_fallback=True)}
    assert plans["default"].environments == (SPOT, ON_DEMAND)
