"""Stack files as a new user and as an adversary would write them, through `nfbatch plan`: every bad one exits 2
with a message naming the key, the value and what is allowed, and no traceback; every good one plans.

The settings-level table (tests/test_settings.py) covers each key's rules; this one covers whole files.
"""

import re
import shutil

import pytest
from conftest import MAIN, ROOT

from nfbatch.cli import main

HEAD = "config:\n  aws:region: us-east-1\n"


def net(body: str) -> str:
    return HEAD + "  genomics-batch:network:\n" + "".join(f"    {line}\n" for line in body.split("; "))


def section(name: str, body: str) -> str:
    return HEAD + f"  genomics-batch:{name}:\n" + "".join(f"    {line}\n" for line in body.split("; "))


def team(body: str) -> str:
    return section("teams", body)


def in_region(region: str, text: str) -> str:
    return text.replace("aws:region: us-east-1", f"aws:region: {region}", 1)


ARN, OTHER = "arn:aws:iam::123456789012:role/", "arn:aws:iam::210987654321:role/"
EMAILS_10 = ", ".join(f"lead{i}@lab.org" for i in range(10))
EMAILS_11 = EMAILS_10 + ", lead10@lab.org"


EXISTING = (
    "mode: existing; vpcId: vpc-0123456789abcdef0; subnetIds: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]"
)

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
    (
        "namespace-underscore",
        HEAD + "  genomics_batch:network:\n    egress: public\n",
        "unknown namespace 'genomics_batch' (did you mean 'genomics-batch:network'?)",
    ),
    ("namespace-case", HEAD + "  Genomics-Batch:bucket:\n    protect: false\n", "unknown namespace 'Genomics-Batch'"),
    (
        "namespace-squashed",
        HEAD + "  genomicsbatch:compute:\n    spot: {maxVcpus: 8}\n",
        "unknown namespace 'genomicsbatch'",
    ),
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
    (
        "existing-no-vpc",
        net("mode: existing; subnetIds: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]"),
        "network.vpcId: is required when network.mode is existing",
    ),
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
    (
        "type-too-small",
        section("compute", "instanceTypes: [c6i.large]"),
        "no type can hold the head job (2 vCPUs, 4096 MiB)",
    ),
    ("type-empty", section("compute", "instanceTypes: []"), "compute.instanceTypes = []"),
    ("type-shell", section("compute", "instanceTypes: ['m6i;rm']"), "not an EC2 instance type or family"),
    ("type-repeated", section("compute", "instanceTypes: [m6i, m6i]"), "must not repeat an instance type"),
    ("graviton-on-x86", section("compute", "instanceTypes: [m7g, c7g]"), "not x86_64, as compute.architecture asks"),
    (
        "x86-on-arm",
        section("compute", "architecture: arm64; instanceTypes: [m6i]"),
        "not arm64, as compute.architecture asks",
    ),
    (
        "nvme-without-disks",
        HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
        "  genomics-batch:compute:\n    instanceTypes: [m6i, c6id]\n",
        '["m6i"]: have no NVMe instance storage',
    ),
    (
        "nvme-optimal",
        HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
        "  genomics-batch:compute:\n    instanceTypes: [optimal]\n",
        "have no NVMe instance",
    ),
    ("gpu-not-gpu", section("compute", "gpu: {enabled: true, instanceTypes: [m6i]}"), "not GPU families"),
    (
        "gpu-wrong-arch",
        section("compute", "architecture: arm64; gpu: {enabled: true}"),
        "compute.gpu.enabled = true: cannot be true with compute.architecture arm64",
    ),
    ("fargate-vcpus", section("headJob", "platform: fargate; vcpus: 3"), "Fargate runs a head with 1, 2, 4, 8, 16"),
    (
        "fargate-memory",
        section("headJob", "platform: fargate; vcpus: 2; memoryMib: 20000"),
        "Fargate gives 2 vCPUs 4096 to 16384 MiB in steps of 1024",
    ),
    # --- head job image and key name
    ("image-space", section("headJob", "image: 'nextflow/nextflow 25.04.6'"), "not a container image reference"),
    ("image-shell", section("headJob", "image: 'nextflow/nextflow:25.04.6;id'"), "no spaces or shell characters"),
    ("image-long", section("headJob", "image: " + "a" * 256), "at most 255 characters"),
    ("image-dollar", section("headJob", "image: '$(whoami)/x'"), "not a container image reference"),
    ("key-name-unicode", section("launchTemplate", "keyName: 'clé'"), "not an EC2 key pair name"),
    ("key-name-long", section("launchTemplate", "keyName: " + "k" * 256), "not an EC2 key pair name"),
    (
        "nextflow-version-words",
        section("headJob", "nextflowVersion: latest"),
        "nextflowVersion = latest: must be a Nextflow release such as 25.04.6",
    ),
    # --- tags
    (
        "tags-too-many",
        HEAD + "  genomics-batch:tags:\n" + "".join(f"    T{i}: v\n" for i in range(47)),
        "tags = 47 tags: at most 46",
    ),
    ("tags-case-duplicate", section("tags", "Owner: a; OWNER: b"), "differs from the tag Owner only in case"),
    ("tags-name-case", section("tags", "name: x"), "tags.name = x: collides with the tag Name"),
    ("tags-aws-prefix", section("tags", "aws:owner: me"), "must not start with aws:"),
    ("tags-reserved", section("tags", "Stack: other"), "tags.Stack = other: is the tag Stack, which the program sets"),
    ("tags-bad-chars", section("tags", "Owner: 'a<b>'"), "tag values must be at most 256"),
    ("tags-list", HEAD + "  genomics-batch:tags: [a, b]\n", "must be a map of tag names to string values"),
    # --- buckets and IAM size
    ("bucket-twice", section("bucket", "readOnlyBuckets: [1000genomes, 1000genomes]"), "lists a bucket more than once"),
    (
        "bucket-both",
        section("bucket", "readOnlyBuckets: [a-lab]; readWriteBuckets: [a-lab]"),
        "a bucket cannot be both read-only and read-write",
    ),
    (
        "bucket-iam-size",
        section(
            "bucket", "readOnlyBuckets: [" + ", ".join(f"public-data-set-{i:03d}-archive" for i in range(140)) + "]"
        ),
        "IAM allows 10240 per role",
    ),
    ("bucket-bad-name", section("bucket", "name: My_Bucket"), "not a valid S3 bucket name"),
    ("bucket-force-protect", section("bucket", "forceDestroy: true"), "cannot be true while bucket.protect is true"),
    # --- team principals: the run policy is attached by name in the stack's own account and partition
    (
        "principal-china-arn",
        team("core: {principals: [" + ARN.replace("arn:aws:", "arn:aws-cn:") + "Runner]}"),
        "is in the aws-cn partition, but us-east-1 is in aws",
    ),
    (
        "principal-gov-arn",
        team("core: {principals: [" + ARN.replace("arn:aws:", "arn:aws-us-gov:") + "Runner]}"),
        "is in the aws-us-gov partition, but us-east-1 is in aws",
    ),
    (
        "principal-commercial-in-china",
        in_region("cn-north-1", team(f"core: {{principals: [{ARN}Runner]}}")),
        "is in the aws partition, but cn-north-1 is in aws-cn",
    ),
    (
        "principal-commercial-in-govcloud",
        in_region("us-gov-west-1", team(f"core: {{principals: [{ARN}Runner]}}")),
        "is in the aws partition, but us-gov-west-1 is in aws-us-gov",
    ),
    (
        "principal-accounts-in-a-team",
        team(f"core: {{principals: [{ARN}Runner, {OTHER}Runner2]}}"),
        "teams.core.principals[1] = " + OTHER + "Runner2: is in account 210987654321, but teams.core.principals[0] is "
        "in 123456789012",
    ),
    (
        "principal-accounts-across-teams",
        team(f"core: {{principals: [{ARN}Core]}}; rna: {{principals: [{OTHER}Rna]}}"),
        "teams.rna.principals[0] = " + OTHER + "Rna: is in account 210987654321",
    ),
    # botocore's IAM model: service-linked roles are protected; Identity Center owns AWSReservedSSO_* roles.
    (
        "principal-service-linked",
        team(f"core: {{principals: [{ARN}aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch]}}"),
        "is a service-linked role: only the AWS service that owns it may attach policies to it",
    ),
    (
        "principal-service-linked-spot",
        team(f"core: {{principals: [{ARN}aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot]}}"),
        "is a service-linked role",
    ),
    (
        "principal-sso",
        team(f"core: {{principals: [{ARN}aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef]}}"),
        "is an IAM Identity Center role: IAM refuses to change it",
    ),
    (
        "principal-sso-regional",
        team(
            f"core: {{principals: [{ARN}aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Bio_0123456789abcdef]}}"
        ),
        "is an IAM Identity Center role",
    ),
    # IAM names are unique whatever the path and "not distinguished by case" (botocore's IAM model, CreateRole).
    (
        "principal-twice-case",
        team(f"core: {{principals: [{ARN}Runner, {ARN}runner]}}"),
        "teams.core.principals[1] = " + ARN + "runner: is the role teams.core.principals[0] already lists",
    ),
    (
        "principal-twice-paths",
        team(f"core: {{principals: [{ARN}a/Runner, {ARN}b/RUNNER]}}"),
        "is the role teams.core.principals[0] already lists (" + ARN + "a/Runner)",
    ),
    (
        "principal-user-twice",
        team("core: {principals: [arn:aws:iam::123456789012:user/alice, arn:aws:iam::123456789012:user/Alice]}"),
        "is the user teams.core.principals[0]",
    ),
    (
        "principal-exact-twice",
        team(f"core: {{principals: [{ARN}Runner, {ARN}Runner]}}"),
        "already lists (" + ARN + "Runner)",
    ),
    (
        "principal-assumed-role",
        team("core: {principals: [arn:aws:sts::123456789012:assumed-role/Runner/me]}"),
        "not an IAM role or user ARN",
    ),
    (
        "principal-group",
        team("core: {principals: [arn:aws:iam::123456789012:group/Genomics]}"),
        "not an IAM role or user ARN",
    ),
    ("principal-short-account", team("core: {principals: [arn:aws:iam::12345:role/Runner]}"), "a 12-digit account"),
    ("principal-root", team("core: {principals: [arn:aws:iam::123456789012:root]}"), "not an IAM role or user ARN"),
    ("principal-long-name", team(f"core: {{principals: [{ARN}{'r' * 65}]}}"), "not an IAM role or user ARN"),
    ("principal-wildcard", team(f"core: {{principals: ['{ARN}*']}}"), "not an IAM role or user ARN"),
    ("principal-bare-name", team("core: {principals: [GenomicsCoreRunner]}"), "not an IAM role or user ARN"),
    # Protected roles by name too, whatever their path (botocore's IAM model, CreateServiceLinkedRole; IAM Identity
    # Center user guide, referencingpermissionsets.html: AWSReservedSSO_<permission set>_<suffix>).
    (
        "principal-sso-name-no-path",
        team(f"core: {{principals: [{ARN}AWSReservedSSO_Admin_0123456789abcdef]}}"),
        "teams.core.principals[0] = " + ARN + "AWSReservedSSO_Admin_0123456789abcdef: is an IAM Identity Center role",
    ),
    (
        "principal-sso-name-other-path",
        team(f"core: {{principals: [{ARN}lab/AWSReservedSSO_Bio_0123456789abcdef]}}"),
        "is an IAM Identity Center role: IAM refuses to change it",
    ),
    (
        "principal-service-linked-name-no-path",
        team(f"core: {{principals: [{ARN}AWSServiceRoleForBatch]}}"),
        "teams.core.principals[0] = " + ARN + "AWSServiceRoleForBatch: is a service-linked role",
    ),
    (
        "principal-service-linked-name-suffix",
        team(f"core: {{principals: [{ARN}custom/AWSServiceRoleForECS_lab]}}"),
        "is a service-linked role: only the AWS service that owns it may attach policies to it",
    ),
    # botocore's IAM model: names [\w+=,.@-] in ASCII, 1-64 characters; paths at most 512 characters.
    (
        "principal-unicode-name",
        team(f"core: {{principals: [{ARN}Rünner]}}"),
        "principals[0] = " + ARN + "Rünner: not an IAM role or user ARN",
    ),
    (
        "principal-unicode-digits",
        team("core: {principals: [arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/Runner]}"),
        "not an IAM role or user ARN such as arn:aws:iam::123456789012:role/GenomicsCoreRunner",
    ),
    ("principal-unicode-path", team(f"core: {{principals: [{ARN}équipe/Runner]}}"), "not an IAM role or user ARN"),
    (
        "principal-path-513",
        team(f"core: {{principals: [{ARN}{'p/' * 256}Runner]}}"),
        "is a principal whose path is 513 characters long; IAM paths hold at most 512",
    ),
    # An error names a long ARN whole: its end is the role's name (settings/errors.py, show).
    (
        "principal-long-arn-whole",
        team(f"core: {{principals: [{ARN}{'lab/' * 20}AWSReservedSSO_Admin_0123456789abcdef]}}"),
        "principals[0] = " + ARN + "lab/" * 20 + "AWSReservedSSO_Admin_0123456789abcdef: is an IAM Identity Center",
    ),
    # The run policy is attached by name in the stack's own account: with the provider's aws:allowedAccountIds set,
    # principals of any other account are refused offline.
    (
        "principal-not-allowed-account",
        HEAD + '  aws:allowedAccountIds: ["111122223333"]\n'
        f"  genomics-batch:teams:\n    core: {{principals: [{ARN}Runner]}}\n",
        "teams.core.principals[0] = "
        + ARN
        + "Runner: is in account 123456789012, which aws:allowedAccountIds does not "
        "list (111122223333)",
    ),
    (
        "allowed-accounts-unquoted",
        HEAD + "  aws:allowedAccountIds: [111122223333]\n",
        "aws:allowedAccountIds = [111122223333]: must be a list of 12-digit AWS account ids, each quoted",
    ),
    (
        "allowed-accounts-short",
        HEAD + '  aws:allowedAccountIds: ["12345"]\n',
        'aws:allowedAccountIds = ["12345"]: must be a list of 12-digit AWS account ids',
    ),
    (
        "allowed-accounts-string",
        HEAD + '  aws:allowedAccountIds: "111122223333"\n',
        "aws:allowedAccountIds = 111122223333: must be a list",
    ),
    ("allowed-accounts-empty", HEAD + "  aws:allowedAccountIds: []\n", "aws:allowedAccountIds = []: must be a list"),
    # Partitions from botocore's endpoint data (facts/limits.py, partition_for): the isolated and sovereign ones too.
    (
        "principal-commercial-in-iso",
        in_region("us-iso-east-1", team(f"core: {{principals: [{ARN}Runner]}}")),
        "is in the aws partition, but us-iso-east-1 is in aws-iso",
    ),
    (
        "principal-commercial-in-iso-e",
        in_region("eu-isoe-west-1", team(f"core: {{principals: [{ARN}Runner]}}")),
        "is in the aws partition, but eu-isoe-west-1 is in aws-iso-e",
    ),
    (
        "principal-commercial-in-eusc",
        in_region("eusc-de-east-1", team(f"core: {{principals: [{ARN}Runner]}}")),
        "is in the aws partition, but eusc-de-east-1 is in aws-eusc",
    ),
    # --- budgets: a notification mails at most 10 addresses (botocore's Budgets model, NotificationWithSubscribers)
    (
        "team-budget-11-emails",
        team("core: {maxVcpus: 16, monthlyBudgetUsd: 100, budgetEmails: [" + EMAILS_11 + "]}"),
        "teams.core.budgetEmails = 11 addresses: at most 10",
    ),
    (
        "stack-budget-11-emails",
        HEAD + "  genomics-batch:alerts:\n    emails: [" + EMAILS_11 + "]\n"
        "  genomics-batch:budget:\n    monthlyUsd: 1000\n",
        "alerts.emails = 11 addresses: at most 10: each budget notification mails them",
    ),
    (
        "team-budget-email-case",
        team("core: {maxVcpus: 16, monthlyBudgetUsd: 100, budgetEmails: [a@lab.org, A@LAB.ORG]}"),
        'teams.core.budgetEmails = ["a@lab.org", "A@lab.org"]: lists an address more than once',
    ),
    (
        "team-budget-email-at",
        team("core: {maxVcpus: 16, monthlyBudgetUsd: 100, budgetEmails: [lead-at-lab.org]}"),
        "budgetEmails[0] = lead-at-lab.org: not an email address such as oncall@lab.org: an email address must have",
    ),
    (
        "team-budget-email-no-dot",
        team("core: {maxVcpus: 16, monthlyBudgetUsd: 100, budgetEmails: [lead@lab]}"),
        "budgetEmails[0] = lead@lab: not an email address",
    ),
    ("team-emails-without-budget", team("core: {budgetEmails: [lead@lab.org]}"), "only used with monthlyBudgetUsd"),
    (
        "team-budget-without-emails",
        team("core: {maxVcpus: 16, monthlyBudgetUsd: 100}"),
        "teams.core.budgetEmails: is required with monthlyBudgetUsd",
    ),
    (
        "team-budget-zero",
        team("core: {maxVcpus: 16, monthlyBudgetUsd: 0, budgetEmails: [lead@lab.org]}"),
        "teams.core.monthlyBudgetUsd = 0: input should be greater than 0",
    ),
    # --- alert addresses, validated by email-validator (syntax only, no DNS)
    (
        "email-space",
        section("alerts", "emails: ['on call@lab.org']"),
        "alerts.emails[0] = on call@lab.org: not an email address such as oncall@lab.org: the email address contains "
        "invalid characters before the @-sign: SPACE",
    ),
    ("email-localhost", section("alerts", "emails: [root@localhost]"), "It should have a period"),
    ("email-reserved-domain", section("alerts", "emails: [oncall@lab.invalid]"), "special-use or reserved name"),
    ("email-ip-literal", section("alerts", "emails: ['oncall@[10.0.0.1]']"), "bracketed IP address"),
    ("email-double-dot", section("alerts", "emails: [on..call@lab.org]"), "two periods in a row"),
    # The value holds a newline: it is shown escaped, so it cannot start a line of its own.
    (
        "email-header-injection",
        section("alerts", 'emails: ["oncall@lab.org\\nBcc: all@lab.org"]'),
        'alerts.emails[0] = "oncall@lab.org\\nBcc: all@lab.org": not an email address such as oncall@lab.org: the part '
        "after the @-sign contains invalid characters: ':', '@', SPACE, U+000A",
    ),
    (
        "email-display-name",
        section("alerts", "emails: ['Oncall <oncall@lab.org>']"),
        "a display name and angle brackets around the email address are not permitted here",
    ),
    (
        "email-trailing-dot",
        section("alerts", "emails: [oncall@lab.org.]"),
        "alerts.emails[0] = oncall@lab.org.: not an email address such as oncall@lab.org: an email address cannot end "
        "with a period",
    ),
    # email-validator with allow_smtputf8=False and strict=True (facts/limits.py, checked_email): ASCII before the
    # @, which neither SNS nor Budgets documents otherwise; at most 64 characters there (RFC 5321 4.5.3.1.1).
    (
        "email-unicode-local",
        section("alerts", "emails: ['jürgen@lab.org']"),
        "alerts.emails[0] = jürgen@lab.org: not an email address such as oncall@lab.org: internationalized characters "
        "before the @-sign are not supported: 'ü'",
    ),
    (
        "email-local-65",
        section("alerts", "emails: [" + "x" * 65 + "@lab.org]"),
        "the email address is too long before the @-sign (1 character too many)",
    ),
    (
        "email-unicode-local-team",
        team("core: {maxVcpus: 16, monthlyBudgetUsd: 100, budgetEmails: ['léa@lab.org']}"),
        "teams.core.budgetEmails[0] = léa@lab.org: not an email address such as oncall@lab.org: internationalized",
    ),
    (
        "email-repeat-case",
        section("alerts", "emails: [oncall@lab.org, ONCALL@lab.org]"),
        "lists an address more than once",
    ),
    ("email-not-a-list", section("alerts", "emails: oncall@lab.org"), "alerts.emails = oncall@lab.org: input should"),
    # Shown as the file says it, 500, not the model's 500.0.
    ("budget-no-emails", section("budget", "monthlyUsd: 500"), "budget.monthlyUsd = 500: needs alerts.emails"),
    (
        "budget-negative",
        HEAD + "  genomics-batch:alerts:\n    emails: [oncall@lab.org]\n  genomics-batch:budget:\n    monthlyUsd: -5\n",
        "budget.monthlyUsd = -5",
    ),
    # --- GPUs: what Batch's GPU AMI (ECS_AL2023_NVIDIA) runs (botocore's Batch model; aws/amazon-ecs-ami)
    (
        "gpu-arm64-default",
        section("compute", "architecture: arm64; gpu: {enabled: true, instanceTypes: [g5g]}"),
        "compute.gpu.enabled = true: cannot be true with compute.architecture arm64",
    ),
    (
        "gpu-graviton-on-x86",
        section("compute", "gpu: {enabled: true, instanceTypes: [g5g]}"),
        "g5g: arm64 (Graviton or Grace)",
    ),
    ("gpu-grace", section("compute", "gpu: {enabled: true, instanceTypes: [p6e-gb200]}"), "p6e-gb200: arm64"),
    (
        "gpu-amd",
        section("compute", "gpu: {enabled: true, instanceTypes: [g4ad]}"),
        "g4ad: AMD Radeon Pro V520 GPUs, not NVIDIA",
    ),
    ("gpu-kepler", section("compute", "gpu: {enabled: true, instanceTypes: [p2]}"), "p2: Kepler GPUs"),
    (
        "gpu-p5-with-p2",
        section("compute", "gpu: {enabled: true, instanceTypes: [p5, p2.xlarge]}"),
        "p2.xlarge: Kepler GPUs, for which no AL2023 GPU AMI exists (nor does p5 mix with them)",
    ),
    ("gpu-g2", section("compute", "gpu: {enabled: true, instanceTypes: [g2.2xlarge]}"), "g2.2xlarge: Kepler"),
    (
        "gpu-p3",
        section("compute", "gpu: {enabled: true, instanceTypes: [p3]}"),
        "p3: not supported by ECS_AL2023_NVIDIA",
    ),
    (
        "gpu-p3dn",
        section("compute", "gpu: {enabled: true, instanceTypes: [g5, p3dn.24xlarge]}"),
        '["p3dn.24xlarge"]: Batch\'s GPU AMI',
    ),
    ("gpu-g3s", section("compute", "gpu: {enabled: true, instanceTypes: [g3s.xlarge]}"), "(a g3 type)"),
    ("gpu-inferentia", section("compute", "gpu: {enabled: true, instanceTypes: [inf2]}"), "not GPU families"),
    ("gpu-optimal", section("compute", "gpu: {enabled: true, instanceTypes: [optimal]}"), "not GPU families"),
    ("gpu-mixed-arch", section("compute", "gpu: {enabled: true, instanceTypes: [g5, g5g]}"), "mixes x86_64 and arm64"),
    ("gpu-no-types", section("compute", "gpu: {enabled: true, instanceTypes: []}"), "compute.gpu.instanceTypes = []"),
    ("gpu-max-zero", section("compute", "gpu: {enabled: true, maxVcpus: 0}"), "gpu.maxVcpus = 0: must be between 1"),
    ("gpu-enabled-word", section("compute", "gpu: {enabled: maybe}"), "gpu.enabled = maybe: input should be a valid"),
    # --- one architecture per compute environment, the bundles included (botocore's Batch model, instanceTypes)
    (
        "optimal-on-arm",
        section("compute", "architecture: arm64; instanceTypes: [optimal]"),
        '["optimal"]: not arm64, as compute.architecture asks',
    ),
    (
        "default-x86-on-arm",
        section("compute", "architecture: arm64; instanceTypes: [default_x86_64]"),
        "not arm64, as compute.architecture asks",
    ),
    (
        "default-arm-on-x86",
        section("compute", "instanceTypes: [default_arm64]"),
        '["default_arm64"]: not x86_64, as compute.architecture asks',
    ),
    ("bundles-mixed", section("compute", "instanceTypes: [default_x86_64, default_arm64]"), "mixes x86_64 and arm64"),
    ("bundle-and-graviton", section("compute", "instanceTypes: [default_x86_64, m7g]"), "mixes x86_64 and arm64"),
    (
        "graviton-capped-team",
        HEAD + "  genomics-batch:compute:\n    instanceTypes: [m7g]\n"
        "  genomics-batch:teams:\n    core: {maxVcpus: 16}\n",
        "and the capped teams' own (core)",
    ),
    ("a1-on-al2023", section("compute", "architecture: arm64; instanceTypes: [a1]"), "does not support A1 instances"),
    (
        "a1-size-on-al2023",
        section("compute", "architecture: arm64; instanceTypes: [m6g, a1.4xlarge]"),
        '["a1.4xlarge"]: Amazon Linux 2023',
    ),
    # --- the head job must fit on some listed type, and not on a burstable one
    (
        "head-medium",
        section("compute", "architecture: arm64; instanceTypes: [c6g.medium]"),
        "no type can hold the head job",
    ),
    (
        "head-mediums",
        section("compute", "architecture: arm64; instanceTypes: [m6g.medium, r6g.medium, x2gd.medium]"),
        "no type can hold the head job (2 vCPUs, 4096 MiB)",
    ),
    ("head-small", section("compute", "instanceTypes: [m1.small]"), "no type can hold the head job"),
    (
        "head-is4gen-medium",
        section("compute", "architecture: arm64; instanceTypes: [is4gen.medium]"),
        "no type can hold the head job",
    ),
    (
        "head-memory",
        HEAD + "  genomics-batch:compute:\n    instanceTypes: [c6i.2xlarge]\n"
        "  genomics-batch:headJob:\n    memoryMib: 16384\n",
        "(2 vCPUs, 16384 MiB)",
    ),
    (
        "head-vcpus",
        HEAD + "  genomics-batch:compute:\n    instanceTypes: [m6i.xlarge, r6i.xlarge]\n"
        "  genomics-batch:headJob:\n    vcpus: 8\n",
        "(8 vCPUs, 4096 MiB)",
    ),
    ("head-burstable", section("compute", "instanceTypes: [t3]"), '["t3"]: burstable (t class)'),
    ("head-burstable-graviton", section("compute", "architecture: arm64; instanceTypes: [t4g.micro]"), "burstable"),
    ("head-burstable-mixed", section("compute", "instanceTypes: [m6i, t3a.large]"), '["t3a.large"]: burstable'),
    (
        "nvme-bundle",
        HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
        "  genomics-batch:compute:\n    instanceTypes: [default_x86_64]\n",
        "no NVMe instance",
    ),
    (
        "nvme-i2",
        HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
        "  genomics-batch:compute:\n    instanceTypes: [i2]\n",
        '["i2"]: have no NVMe instance storage',
    ),
    ("nvme-typo", section("launchTemplate", "scratch: NVMe"), "scratch = NVMe: must be one of root or nvme"),
    (
        "fargate-memory-step",
        section("headJob", "platform: fargate; vcpus: 16; memoryMib: 40000"),
        "Fargate gives 16 vCPUs 32768 to 122880 MiB in steps of 8192",
    ),
    ("fargate-vcpus-32", section("headJob", "platform: fargate; vcpus: 32"), "vcpus = 32: must be between 1 and 16"),
    ("fargate-case", section("headJob", "platform: FARGATE"), "platform = FARGATE: must be one of ec2 or fargate"),
    # --- user tags that collide with the program's own, in any case (IAM: "Tag keys are case insensitive")
    (
        "tags-project-lower",
        section("tags", "project: alpha"),
        "tags.project = alpha: collides with the tag Project, which the program sets itself",
    ),
    ("tags-stack-upper", section("tags", "STACK: beta"), "tags.STACK = beta: collides with the tag Stack"),
    ("tags-tier-lower", section("tags", "tier: gold"), "tags.tier = gold: collides with the tag Tier"),
    ("tags-name-exact", section("tags", "Name: my-cluster"), "tags.Name = my-cluster: is the tag Name"),
    (
        "tags-team-lower",
        HEAD + "  genomics-batch:teams:\n    core: {}\n  genomics-batch:tags:\n    team: x\n",
        "tags.team = x: collides with the tag Team",
    ),
    (
        "tags-team-exact",
        HEAD + "  genomics-batch:teams:\n    core: {}\n  genomics-batch:tags:\n    Team: y\n",
        "tags.Team = y: is the tag Team",
    ),
    ("tags-mixed-case", section("tags", "pRoJeCt: gamma"), "tags.pRoJeCt = gamma: collides with the tag Project"),
    # A colliding key is mended by renaming it, not by another value.
    (
        "tags-collision-fix",
        section("tags", "PROJECT: alpha"),
        "fix: rename the tag key: `pulumi config rm --stack tags-collision-fix --path "
        "'genomics-batch:tags.PROJECT'`, then `pulumi config set --stack tags-collision-fix --path "
        "'genomics-batch:tags.<another key>' <the same value>`",
    ),
    (
        "tags-case-duplicate-fix",
        section("tags", "CostCenter: a; costcenter: b"),
        "tags.costcenter = b: differs from the tag CostCenter only in case; IAM treats tag keys case-insensitively\n"
        "fix: rename the tag key: `pulumi config rm --stack tags-case-duplicate-fix --path "
        "'genomics-batch:tags.costcenter'`",
    ),
    (
        "tags-newline-value",
        HEAD + '  genomics-batch:tags:\n    Owner: "lab\\n  - genomics-batch:fake = 1: forged"\n',
        'tags.Owner = "lab\\n  - genomics-batch:fake = 1: forged": tag values must be',
    ),
    # --- other settings, each named with its value and the rule
    # The provider refuses more than 360 at preview (terraform-provider-aws batch/compute_environment.go, IntBetween).
    (
        "update-timeout-long",
        section("compute", "updateTimeoutMinutes: 7200"),
        "compute.updateTimeoutMinutes = 7200: must be between 1 and 360",
    ),
    (
        "single-attempt-long-head",
        section("headJob", "attempts: 1"),
        "headJob.attempts = 1: must be at least 2 while headJob.timeoutHours × 60 (7200) exceeds",
    ),
    ("spot-strategy", section("compute", "spot: {allocationStrategy: BEST_FIT}"), "must be one of SPOT_CAPACITY"),
    ("head-timeout", section("headJob", "timeoutHours: 168"), "timeoutHours = 168: must be between 1 and 120"),
    ("retention", section("headJob", "logRetentionDays: 2"), "must be 0 (never expire) or one of 1, 3, 5"),
    (
        "record-retention",
        section("runCosts", "recordRetentionDays: 366"),
        "runCosts.recordRetentionDays = 366: must be 0 (never expire) or one of 1, 3, 5",
    ),
    ("record-retention-text", section("runCosts", "recordRetentionDays: a year"), "runCosts.recordRetentionDays"),
    ("record-unknown-key", section("runCosts", "recordInstance: true"), "unknown key"),
    ("unknown-key", section("compute", "spotMaxVcpus: 8"), "unknown key"),
    ("unknown-section", HEAD + "  genomics-batch:computee: {}\n", "did you mean 'genomics-batch:compute'?"),
    ("section-scalar", HEAD + "  genomics-batch:network: public\n", "must be a map of settings (a YAML object)"),
    ("bool-for-number", section("compute", "spot: {maxVcpus: true}"), "expected a number, got a boolean"),
    # --- teams (fidelity)
    # terraform-provider-aws internal/service/batch/validate.go (validShareIdentifier): letters and digits only.
    (
        "team-hyphen",
        section("teams", "genomics-core: {}"),
        "teams.genomics-core = genomics-core: is not a team name: 2-32 lowercase letters or digits, starting with a "
        "letter (no '-': it is a Batch share identifier); rename the team, for example to genomicscore\n"
        "fix: rename the team 'genomics-core'",
    ),
    (
        "team-upper-underscore",
        section("teams", "core: {}; RNA_Lab: {}"),
        "teams.RNA_Lab = RNA_Lab: is not a team name: 2-32 lowercase letters or digits, starting with a letter "
        "(no '-': it is a Batch share identifier); rename the team, for example to rnalab",
    ),
    ("team-number", section("teams", "2024: {}"), "teams.2024 = 2024: is not a team name"),
    # Budgets read Cost Explorer: split cost allocation data (shared instances by team) is in CUR / Data Exports only.
    (
        "team-budget-uncapped",
        section("teams", "rnalab: {monthlyBudgetUsd: 500, budgetEmails: [lead@lab.org]}"),
        "teams.rnalab.monthlyBudgetUsd = 500: needs maxVcpus",
    ),
    (
        "cost-tag-without-teams",
        section("budget", "activateTeamCostTag: true"),
        "budget.activateTeamCostTag = true: only used with teams",
    ),
    # --- registry cache: botocore's ECR model (UpstreamRegistry, CredentialArn) and the ECR User Guide's rule prereqs
    (
        "cache-upstream-unknown",
        section("registryCache", "upstreams: {dockerhub: {}}"),
        "registryCache.upstreams.dockerhub = dockerhub: is not an upstream registry ECR can cache; allowed: quay",
    ),
    (
        "cache-upstream-wave",
        section("registryCache", "upstreams: {community.wave.seqera.io: {}}"),
        "builds images on request (Wave) and is no registry a pull-through cache rule accepts",
    ),
    (
        "cache-upstream-private-ecr",
        section("registryCache", "upstreams: {ecr: {}}"),
        "registryCache.upstreams.ecr = ecr: private ECR is not offered",
    ),
    (
        "cache-docker-hub-no-secret",
        section("registryCache", "upstreams: {docker-hub: {}}"),
        "registryCache.upstreams.docker-hub.credentialArn: docker-hub needs credentials",
    ),
    (
        "cache-secret-prefix",
        section(
            "registryCache",
            "upstreams: {github: {credentialArn: "
            "'arn:aws:secretsmanager:us-east-1:123456789012:secret:ghcr-token-AbCdEf'}}",
        ),
        "whose name starts with ecr-pullthroughcache/",
    ),
    (
        "cache-secret-region",
        section(
            "registryCache",
            "upstreams: {gitlab: {credentialArn: "
            "'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/gitlab-AbCdEf'}}",
        ),
        "the secret must be in the stack's account and region (aws, us-east-1)",
    ),
    (
        "cache-secret-partition",
        section(
            "registryCache",
            "upstreams: {chainguard: {credentialArn: "
            "'arn:aws-cn:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/cgr-AbCdEf'}}",
        ),
        "the secret must be in the stack's account and region",
    ),
    (
        "cache-azure-no-url",
        section(
            "registryCache",
            "upstreams: {azure: {credentialArn: "
            "'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/acr-AbCdEf'}}",
        ),
        "registryCache.upstreams.azure.url: azure needs your registry's host, <name>.azurecr.io",
    ),
    (
        "cache-url-not-azure",
        section("registryCache", "upstreams: {quay: {url: quay.example.org}}"),
        "registryCache.upstreams.quay.url = quay.example.org: only azure takes a url",
    ),
    (
        "cache-days-zero",
        section("registryCache", "expireUnusedDays: 0"),
        "registryCache.expireUnusedDays = 0: must be between 1 and 3650",
    ),
    (
        "cache-days-huge",
        section("registryCache", "expireUnusedDays: 3651"),
        "registryCache.expireUnusedDays = 3651: must be between 1 and 3650",
    ),
    ("cache-days-bool", section("registryCache", "expireUnusedDays: true"), "registryCache.expireUnusedDays = true"),
    (
        "cache-prefix-upper",
        section("registryCache", "repositoryPrefix: Lab"),
        "registryCache.repositoryPrefix = Lab: must be lowercase letters and digits",
    ),
    (
        "cache-prefix-long",
        section("registryCache", "repositoryPrefix: " + "a" * 20),
        "at most 19 characters (ECR's 30-character rule prefix less '/<upstream>')",
    ),
    (
        "cache-prefix-slash-end",
        section("registryCache", "repositoryPrefix: lab/"),
        "registryCache.repositoryPrefix = lab/: must be lowercase",
    ),
    ("cache-unknown-key", section("registryCache", "enable: false"), "registryCache.enable"),
    # terraform-provider-aws internal/service/ecr/repository_creation_template.go: the base is the template's prefix,
    # `StringLenBetween(2, 256)`, though every `<base>/<key>` rule prefix would pass with one letter.
    (
        "cache-prefix-one-letter",
        section("registryCache", "repositoryPrefix: a"),
        "registryCache.repositoryPrefix = a: must be 2 to 19 lowercase letters, digits and separators",
    ),
    # Checked while the cache is off: turning it on must not be the day a bad value shows.
    (
        "cache-off-docker-hub-no-secret",
        section("registryCache", "enabled: false; upstreams: {docker-hub: {}}"),
        "registryCache.upstreams.docker-hub.credentialArn: docker-hub needs credentials",
    ),
    (
        "cache-off-url-not-azure",
        section("registryCache", "enabled: false; upstreams: {quay: {url: quay.example.org}}"),
        "registryCache.upstreams.quay.url = quay.example.org: only azure takes a url",
    ),
]

GOOD: list[tuple[str, str]] = [
    # A one-letter stack name (the name is the row's): its cache base defaults to `x-<8 hex>`, which the template takes.
    ("x", section("registryCache", "expireUnusedDays: 30")),
    ("cgnat-cidr", net("cidr: 100.64.0.0/16")),
    ("cidr-24-six-zones-nat", net("cidr: 192.168.10.0/24; azCount: 6; egress: nat-per-az")),
    ("pinned-zones", net("azCount: 3; availabilityZones: [us-east-1a, us-east-1c, us-east-1f]")),
    ("existing-with-tables", net(EXISTING + "; routeTableIds: [rtb-0123456789abcdef0]")),
    ("retention-never", section("headJob", "logRetentionDays: 0")),
    ("records-off", section("runCosts", "recordInstances: false")),
    ("records-kept-forever", section("runCosts", "recordRetentionDays: 0")),
    ("volume-30", section("launchTemplate", "rootVolume: {sizeGib: 30}")),
    ("volume-big-fast", section("launchTemplate", "rootVolume: {sizeGib: 1000, iops: 16000, throughputMibps: 1000}")),
    ("graviton-only", section("compute", "architecture: arm64; instanceTypes: [m7g, c7g, r7g]")),
    ("graviton-defaults", section("compute", "architecture: arm64")),
    ("nvme-defaults", section("launchTemplate", "scratch: nvme")),
    (
        "nvme-graviton",
        HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
        "  genomics-batch:compute:\n    architecture: arm64\n",
    ),
    ("gpu-on", section("compute", "gpu: {enabled: true}")),
    ("fargate-head", section("headJob", "platform: fargate; vcpus: 2; memoryMib: 8192")),
    (
        "all-options",
        HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
        "  genomics-batch:compute:\n    gpu: {enabled: true, instanceTypes: [g6]}\n"
        "  genomics-batch:headJob:\n    platform: fargate\n",
    ),
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
    (
        "short-head-short-update",
        HEAD + "  genomics-batch:headJob:\n    timeoutHours: 2\n    attempts: 1\n"
        "  genomics-batch:compute:\n    updateTimeoutMinutes: 120\n",
    ),
    # A Fargate head's environment has no infrastructure update (Batch user guide, updating-compute-environments.html:
    # Fargate environments update only security groups and subnets), so one attempt and a five-day timeout plan.
    ("fargate-head-one-attempt-long-run", section("headJob", "platform: fargate; attempts: 1; timeoutHours: 120")),
    ("eu-region", "config:\n  aws:region: eu-central-2\n"),
    ("gov-region", "config:\n  aws:region: us-gov-west-1\n"),
    (
        "many-read-buckets",
        section("bucket", "readOnlyBuckets: [" + ", ".join(f"public-{i:02d}" for i in range(60)) + "]"),
    ),
    # --- valid but unusual: teams, budgets, addresses, GPUs, bundles, heads
    ("principal-with-path", team(f"core: {{principals: [{ARN}teams/genomics/Runner]}}")),
    ("principal-service-role-path", team(f"core: {{principals: [{ARN}service-role/GenomicsRunner]}}")),
    (
        "principal-role-and-user-same-name",
        team(f"core: {{principals: [{ARN}alice, arn:aws:iam::123456789012:user/alice]}}"),
    ),
    ("principal-in-two-teams", team(f"core: {{principals: [{ARN}Lead]}}; rna: {{principals: [{ARN}Lead]}}")),
    (
        "principal-govcloud",
        in_region(
            "us-gov-west-1", team("core: {principals: [" + ARN.replace("arn:aws:", "arn:aws-us-gov:") + "Runner]}")
        ),
    ),
    ("team-budget-10-emails", team("core: {maxVcpus: 16, monthlyBudgetUsd: 100, budgetEmails: [" + EMAILS_10 + "]}")),
    (
        "stack-budget-10-emails",
        HEAD + "  genomics-batch:alerts:\n    emails: [" + EMAILS_10 + "]\n"
        "  genomics-batch:budget:\n    monthlyUsd: 1000\n",
    ),
    ("alerts-11-emails-no-budget", section("alerts", "emails: [" + EMAILS_11 + "]")),
    ("email-plus-subdomain", section("alerts", "emails: [oncall+batch@mail.lab.example.org, First.Last@lab.co.uk]")),
    ("default-arm64-bundle", section("compute", "architecture: arm64; instanceTypes: [default_arm64]")),
    ("default-x86-bundle", section("compute", "instanceTypes: [default_x86_64]")),
    ("gpu-sizes-and-p5", section("compute", "gpu: {enabled: true, instanceTypes: [g5.xlarge, g6e, p5]}")),
    (
        "gpu-nvme-newer",
        HEAD + "  genomics-batch:launchTemplate:\n    scratch: nvme\n"
        "  genomics-batch:compute:\n    gpu: {enabled: true, instanceTypes: [g6, gr6, p4d]}\n",
    ),
    (
        "head-fits-one-vcpu",
        HEAD + "  genomics-batch:compute:\n    architecture: arm64\n"
        "    instanceTypes: [x2gd.medium]\n"
        "  genomics-batch:headJob:\n    vcpus: 1\n    memoryMib: 8192\n",
    ),
    ("head-fits-c5n-large", section("compute", "instanceTypes: [c5n.large]")),
    ("head-on-metal", section("compute", "instanceTypes: [m6i.metal]")),
    (
        "fargate-head-burstable-tasks",
        HEAD + "  genomics-batch:compute:\n    instanceTypes: [t3, t3a]\n"
        "  genomics-batch:headJob:\n    platform: fargate\n",
    ),
    ("fargate-16-vcpus", section("headJob", "platform: fargate; vcpus: 16; memoryMib: 32768")),
    (
        "tags-near-program-keys",
        HEAD + "  genomics-batch:teams:\n    core: {}\n"
        "  genomics-batch:tags:\n    ProjectCode: x\n    Stacks: y\n    TeamLead: z\n",
    ),
    ("tags-team-without-teams", section("tags", "Team: imaging")),
    (
        "graviton-capped-team",
        HEAD + "  genomics-batch:compute:\n    architecture: arm64\n"
        "  genomics-batch:teams:\n    core: {maxVcpus: 16}\n",
    ),
    # teams (fidelity)
    (
        "teams-capped-budget-and-shared",
        section(
            "teams",
            "genomicscore: {maxVcpus: 32, monthlyBudgetUsd: 1500, budgetEmails: [lead@lab.org]}; rnalab: {weight: 2}",
        ),
    ),
    (
        "teams-cost-tag-second-step",
        HEAD + "  genomics-batch:teams:\n    imaging: {maxVcpus: 8}\n"
        "  genomics-batch:budget:\n    activateTeamCostTag: true\n",
    ),
    # Offline the stack's account is unknown: principals of any one account plan (the deploy compares them with the
    # caller's account, components/teams.py), and so do those of an account aws:allowedAccountIds lists.
    ("principal-other-account-offline", team("core: {principals: [arn:aws:iam::111122223333:role/Runner]}")),
    (
        "principal-in-allowed-account",
        HEAD + '  aws:allowedAccountIds: ["111122223333", "444455556666"]\n'
        "  genomics-batch:teams:\n"
        "    core: {principals: [arn:aws:iam::111122223333:role/Runner]}\n",
    ),
    ("allowed-accounts-without-teams", HEAD + '  aws:allowedAccountIds: ["012345678901"]\n'),
    ("principal-path-512", team(f"core: {{principals: [{ARN}pp/{'p/' * 254}Runner]}}")),
    ("principal-name-64", team(f"core: {{principals: [{ARN}{'r' * 64}, arn:aws:iam::123456789012:user/{'u' * 64}]}}")),
    ("principal-sso-like-own-role", team(f"core: {{principals: [{ARN}LabAWSReservedSSO_Copy]}}")),
    (
        "principal-iso-e",
        in_region("eu-isoe-west-1", team("core: {principals: [arn:aws-iso-e:iam::123456789012:role/Runner]}")),
    ),
    ("email-unicode-domain", section("alerts", "emails: ['oncall@bücher.de']")),
    ("email-local-64", section("alerts", "emails: [" + "x" * 64 + "@lab.org]")),
    ("cache-off", section("registryCache", "enabled: false")),
    (
        "cache-docker-hub",
        section(
            "registryCache",
            "upstreams: {docker-hub: {credentialArn: "
            "'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf'}}",
        ),
    ),
    (
        "cache-azure",
        section(
            "registryCache",
            "upstreams: {azure: {url: labimages.azurecr.io, credentialArn: "
            "'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/acr-AbCdEf'}}",
        ),
    ),
    ("cache-prefix-nested", section("registryCache", "repositoryPrefix: lab/genomics; expireUnusedDays: 3650")),
    ("cache-stack-name-is-long-and-Mixed_Case", section("registryCache", "expireUnusedDays: 1")),
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
    assert len(BAD) >= 180 and len(GOOD) >= 50
    assert len({t for _, t, _ in BAD}) == len(BAD) and len({t for _, t in GOOD}) == len(GOOD)


@pytest.mark.parametrize(("name", "text", "expected"), BAD, ids=[n for n, _, _ in BAD])
def test_bad_stack_files_are_refused_cleanly(project, capsys, name, text, expected):
    code, err = plan(project, name, text, capsys)
    assert code == 2, err
    assert expected in err
    assert "Traceback" not in err and "fix: " in err


def test_every_fix_names_the_stack_it_mends(project, capsys):
    # The fix is run as given: without --stack, `pulumi config` edits whichever stack is selected, maybe another
    # (pulumi.com/docs/iac/cli/commands/pulumi_config_set: "-s, --stack ... Defaults to the current stack").
    commands = 0
    for name, text, _ in BAD:
        _, err = plan(project, name, text, capsys)
        fix = next(line for line in err.splitlines() if line.startswith("fix: "))
        for command in re.findall(r"pulumi config (?:set|rm)[^`(]*", fix):
            commands += 1
            assert f" --stack {name} " in command, fix
    assert commands >= 150  # nearly every bad file is mended by a pulumi config command


def test_a_missing_region_is_mended_by_the_command_its_message_gives(project, capsys):
    code, err = plan(project, "noregion", "config:\n  genomics-batch:tags:\n    Owner: me\n", capsys)
    assert code == 2
    assert "aws:region: is required: the AWS region to deploy to, such as us-east-1" in err
    assert "fix: pulumi config set --stack noregion aws:region us-east-1 (or the region where your data lives)" in err
    assert "eu-west-1" not in err  # the message and the fix name one example region, the same


def test_a_value_cannot_forge_an_error_line(project, capsys):
    # A newline in a value is printed escaped (settings/errors.py, printable), so the line it carries stays inside.
    text = next(t for n, t, _ in BAD if n == "tags-newline-value")
    code, err = plan(project, "forge", text, capsys)
    assert code == 2 and "forged" in err
    assert not any(line.startswith("  - genomics-batch:fake") for line in err.splitlines()), err


@pytest.mark.parametrize(("name", "text"), GOOD, ids=[n for n, _ in GOOD])
def test_valid_but_unusual_stack_files_plan(project, capsys, name, text):
    code, err = plan(project, name, text, capsys)
    assert code == 0, err
