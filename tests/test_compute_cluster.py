"""BatchComputeCluster: compute environments and queues as declared (the queue plan is in test_planning)."""

import json

import pytest
from conftest import build_component, component_args, resolve

from components.compute_cluster import BatchComputeCluster, BatchComputeClusterArgs
from facts.contract import EC2_CONFIGURATION_REASON, STUCK_REASONS, stuck_reasons
from facts.update_rules import UPDATABLE_ALLOCATION_STRATEGIES
from settings import load_settings

ARGS = {
    "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
    "security_group_ids": ["sg-0123456789abcdef0"],
    "launch_template_id": "lt-0123456789abcdef0",
    "launch_template_version": 7,
    "work_bucket_arn": "arn:aws:s3:::work",
    "read_only_bucket_arns": ["arn:aws:s3:::1000genomes"],
}


def build(**overrides):
    args = component_args(BatchComputeClusterArgs, **{**ARGS, **overrides})
    return build_component(lambda: BatchComputeCluster("batch", args))


@pytest.fixture(scope="module")
def cluster():
    return build(instance_types=["m6i", "c6a"], spot_max_vcpus=300, spot_bid_percentage=80, on_demand_max_vcpus=40)


def environments(mocks):
    ces = mocks.of_type("aws:batch/computeEnvironment:ComputeEnvironment")
    return {ce.inputs["computeResources"]["type"]: ce for ce in ces}


def test_compute_environments_scale_to_zero_with_current_strategies(cluster):
    mocks, _ = cluster
    ces = environments(mocks)
    spot, on_demand = ces["SPOT"].inputs["computeResources"], ces["EC2"].inputs["computeResources"]
    assert spot["allocationStrategy"] == "SPOT_CAPACITY_OPTIMIZED" and spot["bidPercentage"] == 80
    assert on_demand["allocationStrategy"] == "BEST_FIT_PROGRESSIVE"
    # Both must be strategies the provider updates in place, or stack edits replace them (update_rules).
    assert {spot["allocationStrategy"], on_demand["allocationStrategy"]} <= set(UPDATABLE_ALLOCATION_STRATEGIES)
    assert spot["maxVcpus"] == 300 and on_demand["maxVcpus"] == 40
    for resources in (spot, on_demand):
        assert resources["minVcpus"] == 0
        assert "desiredVcpus" not in resources
        assert resources["instanceTypes"] == ["m6i", "c6a"]
        assert resources["ec2Configurations"] == [{"imageType": "ECS_AL2023"}]
        assert resources["launchTemplate"] == {"launchTemplateId": "lt-0123456789abcdef0", "version": "7"}
        assert resources["subnets"] == ARGS["subnet_ids"]
        assert resources["securityGroupIds"] == ARGS["security_group_ids"]
        assert "tags" not in resources  # changing these would replace the environment
        assert "spotIamFleetRole" not in resources


def test_compute_environments_update_in_place_and_are_auto_named(cluster):
    mocks, _ = cluster
    [profile] = mocks.of_type("aws:iam/instanceProfile:InstanceProfile")
    attachment = mocks.named("batch-instance-ecs")
    for ce in environments(mocks).values():
        assert "serviceRole" not in ce.inputs  # the service-linked role allows in-place updates
        assert "name" not in ce.inputs and "namePrefix" not in ce.inputs
        assert ce.inputs["type"] == "MANAGED"
        assert ce.inputs["updatePolicy"] == {"jobExecutionTimeoutMinutes": 360, "terminateJobsOnUpdate": False}
        assert ce.ignore_changes == ["computeResources.desiredVcpus"]
        assert ce.delete_before_replace is False
        assert attachment.urn in ce.dependencies and profile.urn in ce.dependencies
        assert ce.inputs["computeResources"]["instanceRole"] == profile.outputs["arn"]


def test_queues_order_environments_and_cancel_stuck_jobs(cluster):
    mocks, component = cluster
    ce_arn = {
        ("SPOT" if "spot" in ce.name else "EC2"): ce.outputs["arn"]
        for ce in mocks.of_type("aws:batch/computeEnvironment:ComputeEnvironment")
    }
    queues = {q.name.removeprefix("batch-"): q for q in mocks.of_type("aws:batch/jobQueue:JobQueue")}
    assert set(queues) == {"head", "default", "priority"}
    expected = {"head": ["EC2"], "default": ["SPOT"], "priority": ["EC2", "SPOT"]}
    for key, queue in queues.items():
        orders = queue.inputs["computeEnvironmentOrders"]
        assert [o["order"] for o in orders] == list(range(1, len(orders) + 1))
        assert [o["computeEnvironment"] for o in orders] == [ce_arn[k] for k in expected[key]]
        assert queue.inputs["state"] == "ENABLED"
        assert "name" not in queue.inputs
        actions = queue.inputs["jobStateTimeLimitActions"]
        assert {a["reason"] for a in actions} == set(STUCK_REASONS)
        assert all(
            a["action"] == "CANCEL" and a["state"] == "RUNNABLE" and a["maxTimeSeconds"] == 1800 for a in actions
        )
    assert (
        queues["head"].inputs["priority"] > queues["priority"].inputs["priority"] > queues["default"].inputs["priority"]
    )
    assert resolve(component.queue_arns["head"]) == queues["head"].outputs["arn"]
    assert resolve(component.queue_names["default"]) == queues["default"].outputs["name"]


def test_china_queues_act_only_on_the_reasons_the_china_guide_lists():
    # docs.amazonaws.cn/batch/latest/userguide/job_stuck_in_runnable_time_limit_actions.html lists CAPACITY,
    # COMPUTE_ENVIRONMENT_MAX_RESOURCE and JOB_RESOURCE_REQUIREMENT only; docs.aws.amazon.com adds
    # EC2_INSTANCE_CONFIGURATION_UNSUPPORTED. An aws-cn queue asking for it may be refused at deploy.
    assert stuck_reasons("aws") == stuck_reasons("aws-us-gov") == STUCK_REASONS
    assert EC2_CONFIGURATION_REASON in STUCK_REASONS
    assert stuck_reasons("aws-cn") == tuple(r for r in STUCK_REASONS if r != EC2_CONFIGURATION_REASON)
    assert component_args(BatchComputeClusterArgs, **ARGS).partition == "aws"  # us-east-1, from the settings
    china = load_settings({"aws:region": "cn-north-1"}, "test")
    assert BatchComputeClusterArgs.from_settings(china, **{**ARGS, "read_write_bucket_arns": []}).partition == "aws-cn"
    mocks, _ = build(partition="aws-cn")
    for queue in mocks.of_type("aws:batch/jobQueue:JobQueue"):
        reasons = [a["reason"] for a in queue.inputs["jobStateTimeLimitActions"]]
        assert reasons == [
            "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
            "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
        ], queue.name


def test_spill_over_setting_adds_on_demand_to_the_default_queue():
    mocks, _ = build(spot_fallback_to_on_demand=True)
    default = mocks.named("batch-default")
    assert len(default.inputs["computeEnvironmentOrders"]) == 2


def test_roles_are_scoped_and_use_no_full_access_policies(cluster):
    mocks, component = cluster
    [attachment] = mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == (
        "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
    )
    instance, task = (mocks.named(n, "aws:iam/role:Role") for n in ("batch-instance", "batch-task"))
    assert json.loads(instance.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"
    }
    assert json.loads(task.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "ecs-tasks.amazonaws.com"
    }
    for policy in mocks.of_type("aws:iam/rolePolicy:RolePolicy"):
        document = json.loads(policy.inputs["policy"])
        resources = {r for s in document["Statement"] for r in s["Resource"]}
        assert resources == {
            "arn:aws:s3:::work",
            "arn:aws:s3:::work/*",
            "arn:aws:s3:::1000genomes",
            "arn:aws:s3:::1000genomes/*",
        }
        read_only = next(s for s in document["Statement"] if s["Sid"] == "ReadOnlyObjects")
        assert all(not a.startswith(("s3:Put", "s3:Delete")) for a in read_only["Action"])
    assert resolve(component.task_role_arn) == task.outputs["arn"]


def test_children_are_parented_to_the_component(cluster):
    mocks, _ = cluster
    component = mocks.named("batch")
    assert all(r.parent == component.urn for r in mocks.registrations if r is not component)


def test_instance_role_has_only_the_ecs_agent_policy_and_ssm_is_opt_in():
    mocks, _ = build()
    attached = [a.inputs["policyArn"] for a in mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")]
    assert attached == ["arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"]
    # No inline policy on the instance role: bucket access belongs to the task role alone.
    inline = {p.name for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert inline == {"batch-task-s3"}
    mocks, _ = build(ssm_access=True)
    attached = {a.inputs["policyArn"] for a in mocks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" in attached


def test_update_policy_waits_the_longest_the_provider_accepts():
    mocks, _ = build(gpu_instance_types=["g6"], team_caps={"oncology": 32}, share_weight_factors={"oncology": 1.0})
    ces = mocks.of_type("aws:batch/computeEnvironment:ComputeEnvironment")
    assert len(ces) == 4  # spot, on-demand, GPU, the capped team's spot
    for ce in ces:
        policy = ce.inputs["updatePolicy"]
        # terraform-provider-aws internal/service/batch/compute_environment.go: IntBetween(1, 360), under the API's 7200
        assert policy["jobExecutionTimeoutMinutes"] == 360 and policy["terminateJobsOnUpdate"] is False
    mocks, _ = build(update_timeout_minutes=45)
    assert {
        ce.inputs["updatePolicy"]["jobExecutionTimeoutMinutes"]
        for ce in mocks.of_type("aws:batch/computeEnvironment:ComputeEnvironment")
    } == {45}


def test_the_fargate_environment_declares_no_update_policy():
    mocks, _ = build(head_platform="fargate")
    fargate = mocks.named("batch-fargate")
    assert fargate.inputs["computeResources"]["type"] == "FARGATE"
    # botocore Batch model, UpdatePolicy: "Batch doesn't support updatePolicy for Fargate compute environments";
    # an update naming it fails ("can't be updated for Fargate compute environment: ... updatePolicy", aws-cdk#27054)
    assert "updatePolicy" not in fargate.inputs
    assert mocks.named("batch-ondemand").inputs["updatePolicy"]["jobExecutionTimeoutMinutes"] == 360
