"""What AWS itself accepts: gp3 volume limits, log retention periods, bucket names, instance type names, partitions.

Plain data and pure functions; the settings model and the cross-key rules cite these rather than restate them.
"""

from __future__ import annotations

import math
import re
from functools import cache

from facts.botocore_cache import botocore_facts

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
LOG_RETENTION_DAYS = (
    0,
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# UpdatePolicy.jobExecutionTimeoutMinutes: how long an infrastructure update lets a running job finish before its
# instance is replaced. The API allows 7200 (botocore's Batch model), but the provider refuses more than 360 at preview
# (terraform-provider-aws internal/service/batch/compute_environment.go: `ValidateFunc: validation.IntBetween(1, 360)`).
UPDATE_TIMEOUT_MINUTES = (1, 360)

# Batch job-state time-limit actions accept 600 to 86400 seconds (JobStateTimeLimitAction.maxTimeSeconds).
JOB_STATE_TIME_LIMIT_SECONDS = (600, 86400)

# Two letters for most regions, four for the European Sovereign Cloud's (eusc-de-east-1).
REGION_NAME = re.compile(r"[a-z]{2,4}(-[a-z]+)+-\d")
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


@cache
def partition_for(region: str) -> str:
    """The ARN partition of a region name, from botocore's offline endpoint data (no network call): aws-cn,
    aws-us-gov, the isolated aws-iso* partitions (us-iso-east-1, eu-isoe-west-1) and aws-eusc (eusc-de-east-1) as
    well as aws. Raises botocore's UnknownRegionError for a region it does not know (settings refuse those first).
    Known regions come from the botocore cache (facts/botocore_cache.py); any other name is asked of botocore."""
    known = botocore_facts().region_partitions.get(region)
    if known is not None:
        return known
    import botocore.session

    return str(botocore.session.get_session().get_partition_for_region(region))


# --- regions, zones and instance types, from botocore's offline data -------------------------------------------


@cache
def aws_regions() -> frozenset[str]:
    """Every region botocore's endpoint data knows EC2 in, in every partition (no network call; cached per botocore
    version by facts/botocore_cache.py)."""
    return frozenset(botocore_facts().region_partitions)


# An availability zone name is the region plus a letter (us-east-1a); a zone id (use1-az1) is not a name.
AZ_ID = re.compile(r"[a-z]{2,4}\d-az\d+")


@cache
def ec2_instance_types() -> frozenset[str]:
    """Every instance type botocore's EC2 model lists (the InstanceType enum; cached per botocore version by
    facts/botocore_cache.py)."""
    return botocore_facts().instance_types


def instance_family(name: str) -> str:
    return name.split(".", 1)[0]


def instance_architecture(family: str) -> str:
    """arm64 for Graviton families, x86_64 otherwise. Amazon EC2 instance type naming: a "g" among the attribute
    letters after the generation (m7g, c6gn, r8gd, t4g, im4gn) means AWS Graviton; a1 is the first Graviton."""
    match = re.fullmatch(r"([a-z]+)(\d+)([a-z]*)(-.*)?", family)
    if family == "a1" or (match and ("g" in match.group(3) or (match.group(4) or "").startswith("-gb"))):
        return "arm64"
    return "x86_64"


# Batch's instance bundles (botocore's Batch model, ComputeResource.instanceTypes): default_x86_64 picks m6i, c6i,
# r6i and c7i sizes, default_arm64 m6g, c6g, r6g and c7g, and optimal is "semantically equivalent to default_x86_64".
# Each is one architecture, like every other entry of a compute environment's list.
BATCH_BUNDLES = {"optimal": "x86_64", "default_x86_64": "x86_64", "default_arm64": "arm64"}


def type_architecture(name: str) -> str:
    """The architecture of an instance type list entry: a bundle's own, or its family's."""
    return BATCH_BUNDLES.get(name) or instance_architecture(instance_family(name))


# Amazon EC2 instance type specifications (docs.aws.amazon.com/ec2/latest/instancetypes): the size fixes the vCPUs
# (nano to medium 1 outside the burstable t class, large 2, xlarge 4, Nxlarge and metal-Nxl 4N), and the family
# class fixes the most memory per vCPU (a and c 2 GiB, m, im and h 4, is 6, r, i, z and d 8, x 16). Families
# whose memory per vCPU or vCPUs exceed their class's are listed, so an estimate never refuses a type that fits:
# c5n 5.25 GiB per 2 vCPUs, x1e/x2iedn/x2iezn/x8aedz 32 GiB per vCPU, m2 up to 8.55; c1, c4.8xlarge and d2.8xlarge
# have more vCPUs than their size says. Other classes (GPU, accelerators, high-memory u-*, hpc) and bare `.metal`
# sizes are not judged: they are assumed big enough rather than refused on a guess.
SIZE_VCPUS = {"nano": 1, "micro": 1, "small": 1, "medium": 1, "large": 2, "xlarge": 4}
CLASS_GIB_PER_VCPU = {"a": 2, "c": 2, "m": 4, "im": 4, "h": 4, "is": 6, "r": 8, "i": 8, "z": 8, "d": 8, "x": 16}
FAMILY_GIB_PER_VCPU = {"c5n": 8 / 3, "x1e": 32, "x2iedn": 32, "x2iezn": 32, "x8aedz": 32, "m2": 9}
TYPE_VCPUS = {"c1.medium": 2, "c1.xlarge": 8, "c4.8xlarge": 36, "d2.8xlarge": 36}
# EC2 instance type naming: t is the burstable class (t2, t3, t3a, t4g). A burstable instance runs at a baseline
# share of its vCPUs once its CPU credits are spent (standard mode, T2's default) or bills the surplus (unlimited,
# T3's default): EC2 user guide, "Burstable performance instances".
BURSTABLE_CLASSES = ("t",)


def is_burstable(family: str) -> bool:
    return _family_parts(family)[0] in BURSTABLE_CLASSES


def instance_capacity(name: str) -> tuple[int, int] | None:
    """(vCPUs, MiB) at most of a sized instance type in the judged classes, else None (a family, a bundle, a
    `.metal` size, a burstable or an unjudged class)."""
    family, _, size = name.partition(".")
    per_vcpu = FAMILY_GIB_PER_VCPU.get(family) or CLASS_GIB_PER_VCPU.get(_family_parts(family)[0])
    multiple = re.fullmatch(r"(\d+)xlarge|metal-(\d+)xl", size)
    vcpus = (
        TYPE_VCPUS.get(name)
        or SIZE_VCPUS.get(size)
        or (4 * int(multiple.group(1) or multiple.group(2)) if multiple else None)
    )
    if not (vcpus and per_vcpu) or is_burstable(family):
        return None
    return vcpus, math.ceil(vcpus * per_vcpu * 1024)


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
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
IMAGE_REFERENCE_MAX = 255


def checked_email(address: str) -> tuple[str | None, str | None]:
    """(the address as SNS and Budgets are sent it, None), or (None, why it is not a deliverable address): the
    email-validator library's syntax rules (RFC 5321/5322, IDNA domains, no special-use domains such as .invalid or
    localhost), without DNS lookups. Strict: at most 64 characters before the @ (RFC 5321 4.5.3.1.1). ASCII only
    before the @: neither the SNS nor the Budgets reference documents SMTPUTF8 mail, so an address that needs it is
    refused rather than lost. An internationalized domain is accepted and sent in its ASCII (IDNA, xn--) form, which
    every mail server takes; the domain is lowercased, the part before the @ kept as written."""
    from email_validator import EmailNotValidError, validate_email  # imported only when a stack lists addresses

    try:
        valid = validate_email(address, check_deliverability=False, allow_smtputf8=False, strict=True)
    except EmailNotValidError as error:
        return None, str(error)
    return valid.ascii_email, None


def email_problem(address: str) -> str | None:
    """Why `address` is not a deliverable email address, or None (checked_email's rules)."""
    return checked_email(address)[1]


# Budgets: "A notification can have one SNS subscriber and up to 10 email subscribers" (botocore's Budgets model,
# NotificationWithSubscribers); the provider passes every address of subscriber_email_addresses on.
BUDGET_EMAIL_SUBSCRIBERS = 10

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


# Families whose every size has local NVMe instance storage although their names carry no "d" (EC2 instance type
# specifications, instance store; DescribeInstanceTypes' InstanceStorageInfo.NvmeSupport): GPU families, the dense
# HDD d3/d3en, and accelerators. i2's SSDs are not NVMe (NvmeSupport "unsupported"), so it cannot hold nvme scratch.
FAMILIES_WITH_NVME = (
    "g5",
    "g6",
    "g6e",
    "g6f",
    "g7",
    "g7e",
    "gr6",
    "gr6f",
    "p5",
    "p5e",
    "p5en",
    "p6-b200",
    "p6-b300",
    "d3",
    "d3en",
    "f2",
    "trn1",
    "trn1n",
    "trn2",
    "trn2u",
    "mac-m4",
    "mac-m4pro",
)
FAMILIES_WITHOUT_NVME = ("i2",)


def has_instance_storage(family: str) -> bool:
    """Local NVMe instance storage: the "d" attribute (m6id, c7gd, r5d, g4dn, p4d), a storage-optimized class (i4i,
    im4gn, is4gen), or a family listed above. Amazon EC2 instance type naming, EC2 instance specifications."""
    kind, attributes = _family_parts(family)
    named = "d" in attributes or kind in ("i", "im", "is")
    return (named and family not in FAMILIES_WITHOUT_NVME) or family in FAMILIES_WITH_NVME


def is_gpu_family(family: str) -> bool:
    """Accelerated computing with GPUs: the g and p classes (g5, g6, g5g, gr6, p4d, p5)."""
    return _family_parts(family)[0] in ("g", "gr", "p")


# What Batch's GPU AMI (Ec2Configuration.imageType ECS_AL2023_NVIDIA) cannot run, family by family. botocore's Batch
# model: ECS_AL2023_NVIDIA "can be used for all non AWS Graviton-based instance types" and "doesn't support p3 and g3
# instance types"; aws/amazon-ecs-ami builds it only from the x86_64 AL2023 image (al2023gpu.pkr.hcl) and builds GPU
# AMIs for Kepler GPUs (P2) only for AL2, unpublished (README, al2keplergpu); EC2 user guide, accelerated computing
# instances: "G4ad instances use AMD Radeon Pro V520 GPUs". Batch user guide, "Use a GPU workload AMI": p5 "is not
# compatible with p2 and g2".
NVIDIA_AMI_REFUSES = {
    "g4ad": "AMD Radeon Pro V520 GPUs, not NVIDIA",
    "p2": "Kepler GPUs, for which no AL2023 GPU AMI exists (nor does p5 mix with them)",
    "g2": "Kepler GPUs, for which no AL2023 GPU AMI exists (nor does p5 mix with them)",
    "p3": "not supported by ECS_AL2023_NVIDIA",
    "p3dn": "not supported by ECS_AL2023_NVIDIA (a p3 type)",
    "g3": "not supported by ECS_AL2023_NVIDIA",
    "g3s": "not supported by ECS_AL2023_NVIDIA (a g3 type)",
}


def nvidia_ami_problem(family: str) -> str | None:
    """Why Batch's GPU AMI cannot run a GPU family, or None when it can."""
    if instance_architecture(family) == "arm64":
        return "arm64 (Graviton or Grace): the GPU AMI serves non-Graviton types and is built for x86_64 only"
    return NVIDIA_AMI_REFUSES.get(family)


# Fargate task sizes (AWS Batch user guide, "Fargate job definitions": valid vCPU and memory combinations):
# vCPUs -> (smallest MiB, largest MiB, step MiB). A head job takes whole vCPUs.
FARGATE_MEMORY = {
    1: (2048, 8192, 1024),
    2: (4096, 16384, 1024),
    4: (8192, 30720, 1024),
    8: (16384, 61440, 4096),
    16: (32768, 122880, 8192),
}


def fargate_memory_choices(vcpus: int) -> list[int]:
    low, high, step = FARGATE_MEMORY.get(vcpus, (0, -1, 1))
    return list(range(low, high + 1, step))


# --- teams ----------------------------------------------------------------------------------------------------------

# A team name is its share identifier, its tag value and part of its resource names and bucket prefix, used as is
# everywhere (one name, nothing to map). Share identifiers are letters and digits only: the provider refuses anything
# else at preview (terraform-provider-aws internal/service/batch/validate.go, validShareIdentifier:
# `^[0-9A-Za-z]{0,254}[0-9A-Za-z*]?$`), as the SubmitJob reference says ("limited to 255 alphanumeric characters").
# Lowercase, so no two teams differ only in case; 32 characters keep IAM role and queue names within their limits.
TEAM_NAME = re.compile(r"[a-z][a-z0-9]{1,31}")
TEAM_NAME_RULE = "2-32 lowercase letters or digits, starting with a letter (no '-': it is a Batch share identifier)"


def team_name_suggestion(name: str) -> str:
    """A valid team name close to `name`: lowercase ASCII letters and digits, a letter first, at most 32."""
    kept = re.sub(r"[^a-z0-9]", "", name.lower(), flags=re.ASCII).lstrip("0123456789")
    return (kept if len(kept) >= 2 else f"team{kept}")[:32]


# An IAM role or user ARN (IAM identifiers, "IAM ARNs"): any partition, a 12-digit account, an optional path, the
# name. ASCII only, as botocore's IAM model has it: names `[\w+=,.@-]+`, 1 to 64 characters (roleNameType,
# userNameType), paths of printable ASCII, at most 512 characters with both slashes (pathType); re.ASCII keeps \w
# and \d from matching other scripts' letters and digits, which IAM refuses.
PRINCIPAL_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:iam::(\d{12}):(role|user)/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})", re.ASCII
)
PRINCIPAL_PATH_MAX = 512
# An AWS account id: 12 digits (IAM identifiers, "AWS account ID").
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
# Roles whose policies only the owning AWS service may change: service-linked roles live under /aws-service-role/
# (botocore's IAM model, UnmodifiableEntityException: "service-linked roles are protected"; CreateServiceLinkedRole:
# "To attach a policy to this service-linked role, you must make the request using the AWS service that depends on
# this role"), and IAM Identity Center keeps its AWSReservedSSO_* roles under /aws-reserved/sso.amazonaws.com/ (IAM
# Identity Center user guide, "Using service-linked roles": its role manages roles on that path; IAM refuses others:
# "this role is only modifiable by AWS").
PROTECTED_ROLE_PATHS = {
    "aws-service-role/": "a service-linked role: only the AWS service that owns it may attach policies to it; list "
    "a role or user of your own",
    "aws-reserved/sso.amazonaws.com/": "an IAM Identity Center role: IAM refuses to change it; list a role of your "
    "own, or attach the run policy through the permission set (a customer "
    "managed policy reference)",
}
# The same roles by name, wherever their path: a service-linked role's name is the service's prefix AWSServiceRoleFor
# and an optional suffix (botocore's IAM model, CreateServiceLinkedRole.CustomSuffix: "combined with the
# service-provided prefix to form the complete role name"), and IAM Identity Center names the roles of its
# permission sets AWSReservedSSO_<permission set>_<unique suffix>
# (https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html); IAM refuses changes to
# either ("Cannot perform the operation on the protected role ... this role is only modifiable by AWS").
PROTECTED_ROLE_NAMES = {
    "AWSServiceRoleFor": PROTECTED_ROLE_PATHS["aws-service-role/"],
    "AWSReservedSSO_": PROTECTED_ROLE_PATHS["aws-reserved/sso.amazonaws.com/"],
}


def principal_parts(arn: str) -> tuple[str, str, str, str, str]:
    """(partition, account, kind, path, name) of an ARN that PRINCIPAL_ARN matches: the path is what lies between
    the kind and the name ("" or "a/b/"), and IAM names compare case-insensitively (IAM: "Names are not distinguished
    by case"; a name is unique in the account whatever its path)."""
    _, partition, _, _, account, resource = arn.split(":", 5)
    kind, _, rest = resource.partition("/")
    path, _, name = rest.rpartition("/")
    return partition, account, kind, path + "/" if path else "", name


def principal_problem(arn: str) -> str | None:
    """Why IAM would refuse to attach a policy to this principal, or None."""
    _, _, kind, path, name = principal_parts(arn)
    if len("/" + path) > PRINCIPAL_PATH_MAX:
        return (
            f"a principal whose path is {len('/' + path)} characters long; IAM paths hold at most {PRINCIPAL_PATH_MAX}"
        )
    if kind != "role":
        return None
    return next((why for prefix, why in PROTECTED_ROLE_PATHS.items() if path.startswith(prefix)), None) or next(
        (why for prefix, why in PROTECTED_ROLE_NAMES.items() if name.startswith(prefix)), None
    )


# ShareAttributes.weightFactor (botocore's Batch model): 0.0001 to 999.9999, and a lower factor is a larger share.
WEIGHT_FACTOR = (0.0001, 999.9999)
# AWS Batch user guide, "AWS Batch service quotas" (not adjustable, per region): job queues and compute environments
# per account. ShareAttributes (Batch API reference): at most 500 share identifiers active in a job queue.
JOB_QUEUES_PER_ACCOUNT = 50
COMPUTE_ENVIRONMENTS_PER_ACCOUNT = 50
SHARE_IDENTIFIERS_PER_QUEUE = 500
# IAM quotas: a managed policy holds at most 6,144 characters, whitespace not counted.
MANAGED_POLICY_CHARS = 6144
# FairsharePolicy (Batch API reference): shareDecaySeconds up to one week, computeReservation 0-99; the provider
# checks the same ranges (terraform-provider-aws internal/service/batch/scheduling_policy.go, IntBetween).
SHARE_DECAY_SECONDS = (0, 604800)
COMPUTE_RESERVATION = (0, 99)


def weight_factor(weight: float) -> float:
    """Batch's weightFactor for a team's weight. Batch reads the factor inversely (a smaller factor is a larger
    share: 0.125 gets 8 times the capacity of 1.0), while the stack file's weight reads naturally (2 is twice 1)."""
    return round(min(max(1 / weight, WEIGHT_FACTOR[0]), WEIGHT_FACTOR[1]), 4)
