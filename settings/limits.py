"""What AWS itself accepts: gp3 volume limits, log retention periods, bucket names, instance type names, partitions.

Plain data and pure functions; the settings model and the cross-key rules cite these rather than restate them.
"""

from __future__ import annotations

import re
from functools import cache

# gp3 limits as botocore's EC2 model documents them (CreateVolume), plus the two ratio rules AWS enforces. The
# smallest root volume is the ECS-optimized Amazon Linux 2023 AMI's own snapshot, 30 GiB: a smaller one fails every
# instance launch.
GP3_SIZE_GIB = (30, 65536)
GP3_IOPS = (3000, 80000)
GP3_THROUGHPUT_MIBPS = (125, 2000)
GP3_MAX_IOPS_PER_GIB = 500
GP3_MAX_MIBPS_PER_IOPS = 0.25

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy); 0 means no retention policy: the
# provider's "never expire".
LOG_RETENTION_DAYS = (0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)

# botocore's Batch model, UpdatePolicy.jobExecutionTimeoutMinutes: how long an infrastructure update lets a running
# job finish before its instance is replaced.
UPDATE_TIMEOUT_MINUTES = (1, 7200)

# Batch job-state time-limit actions accept 600 to 86400 seconds (JobStateTimeLimitAction.maxTimeSeconds).
JOB_STATE_TIME_LIMIT_SECONDS = (600, 86400)

REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
INSTANCE_TYPE_NAME = re.compile(r"optimal|default_x86_64|default_arm64|[a-z][a-z0-9-]*[0-9][a-z0-9-]*(\.[a-z0-9-]+)?")
VPC_ID = re.compile(r"vpc-[0-9a-f]{8,17}")
SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}")
ROUTE_TABLE_ID = re.compile(r"rtb-[0-9a-f]{8,17}")
TAG_KEY = re.compile(r"[\w .:/=+\-@]+")
TAG_VALUE = re.compile(r"[\w .:/=+\-@]*")


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would reject `name` as a general-purpose bucket name, or None when it is acceptable."""
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters long"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name):
        return "must use only lowercase letters, digits, dots and hyphens, and start and end with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "must not contain '..', '.-' or '-.'"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        return "must not look like an IP address"
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return f"must not start with '{prefix}'"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            return f"must not end with '{suffix}'"
    return None


def partition_for(region: str) -> str:
    """The ARN partition of a region name."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# --- regions, zones and instance types, from botocore's offline data -------------------------------------------

@cache
def aws_regions() -> frozenset[str]:
    """Every region botocore's endpoint data knows, in every partition (no network call)."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(region for partition in session.get_available_partitions()
                     for region in session.get_available_regions("ec2", partition_name=partition))


# An availability zone name is the region plus a letter (us-east-1a); a zone id (use1-az1) is not a name.
AZ_ID = re.compile(r"[a-z]{2,4}\d-az\d+")


@cache
def ec2_instance_types() -> frozenset[str]:
    """Every instance type botocore's EC2 model lists (the InstanceType enum)."""
    import botocore.session

    return frozenset(botocore.session.get_session().get_service_model("ec2").shape_for("InstanceType").enum)


def instance_family(name: str) -> str:
    return name.split(".", 1)[0]


def instance_architecture(family: str) -> str:
    """arm64 for Graviton families, x86_64 otherwise. Amazon EC2 instance type naming: a "g" among the attribute
    letters after the generation (m7g, c6gn, r8gd, t4g, im4gn) means AWS Graviton; a1 is the first Graviton."""
    match = re.fullmatch(r"([a-z]+)(\d+)([a-z]*)(-.*)?", family)
    if family == "a1" or (match and ("g" in match.group(3) or (match.group(4) or "").startswith("-gb"))):
        return "arm64"
    return "x86_64"


# Amazon EC2 instance type naming: the size fixes the vCPUs (large 2, xlarge 4, Nxlarge 4N), and the family class
# fixes the memory per vCPU (c compute 2 GiB, m general 4 GiB, r memory 8 GiB, x 16 GiB). Only these are judged;
# any other type is assumed big enough rather than refused on a guess.
SIZE_VCPUS = {"large": 2, "xlarge": 4}
CLASS_GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8, "x": 16}


def instance_capacity(name: str) -> tuple[int, int] | None:
    """(vCPUs, MiB) of a sized instance type in the judged classes, else None."""
    family, _, size = name.partition(".")
    multiple = re.fullmatch(r"(\d+)xlarge", size)
    vcpus = SIZE_VCPUS.get(size) or (4 * int(multiple.group(1)) if multiple else None)
    per_vcpu = CLASS_GIB_PER_VCPU.get(family[:1]) if re.fullmatch(r"[cmrx]\d+[a-z]*", family) else None
    return (vcpus, vcpus * per_vcpu * 1024) if vcpus and per_vcpu else None


# --- addresses, names and tags -----------------------------------------------------------------------------------

# VPC ranges AWS accepts besides RFC 1918 (VPC user guide, "VPC CIDR blocks": 100.64.0.0/10 is allowed).
VPC_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
# Docker's default bridge network on every ECS instance: a VPC overlapping it makes some addresses unreachable
# from containers.
DOCKER_BRIDGE = "172.17.0.0/16"

# An OCI image reference: [registry[:port]/]name[/name...][:tag][@sha256:digest], lowercase names, at most 255
# characters (the distribution spec's reference grammar, simplified to what registries accept).
IMAGE_REFERENCE = re.compile(
    r"(?:[a-zA-Z0-9][a-zA-Z0-9.-]*(?::\d+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?")
IMAGE_REFERENCE_MAX = 255

# An email address SNS and Budgets accept: one @, a dotted domain, no spaces (deliberately plain, not RFC 5322).
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# EC2 key pair names: up to 255 ASCII characters (CreateKeyPair).
KEY_NAME = re.compile(r"[\x20-\x7e]{1,255}")

# AWS resources take at most 50 tags (Tagging AWS resources, "Tag restrictions"); the program adds Project, Stack,
# Name and Tier itself.
MAX_TAGS = 50
PROGRAM_TAGS = ("Project", "Stack", "Name", "Tier")

# IAM quotas: the inline policies of one role may hold at most 10,240 characters, whitespace not counted.
ROLE_INLINE_POLICY_CHARS = 10240


def _family_parts(family: str) -> tuple[str, str]:
    """(class letters, attribute letters) of a family name: m6id -> ("m", "id"), im4gn -> ("im", "gn")."""
    match = re.fullmatch(r"([a-z]+)\d+([a-z]*)(?:-.*)?", family)
    return (match.group(1), match.group(2)) if match else (family, "")


# GPU families whose every size has local NVMe instance storage although their names carry no "d" (EC2
# accelerated computing specifications).
GPU_FAMILIES_WITH_NVME = ("g5", "g6", "g6e", "gr6", "p5", "p5e", "p5en")


def has_instance_storage(family: str) -> bool:
    """Local NVMe instance storage: the "d" attribute (m6id, c7gd, r5d, g4dn, p4d), a storage-optimized class (i4i,
    im4gn, is4gen), or a GPU family listed above. Amazon EC2 instance type naming, EC2 instance specifications."""
    kind, attributes = _family_parts(family)
    return "d" in attributes or kind in ("i", "im", "is") or family in GPU_FAMILIES_WITH_NVME


def is_gpu_family(family: str) -> bool:
    """Accelerated computing with NVIDIA GPUs: the g and p classes (g5, g6, g5g, gr6, p4d, p5)."""
    return _family_parts(family)[0] in ("g", "gr", "p")


# Fargate task sizes (AWS Batch user guide, "Fargate job definitions": valid vCPU and memory combinations):
# vCPUs -> (smallest MiB, largest MiB, step MiB). A head job takes whole vCPUs.
FARGATE_MEMORY = {1: (2048, 8192, 1024), 2: (4096, 16384, 1024), 4: (8192, 30720, 1024), 8: (16384, 61440, 4096),
                  16: (32768, 122880, 8192)}


def fargate_memory_choices(vcpus: int) -> list[int]:
    low, high, step = FARGATE_MEMORY.get(vcpus, (0, -1, 1))
    return list(range(low, high + 1, step))


# --- teams ----------------------------------------------------------------------------------------------------------

# A team name is its share identifier, its tag value and part of its resource names and bucket prefix: 2-32
# lowercase letters, digits and '-', starting with a letter (the form the issue of teams asks for; IAM role names and
# queue names of this length keep their 64- and 128-character limits).
TEAM_NAME = re.compile(r"[a-z][a-z0-9-]{1,31}")
# An IAM role or user ARN (IAM identifiers, "IAM ARNs"): any partition, a 12-digit account, an optional path.
PRINCIPAL_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:iam::(\d{12}):(role|user)/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})")
# ShareAttributes.weightFactor (botocore's Batch model): 0.0001 to 999.9999, and a lower factor is a larger share.
WEIGHT_FACTOR = (0.0001, 999.9999)
# AWS Batch user guide, "AWS Batch service quotas" (not adjustable, per region): job queues and compute environments
# per account. ShareAttributes (Batch API reference): at most 500 share identifiers active in a job queue.
JOB_QUEUES_PER_ACCOUNT = 50
COMPUTE_ENVIRONMENTS_PER_ACCOUNT = 50
SHARE_IDENTIFIERS_PER_QUEUE = 500
# IAM quotas: a managed policy holds at most 6,144 characters, whitespace not counted.
MANAGED_POLICY_CHARS = 6144
# FairsharePolicy (Batch API reference): shareDecaySeconds up to one week, computeReservation 0-99.
SHARE_DECAY_SECONDS = (0, 604800)
COMPUTE_RESERVATION = (0, 99)


def weight_factor(weight: float) -> float:
    """Batch's weightFactor for a team's weight. Batch reads the factor inversely (a smaller factor is a larger
    share: 0.125 gets 8 times the capacity of 1.0), while the stack file's weight reads naturally (2 is twice 1)."""
    return round(min(max(1 / weight, WEIGHT_FACTOR[0]), WEIGHT_FACTOR[1]), 4)
