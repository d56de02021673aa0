"""IAM policy documents as pure functions of plain ARNs, so tests can audit them without Pulumi.

Each grant is scoped to this stack's buckets, queues and roles; `*` appears only on read-only describe/list actions
that AWS offers no resource-level permissions for.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from facts.contract import (
    CACHE_PREFIX,
    LOGS_PREFIX,
    NEXTFLOW_JOB_DEFINITION_PREFIX,
    PARAMS_PREFIX,
    RESULTS_PREFIX,
    TEAM_TAG,
    WORK_PREFIX,
    team_prefix,
)

VERSION = "2012-10-17"

# Actions for reading objects and for listing the buckets that hold them.
S3_READ = ["s3:GetObject", "s3:GetObjectTagging"]
S3_WRITE = [
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
]
S3_BUCKET_READ = ["s3:ListBucket", "s3:GetBucketLocation"]

# Nextflow's head process: the Batch, EC2 and ECS calls its awsbatch executor makes (nf-amazon's AwsBatchTaskHandler
# and AwsBatchProxy in nextflow-io/nextflow).
BATCH_DESCRIBE = [
    "batch:DescribeComputeEnvironments",
    "batch:DescribeJobDefinitions",
    "batch:DescribeJobQueues",
    "batch:DescribeJobs",
    "batch:ListJobs",
]
EC2_DESCRIBE = ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypes"]
# These do support resource-level permissions, so they get instance, task and container-instance ARNs.
EC2_INSTANCE_DESCRIBE = ["ec2:DescribeInstanceAttribute"]
ECS_DESCRIBE = ["ecs:DescribeContainerInstances", "ecs:DescribeTasks"]


def assume_role_policy(service: str) -> dict:
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def bucket_arn(name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{name}"


def s3_access_statements(read_write: Sequence[str], read_only: Sequence[str] = ()) -> list[dict]:
    """Statements for read-write and read-only access to whole buckets, given their ARNs."""
    statements = [
        {
            "Sid": "ListBuckets",
            "Effect": "Allow",
            "Action": S3_BUCKET_READ,
            "Resource": sorted({*read_write, *read_only}),
        },
        {
            "Sid": "ReadWriteObjects",
            "Effect": "Allow",
            "Action": S3_READ + S3_WRITE,
            "Resource": [f"{arn}/*" for arn in read_write],
        },
    ]
    if read_only:
        statements.append(
            {
                "Sid": "ReadOnlyObjects",
                "Effect": "Allow",
                "Action": S3_READ,
                "Resource": [f"{arn}/*" for arn in read_only],
            }
        )
    return statements


def s3_access_policy(read_write: Sequence[str], read_only: Sequence[str] = ()) -> dict:
    return {"Version": VERSION, "Statement": s3_access_statements(read_write, read_only)}


# The log group Batch jobs write to when the job definition names none (Nextflow's task definitions name none).
BATCH_JOB_LOG_GROUP = "/aws/batch/job"


def _head_batch_statements(batch: str, queue_arns: Sequence[str]) -> list[dict]:
    """The head's Batch grants: submit to this stack's queues, register and tag Nextflow's job definitions, stop its
    own tasks."""
    nf_definitions = f"{batch}:job-definition/{NEXTFLOW_JOB_DEFINITION_PREFIX}*"
    return [
        {
            "Sid": "SubmitToStackQueues",
            "Effect": "Allow",
            "Action": ["batch:SubmitJob"],
            # SubmitJob is authorised on the queue, the job definition and the new job itself.
            "Resource": [*queue_arns, nf_definitions, f"{batch}:job/*"],
        },
        {
            "Sid": "RegisterNextflowJobDefinitions",
            "Effect": "Allow",
            "Action": ["batch:RegisterJobDefinition"],
            "Resource": [nf_definitions],
        },
        {
            # nf-amazon's AwsBatchTaskHandler.createJobDef tags every job definition it registers
            # (nextflow.io/createdAt, nextflow.io/version); tag-on-create is authorised as batch:TagResource on
            # the new job definition (AWS Batch User Guide, "Tag your resources on creation").
            "Sid": "TagNextflowJobDefinitions",
            "Effect": "Allow",
            "Action": ["batch:TagResource"],
            "Resource": [nf_definitions],
        },
        {
            "Sid": "ManageOwnTasks",
            "Effect": "Allow",
            "Action": ["batch:CancelJob", "batch:TerminateJob", "batch:TagResource"],
            "Resource": [f"{batch}:job/*"],
        },
    ]


def _head_describe_statements(partition: str, scope: str) -> list[dict]:
    """The head's read-only calls: scheduling facts, the hosts of its tasks, and the logs of failed tasks."""
    return [
        {
            # These calls have no resource-level permissions in AWS; all are read-only.
            "Sid": "DescribeForScheduling",
            "Effect": "Allow",
            "Action": BATCH_DESCRIBE + EC2_DESCRIBE,
            "Resource": "*",
        },
        {
            "Sid": "DescribeTaskHosts",
            "Effect": "Allow",
            "Action": EC2_INSTANCE_DESCRIBE + ECS_DESCRIBE,
            "Resource": [
                f"arn:{partition}:ec2:{scope}:instance/*",
                f"arn:{partition}:ecs:{scope}:task/*",
                f"arn:{partition}:ecs:{scope}:container-instance/*",
            ],
        },
        {
            # AwsBatchHelper.getTaskLogStream reads a failed task's log to show it in the pipeline's error report.
            "Sid": "ReadTaskLogs",
            "Effect": "Allow",
            "Action": ["logs:GetLogEvents"],
            "Resource": [f"arn:{partition}:logs:{scope}:log-group:{BATCH_JOB_LOG_GROUP}:log-stream:*"],
        },
    ]


def head_job_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    queue_arns: Sequence[str],
    task_role_arn: str,
    read_write_buckets: Sequence[str],
    read_only_buckets: Sequence[str] = (),
    s3_statements: list[dict] | None = None,
) -> dict:
    """What the Nextflow head job may do: submit tasks to this stack's queues and nothing wider. A team's head passes
    its own `s3_statements` (team_s3_statements) in place of whole-bucket access."""
    return {
        "Version": VERSION,
        "Statement": [
            *_head_batch_statements(f"arn:{partition}:batch:{region}:{account_id}", queue_arns),
            *_head_describe_statements(partition, f"{region}:{account_id}"),
            {
                "Sid": "PassTaskRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": task_role_arn,
            },
            *(
                s3_statements
                if s3_statements is not None
                else s3_access_statements(read_write_buckets, read_only_buckets)
            ),
        ],
    }


# The work-bucket prefixes a team's runs write under their own name (work/<team>/, results/<team>/, ...), and the
# one its members only upload to and its jobs only read (params/<team>/).
TEAM_WRITE_PREFIXES = (WORK_PREFIX, CACHE_PREFIX, LOGS_PREFIX, RESULTS_PREFIX)
TEAM_READ_PREFIXES = (PARAMS_PREFIX,)


def _team_prefix_statements(work_bucket_arn: str, team: str) -> list[dict]:
    """A team's grants in the shared work bucket: locate it, list and use only the team's own prefixes."""
    own = [team_prefix(p, team) for p in (*TEAM_WRITE_PREFIXES, *TEAM_READ_PREFIXES)]
    return [
        {
            "Sid": "LocateWorkBucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation"],
            "Resource": [work_bucket_arn],
        },
        {
            # Listing is scoped by the s3:prefix condition key (Amazon S3 condition keys), so one team cannot even see
            # the names of another team's objects.
            "Sid": "ListOwnPrefixes",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [work_bucket_arn],
            "Condition": {"StringLike": {"s3:prefix": [x for p in own for x in (p, f"{p}/*")]}},
        },
        {
            "Sid": "ReadWriteOwnPrefixes",
            "Effect": "Allow",
            "Action": S3_READ + S3_WRITE,
            "Resource": [f"{work_bucket_arn}/{team_prefix(p, team)}/*" for p in TEAM_WRITE_PREFIXES],
        },
        {
            "Sid": "ReadOwnParams",
            "Effect": "Allow",
            "Action": S3_READ,
            "Resource": [f"{work_bucket_arn}/{team_prefix(p, team)}/*" for p in TEAM_READ_PREFIXES],
        },
    ]


def _team_bucket_statements(read_write: Sequence[str], read_only: Sequence[str]) -> list[dict]:
    """A team's (and the stack's) extra buckets, whole: list them all, read-write or read-only objects; none if none."""
    statements: list[dict] = []
    if read_write or read_only:
        statements.append(
            {
                "Sid": "ListTeamBuckets",
                "Effect": "Allow",
                "Action": S3_BUCKET_READ,
                "Resource": sorted({*read_write, *read_only}),
            }
        )
    if read_write:
        statements.append(
            {
                "Sid": "ReadWriteTeamBuckets",
                "Effect": "Allow",
                "Action": S3_READ + S3_WRITE,
                "Resource": [f"{arn}/*" for arn in read_write],
            }
        )
    if read_only:
        statements.append(
            {
                "Sid": "ReadOnlyTeamBuckets",
                "Effect": "Allow",
                "Action": S3_READ,
                "Resource": [f"{arn}/*" for arn in read_only],
            }
        )
    return statements


def team_s3_statements(
    work_bucket_arn: str, team: str, read_write: Sequence[str] = (), read_only: Sequence[str] = ()
) -> list[dict]:
    """A team's jobs in the shared work bucket: only their own prefixes, listing included; plus the team's (and the
    stack's) extra buckets whole."""
    return [*_team_prefix_statements(work_bucket_arn, team), *_team_bucket_statements(read_write, read_only)]


def _team_batch_statements(batch: str, team: str, head_queue_arn: str, definition: str) -> list[dict]:
    """A team's Batch grants: submit heads and tag them as the team, stop its own runs, read the stack's queues."""
    return [
        {
            # SubmitJob is authorised on the queue and the job definition; batch:ShareIdentifier is the share
            # the job asks for (AWS Batch user guide, "Resource: Use the batch:ShareIdentifier condition key").
            "Sid": "SubmitAsTeam",
            "Effect": "Allow",
            "Action": ["batch:SubmitJob"],
            "Resource": [head_queue_arn, definition, f"{definition}:*", f"{batch}:job/*"],
            "Condition": {"StringEquals": {"batch:ShareIdentifier": team}},
        },
        {
            # Tags given at submission are authorised as batch:TagResource on the new job: only with the
            # team's own Team tag, so its runs are always billed to it.
            "Sid": "TagRunsAsTeam",
            "Effect": "Allow",
            "Action": ["batch:TagResource"],
            "Resource": [f"{batch}:job/*"],
            "Condition": {"StringEquals": {f"aws:RequestTag/{TEAM_TAG}": team}},
        },
        {
            # TerminateJob and CancelJob act on the job resource type, which takes aws:ResourceTag conditions
            # (Service Authorization Reference, "Actions, resources, and condition keys for AWS Batch").
            "Sid": "StopOwnRuns",
            "Effect": "Allow",
            "Action": ["batch:TerminateJob", "batch:CancelJob"],
            "Resource": [f"{batch}:job/*"],
            "Condition": {"StringEquals": {f"aws:ResourceTag/{TEAM_TAG}": team}},
        },
        {
            # nfbatch status, logs, teams and doctor: read-only calls without resource-level permissions.
            "Sid": "ReadStack",
            "Effect": "Allow",
            "Action": [*BATCH_DESCRIBE, "batch:DescribeSchedulingPolicies"],
            "Resource": "*",
        },
    ]


def _team_data_statements(log_group_arn: str, bucket_arn: str, team: str) -> list[dict]:
    """A team's logs and objects: its heads' log streams, uploads to its params/, reads of its results and logs."""
    return [
        {
            "Sid": "ReadHeadLogs",
            "Effect": "Allow",
            "Action": ["logs:GetLogEvents"],
            "Resource": [f"{log_group_arn}:log-stream:*"],
        },
        {
            "Sid": "UploadParams",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [f"{bucket_arn}/{team_prefix(PARAMS_PREFIX, team)}/*"],
        },
        {
            "Sid": "ReadOwnResults",
            "Effect": "Allow",
            "Action": S3_READ,
            "Resource": [f"{bucket_arn}/{team_prefix(p, team)}/*" for p in (RESULTS_PREFIX, LOGS_PREFIX)],
        },
    ]


def run_cost_statements(instance_events_log_group_arn: str) -> list[dict]:
    """`nfbatch cost` (nfbatch/cost.py): read the instance records, and prices. Pricing and the spot price history
    are account-wide reads without resource-level permissions, so they take "*" (Service Authorization Reference,
    "Actions, resources, and condition keys for AWS Price List" and "... for Amazon EC2":
    DescribeSpotPriceHistory and DescribeLaunchTemplateVersions list no resource type); the records are read from
    their own log group only (FilterLogEvents acts on the log-group resource type)."""
    return [
        {
            "Sid": "ReadInstanceRecords",
            "Effect": "Allow",
            "Action": ["logs:FilterLogEvents"],
            # Both spellings of a log group's ARN: DescribeLogGroups gives it with a trailing ":*".
            "Resource": [instance_events_log_group_arn, f"{instance_events_log_group_arn}:*"],
        },
        {
            "Sid": "ReadPrices",
            "Effect": "Allow",
            "Action": ["pricing:GetProducts", "ec2:DescribeSpotPriceHistory", "ec2:DescribeLaunchTemplateVersions"],
            "Resource": "*",
        },
    ]


def team_run_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    team: str,
    head_queue_arn: str,
    job_definition_name: str,
    bucket_arn: str,
    log_group_name: str,
    budget_name: str | None = None,
    instance_events_log_group: str | None = None,
) -> dict:
    """What a team's principals may do: run, watch, stop and price pipelines as that team with `nfbatch`, nothing
    else."""
    batch = f"arn:{partition}:batch:{region}:{account_id}"
    log_group_arn = f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group_name}"
    statements = [
        *_team_batch_statements(batch, team, head_queue_arn, f"{batch}:job-definition/{job_definition_name}"),
        *_team_data_statements(log_group_arn, bucket_arn, team),
    ]
    if instance_events_log_group:
        group = f"arn:{partition}:logs:{region}:{account_id}:log-group:{instance_events_log_group}"
        statements += run_cost_statements(group)
    if budget_name:
        # `nfbatch teams` shows the team's spend: DescribeBudget is budgets:ViewBudget on the budget, whose ARN has
        # no region (Service Authorization Reference, "Actions, resources, and condition keys for AWS Budget Service").
        statements.append(
            {
                "Sid": "ReadOwnBudget",
                "Effect": "Allow",
                "Action": ["budgets:ViewBudget"],
                "Resource": [f"arn:{partition}:budgets::{account_id}:budget/{budget_name}"],
            }
        )
    return {"Version": VERSION, "Statement": statements}


def object_patterns(document: dict) -> list[str]:
    """The object ARN patterns an Allow statement grants any S3 object action on."""
    patterns = []
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Effect"] == "Allow" and any(a.startswith(("s3:", "*")) for a in actions):
            patterns += [r for r in resources if "/" in r.split(":::", 1)[-1] or r == "*"]
    return patterns


def reaches_other_results(document: dict, bucket_arn: str, team: str) -> list[str]:
    """Grants in `document` that reach another team's results/ in the work bucket (an empty list passes)."""
    own = f"{bucket_arn}/{team_prefix(RESULTS_PREFIX, team)}/"
    probe = f"{bucket_arn}/{RESULTS_PREFIX}/not_a_team/x"  # '_' is never in a team name: nobody's prefix
    return [
        p
        for p in object_patterns(document)
        if fnmatch.fnmatchcase(probe, p) or (p.startswith(f"{bucket_arn}/{RESULTS_PREFIX}/") and not p.startswith(own))
    ]


def write_actions_on_any_resource(document: dict) -> list[str]:
    """Write actions granted on `*` in `document` (an empty list is the passing result)."""
    read_prefixes = ("Describe", "List", "Get")
    offenders = []
    for statement in document["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and "*" in resources:
            offenders += [a for a in actions if not a.split(":", 1)[1].startswith(read_prefixes)]
    return offenders


# ECR User Guide, "IAM permissions required to sync an upstream registry with an Amazon ECR private registry"
# (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache-iam.html): the puller needs
# ecr:BatchImportUpstreamImage, and ecr:CreateRepository "if the repository storing the cached images doesn't already
# exist". Pulling itself (GetAuthorizationToken, BatchGetImage, GetDownloadUrlForLayer) the instance role already has
# from AmazonEC2ContainerServiceforEC2Role. The Service Authorization Reference's operations table maps BatchGetImage to
# ecr:BatchGetImage, ecr:BatchImportUpstreamImage, ecr:CreateRepository and ecr:TagResource: a first pull creates the
# repository with the template's tags (https://docs.aws.amazon.com/service-authorization/latest/reference/
# list_amazonelasticcontainerregistry.html), so tagging is granted too, on the same cache repositories only.
CACHE_PULL_ACTIONS = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository", "ecr:TagResource"]
# ECR User Guide, "Create a custom policy for repository creation templates": the role ECR assumes to create a
# repository with a template's resource tags (or KMS key). ecr:ReplicateImage is for REPLICATION templates only.
CACHE_CREATION_ACTIONS = ["ecr:CreateRepository", "ecr:TagResource"]


def cache_repository_arns(partition: str, region: str, account: str, prefixes: Sequence[str]) -> list[str]:
    """The repositories ECR creates under each cache rule's prefix (`<base>/<key>/<upstream repository>`)."""
    return [f"arn:{partition}:ecr:{region}:{account}:repository/{prefix}/*" for prefix in prefixes]


def cache_pull_policy(repository_arns: Sequence[str]) -> dict:
    """The instance role's grant: import upstream images into, and create, the stack's cache repositories only."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "PullThroughCache",
                "Effect": "Allow",
                "Action": CACHE_PULL_ACTIONS,
                "Resource": list(repository_arns),
            }
        ],
    }


def cache_creation_policy(repository_arns: Sequence[str]) -> dict:
    """The repository creation template's role: create and tag the stack's cache repositories only."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "CreateCacheRepositories",
                "Effect": "Allow",
                "Action": CACHE_CREATION_ACTIONS,
                "Resource": list(repository_arns),
            }
        ],
    }
