"""NextflowHeadJob: the job definition (validated against botocore's RegisterJobDefinition model), role and image."""

import json
import re

import botocore.session
import pytest
from botocore.validate import ParamValidator
from conftest import ACCOUNT, build_component, component_args, resolve

from components.head_image import CONTEXT_DIR, content_tag
from components.head_job import (
    STOPPED_EXIT_CODE,
    NextflowHeadJob,
    NextflowHeadJobArgs,
    container_properties,
    head_environment,
    nxf_opts,
    retry_strategy,
)

QUEUES = {k: f"arn:aws:batch:us-east-1:{ACCOUNT}:job-queue/{k}-q" for k in ("head", "default", "priority")}
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/task"


def register_job_definition_errors(params: dict) -> str:
    model = botocore.session.get_session().get_service_model("batch")
    report = ParamValidator().validate(params, model.operation_model("RegisterJobDefinition").input_shape)
    return report.generate_report() if report.has_errors() else ""


def test_heap_leaves_room_for_the_jvm_outside_it():
    assert nxf_opts(4096) == "-Xms1024m -Xmx3072m"
    assert nxf_opts(8192) == "-Xms2048m -Xmx6144m"


def test_retry_only_what_the_infrastructure_did_to_the_head():
    rules = retry_strategy(5)["evaluateOnExit"]
    # A lost instance: "Host EC2 (instance i-...) terminated." (AWS blog "Introducing retry strategies for AWS Batch").
    assert rules[0] == {"onStatusReason": "Host EC2*", "action": "RETRY"}
    # Stopped by AWS while running: the entrypoint then exits 143, and the status reason is not documented.
    assert rules[1] == {"onExitCode": str(STOPPED_EXIT_CODE), "action": "RETRY"} and STOPPED_EXIT_CODE == 128 + 15
    # Batch takes the first match; a final EXIT keeps a failed pipeline from being retried (job_retries.html).
    assert rules[-1] == {"onReason": "*", "action": "EXIT"} and len(rules) == 3


def test_retry_patterns_are_ones_the_provider_accepts():
    # terraform-provider-aws internal/service/batch/job_definition.go, evaluate_on_exit: at most 5, and these regexes.
    rules = retry_strategy(5)["evaluateOnExit"]
    assert len(rules) <= 5
    text = re.compile(r"[0-9A-Za-z.:\s]*\*?")
    for rule in rules:
        assert all(text.fullmatch(rule[k]) for k in ("onStatusReason", "onReason") if k in rule)
        assert re.fullmatch(r"[0-9]*\*?", rule.get("onExitCode", "0"))
    assert not text.fullmatch("Host EC2 (instance*")  # the check can fail


def test_a_stopped_fargate_head_has_ecs_default_stop_timeout_to_exit_143():
    # The 143 rule needs the entrypoint to end before the container is killed. A Batch containerProperties job sets
    # no stop timeout (botocore Batch model: only TaskContainerProperties, for ecsProperties, has stopTimeout), so on
    # Fargate ECS's default applies (botocore ECS model, ContainerDefinition.stopTimeout); on EC2 the ECS agent's
    # ECS_CONTAINER_STOP_TIMEOUT (launchTemplate.ecsAgent.containerStopTimeoutSeconds).
    session = botocore.session.get_session()
    batch = session.get_service_model("batch").shape_for("ContainerProperties").members
    ecs_properties = session.get_service_model("batch").shape_for("TaskContainerProperties").members
    assert "stopTimeout" not in batch and "stopTimeout" in ecs_properties
    ecs = session.get_service_model("ecs").shape_for("ContainerDefinition").members["stopTimeout"].documentation
    assert (
        "For tasks that use the Fargate launch type, the max stop timeout value is 120 seconds and if the "
        "parameter is not specified, the default value of 30 seconds is used." in ecs
    )
    assert "ECS_CONTAINER_STOP_TIMEOUT" in ecs


@pytest.fixture(scope="module")
def head():
    args = component_args(
        NextflowHeadJobArgs,
        bucket_name="lab-work",
        bucket_arn="arn:aws:s3:::lab-work",
        queue_arns=QUEUES,
        task_role_arn=TASK_ROLE,
        read_only_bucket_arns=["arn:aws:s3:::1000genomes"],
        vcpus=4,
        memory_mib=8192,
        attempts=3,
        timeout_hours=48,
        nextflow_version="25.04.6",
    )
    return build_component(lambda: NextflowHeadJob("nextflow", args))


def test_job_definition_is_valid_for_register_job_definition(head):
    mocks, _ = head
    [definition] = mocks.of_type("aws:batch/jobDefinition:JobDefinition")
    inputs = definition.inputs
    # The provider renames evaluateOnExits to the API's evaluateOnExit; the mock wire turns ints into floats.
    retry = {
        "attempts": int(inputs["retryStrategy"]["attempts"]),
        "evaluateOnExit": inputs["retryStrategy"]["evaluateOnExits"],
    }
    params = {
        "jobDefinitionName": definition.outputs["name"],
        "type": inputs["type"],
        "containerProperties": json.loads(inputs["containerProperties"]),
        "retryStrategy": retry,
        "timeout": {"attemptDurationSeconds": int(inputs["timeout"]["attemptDurationSeconds"])},
        "propagateTags": inputs["propagateTags"],
        "platformCapabilities": inputs["platformCapabilities"],
    }
    assert register_job_definition_errors(params) == ""
    assert retry == retry_strategy(3)


def test_botocore_validation_catches_a_broken_definition():
    # Guards the check above: a wrong type must be reported, or the validation proves nothing.
    broken = container_properties(
        image="i", vcpus=1, memory_mib=2048, job_role_arn=TASK_ROLE, environment={}, log_group="g", region="us-east-1"
    )
    broken["resourceRequirements"] = [{"type": "VCPU", "value": 2}]
    assert "resourceRequirements" in register_job_definition_errors(
        {"jobDefinitionName": "x", "type": "container", "containerProperties": broken}
    )


def test_job_definition_runs_the_head_with_the_stack_environment(head):
    mocks, component = head
    definition = mocks.named("nextflow-definition")
    props = json.loads(definition.inputs["containerProperties"])
    assert props["resourceRequirements"] == [{"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "8192"}]
    assert "vcpus" not in props and "memory" not in props  # the deprecated fields
    env = {e["name"]: e["value"] for e in props["environment"]}
    assert env == head_environment(
        work_dir="s3://lab-work/work",
        logs_dir="s3://lab-work/logs",
        cache_dir="s3://lab-work/cache",
        region="us-east-1",
        default_queue=QUEUES["default"],
        priority_queue=QUEUES["priority"],
        task_role_arn=TASK_ROLE,
        memory_mib=8192,
        max_spot_attempts=3,
    )
    assert env["NF_MAX_SPOT_ATTEMPTS"] == "3"
    assert env["NF_JOB_QUEUE"] == QUEUES["default"] and env["NXF_OPTS"] == "-Xms2048m -Xmx6144m"
    role = mocks.named("nextflow-role", "aws:iam/role:Role")
    assert props["jobRoleArn"] == role.outputs["arn"]
    repository = mocks.named("nextflow-image")
    # The image `pulumi up` builds from container/ and pushes under its content tag, run by the pushed digest
    # (tests/test_head_image.py).
    tag = content_tag(CONTEXT_DIR, {"NEXTFLOW_VERSION": "25.04.6"}, ["linux/amd64"], "25.04.6")
    [image] = mocks.of_type("docker-build:index:Image")
    assert image.inputs["tags"] == [f"{repository.outputs['repositoryUrl']}:{tag}"]
    assert props["image"] == f"{repository.outputs['repositoryUrl']}@{image.outputs['digest']}"
    log_group = mocks.named("nextflow-logs")
    assert props["logConfiguration"]["options"]["awslogs-group"] == log_group.outputs["name"]
    assert definition.inputs["retryStrategy"] == {
        "attempts": 3,
        "evaluateOnExits": [
            {"onStatusReason": "Host EC2*", "action": "RETRY"},
            {"onExitCode": "143", "action": "RETRY"},
            {"onReason": "*", "action": "EXIT"},
        ],
    }
    assert definition.inputs["timeout"] == {"attemptDurationSeconds": 48 * 3600}
    assert definition.inputs["propagateTags"] is True
    assert resolve(component.job_definition_arn) == definition.outputs["arn"]


def test_image_override_replaces_the_repository_image():
    args = component_args(
        NextflowHeadJobArgs,
        bucket_name="b",
        bucket_arn="arn:aws:s3:::b",
        queue_arns=QUEUES,
        task_role_arn=TASK_ROLE,
        image="public.ecr.aws/lab/nextflow:25.04.6",
    )
    mocks, component = build_component(lambda: NextflowHeadJob("nf", args))
    props = json.loads(mocks.named("nf-definition").inputs["containerProperties"])
    assert props["image"] == "public.ecr.aws/lab/nextflow:25.04.6" == resolve(component.image)


def test_repository_is_immutable_scanned_and_tidied(head):
    mocks, _ = head
    repository = mocks.named("nextflow-image")
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"  # but content tags: test_head_image
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository.inputs["forceDelete"] is False
    rules = json.loads(mocks.named("nextflow-image-lifecycle").inputs["policy"])["rules"]
    assert rules[0]["selection"]["tagStatus"] == "untagged"
    assert mocks.named("nextflow-logs").inputs["retentionInDays"] == 30


def test_head_policy_submits_only_to_stack_queues_and_passes_only_the_task_role(head):
    mocks, _ = head
    document = json.loads(mocks.named("nextflow-policy").inputs["policy"])
    statements = {s["Sid"]: s for s in document["Statement"]}
    submit = statements["SubmitToStackQueues"]
    assert submit["Action"] == ["batch:SubmitJob"]
    assert set(submit["Resource"]) == {
        *QUEUES.values(),
        f"arn:aws:batch:us-east-1:{ACCOUNT}:job-definition/nf-*",
        f"arn:aws:batch:us-east-1:{ACCOUNT}:job/*",
    }
    assert statements["RegisterNextflowJobDefinitions"]["Resource"] == [
        f"arn:aws:batch:us-east-1:{ACCOUNT}:job-definition/nf-*"
    ]
    assert statements["PassTaskRole"] == {
        "Sid": "PassTaskRole",
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": TASK_ROLE,
    }
    assert set(statements["ReadWriteObjects"]["Resource"]) == {"arn:aws:s3:::lab-work/*"}
    assert set(statements["ReadOnlyObjects"]["Resource"]) == {"arn:aws:s3:::1000genomes/*"}


def test_children_are_parented_to_the_component(head):
    mocks, _ = head
    component = mocks.named("nextflow")
    assert all(r.parent == component.urn for r in mocks.registrations if r is not component)
