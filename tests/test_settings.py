"""Stack settings: defaults, the two presets, and a table of bad inputs that must fail with a clear message."""

import json
import runpy

import pulumi
import pytest
from conftest import MAIN, stack_config, start_mocks

from settings import SettingsError, load_settings
from settings.limits import LOG_RETENTION_DAYS

REGION = {"aws:region": "us-east-1"}


def load(**keys):
    raw = dict(REGION)
    for key, value in keys.items():
        raw[f"genomics-batch:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return load_settings(raw, "test")


def test_defaults_are_safe_and_cheap():
    s = load()
    assert s.network.mode == "create" and s.network.egress == "public"  # no NAT: $0 idle
    assert s.bucket.protect and s.bucket.versioning and not s.bucket.force_destroy
    assert s.compute.spot.bid_percentage == 100
    assert s.compute.spot_fallback_to_on_demand is False
    assert s.launch_template.root_volume.iops == 3000 and s.launch_template.root_volume.throughput_mibps == 125
    assert s.launch_template.key_name is None
    assert s.head_job.memory_mib >= 4096
    assert s.cost_tags == {"Project": "genomics-batch", "Stack": "test"}


def test_presets_differ_where_the_issue_says():
    dev = load_settings(stack_config("dev"), "dev")
    prod = load_settings(stack_config("prod"), "prod")
    assert dev.network.egress == "public" and prod.network.egress.startswith("nat-")
    assert dev.bucket.force_destroy and not dev.bucket.protect and not dev.bucket.versioning
    assert prod.bucket.protect and prod.bucket.versioning and not prod.bucket.force_destroy
    assert prod.compute.spot.max_vcpus > dev.compute.spot.max_vcpus
    assert prod.compute.on_demand.max_vcpus > dev.compute.on_demand.max_vcpus


def test_numbers_given_as_strings_are_accepted():
    # `pulumi config set --path` stores scalars as strings.
    assert load(compute={"spot": {"maxVcpus": "512"}}).compute.spot.max_vcpus == 512


BAD = [
    # (config key, value, text the error must contain)
    ("compute", {"spot": {"bidPercentage": 140}}, "compute.spot.bidPercentage = 140: must be between 1 and 100"),
    ("compute", {"spot": {"bidPercentage": 0}}, "compute.spot.bidPercentage = 0: must be between 1 and 100"),
    ("compute", {"spot": {"maxVcpus": -4}}, "compute.spot.maxVcpus = -4: must be between 1 and 100000"),
    ("compute", {"spot": {"maxVcpus": "many"}}, "compute.spot.maxVcpus = many: input should be a valid integer"),
    ("compute", {"spot": {"maxVcpus": True}}, "compute.spot.maxVcpus = true: expected a number, got a boolean"),
    ("compute", {"spot": {"maxVcpus": 2.5}}, "compute.spot.maxVcpus = 2.5"),
    ("compute", {"spot": {"bidPercentge": 50}}, "did you mean 'bidPercentage'?"),
    ("compute", {"instanceTypes": []}, "compute.instanceTypes = []"),
    ("compute", {"instanceTypes": ["M5.XLARGE"]}, "compute.instanceTypes[0] = M5.XLARGE: not an EC2 instance type"),
    ("compute", {"instanceTypes": ["m6i", "m6i"]}, "compute.instanceTypes = [\"m6i\", \"m6i\"]: must not repeat"),
    ("compute", {"instanceTypes": "m6i"}, "compute.instanceTypes = m6i: input should be a valid list"),
    ("compute", {"stuckJobTimeoutSeconds": 60}, "compute.stuckJobTimeoutSeconds = 60: must be between 600 and 86400"),
    ("compute", {"onDemand": {"maxVcpus": 1}}, "compute.onDemand.maxVcpus = 1: must be at least headJob.vcpus (2)"),
    ("compute", "[1, 2]", "genomics-batch:compute = [1, 2]: must be a map of settings"),
    ("network", {"egress": "nat"}, "network.egress = nat: must be one of public, nat-single or nat-per-az"),
    ("network", {"mode": "import"}, "network.mode = import: must be one of create or existing"),
    ("network", {"cidr": "10.0.0.0/33"}, "network.cidr = 10.0.0.0/33: must be an IPv4 CIDR block"),
    ("network", {"cidr": "banana"}, "network.cidr = banana: must be an IPv4 CIDR block"),
    ("network", {"cidr": "10.0.0.0/8"}, "network.cidr = 10.0.0.0/8: prefix length must be between /16 and /24"),
    ("network", {"cidr": "8.8.0.0/16"}, "network.cidr = 8.8.0.0/16: must lie inside a private range AWS accepts"),
    ("network", {"azCount": 1}, "network.azCount = 1: must be between 2 and 6"),
    ("network", {"mode": "existing", "vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"]},
     "network.subnetIds = [\"subnet-0123456789abcdef0\"]: needs at least 2 subnets"),
    ("network", {"mode": "existing", "subnetIds": ["subnet-01234567", "subnet-89abcdef"]},
     "network.vpcId: is required when network.mode is existing"),
    ("network", {"mode": "existing", "vpcId": "vpc-1", "subnetIds": ["subnet-01234567", "subnet-89abcdef"]},
     "network.vpcId = vpc-1: must look like vpc-"),
    ("network", {"mode": "existing", "vpcId": "vpc-01234567", "subnetIds": ["subnet-01234567", "sg-89abcdef"]},
     "network.subnetIds[1] = sg-89abcdef: must look like subnet-"),
    ("network", {"subnetIds": ["subnet-01234567", "subnet-89abcdef"]},
     "network.mode = create: vpcId, subnetIds and routeTableIds are only used when mode is existing"),
    ("network", {"availabilityZones": ["us-east-1a"]}, "network.availabilityZones = [\"us-east-1a\"]: must list "
                                                      "exactly azCount (2) zones"),
    ("bucket", {"name": "My_Bucket"}, "bucket.name = My_Bucket: not a valid S3 bucket name"),
    ("bucket", {"name": "ab"}, "bucket.name = ab: not a valid S3 bucket name: must be 3 to 63 characters long"),
    ("bucket", {"name": "192.168.1.10"}, "must not look like an IP address"),
    ("bucket", {"name": "xn--data"}, "must not start with 'xn--'"),
    ("bucket", {"name": "my..bucket"}, "must not contain '..'"),
    ("bucket", {"readOnlyBuckets": ["ok-bucket", "Bad Bucket"]}, "bucket.readOnlyBuckets[1] = Bad Bucket"),
    ("bucket", {"protect": True, "forceDestroy": True}, "bucket.forceDestroy = true: cannot be true while"),
    ("bucket", {"readOnlyBuckets": ["shared"], "readWriteBuckets": ["shared"]}, "both read-only and read-write"),
    ("bucket", {"workExpirationDays": 0}, "bucket.workExpirationDays = 0: must be between 1 and 3650"),
    ("bucket", {"versioning": "sometimes"}, "bucket.versioning = sometimes: input should be a valid boolean"),
    ("launchTemplate", {"rootVolume": {"sizeGib": -100}}, "launchTemplate.rootVolume.sizeGib = -100: must be between"),
    ("launchTemplate", {"rootVolume": {"iops": 2000}}, "launchTemplate.rootVolume.iops = 2000: must be between 3000"),
    ("launchTemplate", {"rootVolume": {"iops": 90000}}, "rootVolume.iops = 90000: must be between 3000 and 80000"),
    ("launchTemplate", {"rootVolume": {"throughputMibps": 4000}}, "throughputMibps = 4000: must be between 125 and"),
    ("launchTemplate", {"rootVolume": {"sizeGib": 31, "iops": 16000}}, "at most 15500 for 31 GiB"),
    # A too-small volume names the size the user set, not the IOPS they left at the default.
    ("launchTemplate", {"rootVolume": {"sizeGib": 8}}, "rootVolume.sizeGib = 8: must be between 30 and 65536"),
    ("launchTemplate", {"rootVolume": {"iops": 3000, "throughputMibps": 1000}}, "at most 750 for 3000 IOPS"),
    ("launchTemplate", {"ecsAgent": {"imagePullBehavior": "never"}}, "must be one of default, always, once or "
                                                                    "prefer-cached"),
    ("queues", {"headPriority": 5000}, "queues.headPriority = 5000: must be between 0 and 1000"),
    ("queues", {"defaultPriority": -1}, "queues.defaultPriority = -1: must be between 0 and 1000"),
    ("headJob", {"memoryMib": 1024}, "headJob.memoryMib = 1024: must be between 2048 and 65536"),
    ("headJob", {"attempts": 11}, "headJob.attempts = 11: must be between 1 and 10"),
    ("headJob", {"nextflowVersion": "latest"}, "headJob.nextflowVersion = latest"),
    ("headJob", {"logRetentionDays": 42}, "headJob.logRetentionDays = 42: must be 0 (never expire) or one of 1, 3, 5"),
    ("tags", {"aws:owner": "me"}, "tags.aws:owner = me: tag keys must be"),
    ("tags", {"Team": 7}, "genomics-batch:tags = {\"Team\": 7}: must be a map of tag names to string values"),
    ("tags", {"Project": "other"}, "tags.Project = other: Project and Stack are set by the program itself"),
    ("computee", {}, "genomics-batch:computee: unknown key (did you mean 'genomics-batch:compute'?)"),
    # An update may replace instances; a head still inside its own timeout must be able to finish first.
    ("compute", {"updateTimeoutMinutes": 30}, "compute.updateTimeoutMinutes = 30: must be at least "
                                              "headJob.timeoutHours × 60 (7200)"),
    ("compute", {"updateTimeoutMinutes": 9000}, "compute.updateTimeoutMinutes = 9000: must be between 1 and 7200"),
    ("headJob", {"timeoutHours": 168}, "headJob.timeoutHours = 168: must be between 1 and 120"),
    ("compute", {"spot": {"maxSpotAttempts": 11}}, "compute.spot.maxSpotAttempts = 11: must be between 0 and 10"),
    ("compute", {"spot": {"allocationStrategy": "BEST_FIT"}}, "must be one of SPOT_CAPACITY_OPTIMIZED or "
                                                               "SPOT_PRICE_CAPACITY_OPTIMIZED"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BAD, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD)])
def test_bad_input_names_key_value_and_rule(key, value, expected):
    with pytest.raises(SettingsError) as caught:
        load(**{key: value})
    message = str(caught.value)
    assert expected in message
    assert "genomics-batch:" in message
    assert "Traceback" not in message


def test_table_covers_at_least_thirty_distinct_inputs():
    assert len({json.dumps([k, v], sort_keys=True) for k, v, _ in BAD}) >= 30


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        load(compute={"spot": {"bidPercentage": 140, "maxVcpus": 0}}, network={"egress": "nat"})
    assert len(caught.value.problems) == 3


def test_missing_or_bad_region_is_an_error():
    with pytest.raises(SettingsError, match="aws:region: is required"):
        load_settings({}, "dev")
    with pytest.raises(SettingsError, match="aws:region = moon-1: not an AWS region"):
        load_settings({"aws:region": "moon-1"}, "dev")
    # Shaped like a region, but botocore's endpoint data knows no such region.
    with pytest.raises(SettingsError, match=r"aws:region = us-east-9: not an AWS region \(did you mean us-east-\d\?\)"):
        load_settings({"aws:region": "us-east-9"}, "dev")


def test_retention_choices_are_the_ones_cloudwatch_accepts():
    for days in (1, 30, 3653):
        assert days in LOG_RETENTION_DAYS
        assert load(headJob={"logRetentionDays": days}).head_job.log_retention_days == days


def test_program_stops_with_a_clean_error_before_declaring_anything():
    config = stack_config("dev", {"genomics-batch:compute": {"spot": {"bidPercentage": 140}}})
    mocks = start_mocks("dev", config)
    with pytest.raises(pulumi.RunError) as caught:
        runpy.run_path(str(MAIN), run_name="__main__")
    assert "genomics-batch:compute.spot.bidPercentage = 140: must be between 1 and 100" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert mocks.registrations == []


def test_a_shorter_head_timeout_allows_a_shorter_update_timeout():
    s = load(compute={"updateTimeoutMinutes": 120}, headJob={"timeoutHours": 2})
    assert s.update_timeout_minutes == 120
    assert load(headJob={"timeoutHours": 48}).update_timeout_minutes == 48 * 60


def test_existing_mode_warns_about_egress_and_a_missing_s3_endpoint():
    from settings.rules import warnings

    network = {"mode": "existing", "vpcId": "vpc-0123456789abcdef0",
               "subnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]}
    found = warnings(load(network=network))
    assert any("need outbound access" in w for w in found) and any("routeTableIds is empty" in w for w in found)
    found = warnings(load(network={**network, "routeTableIds": ["rtb-0123456789abcdef0"]}))
    assert [w for w in found if "routeTableIds" in w] == []
    assert warnings(load()) == []  # the defaults warn about nothing
    with pytest.raises(SettingsError, match=r"routeTableIds\[0\] = rtb-x: must look like rtb-"):
        load(network={**network, "routeTableIds": ["rtb-x"]})
    with pytest.raises(SettingsError, match="routeTableIds are only used when mode is existing"):
        load(network={"routeTableIds": ["rtb-0123456789abcdef0"]})


def test_the_stop_timeout_covers_cancelling_every_task_the_stack_can_run():
    from settings.rules import STOP_MARGIN_SECONDS, stop_seconds_needed, warnings

    # bench/stop_benchmark.py: 200 running tasks take 10.0 s to cancel at 20/s, 10.9 s from SIGTERM to exit.
    prod_sized = load(compute={"spot": {"maxVcpus": 1024}, "onDemand": {"maxVcpus": 256}})
    assert stop_seconds_needed(prod_sized) == 64 + STOP_MARGIN_SECONDS  # (1024 + 256 - 2) / 20, rounded up
    assert warnings(prod_sized) == []  # the default 120 s covers it
    big = load(compute={"spot": {"maxVcpus": 4000}})
    [warning] = [w for w in warnings(big) if "containerStopTimeoutSeconds" in w]
    # (4000 + 64 - 2) / 20 = 203.1, rounded up, plus the margin.
    assert "= 120: a stopped head needs about 234 s to cancel the up to 4062 tasks" in warning
    assert warning.endswith("containerStopTimeoutSeconds' 234)")


@pytest.mark.parametrize(("sections", "expected"), [
    ({"alerts": {"emails": ["not-an-email"]}}, "alerts.emails[0] = not-an-email: not an email address"),
    ({"alerts": {"emails": ["a@lab.org", "A@lab.org"]}}, "alerts.emails = "),
    ({"budget": {"monthlyUsd": 100}}, "budget.monthlyUsd = 100.0: needs alerts.emails"),
    ({"budget": {"monthlyUsd": 0}, "alerts": {"emails": ["a@lab.org"]}}, "budget.monthlyUsd = 0: "),
    ({"alerts": {"spotInterruptionsPerHour": -1}}, "spotInterruptionsPerHour = -1: must be between 0 and 100000"),
])
def test_bad_alert_and_budget_settings(sections, expected):
    with pytest.raises(SettingsError) as caught:
        load(**sections)
    assert expected in str(caught.value)


def test_alerts_are_off_unless_emails_are_given():
    s = load()
    assert s.alerts.emails == [] and s.budget.monthly_usd is None
    on = load(alerts={"emails": ["oncall@lab.org"], "spotInterruptionsPerHour": 0}, budget={"monthlyUsd": 3000})
    assert on.alerts.spot_interruptions_per_hour == 0 and on.budget.monthly_usd == 3000
