#!/usr/bin/env python3
"""The project's two entry points for a fresh clone, and the lock refresh: each builds ./venv from the lock when it is
missing or stale, then runs. Standard library only, so a machine with just Python 3.11, pip and git can start here.

    python3 tasks.py plan [ARGS]   the offline plan of the dev stack (`nfbatch plan --stack dev`), or ARGS for nfbatch
    python3 tasks.py test [ARGS]   the type checker over the non-test code, then the whole test suite (pytest ARGS)
    python3 tasks.py lock [ARGS]   re-resolve the ranges into the hashed requirements-dev.lock, requirements.txt (the
                                   runtime's pins) and .pulumi.version; ARGS go to uv (--upgrade-package pulumi-aws)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / "venv"
LOCK = ROOT / "requirements-dev.lock"
# The runtime's ranges, and their lock: requirements.txt, generated from requirements-dev.lock by `lock` below.
RUNTIME_IN = "requirements-runtime.in"
RUNTIME_LOCK = ROOT / "requirements.txt"
# The Pulumi CLI version the workflows install (pulumi/actions' pulumi-version-file input), written by `lock`.
PULUMI_VERSION_FILE = ROOT / ".pulumi.version"
# The venv is rebuilt when what it installs changes: the pinned packages, the Python, and the project's own install
# metadata (pyproject's [project] and [tool.setuptools]; tool settings such as mypy's do not count).
STAMP = VENV / ".tasks-stamp"


def _python() -> Path:
    return VENV / "bin" / "python"


def _stamp() -> str:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    install = {"project": pyproject.get("project"), "setuptools": pyproject.get("tool", {}).get("setuptools")}
    digest = hashlib.sha256(sys.version.encode())
    digest.update(LOCK.read_bytes())
    digest.update(json.dumps(install, sort_keys=True).encode())
    return digest.hexdigest()


def _run(*command: str | Path) -> None:
    subprocess.run([str(c) for c in command], cwd=ROOT, check=True)


def ensure_venv() -> None:
    """venv/ installed from the lock (every package pinned and hash-checked), then the project itself, editable."""
    if STAMP.is_file() and STAMP.read_text() == _stamp() and _python().exists():
        return
    print(f"tasks.py: building {VENV.name}/ from {LOCK.name}", file=sys.stderr)
    _run(sys.executable, "-m", "venv", "--clear", VENV)
    pip = (_python(), "-m", "pip", "--quiet", "--disable-pip-version-check")
    _run(*pip, "install", "--require-hashes", "--no-deps", "-r", LOCK)
    _run(*pip, "install", "--no-deps", "--no-build-isolation", "--editable", ROOT)
    STAMP.write_text(_stamp())


# What the tests run besides Python, and the Debian package that brings each: a real gpg checks the boot script's
# signature check, and systemd's fstab generator reads the fstab entry the NVMe boothook writes.
SYSTEM_TOOLS = {"gpg": "gnupg", "/usr/lib/systemd/system-generators/systemd-fstab-generator": "systemd"}


def ensure_system_tools() -> None:
    missing = sorted(
        {
            package
            for tool, package in SYSTEM_TOOLS.items()
            if not (Path(tool).exists() if tool.startswith("/") else shutil.which(tool))
        }
    )
    if not missing:
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        _run("apt-get", "update", "-qq")
        _run("apt-get", "install", "-y", "-qq", *missing)
        return
    sys.exit(f"tasks.py: the tests need these system packages: {' '.join(missing)} (install them, then rerun)")


def _compile(uv: Path, source: str, output: Path, *options: str | Path) -> None:
    """One `uv pip compile`: every platform (--universal), for the Python the project runs on, with hashes."""
    universal = ("--universal", "--python-version", "3.11", "--generate-hashes")
    _run(uv, "pip", "compile", "--quiet", *universal, *options, "--output-file", output, source)


def locked_version(lock: Path, package: str) -> str:
    """The version a lock pins `package` to (`pulumi==3.272.0 \\` lines)."""
    for line in lock.read_text().splitlines():
        name, _, rest = line.partition("==")
        if name.strip().lower() == package and rest:
            return rest.split()[0].split(";")[0]
    raise SystemExit(f"tasks.py: {lock.name} pins no {package}")


def lock(options: list[str] | None = None) -> None:
    """Resolve requirements-dev.txt (the tools, and the runtime through requirements-runtime.in) into the hashed
    requirements-dev.lock; then the runtime alone into requirements.txt, held to the same pins (the file Pulumi's pip
    toolchain installs, and the deploys); then .pulumi.version, the Pulumi CLI the workflows install: the lock's
    pulumi SDK version, as CLI and SDK are released together (pulumi/pulumi scripts/set-version.py writes one version
    to sdk/.version and sdk/python/lib/pulumi/_version.py). `options` go to the first resolution, e.g.
    `--upgrade-package pulumi-aws`: uv otherwise keeps every pin the lock already has."""
    ensure_venv()
    _run(_python(), "-m", "pip", "install", "--quiet", "uv")
    uv = VENV / "bin" / "uv"
    _compile(uv, "requirements-dev.txt", LOCK, "--no-header", *(options or []))
    _compile(uv, RUNTIME_IN, RUNTIME_LOCK, "--constraint", LOCK, "--custom-compile-command", "python3 tasks.py lock")
    PULUMI_VERSION_FILE.write_text(locked_version(RUNTIME_LOCK, "pulumi") + "\n")
    ensure_venv()


def pytest_command(args: list[str], cpus: int | None, basetemp: str) -> list[str]:
    """The whole suite runs on every core (pytest-xdist, at most 4 workers); arguments of one's own run as given.
    Workers share a short --basetemp: gpg-agent's socket must fit a Unix socket path (108 bytes, unix(7)), and
    xdist's own temporary paths are longer than that for the boot script's GnuPG home."""
    if args or not cpus or cpus < 2:
        return [str(_python()), "-m", "pytest", *args]
    return [str(_python()), "-m", "pytest", "-n", str(min(cpus, 4)), f"--basetemp={basetemp}"]


def run_tests(args: list[str]) -> int:
    scratch = tempfile.mkdtemp(prefix="gbt-")
    try:
        return subprocess.call(pytest_command(args, os.cpu_count(), f"{scratch}/t"), cwd=ROOT)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str]) -> int:
    verb, args = (argv[0], argv[1:]) if argv else ("", [])
    if verb == "plan":
        ensure_venv()
        return subprocess.call([_python(), "-m", "nfbatch", "plan", *(args or ["--stack", "dev"])], cwd=ROOT)
    if verb == "test":
        ensure_venv()
        ensure_system_tools()
        # mypy reads its files and settings from pyproject.toml; pytest then runs everything else, linters included.
        return subprocess.call([_python(), "-m", "mypy"], cwd=ROOT) or run_tests(args)
    if verb == "lock":
        lock(args)
        return 0
    print(__doc__.split("\n\n", 1)[1].rstrip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
