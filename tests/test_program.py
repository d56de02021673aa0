"""The whole program (__main__.py) against both stack files: composition, tags, parenting, exports, IAM audit."""

import json

import pytest
from conftest import run_program
from parliament import analyze_policy_string
from parliament import config as parliament_config

from components.head_job import render_nextflow_config
from facts.contract import REQUIRED_EXPORT_NAMES
from policies.iam import write_actions_on_any_resource


def test_exports_are_complete_and_match_what_was_declared(any_run):
    out, mocks = any_run.outputs, any_run.mocks
    # No alerts in dev or prod: no alert topic; no teams: the stack-wide launch config (contract.py EXPORTS).
    assert set(out) == {
        *REQUIRED_EXPORT_NAMES,
        "nextflowConfig",
        "seqeraPlatform",
        "instanceEventsLogGroupName",
        "registryCaches",  # registryCache.enabled is on by default
    }
    queues = {q.name.removeprefix("batch-"): q.outputs for q in mocks.of_type("aws:batch/jobQueue:JobQueue")}
    for key in ("head", "default", "priority"):
        assert out[f"{key}QueueArn"] == queues[key]["arn"] and out[f"{key}QueueName"] == queues[key]["name"]
    bucket = mocks.of_type("aws:s3/bucket:Bucket")[0].outputs["bucket"]
    assert out["workDir"] == f"s3://{bucket}/work" and out["logsDir"] == f"s3://{bucket}/logs"
    assert out["jobDefinitionArn"] == mocks.named("nextflow-definition").outputs["arn"]
    assert out["nextflowConfig"] == render_nextflow_config(
        work_dir=out["workDir"],
        region="us-east-1",
        default_queue=out["defaultQueueName"],
        priority_queue=out["priorityQueueName"],
        task_role_arn=out["taskJobRoleArn"],
        max_spot_attempts=3,
        registry_caches=out["registryCaches"],
    )
    # The docker scope an nf-core run gets, through the stack's quay.io cache (tests/test_registry_routing.py).
    assert f"registry = '{out['registryCaches']['quay.io']}'" in out["nextflowConfig"]
    # Nextflow 25.04 defaults aws.batch.maxSpotAttempts to 0 (nf-amazon AwsBatchTaskHandler.maxSpotAttempts): one
    # reclaim would fail the task; the stack's config retries it.
    assert "maxSpotAttempts = 3" in out["nextflowConfig"]
    assert out["seqeraPlatform"] == {
        "region": "us-east-1",
        "workDir": out["workDir"],
        "headQueue": out["headQueueName"],
        "computeQueue": out["defaultQueueName"],
        "headJobRole": out["headJobRoleArn"],
        "computeJobRole": out["taskJobRoleArn"],
    }


def test_every_aws_resource_uses_the_tagging_provider(any_run):
    mocks = any_run.mocks
    [provider] = mocks.of_type("pulumi:providers:aws")
    stack = provider.urn.split("::")[0].removeprefix("urn:pulumi:")
    expected = {
        "Project": "genomics-batch",
        "Stack": stack,
        "Environment": stack,
        "CostCenter": f"genomics-{'sandbox' if stack == 'dev' else 'production'}",
    }
    # Provider inputs travel as JSON text.
    assert json.loads(provider.inputs["defaultTags"]) == {"tags": expected}
    assert provider.inputs["region"] == "us-east-1"
    reference = f"{provider.urn}::{provider.outputs['id']}"
    aws_resources = [r for r in mocks.registrations if r.custom and r.typ.startswith("aws:")]
    assert len(aws_resources) > 25
    assert all(r.provider == reference for r in aws_resources), [
        r.urn for r in aws_resources if r.provider != reference
    ]
    # Provider default tags stop at what the provider creates; instances and volumes get them from the template.
    template = mocks.of_type("aws:ec2/launchTemplate:LaunchTemplate")[0]
    specs = {s["resourceType"]: s["tags"] for s in template.inputs["tagSpecifications"]}
    assert specs["instance"] == specs["volume"] == expected


def test_every_aws_resource_belongs_to_one_of_the_components(any_run):
    mocks = any_run.mocks
    components = {r.urn: r.typ for r in mocks.registrations if r.typ.startswith("genomics:")}
    assert sorted(components.values()) == sorted(
        [
            "genomics:networking:BatchNetworking",
            "genomics:storage:WorkBucket",
            "genomics:compute:GenomicsLaunchTemplate",
            "genomics:compute:BatchComputeCluster",
            "genomics:nextflow:NextflowHeadJob",
            "genomics:instance_records:InstanceRecords",  # runCosts.recordInstances is on by default
            "genomics:registry_cache:RegistryCache",  # registryCache.enabled is on by default
        ]
    )
    for r in mocks.registrations:
        if r.custom and r.typ.startswith("aws:"):
            assert r.parent in components, r.urn


def test_compute_environments_pin_the_templates_latest_version(any_run):
    mocks = any_run.mocks
    template = mocks.of_type("aws:ec2/launchTemplate:LaunchTemplate")[0]
    for ce in mocks.of_type("aws:batch/computeEnvironment:ComputeEnvironment"):
        pinned = ce.inputs["computeResources"]["launchTemplate"]
        assert pinned == {"launchTemplateId": template.outputs["id"], "version": str(template.outputs["latestVersion"])}


def test_dev_is_cheap_and_disposable(dev_run):
    mocks = dev_run.mocks
    assert mocks.of_type("aws:ec2/natGateway:NatGateway") == []
    assert mocks.of_type("aws:ec2/eip:Eip") == []
    bucket = mocks.of_type("aws:s3/bucket:Bucket")[0]
    assert bucket.inputs["forceDestroy"] is True and not bucket.protect
    assert mocks.of_type("aws:s3/bucketVersioning:BucketVersioning") == []
    assert len(mocks.of_type("aws:ec2/subnet:Subnet")) == 2


def test_prod_keeps_data_and_has_no_public_instances(prod_run):
    mocks = prod_run.mocks
    assert len(mocks.of_type("aws:ec2/natGateway:NatGateway")) == 3
    bucket = mocks.of_type("aws:s3/bucket:Bucket")[0]
    assert bucket.protect and bucket.retain_on_delete and bucket.inputs["forceDestroy"] is False
    assert len(mocks.of_type("aws:s3/bucketVersioning:BucketVersioning")) == 1
    private = {s.outputs["id"] for s in mocks.of_type("aws:ec2/subnet:Subnet") if s.inputs["tags"]["Tier"] == "private"}
    for ce in mocks.of_type("aws:batch/computeEnvironment:ComputeEnvironment"):
        assert set(ce.inputs["computeResources"]["subnets"]) == private
    assert mocks.named("nextflow-image").inputs["forceDelete"] is False


def test_spill_over_setting_reaches_the_default_queue():
    run = run_program("dev", {"genomics-batch:compute": {"spotFallbackToOnDemand": True}})
    assert len(run.mocks.named("batch-default").inputs["computeEnvironmentOrders"]) == 2


def iam_documents(run):
    """Every permissions policy the program declares, with where it came from."""
    for r in run.mocks.registrations:
        if r.typ in ("aws:iam/rolePolicy:RolePolicy", "aws:s3/bucketPolicy:BucketPolicy"):
            yield r.name, json.loads(r.inputs["policy"])


def severity(finding) -> str:
    return parliament_config.get(finding.issue, {}).get("severity") or "LOW"


def test_parliament_finds_nothing_above_low_in_any_policy(any_run):
    documents = list(iam_documents(any_run))
    # bucket TLS policy, task S3, head job; the registry cache's instance-role grant and its creation role's policy
    assert len(documents) == 5
    for name, document in documents:
        findings = analyze_policy_string(json.dumps(document)).findings
        serious = [(f.issue, f.detail) for f in findings if severity(f) not in ("LOW",)]
        # Parliament's bundled definitions give ecr:BatchImportUpstreamImage no resource type; the Service
        # Authorization Reference lists `repository*` (list_amazonelasticcontainerregistry.html).
        stale = ("RESOURCE_MISMATCH", [{"action": "ecr:BatchImportUpstreamImage", "required_format": "*"}])
        assert [f for f in serious if f != stale] == [], name


def test_no_write_action_is_granted_on_every_resource(any_run):
    for name, document in iam_documents(any_run):
        assert write_actions_on_any_resource(document) == [], name


def test_trust_policies_name_exactly_one_service(any_run):
    # Parliament audits permissions, not trust policies (it reports them as malformed for lacking a Resource).
    principals = {}
    for role in any_run.mocks.of_type("aws:iam/role:Role"):
        [statement] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert statement["Action"] == "sts:AssumeRole" and "Condition" not in statement
        principals[role.name] = statement["Principal"]
    assert principals == {
        "batch-instance": {"Service": "ec2.amazonaws.com"},
        "batch-task": {"Service": "ecs-tasks.amazonaws.com"},
        "nextflow-role": {"Service": "ecs-tasks.amazonaws.com"},
        "registry-creation": {"Service": "ecr.amazonaws.com"},  # the cache's repository creation template
    }


def test_no_full_access_managed_policy_is_attached(any_run):
    attached = [
        r.inputs["policyArn"] for r in any_run.mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    ]
    assert attached and not any("FullAccess" in arn for arn in attached)


def test_write_check_flags_a_wildcard_write():
    document = {"Statement": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "*"}]}
    assert write_actions_on_any_resource(document) == ["s3:PutObject"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_program_declares_the_same_resources_each_run(stack, dev_run, prod_run):
    first = {"dev": dev_run, "prod": prod_run}[stack]
    again = run_program(stack)

    # Registration order is async and may vary; what is declared, and with which inputs, must not.
    def declared(run):
        return sorted((r.urn, json.dumps(r.inputs, sort_keys=True)) for r in run.mocks.registrations)

    assert declared(again) == declared(first)
