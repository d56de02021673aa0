"""Stack files as a new user and as an adversary would write them, through `nfbatch plan`: every bad one exits 2
with a message naming the key, the value and what is allowed, and no traceback; every good one plans.

The settings-level table (tests/test_settings.py) covers each key's rules; this one covers whole files.
"""

import shutil

import pytest
from conftest import MAIN, ROOT

from nfbatch.cli import main

HEAD = "config:\n  aws:region: us-east-1\n"


def net(body: str) -> str:
    return HEAD + "  genomics-batch:network:\n" + "".join(f"    {line}\n" for line in body.split("; "))


def section(name: str, body: str) -> str:
    return HEAD + f"  genomics-batch:{name}:\n" + "".join(f"    {line}\n" for line in body.split("; "))


EXISTING = ("mode: existing; vpcId: vpc-0123456789abcdef0; subnetIds: [subnet-0123456789abcdef0, "
            "subnet-0fedcba9876543210]")

BAD: list[tuple[str, bytes | str, str]] = [
    # --- the file itself
    ("list-document", "- config\n- aws:region\n", "must be a mapping with a `config:` key, not a list"),
    ("scalar-document", "just text\n", "must be a mapping with a `config:` key, not a str"),
    ("yaml-syntax", "config:\n  aws:region: [us-east-1\n", "is not valid YAML: line"),
    ("yaml-tab", "config:\n\taws:region: us-east-1\n", "is not valid YAML"),
    ("config-scalar", "config: us-east-1\n", "`config:` must be a mapping of keys to values, not a str"),
    ("config-list", "config:\n  - aws:region\n", "`config:` must be a mapping of keys to values, not a list"),
    ("non-string-key", "config:\n  aws:region: us-east-1\n  42: x\n", "config key 42 must be a string"),
    ("not-utf8", b"config:\n  aws:region: us-east-1\n  genomics-batch:tags:\n    Owner: \xff\xfe\n", "is not UTF-8"),
    ("root-keys", "aws:region: us-east-1\ngenomics-batch:network:\n  egress: public\n", "belong under `config:`"),
    ("unknown-root", "config:\n  aws:region: us-east-1\nconfg:\n  x: 1\n", "unknown top-level key 'confg'"),
    ("duplicate-key", HEAD + "  aws:region: eu-west-1\n", "key 'aws:region' is given twice (first on line 2)"),
    ("duplicate-nested", section("network", "egress: public; egress: nat-single"), "key 'egress' is given twice"),
    ("no-namespace", HEAD + "  network:\n    egress: public\n", "has no namespace"),
    ("namespace-underscore", HEAD + "  genomics_batch:network:\n    egress: public\n",
     "unknown namespace 'genomics_batch' (did you mean 'genomics-batch:network'?)"),
    ("namespace-case", HEAD + "  Genomics-Batch:bucket:\n    protect: false\n", "unknown namespace 'Genomics-Batch'"),
    ("namespace-squashed", HEAD + "  genomicsbatch:compute:\n    spot: {maxVcpus: 8}\n",
     "unknown namespace 'genomicsbatch'"),
    ("namespace-typo", HEAD + "  genomics-bacth:tags:\n    Owner: me\n", "unknown namespace 'genomics-bacth'"),
    ("empty-file", "", "aws:region: is required"),
    ("config-null", "config:\n", "aws:region: is required"),
    # --- region
    ("region-shaped", "config:\n  aws:region: us-east-9\n", "aws:region = us-east-9: not an AWS region"),
    ("region-typo", "config:\n  aws:region: eu-wast-1\n", "(did you mean eu-west-1?)"),
    ("region-number", "config:\n  aws:region: 42\n", "aws:region = 42: not an AWS region"),
    ("region-upper", "config:\n  aws:region: US-EAST-1\n", "aws:region = US-EAST-1: not an AWS region"),
    ("region-az", "config:\n  aws:region: us-east-1a\n", "aws:region = us-east-1a: not an AWS region"),
    # --- zones
    ("zone-ids", net("azCount: 2; availabilityZones: [use1-az1, use1-az2]"), "is a zone id; give the zone name"),
    ("zone-other-region", net("availabilityZones: [eu-west-1a, eu-west-1b]"), "is not a zone of us-east-1"),
    ("zone-repeated", net("availabilityZones: [us-east-1a, us-east-1a]"), "must not repeat a zone"),
    ("zone-count", net("azCount: 3; availabilityZones: [us-east-1a, us-east-1b]"), "must list exactly azCount (3)"),
    ("zone-local", net("availabilityZones: [us-east-1-bos-1a, us-east-1b]"), "is not a zone of us-east-1"),
    # --- CIDR
    ("cidr-loopback", net("cidr: 127.0.0.0/16"), "must lie inside a private range AWS accepts"),
    ("cidr-link-local", net("cidr: 169.254.0.0/16"), "must lie inside a private range AWS accepts"),
    ("cidr-zero", net("cidr: 0.0.0.0/16"), "must lie inside a private range AWS accepts"),
    ("cidr-class-e", net("cidr: 240.0.0.0/16"), "must lie inside a private range AWS accepts"),
    ("cidr-public", net("cidr: 52.0.0.0/16"), "must lie inside a private range AWS accepts"),
    ("cidr-docker", net("cidr: 172.17.0.0/16"), "overlaps 172.17.0.0/16, Docker's bridge"),
    ("cidr-docker-wide", net("cidr: 172.16.0.0/15"), "prefix length must be between /16 and /24"),
    ("cidr-host-bits", net("cidr: 10.0.0.1/16"), "has host bits set: the block is 10.0.0.0/16"),
    ("cidr-ipv6", net("cidr: 'fd00::/48'"), "must be an IPv4 CIDR block"),
    ("cidr-too-small", net("cidr: 10.0.0.0/25"), "prefix length must be between /16 and /24"),
    ("cidr-no-prefix", net("cidr: 10.0.0.0"), "must be an IPv4 CIDR block with its prefix length"),
    # --- network modes
    ("existing-egress", net(EXISTING + "; egress: nat-per-az"), "network.egress = nat-per-az: is only used when mode"),
    ("existing-cidr", net(EXISTING + "; cidr: 10.1.0.0/16"), "network.cidr = 10.1.0.0/16: is only used when mode"),
    ("existing-no-vpc", net("mode: existing; subnetIds: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]"),
     "network.vpcId: is required when network.mode is existing"),
    ("existing-bad-rtb", net(EXISTING + "; routeTableIds: [rtb-x]"), "routeTableIds[0] = rtb-x: must look like rtb-"),
    ("create-with-rtb", net("routeTableIds: [rtb-0123456789abcdef0]"), "only used when mode is existing"),
    ("egress-typo", net("egress: nat"), "network.egress = nat: must be one of public, nat-single or nat-per-az"),
    # --- root volume
    ("volume-tiny", section("launchTemplate", "rootVolume: {sizeGib: 8}"), "sizeGib = 8: must be between 30 and"),
    ("volume-29", section("launchTemplate", "rootVolume: {sizeGib: 29}"), "sizeGib = 29: must be between 30"),
    ("volume-iops-ratio", section("launchTemplate", "rootVolume: {sizeGib: 30, iops: 16000}"), "at most 15000 for 30"),
    ("volume-string", section("launchTemplate", "rootVolume: {sizeGib: big}"), "sizeGib = big: input should be"),
    # --- instance types
    ("type-made-up", section("compute", "instanceTypes: [m99x]"), "not an EC2 instance type or family in botocore"),
    ("type-size-made-up", section("compute", "instanceTypes: [m6i.huge]"), '["m6i.huge"]: not an EC2 instance type'),
    ("type-mixed-arch", section("compute", "instanceTypes: [m6i, m7g]"), "mixes x86_64 and arm64 (Graviton)"),
    ("type-optimal-mixed", section("compute", "instanceTypes: [optimal, m6i]"), "optimal stands alone"),
    ("type-too-small", section("compute", "instanceTypes: [c6i.large]"), "no type can hold the head job (2 vCPUs, "
                                                                         "4096 MiB)"),
    ("type-empty", section("compute", "instanceTypes: []"), "compute.instanceTypes = []"),
    ("type-shell", section("compute", "instanceTypes: ['m6i;rm']"), "not an EC2 instance type or family"),
    ("type-repeated", section("compute", "instanceTypes: [m6i, m6i]"), "must not repeat an instance type"),
    ("graviton-on-x86", section("compute", "instanceTypes: [m7g, c7g]"), "not x86_64 families, as compute."),
    ("x86-on-arm", section("compute", "architecture: arm64; instanceTypes: [m6i]"), "not arm64 families"),
    ("nvme-without-disks", HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
                                  "  genomics-batch:compute:\n    instanceTypes: [m6i, c6id]\n",
     '["m6i"]: have no NVMe instance storage'),
    ("nvme-optimal", HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
                            "  genomics-batch:compute:\n    instanceTypes: [optimal]\n", "have no NVMe instance"),
    ("gpu-not-gpu", section("compute", "gpu: {enabled: true, instanceTypes: [m6i]}"), "not GPU families"),
    ("gpu-wrong-arch", section("compute", "architecture: arm64; gpu: {enabled: true}"),
     "compute.gpu.instanceTypes"),
    ("fargate-vcpus", section("headJob", "platform: fargate; vcpus: 3"), "Fargate runs a head with 1, 2, 4, 8, 16"),
    ("fargate-memory", section("headJob", "platform: fargate; vcpus: 2; memoryMib: 20000"),
     "Fargate gives 2 vCPUs 4096 to 16384 MiB in steps of 1024"),
    # --- head job image and key name
    ("image-space", section("headJob", "image: 'nextflow/nextflow 25.04.6'"), "not a container image reference"),
    ("image-shell", section("headJob", "image: 'nextflow/nextflow:25.04.6;id'"), "no spaces or shell characters"),
    ("image-long", section("headJob", "image: " + "a" * 256), "at most 255 characters"),
    ("image-dollar", section("headJob", "image: '$(whoami)/x'"), "not a container image reference"),
    ("key-name-unicode", section("launchTemplate", "keyName: 'clé'"), "not an EC2 key pair name"),
    ("key-name-long", section("launchTemplate", "keyName: " + "k" * 256), "not an EC2 key pair name"),
    ("nextflow-version-words", section("headJob", "nextflowVersion: latest"),
     "nextflowVersion = latest: must be a Nextflow release such as 25.04.6"),
    # --- tags
    ("tags-too-many", HEAD + "  genomics-batch:tags:\n" + "".join(f"    T{i}: v\n" for i in range(47)),
     "tags = 47 tags: at most 46"),
    ("tags-case-duplicate", section("tags", "Owner: a; OWNER: b"), "differs from the tag Owner only in case"),
    ("tags-name-case", section("tags", "name: x"), "differs from the tag Name only in case"),
    ("tags-aws-prefix", section("tags", "aws:owner: me"), "must not start with aws:"),
    ("tags-reserved", section("tags", "Stack: other"), "Project and Stack are set by the program itself"),
    ("tags-bad-chars", section("tags", "Owner: 'a<b>'"), "tag values must be at most 256"),
    ("tags-list", HEAD + "  genomics-batch:tags: [a, b]\n", "must be a map of tag names to string values"),
    # --- buckets and IAM size
    ("bucket-twice", section("bucket", "readOnlyBuckets: [1000genomes, 1000genomes]"), "lists a bucket more than once"),
    ("bucket-both", section("bucket", "readOnlyBuckets: [a-lab]; readWriteBuckets: [a-lab]"),
     "a bucket cannot be both read-only and read-write"),
    ("bucket-iam-size", section("bucket", "readOnlyBuckets: [" + ", ".join(f"public-data-set-{i:03d}-archive"
                                                                           for i in range(140)) + "]"),
     "IAM allows 10240 per role"),
    ("bucket-bad-name", section("bucket", "name: My_Bucket"), "not a valid S3 bucket name"),
    ("bucket-force-protect", section("bucket", "forceDestroy: true"), "cannot be true while bucket.protect is true"),
    # --- other settings, each named with its value and the rule
    ("update-timeout-short", section("compute", "updateTimeoutMinutes: 60"), "must be at least headJob.timeoutHours"),
    ("spot-strategy", section("compute", "spot: {allocationStrategy: BEST_FIT}"), "must be one of SPOT_CAPACITY"),
    ("head-timeout", section("headJob", "timeoutHours: 168"), "timeoutHours = 168: must be between 1 and 120"),
    ("retention", section("headJob", "logRetentionDays: 2"), "must be 0 (never expire) or one of 1, 3, 5"),
    ("unknown-key", section("compute", "spotMaxVcpus: 8"), "unknown key"),
    ("unknown-section", HEAD + "  genomics-batch:computee: {}\n", "did you mean 'genomics-batch:compute'?"),
    ("section-scalar", HEAD + "  genomics-batch:network: public\n", "must be a map of settings (a YAML object)"),
    ("bool-for-number", section("compute", "spot: {maxVcpus: true}"), "expected a number, got a boolean"),
]

GOOD: list[tuple[str, str]] = [
    ("cgnat-cidr", net("cidr: 100.64.0.0/16")),
    ("cidr-24-six-zones-nat", net("cidr: 192.168.10.0/24; azCount: 6; egress: nat-per-az")),
    ("pinned-zones", net("azCount: 3; availabilityZones: [us-east-1a, us-east-1c, us-east-1f]")),
    ("existing-with-tables", net(EXISTING + "; routeTableIds: [rtb-0123456789abcdef0]")),
    ("retention-never", section("headJob", "logRetentionDays: 0")),
    ("volume-30", section("launchTemplate", "rootVolume: {sizeGib: 30}")),
    ("volume-big-fast", section("launchTemplate", "rootVolume: {sizeGib: 1000, iops: 16000, throughputMibps: 1000}")),
    ("graviton-only", section("compute", "architecture: arm64; instanceTypes: [m7g, c7g, r7g]")),
    ("graviton-defaults", section("compute", "architecture: arm64")),
    ("nvme-defaults", section("launchTemplate", "scratch: nvme")),
    ("nvme-graviton", HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
                             "  genomics-batch:compute:\n    architecture: arm64\n"),
    ("gpu-on", section("compute", "gpu: {enabled: true}")),
    ("fargate-head", section("headJob", "platform: fargate; vcpus: 2; memoryMib: 8192")),
    ("all-options", HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
                           "  genomics-batch:compute:\n    gpu: {enabled: true, instanceTypes: [g6]}\n"
                           "  genomics-batch:headJob:\n    platform: fargate\n"),
    ("optimal-alone", section("compute", "instanceTypes: [optimal]")),
    ("sized-that-fit", section("compute", "instanceTypes: [c6i.large, m6i.xlarge]")),
    ("key-name-empty", section("launchTemplate", "keyName: ''")),
    ("key-name-set", section("launchTemplate", "keyName: ops key 2024")),
    ("image-digest", section("headJob", "image: public.ecr.aws/lab/nextflow@sha256:" + "a" * 64)),
    ("image-port", section("headJob", "image: registry.lab.org:5000/tools/nextflow:25.04.6")),
    ("tags-46", HEAD + "  genomics-batch:tags:\n" + "".join(f"    T{i}: v\n" for i in range(46))),
    ("other-namespaces", HEAD + "  aws:profile: lab\n  other-project:key: 1\n"),
    ("secret-tags", HEAD + "  genomics-batch:tags:\n    secure: AAABAKc5ZmQ=\n"),
    ("price-capacity", section("compute", "spot: {allocationStrategy: SPOT_PRICE_CAPACITY_OPTIMIZED}")),
    ("short-head-short-update", HEAD + "  genomics-batch:headJob:\n    timeoutHours: 2\n"
                                "  genomics-batch:compute:\n    updateTimeoutMinutes: 120\n"),
    ("eu-region", "config:\n  aws:region: eu-central-2\n"),
    ("gov-region", "config:\n  aws:region: us-gov-west-1\n"),
    ("many-read-buckets", section("bucket", "readOnlyBuckets: [" + ", ".join(f"public-{i:02d}" for i in range(60))
                                  + "]")),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    directory = tmp_path_factory.mktemp("project")
    shutil.copy(MAIN, directory / "__main__.py")
    shutil.copy(ROOT / "Pulumi.yaml", directory / "Pulumi.yaml")
    return directory


def plan(project, name: str, text: bytes | str, capsys) -> tuple[int, str]:
    path = project / f"Pulumi.{name}.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    code = main(["plan", "--stack", name, "--project-dir", str(project), "--format", "json"])
    captured = capsys.readouterr()
    return code, captured.err


def test_the_tables_are_big_and_distinct():
    assert len(BAD) >= 80 and len(GOOD) >= 20
    assert len({t for _, t, _ in BAD}) == len(BAD) and len({t for _, t in GOOD}) == len(GOOD)


@pytest.mark.parametrize(("name", "text", "expected"), BAD, ids=[n for n, _, _ in BAD])
def test_bad_stack_files_are_refused_cleanly(project, capsys, name, text, expected):
    code, err = plan(project, name, text, capsys)
    assert code == 2, err
    assert expected in err
    assert "Traceback" not in err and "fix: " in err


@pytest.mark.parametrize(("name", "text"), GOOD, ids=[n for n, _ in GOOD])
def test_valid_but_unusual_stack_files_plan(project, capsys, name, text):
    code, err = plan(project, name, text, capsys)
    assert code == 0, err
