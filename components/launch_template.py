"""GenomicsLaunchTemplate: the EC2 launch template Batch uses for every instance it starts.

`render_user_data` builds the MIME multipart user data as a pure function (ECS agent settings, a self-contained AWS
CLI for Nextflow, fail-closed provisioning); the component adds a big encrypted gp3 root volume, IMDSv2 and cost tags.
"""

from __future__ import annotations

import base64
import textwrap
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

if TYPE_CHECKING:
    from settings import StackSettings

AWS_CLI_PREFIX = "/opt/aws-cli"
# Nextflow mounts the grandparent of cliPath (/opt/aws-cli) into every task container.
AWS_CLI_PATH = f"{AWS_CLI_PREFIX}/bin/aws"
# A fixed boundary keeps the rendered text identical between runs, so an unchanged config makes no new version.
MIME_BOUNDARY = "==GENOMICS-BATCH-USER-DATA=="
ROOT_DEVICE = "/dev/xvda"  # root device name of the ECS-optimized Amazon Linux 2023 AMIs that Batch picks


@dataclass(frozen=True)
class EcsAgentConfig:
    image_pull_behavior: str
    container_stop_timeout_seconds: int
    task_cleanup_wait_minutes: int
    image_cleanup_interval_minutes: int
    image_minimum_cleanup_age_minutes: int


def ecs_config_lines(agent: EcsAgentConfig) -> list[str]:
    return [
        # Spot interruption notices drain the instance so Batch reschedules its jobs instead of losing them.
        "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true",
        f"ECS_IMAGE_PULL_BEHAVIOR={agent.image_pull_behavior}",
        f"ECS_CONTAINER_STOP_TIMEOUT={agent.container_stop_timeout_seconds}s",
        f"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION={agent.task_cleanup_wait_minutes}m",
        "ECS_DISABLE_IMAGE_CLEANUP=false",
        f"ECS_IMAGE_CLEANUP_INTERVAL={agent.image_cleanup_interval_minutes}m",
        f"ECS_IMAGE_MINIMUM_CLEANUP_AGE={agent.image_minimum_cleanup_age_minutes}m",
    ]


# Nextflow mounts /opt/aws-cli into every task container and runs bin/aws there (nf-amazon AwsBatchTaskHandler,
# aws.batch.cliPath). Task images are often not Amazon Linux: busybox-based biocontainers lack libz.so.1 and other
# libraries the CLI takes from the host (aws-samples/aws-genomics-workflows#185, nextflow-io/nextflow#1865). So the
# CLI carries its own copies in lib/, and bin/aws is this POSIX sh wrapper (task images may have no bash) that puts
# them first. glibc itself always comes from the image: its loader and libc must match each other.
AWS_CLI_WRAPPER = """#!/bin/sh
# genomics-batch: the AWS CLI with its own libraries, as Nextflow runs it inside task containers.
case "$0" in
  */*) bin=${0%/*} ;;
  *) bin=/opt/aws-cli/bin ;;
esac
root=$bin/..
LD_LIBRARY_PATH="$root/lib:$root/v2/current/dist${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "$root/v2/current/dist/aws" "$@"
"""
# The AWS CLI team's signing key and its fingerprint, as the AWS CLI user guide publishes them ("Verify the integrity
# and authenticity of the downloaded installer files"). The boot script checks the installer against it.
AWS_CLI_KEY_FINGERPRINT = "FB5DB77FD5C118B80511ADA8A6310ACC4672475C"
AWS_CLI_KEY = (Path(__file__).parent / "data" / "aws-cli-team.asc").read_text()

# Libraries every glibc image has, and which must not be shadowed by the host's copies.
GLIBC_LIBRARIES = r"/(ld-linux[^/]*|libc|libm|libdl|libpthread|librt|libresolv|libutil)\.so"


def cli_install_steps(aws_cli_version: str) -> str:
    """The boot script's steps that install the pinned AWS CLI release, verified, self-contained."""
    return f"""
# A self-contained AWS CLI v2 (own Python and libraries) for Nextflow's aws.batch.cliPath, pinned and verified.
cli_root={AWS_CLI_PREFIX}
arch=$(uname -m)
workdir=$(mktemp -d)
url="https://awscli.amazonaws.com/awscli-exe-linux-$arch-{aws_cli_version}.zip"
for file in zip zip.sig; do
  curl --fail --silent --show-error --retry 5 --retry-all-errors --retry-connrefused --connect-timeout 10 \\
    -o "$workdir/awscliv2.$file" "${{url%.zip}}.$file"
done
# Verified against the AWS CLI team's key, embedded here and pinned by fingerprint. The check reads gpg's status
# line (VALIDSIG ... <primary key fingerprint>), not its exit code: AWS extends the key's expiry from time to
# time, and a copy whose expiry date has passed must still verify a release signed with that same key.
export GNUPGHOME="$workdir/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import <<'AWS_CLI_KEY'
{AWS_CLI_KEY.strip()}
AWS_CLI_KEY
verified=$(gpg --batch --status-fd 1 --verify "$workdir/awscliv2.zip.sig" "$workdir/awscliv2.zip" 2>/dev/null || true)
# gpg started an agent for this throwaway home; stop it whatever the check decides (gpgconf ships with gnupg2-full,
# which aws/amazon-ecs-ami al2023.pkr.hcl swaps in for gnupg2-minimal). Cleanup only: it never fails the boot.
gpgconf --kill gpg-agent 2>/dev/null || true
grep -Eq '^\\[GNUPG:\\] VALIDSIG [0-9A-F]+ .* {AWS_CLI_KEY_FINGERPRINT}$' <<<"$verified"
dnf install -y -q unzip
unzip -q "$workdir/awscliv2.zip" -d "$workdir"
"$workdir/aws/install" --install-dir "$cli_root" --bin-dir "$cli_root/bin" --update
# Copy every non-glibc library the CLI's binaries link against from the host into the CLI's own lib/.
mkdir -p "$cli_root/lib"
# (ldd exits non-zero for a file that is not dynamically linked; that must not fail the boot.)
{{ find "$cli_root/v2/current/dist" -type f \\( -name aws -o -name '*.so*' \\) -exec ldd {{}} + || true; }} \\
  | awk '$2 == "=>" && $3 ~ /^\\// {{print $3}}' | sort -u | {{ grep -Ev '{GLIBC_LIBRARIES}' || true; }} \\
  | while read -r library; do cp -L "$library" "$cli_root/lib/"; done
rm -f "$cli_root/bin/aws"
cat > "$cli_root/bin/aws" <<'AWS_CLI_WRAPPER'
{AWS_CLI_WRAPPER.rstrip()}
AWS_CLI_WRAPPER
chmod 755 "$cli_root/bin/aws"
"$cli_root/bin/aws" --version
rm -rf "$workdir"
"""


def provisioning_script(agent: EcsAgentConfig, aws_cli_version: str | None) -> str:
    """The boot script. Any failure powers the instance off, and the template's shutdown behaviour terminates it.
    `aws_cli_version`: the pinned AWS CLI v2 release to install, or None for no CLI."""
    settings = "\n".join(ecs_config_lines(agent))
    cli = cli_install_steps(aws_cli_version) if aws_cli_version else ""
    return f"""#!/bin/bash
# genomics-batch instance provisioning. Runs before the ECS agent starts; a half-provisioned instance never
# joins the cluster: on any error it powers off and is terminated.
set -euo pipefail

fail_closed() {{
  echo "genomics-batch: provisioning failed at line $1; shutting down" >&2
  shutdown -h now
  exit 1
}}
trap 'fail_closed "$LINENO"' ERR

mkdir -p /etc/ecs
cat >> /etc/ecs/ecs.config <<'ECS_CONFIG'
{settings}
ECS_CONFIG
{cli}
echo "genomics-batch: provisioning complete"
"""


# Where Docker keeps images and container layers, so where task scratch lives.
DOCKER_DATA = "/var/lib/docker"
# The model name every NVMe instance-store device reports (EBS volumes report "Amazon Elastic Block Store").
INSTANCE_STORE_MODEL = "Amazon EC2 NVMe Instance Storage"


# The scratch file system's label. The fstab entry finds it by label, not by device: after a reboot the array may
# come back as /dev/md127 (no mdadm.conf names it), and a label survives the re-format after a stop and start, where
# a UUID would not. XFS labels hold at most 12 characters (xfs_admin(8)).
SCRATCH_LABEL = "nf-scratch"
FSTAB = "/etc/fstab"
# nofail: a boot whose instance storage came back empty (stop and start) does not wait for it; x-systemd.before:
# the mount, asynchronous under nofail, still completes before Docker starts. Both as systemd.mount(5) defines them:
# https://www.freedesktop.org/software/systemd/man/latest/systemd.mount.html
SCRATCH_FSTAB_ENTRY = f"LABEL={SCRATCH_LABEL} {DOCKER_DATA} xfs noatime,nofail,x-systemd.before=docker.service 0 0"
# dnf's variable files (dnf doc/conf_ref.rst, "Variables"), and the instance metadata service.
DNF_VARS_DIR = "/etc/dnf/vars"
DNF_REGION_VAR = f"{DNF_VARS_DIR}/awsregion"
IMDS = "http://169.254.169.254/latest"


def scratch_device_steps() -> str:
    """The boothook's steps that list the NVMe instance-store devices into `devices`, or fail closed."""
    return f"""
devices=()
for model in /sys/block/nvme*n1/device/model; do
  [[ -e "$model" ]] || continue
  if [[ "$(tr -s ' ' < "$model" | sed 's/ *$//')" == "{INSTANCE_STORE_MODEL}" ]]; then
    name="${{model#/sys/block/}}"
    devices+=("/dev/${{name%%/*}}")
  fi
done
if [[ ${{#devices[@]}} -eq 0 ]]; then
  fail_closed "no NVMe instance storage on this instance type"
fi
"""


def scratch_assembly_steps() -> str:
    """The boothook's steps that find the scratch file system of an earlier boot, or assemble the devices anew."""
    return f"""
# A reboot keeps instance storage: find the file system by its label (the array may now be /dev/md127). A stop and
# start returns the disks empty: assemble and format anew.
if target=$(blkid -L {SCRATCH_LABEL}); then
  fresh=false
elif [[ ${{#devices[@]}} -eq 1 ]]; then
  target="${{devices[0]}}"
  fresh=true
else
  mdadm --create /dev/md0 --run --level=0 --raid-devices="${{#devices[@]}}" "${{devices[@]}}"
  target=/dev/md0
  fresh=true
fi
"""


def scratch_mount_steps() -> str:
    """The boothook's steps that mount the scratch where Docker keeps its data, with Docker stopped, and record the
    mount in fstab so that a reboot mounts it again before Docker starts."""
    return f"""
# `systemctl is-active` exits non-zero for "activating" too: a Docker still starting must stop for the mount as well.
docker_state=$(systemctl is-active docker || true)
docker_was_up=false
if [[ "$docker_state" != inactive && "$docker_state" != failed ]]; then
  docker_was_up=true
  systemctl stop docker docker.socket
fi
if [[ "$fresh" == true ]]; then
  # -l su=8b: a 32 KiB log stripe unit, as the EKS AMI's setup-local-disks sets it (awslabs/amazon-eks-ami
  # templates/al2023/runtime/bin/setup-local-disks): on an array mkfs would take mdadm's 512 KiB chunk, above the
  # log's 256 KiB limit, warn and fall back to 32 KiB itself; the data stripe still follows the array.
  mkfs.xfs -f -q -L {SCRATCH_LABEL} -l su=8b "$target"
  # Let udev publish the new label (/dev/disk/by-label) before mounting (udevadm(8) settle). Only a wait: a timeout
  # must not fail the boot, the mount below copes with systemd either way.
  udevadm settle || true
fi
mkdir -p {DOCKER_DATA}
# After a stop and start, the fstab entry of an earlier boot waits for this label, so systemd may mount it between
# mkfs and here: mount then exits 32 (already mounted), and the mount systemd made counts.
mount -o noatime "$target" {DOCKER_DATA} || mountpoint -q {DOCKER_DATA}
entry='{SCRATCH_FSTAB_ENTRY}'
grep -qxF "$entry" {FSTAB} || echo "$entry" >> {FSTAB}
if [[ "$docker_was_up" == true ]]; then
  # --no-block: docker.service is ordered after network-online.target, which waits for this boothook's cloud-init
  # stage; a blocking start from inside cloud-init waits forever (moby/moby#41767).
  systemctl start --no-block docker
fi
"""


def dnf_region_steps() -> str:
    """The boothook's steps that point dnf at this region's package repositories, or fail closed."""
    return f"""
# AL2023's repository files name their S3 mirrors by dnf's $awsregion (al2023-repos-$awsregion-*), which dnf
# reads from {DNF_REGION_VAR}. cloud-init's write-metadata module fills that in, but among cloud_init_modules,
# after the boothooks of consume_data (cloud-init cloudinit/cmd/main.py, main_init): a first boot still holds the
# value the AMI was built with (aws/amazon-ecs-ami scripts/cleanup.sh leaves it). The region comes from IMDSv2
# instead, which the template requires with one hop, enough for the host itself:
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html
imds=(curl --fail --silent --show-error --retry 5 --retry-all-errors --retry-connrefused --connect-timeout 2
  --max-time 10)
token=$("${{imds[@]}}" -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" {IMDS}/api/token)
region=$("${{imds[@]}}" -H "X-aws-ec2-metadata-token: $token" {IMDS}/meta-data/placement/region)
if [[ ! "$region" =~ ^[a-z]+(-[a-z]+)+-[0-9]+$ ]]; then
  fail_closed "no region from the instance metadata service"
fi
# Into the file, not DNF_VAR_awsregion: dnf reads the vars files after the environment and they win (dnf
# doc/conf_ref.rst "Variables"; dnf/cli/cli.py update_from_etc). write-metadata writes the same region later.
mkdir -p {DNF_VARS_DIR}
printf '%s\\n' "$region" > {DNF_REGION_VAR}
"""


def nvme_scratch_script() -> str:
    """Assemble the instance's NVMe instance-store devices (RAID 0 when more than one) and mount them where Docker
    keeps container data. A cloud-init boothook: it runs early on every boot (cloud-init's boot_hook handler is
    PER_ALWAYS), in cloud-init's network stage, before user scripts and before Docker can start: that stage is
    ordered before network-online.target (cloud-init systemd/cloud-init.service.tmpl) and docker.service after it
    (moby contrib/init/systemd/docker.service). A Docker found up or starting anyway is stopped for the mount and
    started again, without waiting. No instance-store device means the wrong instance type: fail closed, like the
    boot script."""
    return f"""#!/bin/bash
# genomics-batch: NVMe instance storage as task scratch ({DOCKER_DATA}).
set -euo pipefail

fail_closed() {{
  echo "genomics-batch: scratch setup failed: $1; shutting down" >&2
  shutdown -h now
  exit 1
}}
trap 'fail_closed "line $LINENO"' ERR

# Boothooks run on every boot: after a reboot the fstab entry written below has normally mounted the scratch already.
if mountpoint -q {DOCKER_DATA}; then
  exit 0
fi
# The ECS AL2023 AMI is built from AL2023 minimal and has no mdadm (aws/amazon-ecs-ami al2023.pkr.hcl, unlike the EKS
# AMI's install-worker.sh). Installed on every NVMe instance, one disk or several, so that a package source out of
# reach fails every NVMe type at its first boot, not only the larger ones; its udev rules reassemble the array on a
# reboot.
if ! rpm -q --quiet mdadm; then
{textwrap.indent(dnf_region_steps().lstrip(), "  ")}  dnf install -y -q mdadm
fi
{scratch_device_steps()}{scratch_assembly_steps()}{scratch_mount_steps()}
echo "genomics-batch: ${{#devices[@]}} NVMe device(s) mounted at {DOCKER_DATA}"
"""


def render_user_data(agent: EcsAgentConfig, aws_cli_version: str | None, scratch: str = "root") -> str:
    """MIME multipart user data, the form Batch requires so it can merge in its own part."""
    message = MIMEMultipart(boundary=MIME_BOUNDARY)
    if scratch == "nvme":
        message.attach(MIMEText(nvme_scratch_script(), "cloud-boothook"))
    message.attach(MIMEText(provisioning_script(agent, aws_cli_version), "x-shellscript"))
    return message.as_string()


@dataclass(frozen=True)
class RootVolume:
    size_gib: int
    iops: int
    throughput_mibps: int


@dataclass(frozen=True)
class GenomicsLaunchTemplateArgs:
    root_volume: RootVolume
    ecs_agent: EcsAgentConfig
    aws_cli_version: str | None  # the AWS CLI v2 release the boot script installs; None: no CLI
    key_name: str | None  # None: no SSH key
    tags: dict[str, str]  # cost tags for the instances, volumes and network interfaces Batch launches
    scratch: str  # "root": task scratch on the root volume; "nvme": on the instances' NVMe instance storage

    @classmethod
    def from_settings(cls, s: StackSettings) -> GenomicsLaunchTemplateArgs:
        lt = s.launch_template
        volume = lt.root_volume
        return cls(
            root_volume=RootVolume(s.root_volume_gib, volume.iops, volume.throughput_mibps),
            scratch=lt.scratch,
            ecs_agent=EcsAgentConfig(**lt.ecs_agent.model_dump()),
            aws_cli_version=lt.aws_cli_version if lt.install_aws_cli else None,
            key_name=lt.key_name,
            tags=s.cost_tags,
        )


class GenomicsLaunchTemplate(pulumi.ComponentResource):
    """Outputs: id, latest_version (pin compute environments to it; `$Latest` is frozen at CE creation)."""

    id: pulumi.Output[str]
    latest_version: pulumi.Output[int]

    def __init__(self, name: str, args: GenomicsLaunchTemplateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:compute:GenomicsLaunchTemplate", name, None, opts)
        user_data = render_user_data(args.ecs_agent, args.aws_cli_version, args.scratch)
        # Provider default tags do not reach what Batch launches; tag specifications do.
        tag_specs = [
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=dict(args.tags))
            for kind in ("instance", "volume", "network-interface")
        ]
        template = aws.ec2.LaunchTemplate(
            f"{name}-template",
            description="genomics-batch: AWS Batch instances for Nextflow",
            user_data=base64.b64encode(user_data.encode()).decode(),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_type="gp3",
                        volume_size=args.root_volume.size_gib,
                        iops=args.root_volume.iops,
                        throughput=args.root_volume.throughput_mibps,
                        encrypted="true",
                        # Orphaned scratch volumes are the classic silent cost of Batch clusters.
                        delete_on_termination="true",
                    ),
                )
            ],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # One hop: only the host (the ECS agent) reaches IMDS; bridge-mode task containers are one hop
                # further and cannot read the instance role's credentials. Tasks get theirs from the job role
                # (ECS task credentials endpoint) and their region from Nextflow, which runs the CLI with
                # --region (nf-amazon AwsOptions.getAwsCli).
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            # A failed boot script powers the instance off; terminate it rather than leave a stopped instance.
            instance_initiated_shutdown_behavior="terminate",
            key_name=args.key_name,
            tag_specifications=tag_specs,
            update_default_version=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.id = template.id
        self.latest_version = template.latest_version
        self.register_outputs({"id": self.id, "latest_version": self.latest_version})
