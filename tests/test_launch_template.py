"""GenomicsLaunchTemplate: user data (MIME, shellcheck; the boot script and the NVMe boothook executed with stand-in
system commands, the boot script with real gpg whose agents every test stops) and the template."""

import base64
import dataclasses
import email
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import build_component, component_args, resolve, tool

from components.launch_template import (
    AWS_CLI_KEY,
    AWS_CLI_KEY_FINGERPRINT,
    AWS_CLI_PATH,
    AWS_CLI_WRAPPER,
    DNF_VARS_DIR,
    DOCKER_DATA,
    FSTAB,
    IMDS,
    INSTANCE_STORE_MODEL,
    SCRATCH_FSTAB_ENTRY,
    GenomicsLaunchTemplate,
    GenomicsLaunchTemplateArgs,
    RootVolume,
    nvme_scratch_script,
    provisioning_script,
    render_user_data,
)

# The ECS agent settings and the pinned CLI release at the model's defaults.
AGENT = component_args(GenomicsLaunchTemplateArgs).ecs_agent
CLI_VERSION = component_args(GenomicsLaunchTemplateArgs).aws_cli_version


def shell_parts(user_data: str) -> list[str]:
    message = email.message_from_string(user_data)
    assert message.is_multipart() and message.get_content_type() == "multipart/mixed"
    parts = [p for p in message.walk() if not p.is_multipart()]
    assert parts and all(p.get_content_type() == "text/x-shellscript" for p in parts)
    return [p.get_payload(decode=True).decode() for p in parts]


@pytest.mark.parametrize("install_cli", [CLI_VERSION, None])
def test_user_data_is_mime_multipart_and_every_part_passes_shellcheck(install_cli, tmp_path):
    for i, script in enumerate(shell_parts(render_user_data(AGENT, install_cli))):
        path = tmp_path / f"part{i}.sh"
        path.write_text(script)
        result = subprocess.run([tool("shellcheck"), "--severity=style", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def test_user_data_is_identical_between_runs():
    # A random MIME boundary would make a new template version on every `pulumi up`.
    assert render_user_data(AGENT, CLI_VERSION) == render_user_data(AGENT, CLI_VERSION)


def test_ecs_agent_settings_come_from_the_config():
    agent = dataclasses.replace(
        AGENT,
        image_pull_behavior="prefer-cached",
        container_stop_timeout_seconds=300,
        image_cleanup_interval_minutes=45,
    )
    [script] = shell_parts(render_user_data(agent, CLI_VERSION))
    for line in (
        "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true",
        "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached",
        "ECS_CONTAINER_STOP_TIMEOUT=300s",
        "ECS_IMAGE_CLEANUP_INTERVAL=45m",
    ):
        assert f"\n{line}\n" in script


def test_aws_cli_is_installed_self_contained_where_nextflow_expects_it():
    script = provisioning_script(AGENT, CLI_VERSION)
    assert "cli_root=/opt/aws-cli\n" in script and AWS_CLI_PATH == "/opt/aws-cli/bin/aws"
    assert '--install-dir "$cli_root" --bin-dir "$cli_root/bin"' in script
    assert "/opt/aws-cli" not in provisioning_script(AGENT, None)
    # The pinned release, and its signature, from AWS's own download host.
    assert f'url="https://awscli.amazonaws.com/awscli-exe-linux-$arch-{CLI_VERSION}.zip"' in script
    assert AWS_CLI_KEY_FINGERPRINT in script and "BEGIN PGP PUBLIC KEY BLOCK" in script


def test_the_embedded_key_is_the_aws_cli_teams(tmp_path):
    shown = subprocess.run(
        [*gpg_home(tmp_path / "gnupg"), "--with-colons", "--show-keys"],
        input=AWS_CLI_KEY,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fingerprints = [line.split(":")[9] for line in shown.splitlines() if line.startswith("fpr:")]
    assert fingerprints[0] == AWS_CLI_KEY_FINGERPRINT
    assert "AWS CLI Team <aws-cli@amazon.com>" in shown


def fake_cli_tree(root: Path, record: Path) -> None:
    """The layout the AWS CLI v2 installer leaves (v2/current -> v2/<version>), with a recording stand-in binary."""
    dist = root / "v2" / "2.99.0" / "dist"
    dist.mkdir(parents=True)
    (root / "v2" / "current").symlink_to("2.99.0")
    (root / "bin").mkdir(exist_ok=True)
    binary = dist / "aws"
    # Only shell builtins: the test runs it with no PATH at all.
    binary.write_text(f'#!/bin/sh\necho "dist-aws LD_LIBRARY_PATH=$LD_LIBRARY_PATH args=$*" >> "{record}"\n')
    binary.chmod(0o755)
    (dist / "libpython3.so").write_text("")


def test_cli_wrapper_runs_with_posix_sh_alone_and_puts_its_own_libraries_first(tmp_path):
    root, record = tmp_path / "aws-cli", tmp_path / "calls"
    fake_cli_tree(root, record)
    wrapper = root / "bin" / "aws"
    wrapper.write_text(AWS_CLI_WRAPPER)
    wrapper.chmod(0o755)
    # dash, an empty environment (no PATH, so no bash and no external command), as in a busybox task image.
    result = subprocess.run(
        ["/bin/sh", str(wrapper), "s3", "cp", "a b", "c"],
        env={"LD_LIBRARY_PATH": "/image/lib"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    line = record.read_text().strip()
    assert line == (
        f"dist-aws LD_LIBRARY_PATH={root}/bin/../lib:{root}/bin/../v2/current/dist:/image/lib args=s3 cp a b c"
    )
    lint = subprocess.run(
        [tool("shellcheck"), "--shell=sh", "-"], input=AWS_CLI_WRAPPER, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout


def fake_command(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def gpg_home(directory: Path) -> list[str]:
    directory.mkdir(mode=0o700)
    return ["gpg", "--batch", "--quiet", "--homedir", str(directory), "--passphrase", "", "--pinentry-mode", "loopback"]


def gpg_agents_under(directory: Path) -> list[int]:
    """Live gpg-agent processes whose home lies under `directory` (a reaped or zombie process has no cmdline)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0") if proc.name.isdigit() else []
        except OSError:  # gone meanwhile
            continue
        if argv and os.path.basename(argv[0]) == b"gpg-agent" and str(directory).encode() in b" ".join(argv):
            pids.append(int(proc.name))
    return pids


def settled_agents_under(directory: Path, seconds: float = 5.0) -> list[int]:
    """The agents still alive once a `gpgconf --kill` has had time to land (the agent exits asynchronously)."""
    deadline = time.monotonic() + seconds
    while (pids := gpg_agents_under(directory)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


def kill_agents(directory: Path) -> None:
    """Stop the agent of every GnuPG home under `directory` (all are named gnupg), as the boot script does."""
    for home in [p for p in directory.rglob("gnupg") if p.is_dir()]:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)


@pytest.fixture(autouse=True)
def no_agent_outlives_its_test(tmp_path):
    # gpg starts an agent per home and leaves it running: whatever a test started, its teardown stops, and waits for.
    yield
    kill_agents(tmp_path)
    assert settled_agents_under(tmp_path) == []


def new_key(gpg: list[str], uid: str, *faked_time: str) -> str:
    subprocess.run(
        [*gpg, *faked_time, "--quick-gen-key", uid, "ed25519", "sign", "2d" if faked_time else "never"],
        check=True,
        capture_output=True,
    )
    listed = subprocess.run([*gpg, "--with-colons", "--list-keys", uid], check=True, capture_output=True, text=True)
    return next(line.split(":")[9] for line in listed.stdout.splitlines() if line.startswith("fpr:"))


@pytest.fixture(scope="module")
def signing(tmp_path_factory):
    """Real gpg, throwaway keys: one stands in for the AWS CLI team's (its public block as an old copy whose expiry
    date has passed, as the copy embedded in the program may be by now), one is an impostor."""
    directory = tmp_path_factory.mktemp("signing")
    gpg = gpg_home(directory / "gnupg")
    fingerprint = new_key(gpg, "Stand-in AWS CLI Team <cli@example.com>", "--faked-system-time", "20200101T000000")
    expired_copy = subprocess.run(
        [*gpg, "--armor", "--export", fingerprint], check=True, capture_output=True, text=True
    ).stdout
    subprocess.run([*gpg, "--quick-set-expire", fingerprint, "never"], check=True, capture_output=True)
    installer = directory / "awscliv2.zip"
    installer.write_bytes(b"the AWS CLI installer")
    signed = {}
    for name, key in (("good", fingerprint), ("impostor", new_key(gpg, "Impostor <bad@example.com>"))):
        signed[name] = directory / f"{name}.sig"
        subprocess.run(
            [*gpg, "--local-user", key, "--detach-sign", "--output", str(signed[name]), str(installer)],
            check=True,
            capture_output=True,
        )
    tampered = directory / "tampered.zip"
    tampered.write_bytes(b"the AWS CLI installer, changed")
    yield {
        "key": expired_copy.strip(),
        "fingerprint": fingerprint,
        "installer": installer,
        "tampered": tampered,
        **signed,
    }
    kill_agents(directory)
    assert settled_agents_under(directory) == []


def run_boot_script(
    tmp_path: Path,
    signing: dict,
    failing: str | None = None,
    signature: str = "good",
    installer: str = "installer",
    kill_agent: bool = True,
) -> tuple[int, Path, Path]:
    """Run the real boot script with /etc/ecs moved into tmp_path, system commands replaced by recorders, real gpg,
    and the stand-in signing key in place of the AWS CLI team's. Its mktemp work directory (and GnuPG home) lands in
    tmp_path too. `kill_agent=False` drops the script's own agent kill, to show what the check would catch."""
    bin_dir, etc, record = tmp_path / "bin", tmp_path / "etc-ecs", tmp_path / "calls"
    bin_dir.mkdir()
    # gpgconf stays the real one unless it is the command made to fail.
    for name in ("shutdown", "dnf", "unzip", "uname", *(["gpgconf"] if failing == "gpgconf" else [])):
        status = 1 if name == failing else 0
        fake_command(bin_dir, name, f'echo "{name} $*" >> "{record}"; exit {status}')
    # curl "downloads" the installer and its signature from the files the signing fixture made.
    fake_command(
        bin_dir,
        "curl",
        f"""out=""; url=""
while [ $# -gt 0 ]; do case "$1" in -o) out="$2"; shift 2 ;; *) url="$1"; shift ;; esac; done
echo "curl $url" >> "{record}"
[ "{failing}" = curl ] && exit 22
case "$url" in *.sig) cp "{signing[signature]}" "$out" ;; *) cp "{signing[installer]}" "$out" ;; esac""",
    )
    cli_root, host_lib = tmp_path / "aws-cli", tmp_path / "host-lib"
    host_lib.mkdir()
    (host_lib / "libz.so.1").write_text("zlib")
    script = provisioning_script(AGENT, CLI_VERSION).replace("/etc/ecs", str(etc))
    script = script.replace("cli_root=/opt/aws-cli", f"cli_root={cli_root}")
    script = script.replace(AWS_CLI_KEY.strip(), signing["key"]).replace(
        AWS_CLI_KEY_FINGERPRINT, signing["fingerprint"]
    )
    # The installer lands under the unzip target; stand in for it so the script's own steps run in order.
    script = script.replace('"$workdir/aws/install"', f'"{bin_dir}/installer"')
    if not kill_agent:
        script = script.replace("\ngpgconf --kill gpg-agent 2>/dev/null || true\n", "\n")
    # What the installer leaves behind, laid down up front so the script's own later steps have a tree to work on.
    fake_cli_tree(cli_root, record)
    fake_command(bin_dir, "installer", f'echo "installer $*" >> "{record}"')
    # ldd as on an Amazon Linux host: libz from the host, glibc that must stay the image's own.
    fake_command(
        bin_dir,
        "ldd",
        f'echo "$1:"; echo "  libz.so.1 => {host_lib}/libz.so.1 (0x1)"; '
        'echo "  libc.so.6 => /lib64/libc.so.6 (0x2)"; '
        'echo "  /lib64/ld-linux-x86-64.so.2 (0x3)"',
    )
    path = tmp_path / "boot.sh"
    path.write_text(script)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    result = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True)
    return result.returncode, etc / "ecs.config", record


def test_successful_boot_writes_ecs_config_and_does_not_shut_down(tmp_path, signing):
    status, ecs_config, record = run_boot_script(tmp_path, signing)
    assert status == 0, record.read_text()
    assert "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true" in ecs_config.read_text()
    calls = record.read_text()
    cli_root = tmp_path / "aws-cli"
    # The pinned release and its signature were fetched; the signature verified against an expired copy of the key.
    assert f"-{CLI_VERSION}.zip\n" in calls and f"-{CLI_VERSION}.zip.sig\n" in calls
    assert f"installer --install-dir {cli_root} --bin-dir {cli_root}/bin --update" in calls
    assert "shutdown" not in calls
    # The host's libz is bundled, glibc is not; bin/aws is the wrapper, and the boot's --version check ran it.
    assert sorted(p.name for p in (cli_root / "lib").iterdir()) == ["libz.so.1"]
    assert (cli_root / "bin" / "aws").read_text() == AWS_CLI_WRAPPER
    assert f"dist-aws LD_LIBRARY_PATH={cli_root}/bin/../lib:" in calls and "args=--version" in calls


@pytest.mark.parametrize(
    ("failing", "signature", "installer"),
    [
        ("curl", "good", "installer"),
        ("dnf", "good", "installer"),
        ("unzip", "good", "installer"),
        (None, "impostor", "installer"),  # signed, but not by the pinned key
        (None, "good", "tampered"),  # the download does not match its signature
    ],
)
def test_failed_provisioning_shuts_the_instance_down(tmp_path, signing, failing, signature, installer):
    status, _, record = run_boot_script(tmp_path, signing, failing, signature, installer)
    assert status != 0
    calls = record.read_text().splitlines()
    assert calls[-1] == "shutdown -h now"
    assert not any(c.startswith("installer") for c in calls)


def test_a_rejected_signature_leaves_no_gpg_agent_running(tmp_path, signing):
    # gpg starts an agent per home and leaves it running; `gpgconf --kill gpg-agent` with the same GNUPGHOME stops it
    # (GnuPG manual, gpgconf --kill). Stopped before the verdict, so a rejected signature, whose GnuPG home stays,
    # leaves none. (After a good one the home is removed and the agent goes with it, kill or not: no test there.)
    status, _, record = run_boot_script(tmp_path, signing, signature="impostor")
    assert status != 0 and record.read_text().splitlines()[-1] == "shutdown -h now"
    assert settled_agents_under(tmp_path) == []


def test_a_failing_agent_cleanup_does_not_fail_the_boot(tmp_path, signing):
    # The kill is cleanup under `set -e` and an ERR trap that powers off: a gpgconf that fails (or is missing) must
    # not shut down an instance whose CLI verified and installed.
    status, _, record = run_boot_script(tmp_path, signing, failing="gpgconf")
    calls = record.read_text().splitlines()
    assert status == 0, calls
    assert "gpgconf --kill gpg-agent" in calls and "shutdown -h now" not in calls
    assert any(c.startswith("installer --install-dir") for c in calls)


def test_without_the_kill_a_rejected_signature_would_leave_an_agent_running(tmp_path, signing):
    # The control for the test above. (A successful boot removes the GnuPG home, and gpg-agent exits when its home
    # goes; a failed one keeps it.) Teardown stops the agent this leaves.
    status, _, record = run_boot_script(tmp_path, signing, signature="impostor", kill_agent=False)
    assert status != 0 and record.read_text().splitlines()[-1] == "shutdown -h now"
    assert len(gpg_agents_under(tmp_path)) == 1


# --- the NVMe scratch boothook, run against a stand-in instance ------------------------------------------------------

# The only host tools the boothook may use as they are; every other command is a recording stand-in, so one it should
# not call (mdadm before its install, say) fails with "command not found" and the script fails closed.
HOST_TOOLS = ("tr", "sed", "grep", "mkdir", "touch", "cat", "chmod")


@dataclass
class NvmeInstance:
    """An instance with `disks` NVMe instance-store devices beside its EBS root, whose state (installed packages,
    fstab, a file system's label) lasts from one boot() to the next, as on a reboot; mounts do not."""

    root: Path
    disks: int
    docker: str = "inactive"  # what `systemctl is-active docker` prints
    label_on: str | None = None  # the device blkid finds the scratch label on (None: no such file system yet)
    premounted: bool = False  # systemd has mounted the scratch from fstab before the boothook runs
    # what `mount` does: "mounted"; "raced": systemd mounted it from fstab first, so mount finds it there and exits 32;
    # "refused": exits 32 with nothing mounted
    mount: str = "mounted"
    region: str | None = "eu-west-2"  # what the instance metadata service answers (None: no answer)
    failing: str | None = None
    calls: list[str] = field(default_factory=list)

    def __post_init__(self):
        for name in ("sys", "dev", "bin", "tools"):
            (self.root / name).mkdir()
        disks = {"nvme0n1": "Amazon Elastic Block Store"} | {
            f"nvme{i}n1": INSTANCE_STORE_MODEL for i in range(1, self.disks + 1)
        }
        for name, model in disks.items():
            (self.root / "sys" / name / "device").mkdir(parents=True)
            (self.root / "sys" / name / "device" / "model").write_text(model.ljust(40) + "\n")  # sysfs pads
            (self.root / "dev" / name).write_text("")
        for tool_name in HOST_TOOLS:
            (self.root / "tools" / tool_name).symlink_to(shutil.which(tool_name))
        self.fstab.write_text("UUID=0a1b / xfs defaults,noatime 1 1\n")
        # As the AMI ships it: the region of the instance it was built on (aws/amazon-ecs-ami scripts/cleanup.sh
        # removes no dnf variable).
        self.dnf_vars.mkdir()
        (self.dnf_vars / "awsregion").write_text("us-west-2\n")

    @property
    def fstab(self) -> Path:
        return self.root / "fstab"

    @property
    def dnf_vars(self) -> Path:
        return self.root / "dnf-vars"

    def fake(self, name: str, body: str = "") -> None:
        status = 1 if name == self.failing else 0
        fake_command(self.root / "bin", name, f'echo "{name} $*" >> "{self.root}/calls"\n{body}\nexit {status}')

    def write_fakes(self, mounted: Path) -> None:
        bin_dir = self.root / "bin"
        for name in ("shutdown", "mkfs.xfs"):
            self.fake(name)
        self.fake(
            "mount",
            {"mounted": f'touch "{mounted}"', "raced": f'touch "{mounted}"; exit 32', "refused": "exit 32"}[self.mount],
        )
        fake_command(bin_dir, "mountpoint", f'[ -e "{mounted}" ]')
        fake_command(bin_dir, "rpm", f'[ -x "{bin_dir}/mdadm" ]')  # rpm -q --quiet: 0 when installed
        self.fake("udevadm")
        self.write_imds()
        # dnf records the region its repository URLs would name (the variable file, read as dnf reads it), and
        # "installs" mdadm by putting a recording stand-in on PATH.
        mdadm = f'#!/bin/bash\\necho "mdadm $*" >> "{self.root}/calls"\\n'
        install = f'case "$*" in *mdadm*) printf \'{mdadm}\' > "{bin_dir}/mdadm"; chmod 755 "{bin_dir}/mdadm" ;; esac'
        saw = f'echo "dnf repositories of awsregion=$(cat "{self.dnf_vars}/awsregion")" >> "{self.root}/calls"'
        self.fake("dnf", saw + ("" if self.failing == "dnf" else f"\n{install}"))
        self.fake("blkid", f'echo "{self.root}/dev/{self.label_on}"' if self.label_on else "exit 2")
        active = 0 if self.docker == "active" else 3
        self.fake("systemctl", f'[ "$1" = is-active ] && echo {self.docker} && exit {active}')

    def write_imds(self) -> None:
        """curl as the instance metadata service answers it (IMDSv2: a session token from a PUT, then GETs that carry
        it), and nothing else: the boothook reaches no other address."""
        fake_command(
            self.root / "bin",
            "curl",
            f"""echo "curl $*" >> "{self.root}/calls"
method=GET; token=""; url=""
while [ $# -gt 0 ]; do case "$1" in
  -X) method="$2"; shift 2 ;;
  -H) case "$2" in "X-aws-ec2-metadata-token: "*) token="${{2#*: }}" ;; esac; shift 2 ;;
  --retry|--connect-timeout|--max-time) shift 2 ;;
  -*) shift ;;
  *) url="$1"; shift ;;
esac; done
case "$method $url" in
  "PUT {IMDS}/api/token") echo -n imds-token ;;
  "GET {IMDS}/meta-data/placement/region")
    [ "$token" = imds-token ] || exit 22
    {"exit 22" if self.region is None else f"echo -n '{self.region}'"} ;;
  *) exit 7 ;;
esac""",
        )

    def script(self) -> str:
        """The real boothook with its paths moved into the stand-in; the fstab entry stays as an instance gets it."""
        text = nvme_scratch_script().replace(SCRATCH_FSTAB_ENTRY, "@ENTRY@")
        text = text.replace(DNF_VARS_DIR, str(self.dnf_vars)).replace("/sys/block", str(self.root / "sys"))
        text = text.replace("/dev/", f"{self.root}/dev/").replace(DOCKER_DATA, str(self.root / "docker"))
        return text.replace(FSTAB, str(self.fstab)).replace("@ENTRY@", SCRATCH_FSTAB_ENTRY)

    def boot(self) -> int:
        """Run the real boothook once; `calls` holds what it ran, in order."""
        mounted = self.root / "mounted"  # mounts do not outlive a boot, unless fstab's came first
        mounted.unlink(missing_ok=True)
        if self.premounted:
            mounted.touch()
        (self.root / "calls").write_text("")
        self.write_fakes(mounted)
        result = subprocess.run(
            [shutil.which("bash"), "-c", self.script()],
            capture_output=True,
            text=True,
            env={"PATH": f"{self.root}/bin:{self.root}/tools"},
        )
        self.calls = (self.root / "calls").read_text().splitlines()
        return result.returncode

    def index(self, prefix: str) -> int:
        return next(i for i, call in enumerate(self.calls) if call.startswith(prefix))


@pytest.mark.parametrize("disks", [1, 2])
def test_mdadm_is_installed_on_every_nvme_instance_before_anything_uses_it(tmp_path, disks):
    # The ECS AL2023 AMI is built from AL2023 minimal and installs no mdadm (aws/amazon-ecs-ami al2023.pkr.hcl).
    instance = NvmeInstance(tmp_path, disks)
    assert instance.boot() == 0, instance.calls
    assert "dnf install -y -q mdadm" in instance.calls
    if disks == 2:
        assert instance.index("dnf install") < instance.index(
            f"mdadm --create {tmp_path}/dev/md0 --run --level=0 --raid-devices=2 {tmp_path}/dev/nvme1n1 "
        )
    target = f"{tmp_path}/dev/" + ("md0" if disks == 2 else "nvme1n1")
    # A 32 KiB log stripe unit, as the EKS AMI formats its array (awslabs/amazon-eks-ami setup-local-disks).
    assert f"mkfs.xfs -f -q -L nf-scratch -l su=8b {target}" in instance.calls
    assert f"mount -o noatime {target} {tmp_path}/docker" in instance.calls
    assert "shutdown -h now" not in instance.calls


def test_dnf_reaches_the_repositories_of_the_region_the_metadata_service_names(tmp_path):
    # AL2023's repositories are named by dnf's $awsregion; cloud-init's write-metadata module sets it only after the
    # boothooks have run (cloud-init cloudinit/cmd/main.py main_init: consume_data, then the init modules), so the
    # AMI's build region is still there. DNF_VAR_awsregion would not do: the variable files override the environment
    # (dnf doc/conf_ref.rst "Variables"; dnf/cli/cli.py calls update_from_etc after reading the environment).
    instance = NvmeInstance(tmp_path, 2, region="ap-southeast-2")
    assert instance.boot() == 0, instance.calls
    assert "dnf repositories of awsregion=ap-southeast-2" in instance.calls
    assert (instance.dnf_vars / "awsregion").read_text() == "ap-southeast-2\n"
    # IMDSv2: a session token first, then the region with it (the template sets httpTokens=required).
    token = instance.index(
        f"curl --fail --silent --show-error --retry 5 --retry-all-errors --retry-connrefused "
        f"--connect-timeout 2 --max-time 10 -X PUT -H X-aws-ec2-metadata-token-ttl-seconds: 300 "
        f"{IMDS}/api/token"
    )
    [region] = [i for i, call in enumerate(instance.calls) if call.endswith(f"{IMDS}/meta-data/placement/region")]
    assert instance.index("curl ") == token < region < instance.index("dnf install")


@pytest.mark.parametrize("answer", [None, "", "<html>404 - Not Found</html>"])
def test_no_region_from_the_metadata_service_fails_closed_before_dnf(tmp_path, answer):
    instance = NvmeInstance(tmp_path, 1, region=answer)
    assert instance.boot() != 0
    assert instance.calls[-1] == "shutdown -h now"
    assert not any(call.startswith("dnf") for call in instance.calls)
    assert (instance.dnf_vars / "awsregion").read_text() == "us-west-2\n"


def test_an_mdadm_that_cannot_be_installed_fails_closed(tmp_path):
    instance = NvmeInstance(tmp_path, 2, failing="dnf")
    assert instance.boot() != 0
    assert instance.calls[-1] == "shutdown -h now"
    assert not any(call.startswith(("mdadm", "mkfs", "mount")) for call in instance.calls)


def test_a_reboot_mounts_the_array_back_as_md127_without_formatting_it(tmp_path):
    # cloud-init runs boothooks on every boot (cloud-init handlers/boot_hook.py: PER_ALWAYS); instance storage keeps
    # its data over a reboot, and mdadm's udev rules reassemble the array, unnamed by any mdadm.conf, as md127.
    instance = NvmeInstance(tmp_path, 2)
    assert instance.boot() == 0, instance.calls
    instance.label_on = "md127"
    assert instance.boot() == 0, instance.calls
    # mdadm is installed: no package source, no metadata service, no format.
    assert not any(call.startswith(("dnf", "curl", "mdadm", "mkfs")) for call in instance.calls)
    assert f"mount -o noatime {tmp_path}/dev/md127 {tmp_path}/docker" in instance.calls
    # The mount is recorded once, however many boots; the root file system's line stays.
    assert instance.fstab.read_text().splitlines() == ["UUID=0a1b / xfs defaults,noatime 1 1", SCRATCH_FSTAB_ENTRY]


def test_a_reboot_where_fstab_already_mounted_the_scratch_touches_nothing(tmp_path):
    instance = NvmeInstance(tmp_path, 2)
    assert instance.boot() == 0, instance.calls
    instance.premounted = True
    assert instance.boot() == 0
    assert instance.calls == []


@pytest.mark.parametrize(
    ("state", "stopped"),
    [("active", True), ("activating", True), ("reloading", True), ("inactive", False), ("failed", False)],
)
def test_a_docker_that_is_up_or_still_starting_is_stopped_for_the_mount(tmp_path, state, stopped):
    # `systemctl is-active` exits non-zero for every state but "active", "activating" included (systemctl(1)).
    instance = NvmeInstance(tmp_path, 1, docker=state)
    assert instance.boot() == 0, instance.calls
    mount = instance.index("mount ")
    if stopped:
        # Started again without waiting: docker.service is ordered after network-online.target (moby
        # contrib/init/systemd/docker.service), and that waits for the cloud-init stage this boothook runs in
        # (cloud-init systemd/cloud-init.service.tmpl: Before=network-online.target); moby/moby#41767.
        start = instance.index("systemctl start --no-block docker")
        assert instance.index("systemctl stop docker docker.socket") < mount < start
        assert "systemctl start docker" not in instance.calls
    else:
        assert not any(call.startswith(("systemctl stop", "systemctl start")) for call in instance.calls)


def test_udev_settles_on_the_new_label_before_the_mount(tmp_path):
    instance = NvmeInstance(tmp_path, 2)
    assert instance.boot() == 0, instance.calls
    assert instance.index("mkfs.xfs") < instance.index("udevadm settle") < instance.index("mount ")
    # Only a wait: a settle that times out leaves the mount to go ahead.
    (tmp_path / "timeout").mkdir()
    instance = NvmeInstance(tmp_path / "timeout", 2, failing="udevadm")
    assert instance.boot() == 0, instance.calls
    assert "shutdown -h now" not in instance.calls


def test_a_mount_systemd_made_first_counts_and_a_failed_mount_still_fails_closed(tmp_path):
    # After a stop and start, the fstab entry of the earlier boot waits for the label: systemd may mount the new file
    # system between mkfs and the boothook's mount, which then exits 32 (mount(8): already mounted).
    raced = NvmeInstance(tmp_path, 2, mount="raced")
    assert raced.boot() == 0, raced.calls
    assert "shutdown -h now" not in raced.calls
    assert raced.fstab.read_text().splitlines()[-1] == SCRATCH_FSTAB_ENTRY
    (tmp_path / "refused").mkdir()
    refused = NvmeInstance(tmp_path / "refused", 2, mount="refused")
    assert refused.boot() != 0
    assert refused.calls[-1] == "shutdown -h now"


# Debian's systemd package (tasks.py installs it where a machine lacks it); AL2023 boots systemd 252 too.
FSTAB_GENERATOR = Path("/usr/lib/systemd/system-generators/systemd-fstab-generator")


def test_the_fstab_entry_mounts_the_scratch_by_label_before_docker_without_holding_up_the_boot(tmp_path):
    assert FSTAB_GENERATOR.exists(), "the test needs systemd's fstab generator: apt-get install systemd"
    instance = NvmeInstance(tmp_path, 1)
    assert instance.boot() == 0, instance.calls
    # systemd's own generator turns what the boothook wrote into the unit a reboot runs (systemd-fstab-generator(8);
    # SYSTEMD_FSTAB points it at another file).
    out = tmp_path / "units"
    out.mkdir()
    env = {"SYSTEMD_FSTAB": str(instance.fstab), "SYSTEMD_PROC_CMDLINE": "", "SYSTEMD_IN_INITRD": "0"}
    subprocess.run([str(FSTAB_GENERATOR), str(out), str(out), str(out)], env=env, check=True, capture_output=True)
    unit = (out / "var-lib-docker.mount").read_text()
    assert "What=/dev/disk/by-label/nf-scratch\n" in unit and "Type=xfs\n" in unit
    assert "Before=docker.service\n" in unit  # so Docker never starts on the bare root directory beneath
    # nofail: wanted, not required, by local-fs.target and not ordered before it, so an emptied disk does not stall
    # the boot (systemd.mount(5), nofail).
    assert (out / "local-fs.target.wants" / "var-lib-docker.mount").exists()
    assert not (out / "local-fs.target.requires" / "var-lib-docker.mount").exists()
    assert "local-fs.target" not in unit


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
    assert root["ebs"] == {
        "volumeType": "gp3",
        "volumeSize": 1000,
        "iops": 16000,
        "throughput": 1000,
        "encrypted": "true",
        "deleteOnTermination": "true",
    }
    assert template.inputs["instanceInitiatedShutdownBehavior"] == "terminate"
    assert "keyName" not in template.inputs
    specs = {s["resourceType"]: s["tags"] for s in template.inputs["tagSpecifications"]}
    assert specs["instance"] == tags and specs["volume"] == tags
    decoded = base64.b64decode(template.inputs["userData"]).decode()
    assert decoded == render_user_data(AGENT, CLI_VERSION)
    assert resolve(lt.latest_version) == template.outputs["latestVersion"]
    assert resolve(lt.id) == template.outputs["id"]
    assert template.parent == mocks.named("lt").urn


def test_a_configured_key_pair_is_passed_through():
    mocks, _ = build(key_name="ops-key")
    assert mocks.named("lt-template").inputs["keyName"] == "ops-key"
