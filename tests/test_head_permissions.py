"""Every AWS call Nextflow's awsbatch executor makes from the head job, evaluated against the head role's policy.

Each row names the call, the resource ARN AWS authorises it on, and where nf-amazon (nextflow-io/nextflow, tag
v25.04.6, plugins/nf-amazon/src/main/nextflow/cloud/aws/batch/) makes it. Calls that must be denied follow.
"""

import pytest
from iam_eval import decision

from facts.contract import NEXTFLOW_JOB_DEFINITION_PREFIX as NF
from policies.iam import head_job_policy

REGION, ACCOUNT = "eu-west-1", "123456789012"
BATCH = f"arn:aws:batch:{REGION}:{ACCOUNT}"
QUEUES = {q: f"{BATCH}:job-queue/batch-{q}-1a2b3c" for q in ("head", "default", "priority")}
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/batch-task-9f8e7d"
WORK = "arn:aws:s3:::lab-work"
POLICY = head_job_policy(
    partition="aws",
    region=REGION,
    account_id=ACCOUNT,
    queue_arns=list(QUEUES.values()),
    task_role_arn=TASK_ROLE,
    read_write_buckets=[WORK],
    read_only_buckets=["arn:aws:s3:::1000genomes"],
)
DEFINITION = f"{BATCH}:job-definition/{NF}quay-io-biocontainers-fastqc-0-12-1"

# (action, resource ARN, where nf-amazon makes the call)
NEXTFLOW_CALLS = [
    ("batch:DescribeJobDefinitions", "*", "AwsBatchTaskHandler.findJobDef"),
    ("batch:RegisterJobDefinition", DEFINITION, "AwsBatchTaskHandler.createJobDef"),
    ("batch:TagResource", DEFINITION, "AwsBatchTaskHandler.createJobDef (tags on create)"),
    ("batch:TagResource", f"{DEFINITION}:7", "AwsBatchTaskHandler.createJobDef (a later revision)"),
    ("batch:SubmitJob", QUEUES["default"], "AwsBatchTaskHandler.submit"),
    ("batch:SubmitJob", QUEUES["priority"], "AwsBatchTaskHandler.submit (retried task)"),
    ("batch:SubmitJob", f"{DEFINITION}:7", "AwsBatchTaskHandler.submit"),
    ("batch:SubmitJob", f"{BATCH}:job/0a1b2c3d", "AwsBatchTaskHandler.submit"),
    ("batch:TagResource", f"{BATCH}:job/0a1b2c3d", "AwsBatchTaskHandler.newSubmitRequest (resourceLabels)"),
    ("batch:DescribeJobs", "*", "AwsBatchTaskHandler.describeJob"),
    ("batch:TerminateJob", f"{BATCH}:job/0a1b2c3d", "AwsBatchTaskHandler.terminateJob"),
    ("batch:DescribeComputeEnvironments", "*", "AwsBatchHelper.getClusterArnByCompEnvArn"),
    ("batch:DescribeJobQueues", "*", "AwsBatchHelper.getComputeEnvByQueueName"),
    (
        "ecs:DescribeTasks",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/cluster/abc",
        "AwsBatchHelper.getContainerIdByClusterAndTaskArn",
    ),
    (
        "ecs:DescribeContainerInstances",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/cluster/abc",
        "AwsBatchHelper.getInstanceIdByClusterAndTaskArn",
    ),
    ("ec2:DescribeInstances", "*", "AwsBatchHelper.getInfoByInstanceId"),
    (
        "logs:GetLogEvents",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/batch/job:log-stream:nf-x/default/abc",
        "AwsBatchHelper.getTaskLogStream",
    ),
    ("iam:PassRole", TASK_ROLE, "SubmitJob with aws.batch.jobRole"),
    ("s3:PutObject", f"{WORK}/work/ab/cdef/.command.run", "the task wrapper, uploaded by the head"),
    ("s3:GetObject", "arn:aws:s3:::1000genomes/phase3/sample.bam", "staging a read-only input"),
    ("s3:ListBucket", WORK, "checking the cache and outputs"),
]

MUST_BE_DENIED = [
    ("batch:SubmitJob", f"{BATCH}:job-queue/someone-elses-queue", "another queue"),
    ("batch:RegisterJobDefinition", f"{BATCH}:job-definition/prod-pipeline", "another job-definition prefix"),
    ("batch:TagResource", f"{BATCH}:job-definition/prod-pipeline:3", "tagging another team's definition"),
    ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", "passing any other role"),
    ("s3:PutObject", "arn:aws:s3:::other-lab/results/x", "writing another bucket"),
    ("s3:PutObject", "arn:aws:s3:::1000genomes/x", "writing a read-only bucket"),
    ("logs:GetLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/secret/app:log-stream:x", "other logs"),
    ("batch:CreateJobQueue", f"{BATCH}:job-queue/new", "changing the cluster"),
    ("batch:SubmitJob", f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/batch-default-1a2b3c", "another region"),
]


@pytest.mark.parametrize(
    ("action", "resource", "where"), NEXTFLOW_CALLS, ids=[f"{a} {w}" for a, _, w in NEXTFLOW_CALLS]
)
def test_every_call_nextflow_makes_from_the_head_is_allowed(action, resource, where):
    assert decision([POLICY], action, resource) == "Allow", f"{where}: {action} on {resource}"


@pytest.mark.parametrize(("action", "resource", "why"), MUST_BE_DENIED, ids=[w for *_, w in MUST_BE_DENIED])
def test_calls_outside_the_stack_are_denied(action, resource, why):
    assert decision([POLICY], action, resource) == "ImplicitDeny", why


def test_the_evaluator_honours_explicit_deny_and_wildcards():
    documents = [
        {"Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}]},
        {"Statement": {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret/*"}},
    ]
    assert decision(documents, "s3:getobject", "arn:aws:s3:::b/a") == "Allow"
    assert decision(documents, "s3:GetObject", "arn:aws:s3:::b/secret/k") == "Deny"
    assert decision(documents, "s3:PutObject", "arn:aws:s3:::b/a") == "ImplicitDeny"
    assert decision(documents, "s3:GetObject", "arn:aws:s3:::B/a") == "ImplicitDeny"
