"""Compute options: NVMe scratch (the boothook executed against a fake /sys and /dev), GPU tasks, Graviton and a
Fargate head, each through the whole program, botocore's shape checks and the plan's costs."""

import email
import json
import os
import subprocess
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator
from conftest import run_program, tool

from components.head_job import render_nextflow_config
from components.launch_template import INSTANCE_STORE_MODEL, nvme_scratch_script


def user_data_parts(run) -> dict[str, str]:
    import base64

    [template] = run.mocks.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    message = email.message_from_string(base64.b64decode(template.inputs["userData"]).decode())
    return {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()}


# --- NVMe scratch ---------------------------------------------------------------------------------------------------


def run_scratch(tmp_path: Path, devices: dict[str, str], docker_active: bool = False) -> tuple[int, list[str]]:
    """The real boothook, with /sys/block and /dev under tmp_path and the system commands recording their calls."""
    sys_block, dev, bin_dir, record = tmp_path / "sys", tmp_path / "dev", tmp_path / "bin", tmp_path / "calls"
    for directory in (sys_block, dev, bin_dir):
        directory.mkdir()
    for name, model in devices.items():
        (sys_block / name / "device").mkdir(parents=True)
        (sys_block / name / "device" / "model").write_text(model.ljust(40) + "\n")  # sysfs pads with spaces
        (dev / name).write_text("")
    # rpm: mdadm counts as installed, so neither dnf nor the metadata service is asked (curl fails if it were);
    # blkid: no scratch label yet (a first boot). More in test_launch_template.py.
    for command, status in (
        ("shutdown", 0),
        ("mdadm", 0),
        ("mkfs.xfs", 0),
        ("mount", 0),
        ("mountpoint", 1),
        ("systemctl", 0),
        ("rpm", 0),
        ("blkid", 2),
        ("udevadm", 0),
        ("curl", 7),
    ):
        body = f'echo "{command} $*" >> "{record}"\n'
        if command == "systemctl":
            body += (
                f'[ "$1" = is-active ] && echo {"active" if docker_active else "inactive"} && exit '
                f"{0 if docker_active else 3}\n"
            )
        script = bin_dir / command
        script.write_text(f"#!/bin/bash\n{body}exit {status}\n")
        script.chmod(0o755)
    text = nvme_scratch_script().replace("/sys/block", str(sys_block)).replace("/dev/", f"{dev}/")
    text = text.replace("/var/lib/docker", str(tmp_path / "docker")).replace("/etc/fstab", str(tmp_path / "fstab"))
    result = subprocess.run(
        ["bash", "-c", text], env={"PATH": f"{bin_dir}:{os.environ['PATH']}"}, capture_output=True, text=True
    )
    return result.returncode, record.read_text().splitlines() if record.exists() else []


def test_one_nvme_device_is_formatted_and_mounted_where_docker_keeps_its_data(tmp_path):
    status, calls = run_scratch(tmp_path, {"nvme1n1": INSTANCE_STORE_MODEL, "nvme0n1": "Amazon Elastic Block Store"})
    assert status == 0
    assert [c for c in calls if c.startswith(("mkfs", "mount ", "mdadm"))] == [
        f"mkfs.xfs -f -q -L nf-scratch -l su=8b {tmp_path}/dev/nvme1n1",
        f"mount -o noatime {tmp_path}/dev/nvme1n1 {tmp_path}/docker",
    ]


def test_several_nvme_devices_become_one_raid0_array(tmp_path):
    status, calls = run_scratch(
        tmp_path, {"nvme1n1": INSTANCE_STORE_MODEL, "nvme2n1": INSTANCE_STORE_MODEL}, docker_active=True
    )
    assert status == 0
    assert (
        f"mdadm --create {tmp_path}/dev/md0 --run --level=0 --raid-devices=2 {tmp_path}/dev/nvme1n1 "
        f"{tmp_path}/dev/nvme2n1" in calls
    )
    assert f"mkfs.xfs -f -q -L nf-scratch -l su=8b {tmp_path}/dev/md0" in calls
    # Docker was already up: stopped for the mount, started after it without waiting (moby/moby#41767).
    assert (
        calls.index("systemctl stop docker docker.socket")
        < calls.index(f"mount -o noatime {tmp_path}/dev/md0 {tmp_path}/docker")
        < calls.index("systemctl start --no-block docker")
    )
    assert not any(c.startswith(("curl", "dnf")) for c in calls)


def test_no_instance_storage_fails_closed(tmp_path):
    status, calls = run_scratch(tmp_path, {"nvme0n1": "Amazon Elastic Block Store"})
    assert status != 0 and calls[-1] == "shutdown -h now"
    assert not any(c.startswith(("mkfs", "mount ")) for c in calls)


def test_the_scratch_script_passes_shellcheck():
    result = subprocess.run(
        [tool("shellcheck"), "--shell=bash", "-"], input=nvme_scratch_script(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


@pytest.fixture(scope="module")
def nvme_run():
    return run_program("dev", {"genomics-batch:launchTemplate": {"scratch": "nvme"}})


def test_nvme_stacks_boot_the_boothook_first_shrink_the_root_and_pick_nvme_families(nvme_run):
    parts = user_data_parts(nvme_run)
    assert list(parts) == ["text/cloud-boothook", "text/x-shellscript"]  # the boothook runs first
    assert parts["text/cloud-boothook"] == nvme_scratch_script()
    [template] = nvme_run.mocks.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 40
    spot = nvme_run.mocks.named("batch-spot").inputs["computeResources"]
    assert spot["instanceTypes"] == ["m6id", "c6id", "r6id", "m5d", "c5d", "r5d"]


def test_the_plan_prices_nvme_and_root_scratch_per_instance_hour(tmp_path):
    from nfbatch.plan import build_plan

    project = Path(__file__).resolve().parent.parent
    root = build_plan("dev", project)["costs"]["perInstanceHour"]["rootVolume"]
    from components.costs import HOURS_PER_MONTH, root_volume_month

    assert root == round(root_volume_month(100, 3000, 125) / HOURS_PER_MONTH, 4)
    assert round(root_volume_month(40, 3000, 125) / HOURS_PER_MONTH, 4) < root  # NVMe itself is in the EC2 price


# --- GPU ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpu_run():
    return run_program("dev", {"genomics-batch:compute": {"gpu": {"enabled": True}}})


def test_gpu_tasks_get_their_own_environment_queue_and_config_route(gpu_run):
    gpu = gpu_run.mocks.named("batch-gpu", "aws:batch/computeEnvironment:ComputeEnvironment").inputs
    resources = gpu["computeResources"]
    assert resources["ec2Configurations"] == [{"imageType": "ECS_AL2023_NVIDIA"}]
    assert resources["instanceTypes"] == ["g5", "g6"] and resources["minVcpus"] == 0 and resources["maxVcpus"] == 64
    assert resources["allocationStrategy"] == "BEST_FIT_PROGRESSIVE"
    queue = gpu_run.mocks.named("batch-gpu", "aws:batch/jobQueue:JobQueue")
    assert [o["computeEnvironment"] for o in queue.inputs["computeEnvironmentOrders"]] == [
        gpu_run.mocks.named("batch-gpu", "aws:batch/computeEnvironment:ComputeEnvironment").outputs["arn"]
    ]
    out = gpu_run.outputs
    assert out["gpuQueueName"] == queue.outputs["name"]
    assert (
        "queue = { task.accelerator ? '"
        + out["gpuQueueName"]
        + "' : (task.attempt > 1 ? '"
        + out["priorityQueueName"]
        + "' : '"
        + out["defaultQueueName"]
        + "') }"
    ) in out["nextflowConfig"]
    assert out["nextflowConfig"] == render_nextflow_config(
        work_dir=out["workDir"],
        region="us-east-1",
        default_queue=out["defaultQueueName"],
        priority_queue=out["priorityQueueName"],
        task_role_arn=out["taskJobRoleArn"],
        max_spot_attempts=3,
        gpu_queue=out["gpuQueueName"],
        registry_caches=out["registryCaches"],
    )
    props = json.loads(gpu_run.mocks.named("nextflow-definition").inputs["containerProperties"])
    assert {"name": "NF_GPU_QUEUE", "value": out["gpuQueueArn"]} in props["environment"]


# --- Graviton ----------------------------------------------------------------------------------------------------


def test_arm64_stacks_run_graviton_families_everywhere():
    # No GPUs here: Batch's GPU AMI is x86_64 only (tests/test_bad_input.py, gpu-arm64-default, refuses g5g).
    run = run_program("dev", {"genomics-batch:compute": {"architecture": "arm64"}})
    for ce in ("batch-spot", "batch-ondemand"):
        assert run.mocks.named(ce).inputs["computeResources"]["instanceTypes"][:3] == ["m7g", "c7g", "r7g"]


# --- Fargate head ------------------------------------------------------------------------------------------------


def register_job_definition_errors(params: dict) -> str:
    model = botocore.session.get_session().get_service_model("batch")
    report = ParamValidator().validate(params, model.operation_model("RegisterJobDefinition").input_shape)
    return report.generate_report() if report.has_errors() else ""


@pytest.mark.parametrize(("stack", "public"), [("dev", "ENABLED"), ("prod", "DISABLED")])
def test_a_fargate_head_has_its_own_environment_an_execution_role_and_a_valid_definition(stack, public):
    run = run_program(stack, {"genomics-batch:headJob": {"platform": "fargate", "vcpus": 2, "memoryMib": 8192}})
    definition = run.mocks.named("nextflow-definition")
    props = json.loads(definition.inputs["containerProperties"])
    execution = run.mocks.named("nextflow-execution", "aws:iam/role:Role")
    assert definition.inputs["platformCapabilities"] == ["FARGATE"]
    assert props["executionRoleArn"] == execution.outputs["arn"]
    assert props["networkConfiguration"] == {"assignPublicIp": public}  # public IPs only without a NAT
    assert props["fargatePlatformConfiguration"] == {"platformVersion": "LATEST"}
    attachment = run.mocks.named("nextflow-execution", "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"].endswith(":policy/service-role/AmazonECSTaskExecutionRolePolicy")
    assert (
        register_job_definition_errors(
            {
                "jobDefinitionName": "nextflow",
                "type": "container",
                "platformCapabilities": ["FARGATE"],
                "containerProperties": props,
            }
        )
        == ""
    )
    fargate = run.mocks.named("batch-fargate").inputs["computeResources"]
    assert fargate["type"] == "FARGATE" and "instanceRole" not in fargate and "launchTemplate" not in fargate
    head_queue = run.mocks.named("batch-head", "aws:batch/jobQueue:JobQueue").inputs
    assert [o["computeEnvironment"] for o in head_queue["computeEnvironmentOrders"]] == [
        run.mocks.named("batch-fargate").outputs["arn"]
    ]
    assert run.outputs["fargateComputeEnvironmentArn"] == run.mocks.named("batch-fargate").outputs["arn"]


def test_the_combined_stack_passes_the_guard_rules_and_prices_its_options():
    from test_guard import violations_for

    from components.costs import estimate
    from settings import load_settings

    options = {
        "genomics-batch:launchTemplate": {"scratch": "nvme"},
        "genomics-batch:compute": {"gpu": {"enabled": True}},
        "genomics-batch:headJob": {"platform": "fargate"},
    }
    run = run_program("prod", options)
    assert violations_for(run) == {}
    raw = {"aws:region": "us-east-1", **{k: json.dumps(v) for k, v in options.items()}}
    costs = estimate(load_settings(raw, "combined"))
    assert costs["gpuInstanceHour"] == {"instanceType": "g5.xlarge", "usd": 1.006}
    assert costs["fargateHeadHour"] == round(2 * 0.04048 + 4 * 0.004445, 4)
