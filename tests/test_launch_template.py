"""GenomicsLaunchTemplate: user data (MIME, shellcheck, executed with stand-in system commands) and the template."""

import base64
import dataclasses
import email
import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import build_component, component_args, resolve, tool

from components.launch_template import (
    AWS_CLI_PATH,
    GenomicsLaunchTemplate,
    GenomicsLaunchTemplateArgs,
    RootVolume,
    provisioning_script,
    render_user_data,
)

# The ECS agent settings at the model's defaults.
AGENT = component_args(GenomicsLaunchTemplateArgs).ecs_agent


def shell_parts(user_data: str) -> list[str]:
    message = email.message_from_string(user_data)
    assert message.is_multipart() and message.get_content_type() == "multipart/mixed"
    parts = [p for p in message.walk() if not p.is_multipart()]
    assert parts and all(p.get_content_type() == "text/x-shellscript" for p in parts)
    return [p.get_payload(decode=True).decode() for p in parts]


@pytest.mark.parametrize("install_cli", [True, False])
def test_user_data_is_mime_multipart_and_every_part_passes_shellcheck(install_cli, tmp_path):
    for i, script in enumerate(shell_parts(render_user_data(AGENT, install_cli))):
        path = tmp_path / f"part{i}.sh"
        path.write_text(script)
        result = subprocess.run([tool("shellcheck"), "--severity=style", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def test_user_data_is_identical_between_runs():
    # A random MIME boundary would make a new template version on every `pulumi up`.
    assert render_user_data(AGENT, True) == render_user_data(AGENT, True)


def test_ecs_agent_settings_come_from_the_config():
    agent = dataclasses.replace(AGENT, image_pull_behavior="prefer-cached", container_stop_timeout_seconds=300,
                                image_cleanup_interval_minutes=45)
    [script] = shell_parts(render_user_data(agent, True))
    for line in ("ECS_ENABLE_SPOT_INSTANCE_DRAINING=true", "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached",
                 "ECS_CONTAINER_STOP_TIMEOUT=300s", "ECS_IMAGE_CLEANUP_INTERVAL=45m"):
        assert f"\n{line}\n" in script


def test_aws_cli_is_installed_self_contained_where_nextflow_expects_it():
    script = provisioning_script(AGENT, install_aws_cli=True)
    assert "--install-dir /opt/aws-cli --bin-dir /opt/aws-cli/bin" in script
    assert f"{AWS_CLI_PATH} --version" in script
    assert "/opt/aws-cli" not in provisioning_script(AGENT, install_aws_cli=False)


def fake_command(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def run_boot_script(tmp_path: Path, install_cli: bool, failing: str | None) -> tuple[int, Path, Path]:
    """Run the real boot script with /etc/ecs moved into tmp_path and system commands replaced by recorders."""
    bin_dir, etc, record = tmp_path / "bin", tmp_path / "etc-ecs", tmp_path / "calls"
    bin_dir.mkdir()
    for name in ("shutdown", "curl", "dnf", "unzip", "uname"):
        status = 1 if name == failing else 0
        fake_command(bin_dir, name, f'echo "{name} $*" >> "{record}"; exit {status}')
    script = provisioning_script(AGENT, install_cli).replace("/etc/ecs", str(etc))
    # The installer lands under the unzip target; stand in for it so the script's own steps run in order.
    script = script.replace('"$workdir/aws/install"', f'"{bin_dir}/installer"').replace(AWS_CLI_PATH, "true")
    fake_command(bin_dir, "installer", f'echo "installer $*" >> "{record}"')
    path = tmp_path / "boot.sh"
    path.write_text(script)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    result = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True)
    return result.returncode, etc / "ecs.config", record


def test_successful_boot_writes_ecs_config_and_does_not_shut_down(tmp_path):
    status, ecs_config, record = run_boot_script(tmp_path, install_cli=True, failing=None)
    assert status == 0
    assert "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true" in ecs_config.read_text()
    calls = record.read_text()
    assert "installer --install-dir /opt/aws-cli --bin-dir /opt/aws-cli/bin" in calls
    assert "shutdown" not in calls


@pytest.mark.parametrize("failing", ["curl", "dnf", "unzip"])
def test_failed_provisioning_shuts_the_instance_down(tmp_path, failing):
    status, _, record = run_boot_script(tmp_path, install_cli=True, failing=failing)
    assert status != 0
    calls = record.read_text().splitlines()
    assert calls[-1] == "shutdown -h now"
    assert not any(c.startswith("installer") for c in calls)


def build(**kwargs):
    return build_component(lambda: GenomicsLaunchTemplate("lt", component_args(GenomicsLaunchTemplateArgs, **kwargs)))


def test_template_requires_imdsv2_and_encrypts_a_gp3_root_volume():
    tags = {"Project": "genomics-batch", "CostCenter": "lab-7"}
    mocks, lt = build(root_volume=RootVolume(1000, 16000, 1000), tags=tags)
    [template] = mocks.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    meta = template.inputs["metadataOptions"]
    # Hop limit 1: task containers (one hop further, on the docker bridge) cannot reach the instance credentials.
    assert meta["httpTokens"] == "required" and meta["httpPutResponseHopLimit"] == 1
    [root] = template.inputs["blockDeviceMappings"]
    assert root["deviceName"] == "/dev/xvda"
    assert root["ebs"] == {"volumeType": "gp3", "volumeSize": 1000, "iops": 16000, "throughput": 1000,
                           "encrypted": "true", "deleteOnTermination": "true"}
    assert template.inputs["instanceInitiatedShutdownBehavior"] == "terminate"
    assert "keyName" not in template.inputs
    specs = {s["resourceType"]: s["tags"] for s in template.inputs["tagSpecifications"]}
    assert specs["instance"] == tags and specs["volume"] == tags
    decoded = base64.b64decode(template.inputs["userData"]).decode()
    assert decoded == render_user_data(AGENT, install_aws_cli=True)
    assert resolve(lt.latest_version) == template.outputs["latestVersion"]
    assert resolve(lt.id) == template.outputs["id"]
    assert template.parent == mocks.named("lt").urn


def test_a_configured_key_pair_is_passed_through():
    mocks, _ = build(key_name="ops-key")
    assert mocks.named("lt-template").inputs["keyName"] == "ops-key"
