"""IAM policy documents as pure functions of plain ARNs, so tests can audit them without Pulumi.

Each grant is scoped to this stack's buckets, queues and roles; `*` appears only on read-only describe/list actions
that AWS offers no resource-level permissions for.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.contract import NEXTFLOW_JOB_DEFINITION_PREFIX

VERSION = "2012-10-17"

# Actions for reading objects and for listing the buckets that hold them.
S3_READ = ["s3:GetObject", "s3:GetObjectTagging"]
S3_WRITE = ["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts"]
S3_BUCKET_READ = ["s3:ListBucket", "s3:GetBucketLocation"]

# Nextflow's head process: the Batch, EC2 and ECS calls its awsbatch executor makes (nf-amazon's AwsBatchTaskHandler
# and AwsBatchProxy in nextflow-io/nextflow).
BATCH_DESCRIBE = ["batch:DescribeComputeEnvironments", "batch:DescribeJobDefinitions", "batch:DescribeJobQueues",
                  "batch:DescribeJobs", "batch:ListJobs"]
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
    statements = [{
        "Sid": "ListBuckets",
        "Effect": "Allow",
        "Action": S3_BUCKET_READ,
        "Resource": sorted({*read_write, *read_only}),
    }, {
        "Sid": "ReadWriteObjects",
        "Effect": "Allow",
        "Action": S3_READ + S3_WRITE,
        "Resource": [f"{arn}/*" for arn in read_write],
    }]
    if read_only:
        statements.append({
            "Sid": "ReadOnlyObjects",
            "Effect": "Allow",
            "Action": S3_READ,
            "Resource": [f"{arn}/*" for arn in read_only],
        })
    return statements


def s3_access_policy(read_write: Sequence[str], read_only: Sequence[str] = ()) -> dict:
    return {"Version": VERSION, "Statement": s3_access_statements(read_write, read_only)}


# The log group Batch jobs write to when the job definition names none (Nextflow's task definitions name none).
BATCH_JOB_LOG_GROUP = "/aws/batch/job"


def head_job_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    queue_arns: Sequence[str],
    task_role_arn: str,
    read_write_buckets: Sequence[str],
    read_only_buckets: Sequence[str] = (),
) -> dict:
    """What the Nextflow head job may do: submit tasks to this stack's queues and nothing wider."""
    batch = f"arn:{partition}:batch:{region}:{account_id}"
    scope = f"{region}:{account_id}"
    nf_definitions = f"{batch}:job-definition/{NEXTFLOW_JOB_DEFINITION_PREFIX}*"
    return {
        "Version": VERSION,
        "Statement": [
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
                "Resource": [f"arn:{partition}:ec2:{scope}:instance/*", f"arn:{partition}:ecs:{scope}:task/*",
                             f"arn:{partition}:ecs:{scope}:container-instance/*"],
            },
            {
                # AwsBatchHelper.getTaskLogStream reads a failed task's log to show it in the pipeline's error report.
                "Sid": "ReadTaskLogs",
                "Effect": "Allow",
                "Action": ["logs:GetLogEvents"],
                "Resource": [f"arn:{partition}:logs:{scope}:log-group:{BATCH_JOB_LOG_GROUP}:log-stream:*"],
            },
            {
                "Sid": "PassTaskRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": task_role_arn,
            },
            *s3_access_statements(read_write_buckets, read_only_buckets),
        ],
    }


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
