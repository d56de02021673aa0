"""Stack settings: defaults, the two presets, and a table of bad inputs that must fail with a clear message."""

import json
import runpy

import pulumi
import pytest
from conftest import MAIN, stack_config, start_mocks

from facts.limits import LOG_RETENTION_DAYS
from settings import SettingsError, load_settings

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
    ("compute", {"instanceTypes": ["m6i", "m6i"]}, 'compute.instanceTypes = ["m6i", "m6i"]: must not repeat'),
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
    (
        "network",
        {"mode": "existing", "vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"]},
        'network.subnetIds = ["subnet-0123456789abcdef0"]: needs at least 2 subnets',
    ),
    (
        "network",
        {"mode": "existing", "subnetIds": ["subnet-01234567", "subnet-89abcdef"]},
        "network.vpcId: is required when network.mode is existing",
    ),
    (
        "network",
        {"mode": "existing", "vpcId": "vpc-1", "subnetIds": ["subnet-01234567", "subnet-89abcdef"]},
        "network.vpcId = vpc-1: must look like vpc-",
    ),
    (
        "network",
        {"mode": "existing", "vpcId": "vpc-01234567", "subnetIds": ["subnet-01234567", "sg-89abcdef"]},
        "network.subnetIds[1] = sg-89abcdef: must look like subnet-",
    ),
    (
        "network",
        {"subnetIds": ["subnet-01234567", "subnet-89abcdef"]},
        "network.mode = create: vpcId, subnetIds and routeTableIds are only used when mode is existing",
    ),
    (
        "network",
        {"availabilityZones": ["us-east-1a"]},
        'network.availabilityZones = ["us-east-1a"]: must list exactly azCount (2) zones',
    ),
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
    (
        "launchTemplate",
        {"ecsAgent": {"imagePullBehavior": "never"}},
        "must be one of default, always, once or prefer-cached",
    ),
    ("queues", {"headPriority": 5000}, "queues.headPriority = 5000: must be between 0 and 1000"),
    ("queues", {"defaultPriority": -1}, "queues.defaultPriority = -1: must be between 0 and 1000"),
    # botocore's Batch model, FairsharePolicy.computeReservation: "The minimum value is 0 and the maximum value is 99."
    ("queues", {"computeReservation": 100}, "queues.computeReservation = 100: must be between 0 and 99"),
    ("headJob", {"memoryMib": 1024}, "headJob.memoryMib = 1024: must be between 2048 and 65536"),
    ("headJob", {"attempts": 11}, "headJob.attempts = 11: must be between 1 and 10"),
    ("headJob", {"nextflowVersion": "latest"}, "headJob.nextflowVersion = latest"),
    ("headJob", {"logRetentionDays": 42}, "headJob.logRetentionDays = 42: must be 0 (never expire) or one of 1, 3, 5"),
    ("tags", {"aws:owner": "me"}, "tags.aws:owner = me: tag keys must be"),
    ("tags", {"Team": 7}, 'genomics-batch:tags = {"Team": 7}: must be a map of tag names to string values'),
    ("tags", {"Project": "other"}, "tags.Project = other: is the tag Project, which the program sets itself"),
    ("computee", {}, "genomics-batch:computee: unknown key (did you mean 'genomics-batch:compute'?)"),
    # terraform-provider-aws internal/service/batch/compute_environment.go: IntBetween(1, 360); the API takes 7200.
    ("compute", {"updateTimeoutMinutes": 361}, "compute.updateTimeoutMinutes = 361: must be between 1 and 360"),
    ("compute", {"updateTimeoutMinutes": 0}, "compute.updateTimeoutMinutes = 0: must be between 1 and 360"),
    # An update stops a head running longer than the update timeout; only a second attempt can resume it.
    (
        "headJob",
        {"attempts": 1},
        "headJob.attempts = 1: must be at least 2 while headJob.timeoutHours × 60 (7200) "
        "exceeds compute.updateTimeoutMinutes (360)",
    ),
    ("headJob", {"timeoutHours": 168}, "headJob.timeoutHours = 168: must be between 1 and 120"),
    ("compute", {"spot": {"maxSpotAttempts": 11}}, "compute.spot.maxSpotAttempts = 11: must be between 0 and 10"),
    (
        "compute",
        {"spot": {"allocationStrategy": "BEST_FIT"}},
        "must be one of SPOT_CAPACITY_OPTIMIZED or SPOT_PRICE_CAPACITY_OPTIMIZED",
    ),
    # Item 7: one architecture per compute environment, bundles included; what the ECS AMIs run.
    ("compute", {"instanceTypes": ["default_arm64"]}, 'compute.instanceTypes = ["default_arm64"]: not x86_64'),
    ("compute", {"architecture": "arm64", "instanceTypes": ["optimal"]}, '["optimal"]: not arm64, as compute.'),
    ("compute", {"instanceTypes": ["default_x86_64", "default_arm64"]}, "mixes x86_64 and arm64"),
    ("compute", {"architecture": "arm64", "instanceTypes": ["a1.large"]}, "does not support A1 instances"),
    ("compute", {"instanceTypes": ["t3.xlarge"]}, 'compute.instanceTypes = ["t3.xlarge"]: burstable (t class)'),
    (
        "compute",
        {"architecture": "arm64", "instanceTypes": ["c7g.medium", "m7g.medium"]},
        "no type can hold the head job (2 vCPUs, 4096 MiB)",
    ),
    (
        "compute",
        {"architecture": "arm64", "gpu": {"enabled": True}},
        "compute.gpu.enabled = true: cannot be true with compute.architecture arm64",
    ),
    ("compute", {"gpu": {"enabled": True, "instanceTypes": ["g4ad.xlarge"]}}, "g4ad.xlarge: AMD Radeon Pro V520"),
    ("compute", {"gpu": {"enabled": True, "instanceTypes": ["g3"]}}, "g3: not supported by ECS_AL2023_NVIDIA"),
    ("compute", {"gpu": {"enabled": True, "instanceTypes": ["g5g.2xlarge"]}}, "g5g.2xlarge: arm64"),
    ("compute", {"gpu": {"enabled": True, "instanceTypes": ["g2"]}}, "g2: Kepler GPUs"),
    # Budgets mail at most 10 addresses per notification; addresses are checked by email-validator.
    (
        "alerts",
        {"emails": ["oncall@lab"]},
        "alerts.emails[0] = oncall@lab: not an email address such as oncall@lab.org",
    ),
    ("alerts", {"emails": ["oncall@lab.local"]}, "alerts.emails[0] = oncall@lab.local: not an email address"),
    (
        "teams",
        {"core": {"maxVcpus": 8, "monthlyBudgetUsd": 50, "budgetEmails": [f"u{i}@lab.org" for i in range(12)]}},
        "teams.core.budgetEmails = 12 addresses: at most 10",
    ),
    # Principals: the stack's partition and one account; IAM names compare case-insensitively; no protected roles.
    (
        "teams",
        {"core": {"principals": ["arn:aws-cn:iam::123456789012:role/Runner"]}},
        "teams.core.principals[0] = arn:aws-cn:iam::123456789012:role/Runner: is in the aws-cn partition",
    ),
    (
        "teams",
        {
            "lab1": {"principals": ["arn:aws:iam::111111111111:role/A"]},
            "lab2": {"principals": ["arn:aws:iam::222222222222:role/B"]},
        },
        "teams.lab2.principals[0] = arn:aws:iam::222222222222:role/B: is in account 222222222222, but "
        "teams.lab1.principals[0] is in 111111111111",
    ),
    (
        "teams",
        {
            "core": {
                "principals": ["arn:aws:iam::123456789012:role/x/Runner", "arn:aws:iam::123456789012:role/y/runner"]
            }
        },
        "teams.core.principals[1] = arn:aws:iam::123456789012:role/y/runner: is the role teams.core.principals[0]",
    ),
    (
        "teams",
        {
            "core": {
                "principals": ["arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"]
            }
        },
        "is a service-linked role",
    ),
    (
        "teams",
        {
            "core": {
                "principals": [
                    "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Lab_0123456789abcdef"
                ]
            }
        },
        "is an IAM Identity Center role",
    ),
    # User tags that collide with the program's own, in any case, named with the user's key and value.
    ("tags", {"project": "mine"}, "tags.project = mine: collides with the tag Project, which the program sets itself"),
    ("tags", {"TIER": "gold"}, "tags.TIER = gold: collides with the tag Tier"),
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


def test_the_update_timeout_is_the_setting_and_a_single_attempt_needs_a_head_that_fits_in_it():
    assert load().update_timeout_minutes == 360  # the provider's maximum, whatever the head's own timeout
    assert load(headJob={"timeoutHours": 48}).update_timeout_minutes == 360
    s = load(compute={"updateTimeoutMinutes": 120}, headJob={"timeoutHours": 2, "attempts": 1})
    assert s.update_timeout_minutes == 120 and s.head_job.attempts == 1  # no update can outlast this head
    with pytest.raises(
        SettingsError,
        match=r"headJob.attempts = 1: must be at least 2 while headJob.timeoutHours "
        r"× 60 \(180\) exceeds compute.updateTimeoutMinutes \(120\)",
    ):
        load(compute={"updateTimeoutMinutes": 120}, headJob={"timeoutHours": 3, "attempts": 1})
    # A Fargate head's environment has no infrastructure update to outlast (Batch user guide,
    # updating-compute-environments.html: Fargate environments update only security groups and subnets).
    assert load(headJob={"platform": "fargate", "attempts": 1}).head_job.attempts == 1
    with pytest.raises(SettingsError, match=r"headJob.attempts = 1: must be at least 2"):
        load(headJob={"platform": "ec2", "attempts": 1})


def test_existing_mode_warns_about_egress_and_a_missing_s3_endpoint():
    from settings.rules import warnings

    network = {
        "mode": "existing",
        "vpcId": "vpc-0123456789abcdef0",
        "subnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
    }
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


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"alerts": {"emails": ["not-an-email"]}}, "alerts.emails[0] = not-an-email: not an email address"),
        ({"alerts": {"emails": ["a@lab.org", "A@lab.org"]}}, "alerts.emails = "),
        ({"budget": {"monthlyUsd": 100}}, "budget.monthlyUsd = 100: needs alerts.emails"),  # as written, not 100.0
        ({"budget": {"monthlyUsd": 0}, "alerts": {"emails": ["a@lab.org"]}}, "budget.monthlyUsd = 0: "),
        ({"alerts": {"spotInterruptionsPerHour": -1}}, "spotInterruptionsPerHour = -1: must be between 0 and 100000"),
    ],
)
def test_bad_alert_and_budget_settings(sections, expected):
    with pytest.raises(SettingsError) as caught:
        load(**sections)
    assert expected in str(caught.value)


def test_alerts_are_off_unless_emails_are_given():
    s = load()
    assert s.alerts.emails == [] and s.budget.monthly_usd is None
    on = load(alerts={"emails": ["oncall@lab.org"], "spotInterruptionsPerHour": 0}, budget={"monthlyUsd": 3000})
    assert on.alerts.spot_interruptions_per_hour == 0 and on.budget.monthly_usd == 3000


# --- the instance-type, IAM and Budgets facts the rules rely on, each checked against its source -------------------


def _doc(service: str, shape: str, member: str | None = None) -> str:
    import botocore.session

    found = botocore.session.get_session().get_service_model(service).shape_for(shape)
    return (found.members[member] if member else found).documentation


def test_botocore_says_what_the_gpu_and_architecture_rules_rely_on():
    # botocore's Batch model, Ec2Configuration.imageType and ComputeResource.instanceTypes.
    image = " ".join(_doc("batch", "Ec2Configuration", "imageType").split())
    assert "can be used for all non Amazon Web Services Graviton-based instance types" in image
    assert "ECS_AL2023_NVIDIA doesn't support <code>p3</code> and <code>g3</code> instance types" in image
    assert "Amazon Linux 2023 does not support <code>A1</code> instances" in image
    types = " ".join(_doc("batch", "ComputeResource", "instanceTypes").split())
    assert "<code>optimal</code> Semantically equivalent to <code>default_x86_64</code>" in types
    assert "<code>default_arm64</code> to choose ARM based instance types" in types
    assert "you can't mix x86 and ARM instances in the same compute environment" in types


def test_the_bundles_and_gpu_families_get_the_architecture_and_refusals_of_their_sources():
    from facts.limits import nvidia_ami_problem, type_architecture

    assert [type_architecture(t) for t in ("optimal", "default_x86_64", "default_arm64", "m7g.large", "p6e-gb200")] == [
        "x86_64",
        "x86_64",
        "arm64",
        "arm64",
        "arm64",
    ]
    assert [nvidia_ami_problem(f) for f in ("g4dn", "g5", "g6", "g6e", "gr6", "p4d", "p5", "p5en")] == [None] * 8
    refused = {f: nvidia_ami_problem(f) for f in ("g5g", "p6e-gb200", "g4ad", "p2", "g2", "p3", "p3dn", "g3", "g3s")}
    assert all(refused.values()), refused
    assert "AMD" in refused["g4ad"] and "Kepler" in refused["p2"] and "p5" in refused["g2"]


def _described_families() -> dict[str, list[dict]]:
    """moto's snapshot of EC2 DescribeInstanceTypes, by family: vCPUs, memory, architectures, GPUs, instance store."""
    import collections
    import gzip
    import importlib.resources

    raw = importlib.resources.files("moto.ec2.resources").joinpath("instance_types.json.gz").read_bytes()
    families = collections.defaultdict(list)
    for name, described in json.loads(gzip.decompress(raw)).items():
        families[name.split(".", 1)[0]].append(described)
    return families


def test_family_names_read_as_ec2_describes_the_families():
    # EC2 DescribeInstanceTypes (moto's recorded snapshot): the naming rules in facts/limits.py against the facts.
    from facts.limits import has_instance_storage, instance_architecture, is_burstable, is_gpu_family

    families = _described_families()
    assert len(families) > 150
    for family, sizes in families.items():
        arm = any("arm64" in d["ProcessorInfo"]["SupportedArchitectures"] for d in sizes)
        assert instance_architecture(family) == ("arm64" if arm else "x86_64"), family
        assert is_gpu_family(family) == any(d.get("GpuInfo") for d in sizes), family
        nvme = [(d.get("InstanceStorageInfo") or {}).get("NvmeSupport") in ("required", "supported") for d in sizes]
        assert has_instance_storage(family) == all(nvme), family
        if any(d["BurstablePerformanceSupported"] for d in sizes):
            assert is_burstable(family), family


def test_the_capacity_table_never_refuses_a_type_that_fits_and_is_exact_for_current_families():
    # EC2 DescribeInstanceTypes (moto's snapshot): the size and class table of facts/limits.py is never below a
    # type's real vCPUs and memory, so the head check refuses only types that truly cannot hold the head.
    from facts.limits import instance_capacity

    judged = exact = 0
    for family, sizes in _described_families().items():
        for d in sizes:
            estimate = instance_capacity(d["InstanceType"])
            if estimate is None:
                continue
            real = (d["VCpuInfo"]["DefaultVCpus"], d["MemoryInfo"]["SizeInMiB"])
            assert estimate[0] >= real[0] and estimate[1] >= real[1], (d["InstanceType"], estimate, real)
            judged, exact = judged + 1, exact + (estimate == real)
            if d.get("CurrentGeneration") and family[0] in "cmr" and family != "c5n":  # the common classes
                assert estimate == real, (d["InstanceType"], estimate, real)
    assert judged > 1000 and exact > 0.9 * judged
    assert instance_capacity("c6g.medium") == (1, 2048) and instance_capacity("r7g.medium") == (1, 8192)
    assert instance_capacity("t3.large") is None  # burstable: refused for the head, not sized
    assert instance_capacity("m6i.metal") is None and instance_capacity("g5.xlarge") is None  # not judged


def test_iam_names_and_protected_roles_are_as_botocore_documents_them():
    from facts.limits import principal_parts, principal_problem

    assert "Names are not distinguished by case" in _doc("iam", "CreateRoleRequest", "RoleName")
    assert "service-linked roles are protected" in _doc("iam", "UnmodifiableEntityException")
    assert principal_parts("arn:aws-us-gov:iam::123456789012:role/a/b/Runner") == (
        "aws-us-gov",
        "123456789012",
        "role",
        "a/b/",
        "Runner",
    )
    assert principal_parts("arn:aws:iam::123456789012:user/alice") == ("aws", "123456789012", "user", "", "alice")
    assert principal_problem("arn:aws:iam::123456789012:role/service-role/MyRunner") is None  # a customer's own
    assert principal_problem("arn:aws:iam::123456789012:user/aws-service-role/x") is None  # roles only
    assert "service-linked" in principal_problem(
        "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"
    )


def test_iam_refuses_tag_keys_that_differ_only_in_case(moto_server):
    # The reason user tags may not collide with Project, Stack, Name, Tier or Team in any case: the provider's default
    # tags put both keys on every role, and IAM refuses them (moto reproduces IAM's own error).
    from botocore.exceptions import ClientError

    iam = moto_server.client("iam")
    with pytest.raises(ClientError, match="Tag keys are case insensitive"):
        iam.create_role(
            RoleName="case-tags",
            AssumeRolePolicyDocument="{}",
            Tags=[{"Key": "Project", "Value": "genomics-batch"}, {"Key": "project", "Value": "mine"}],
        )


def test_budgets_take_ten_email_subscribers_and_the_rules_allow_exactly_ten():
    # botocore's Budgets model: a notification has "one SNS subscriber and up to 10 email subscribers".
    assert "up to 10 email subscribers" in _doc("budgets", "NotificationWithSubscribers")
    ten = [f"u{i}@lab.org" for i in range(10)]
    assert load(alerts={"emails": ten}, budget={"monthlyUsd": 100}).alerts.emails == ten
    assert len(load(alerts={"emails": [*ten, "u10@lab.org"]}).alerts.emails) == 11  # SNS alone: no such limit
    with pytest.raises(SettingsError, match=r"alerts.emails = 11 addresses: at most 10"):
        load(alerts={"emails": [*ten, "u10@lab.org"]}, budget={"monthlyUsd": 100})


def test_email_addresses_are_checked_without_any_network_lookup(monkeypatch):
    import socket

    from facts.limits import email_problem

    def no_network(*_args, **_kwargs):
        raise AssertionError("email validation must not resolve names")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert email_problem("oncall+batch@mail.lab.example.org") is None
    assert "@-sign" in email_problem("oncall.lab.org")
    assert "special-use or reserved" in email_problem("oncall@lab.invalid")


def test_addresses_are_sent_in_their_ascii_form_and_need_no_smtputf8():
    # email-validator (allow_smtputf8=False, strict=True): an internationalized domain goes to SNS and Budgets in
    # its IDNA (xn--) form and the domain lowercased; a non-ASCII local part, which needs SMTPUTF8, is refused.
    from conftest import run_program

    from facts.limits import checked_email

    assert checked_email("oncall@bücher.de") == ("oncall@xn--bcher-kva.de", None)
    assert checked_email("Oncall@LAB.ORG") == ("Oncall@lab.org", None)
    assert "not supported" in checked_email("jürgen@lab.org")[1]
    assert "too long before the @-sign" in checked_email("x" * 65 + "@lab.org")[1]
    assert load(alerts={"emails": ["oncall@bücher.de"]}).alerts.emails == ["oncall@xn--bcher-kva.de"]
    run = run_program("dev", {"genomics-batch:alerts": {"emails": ["oncall@bücher.de"]}})
    assert [s.inputs["endpoint"] for s in run.mocks.of_type("aws:sns/topicSubscription:TopicSubscription")] == [
        "oncall@xn--bcher-kva.de"
    ]


def test_partitions_come_from_botocore_for_every_region():
    # botocore's endpoint data (Session.get_partition_for_region): isolated and sovereign partitions too.
    from facts.limits import REGION_NAME, aws_regions, partition_for

    assert {
        r: partition_for(r)
        for r in (
            "us-east-1",
            "cn-north-1",
            "us-gov-west-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "us-isof-south-1",
            "eusc-de-east-1",
        )
    } == {
        "us-east-1": "aws",
        "cn-north-1": "aws-cn",
        "us-gov-west-1": "aws-us-gov",
        "us-iso-east-1": "aws-iso",
        "us-isob-east-1": "aws-iso-b",
        "eu-isoe-west-1": "aws-iso-e",
        "us-isof-south-1": "aws-iso-f",
        "eusc-de-east-1": "aws-eusc",
    }
    assert all(REGION_NAME.fullmatch(r) for r in aws_regions())  # the schema's pattern takes every region
    s = load_settings({"aws:region": "eu-isoe-west-1", "genomics-batch:bucket": '{"readOnlyBuckets": ["ref"]}'}, "t")
    assert s.extra_bucket_arns["read_only_bucket_arns"] == ["arn:aws-iso-e:s3:::ref"]


def test_turning_on_the_cost_tag_warns_that_it_belongs_to_a_later_deploy():
    # terraform-provider-aws internal/service/ce/cost_allocation_tag.go: the create reads the tag back with
    # ListCostAllocationTags and fails with NewEmptyResultError while AWS does not list the key (up to 24 h).
    from settings.rules import warnings

    teams = {"imaging": {"maxVcpus": 8}}
    assert not [w for w in warnings(load(teams=teams)) if "activateTeamCostTag" in w]
    [warning] = [
        w for w in warnings(load(teams=teams, budget={"activateTeamCostTag": True})) if "activateTeamCostTag" in w
    ]
    assert warning.startswith(
        "WARNING budget.activateTeamCostTag = true: the deploy fails while AWS does not list the Team tag key yet"
    )
    assert "up to 24 h" in warning and "a later deploy than the one that adds the first team" in warning
    assert "aws ce list-cost-allocation-tags --tag-keys Team" in warning


def test_protected_roles_are_refused_by_name_and_principals_are_ascii_within_iam_lengths():
    # botocore's IAM model: roleNameType/userNameType [\w+=,.@-]+ of 1-64, pathType at most 512 characters, both
    # ASCII; service-linked (AWSServiceRoleFor…) and Identity Center (AWSReservedSSO_…) roles are unmodifiable.
    import botocore.session

    from facts.limits import PRINCIPAL_ARN, principal_problem

    iam = "arn:aws:iam::123456789012:role/"
    shapes = botocore.session.get_session().get_service_model("iam")
    assert shapes.shape_for("pathType").metadata["max"] == 512
    assert shapes.shape_for("roleNameType").metadata["max"] == shapes.shape_for("userNameType").metadata["max"] == 64
    assert "service-linked" in principal_problem(iam + "AWSServiceRoleForBatch")
    assert "Identity Center" in principal_problem(iam + "x/AWSReservedSSO_Lab_0123456789abcdef")
    assert principal_problem("arn:aws:iam::123456789012:user/AWSReservedSSO_x") is None  # roles only
    assert principal_problem(iam + "MyAWSServiceRoleForBatch") is None  # only the prefix is the service's
    assert principal_problem(iam + "pp/" + "p/" * 254 + "R") is None  # a path of 512 characters
    assert "513 characters" in principal_problem(iam + "p/" * 256 + "R")
    assert not PRINCIPAL_ARN.fullmatch(iam + "Rünner") and not PRINCIPAL_ARN.fullmatch(iam + "r" * 65)
    assert not PRINCIPAL_ARN.fullmatch("arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/Runner")  # Arabic-Indic digits are \d too


def test_allowed_account_ids_reach_the_provider_and_bound_the_principals():
    # An explicit provider reads no aws:* config (pulumi/pulumi-aws#1307): the program passes the list on itself.
    from conftest import run_program

    [provider] = run_program("dev", {"aws:allowedAccountIds": ["123456789012"]}).mocks.of_type("pulumi:providers:aws")
    assert json.loads(provider.inputs["allowedAccountIds"]) == ["123456789012"]
    principal = "arn:aws:iam::111122223333:role/Runner"
    with pytest.raises(SettingsError, match=r"is in account 111122223333, which aws:allowedAccountIds does not list"):
        load_settings(
            {
                **REGION,
                "aws:allowedAccountIds": '["123456789012"]',
                "genomics-batch:teams": json.dumps({"core": {"principals": [principal]}}),
            },
            "t",
        )
    s = load_settings(
        {
            **REGION,
            "aws:allowedAccountIds": '["111122223333"]',
            "genomics-batch:teams": json.dumps({"core": {"principals": [principal]}}),
        },
        "t",
    )
    assert s.allowed_account_ids == ["111122223333"]


def test_error_lines_name_the_entry_escape_control_characters_and_keep_arns_whole():
    from settings.errors import location_path, show

    assert location_path("teams", ("genomics-core", "[key]")) == "teams.genomics-core"
    assert show("a\nb") == '"a\\nb"' and show("right\u202eleft") == '"right\\u202eleft"'
    arn = "arn:aws:iam::123456789012:role/" + "lab/" * 30 + "GenomicsRunner"
    assert show(arn) == arn and show("x" * 100).endswith("...")
    with pytest.raises(SettingsError) as caught:
        load(teams={"genomics-core": {}})
    assert caught.value.problems == [
        "genomics-batch:teams.genomics-core = genomics-core: is not a team name: 2-32 lowercase letters or digits, "
        "starting with a letter (no '-': it is a Batch share identifier); rename the team, for example to "
        "genomicscore"
    ]
    assert caught.value.fix.startswith("rename the team 'genomics-core'")


def test_the_stack_config_merges_what_the_cli_passes_with_what_an_in_process_run_sets(monkeypatch):
    # The CLI's language host passes the config as JSON in PULUMI_CONFIG (pulumi/pulumi
    # sdk/python/cmd/pulumi-language-python/main.go); set_all_config (mocks, automation API) wins where both name a key.
    import contextvars

    from settings import raw_stack_config

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"aws:region": "eu-west-1", "genomics-batch:netwrok": "{}"}))

    def read() -> dict:
        pulumi.runtime.set_all_config({"aws:region": "us-east-1", "genomics-batch:budget": '{"monthlyUsd": 5}'})
        return raw_stack_config()

    assert contextvars.copy_context().run(read) == {  # a copied context: the suite's own config is left alone
        "aws:region": "us-east-1",
        "genomics-batch:netwrok": "{}",
        "genomics-batch:budget": '{"monthlyUsd": 5}',
    }


def test_the_sdk_still_keeps_its_in_process_config_where_the_program_reads_it():
    # Fails on a Pulumi SDK that renames pulumi.runtime.config.CONFIG (no public call lists in-process config): the
    # program then reads only the keys it knows (settings/load.py, raw_stack_config). Look for a public way to list
    # them, or the new name.
    import contextvars

    from pulumi.runtime import config as runtime_config

    def read() -> object:
        pulumi.runtime.set_all_config({"genomics-batch:budget": "{}"})
        return runtime_config.CONFIG.get()

    assert isinstance(runtime_config.CONFIG, contextvars.ContextVar)
    assert contextvars.copy_context().run(read) == {"genomics-batch:budget": "{}"}


def test_on_an_sdk_without_the_in_process_config_the_known_keys_are_read_one_by_one(monkeypatch):
    from pulumi.runtime import config as runtime_config

    from settings import raw_stack_config

    given = {
        "aws:region": "us-east-1",
        "genomics-batch:compute": '{"spot": {"maxVcpus": 8}}',
        "genomics-batch:netwrok": "{}",
        "aws:allowedAccountIds": '["123456789012"]',
    }
    monkeypatch.delattr(runtime_config, "CONFIG")
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.setattr(pulumi.runtime, "get_config", given.get)  # the public call, answering as the SDK would
    raw = raw_stack_config()
    assert raw == {k: v for k, v in given.items() if k != "genomics-batch:netwrok"}  # an unknown key is not seen
    assert load_settings(raw, "t").compute.spot.max_vcpus == 8
