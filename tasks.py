#!/usr/bin/env python3
"""The project's two entry points for a fresh clone, and the lock refresh: each builds ./venv from the lock when it is
missing or stale, then runs. Standard library only, so a machine with just Python 3.11, pip and git can start here.

    python3 tasks.py plan [ARGS]   the offline plan of the dev stack (`nfbatch plan --stack dev`), or ARGS for nfbatch
    python3 tasks.py test [ARGS]   the type checker over the non-test code, then the whole test suite (pytest ARGS)
    python3 tasks.py lock          re-resolve requirements*.txt into the hashed requirements-dev.lock
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / "venv"
LOCK = ROOT / "requirements-dev.lock"
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


def lock() -> None:
    """Resolve requirements-dev.txt (which includes requirements.txt) for every platform, with hashes."""
    ensure_venv()
    _run(_python(), "-m", "pip", "install", "--quiet", "uv")
    _run(
        VENV / "bin" / "uv",
        "pip",
        "compile",
        "--quiet",
        "--universal",
        "--python-version",
        "3.11",
        "--generate-hashes",
        "--no-header",
        "--output-file",
        LOCK,
        "requirements-dev.txt",
    )
    ensure_venv()


def main(argv: list[str]) -> int:
    verb, args = (argv[0], argv[1:]) if argv else ("", [])
    if verb == "plan":
        ensure_venv()
        return subprocess.call([_python(), "-m", "nfbatch", "plan", *(args or ["--stack", "dev"])], cwd=ROOT)
    if verb == "test":
        ensure_venv()
        ensure_system_tools()
        # mypy reads its files and settings from pyproject.toml; pytest then runs everything else, linters included.
        return subprocess.call([_python(), "-m", "mypy"], cwd=ROOT) or subprocess.call(
            [_python(), "-m", "pytest", *args], cwd=ROOT
        )
    if verb == "lock":
        lock()
        return 0
    print(__doc__.split("\n\n", 1)[1].rstrip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
