"""`nfbatch plan --base REF`: what a change does to a stack, as the plan of the stack at git ref REF (its code and
its stack file) against the plan of the working tree, compared by the same rules as `--diff`.

The tree at REF is unpacked with `git archive` into a temporary directory (read-only on the repository: no worktree
to prune) and planned in a fresh Python process with that tree first on its path, so its own modules run, never the
working tree's (both define `components`, `settings`, `facts`). The directory is removed when the plan returns,
fails or is interrupted with Ctrl-C; a process killed outright (SIGKILL, or SIGTERM, for which nothing installs a
handler) leaves it behind as `nfbatch-base-*` in the temporary directory ($TMPDIR, else /tmp), safe to delete.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nfbatch.errors import NfbatchError

GIT_TIMEOUT_SECONDS = 120
# A plan takes seconds (bench/plan_benchmark.py: under 3 s for 50 teams); this only stops a hung one.
PLAN_TIMEOUT_SECONDS = 600
FETCH_FIX = (
    "name a branch, tag or commit of this repository (`git log --oneline`); in CI fetch it first, e.g. "
    "`git fetch origin main` (actions/checkout fetches one commit unless fetch-depth is 0)"
)


@dataclass(frozen=True)
class Checkout:
    """Where the project lives in its repository, and the commit a ref names."""

    top: Path  # the repository's top directory
    prefix: str  # the project directory's path below it ("" at the top)
    ref: str
    commit: str


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS, check=False
    )


def resolve(directory: Path, ref: str) -> Checkout:
    """The commit `ref` names in the repository holding `directory`; a clear error (exit 2) when there is no git,
    no repository or no such commit."""
    if not ref or ref.startswith("-"):
        raise NfbatchError(f"--base {ref!r}: not a git ref (a ref never starts with '-')", FETCH_FIX)
    if shutil.which("git") is None:
        raise NfbatchError(
            f"--base {ref}: git is not on PATH", "install git, or compare two stack files with --diff OTHER_STACK"
        )
    where = _git(directory, "rev-parse", "--show-toplevel", "--show-prefix")
    if where.returncode != 0:
        raise NfbatchError(
            f"--base {ref}: {directory} is not in a git repository ({where.stderr.strip()})",
            "run nfbatch plan in a clone of the project, or name one with --project-dir",
        )
    top, prefix = ([*where.stdout.splitlines(), ""])[:2]
    commit = _git(directory, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        raise NfbatchError(f"--base {ref}: no such commit in {top}", FETCH_FIX)
    return Checkout(Path(top), prefix.rstrip("/"), ref, commit.stdout.strip())


def unpack(checkout: Checkout, into: Path) -> Path:
    """The tree of the checkout's commit, unpacked under `into`; returns the project directory in it."""
    with subprocess.Popen(
        ["git", "-C", str(checkout.top), "archive", "--format=tar", checkout.commit],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as archive:
        assert archive.stdout is not None  # Popen with stdout=PIPE always has one
        with tarfile.open(fileobj=archive.stdout, mode="r|") as tar:
            # The data filter refuses links and paths out of `into` (Python's tarfile "Extraction filters", 3.11.4+);
            # older 3.11 releases lack it, and the archive is the user's own repository.
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, filter="data")
            else:  # pragma: no cover - Python 3.11.0 to 3.11.3
                tar.extractall(into)  # noqa: S202
        error = archive.stderr.read().decode() if archive.stderr else ""
    if archive.returncode != 0:
        raise NfbatchError(f"--base {checkout.ref}: git archive {checkout.commit} failed: {error.strip()}")
    return into / checkout.prefix


def plan_tree(project: Path, stack: str, ref: str) -> dict:
    """The JSON plan of `stack` by the code of the tree at `project`, in a fresh Python process with that tree alone
    ahead of the installed packages (PYTHONPATH and the working directory both name it)."""
    if not (project / "nfbatch" / "plan.py").is_file():  # else the installed nfbatch would plan the old tree
        raise NfbatchError(
            f"the tree at {ref} has no nfbatch/plan.py to plan itself with",
            "pick a later base, or compare stack files with --diff",
        )
    env = {**os.environ, "PYTHONPATH": str(project), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "nfbatch", "plan", "--stack", stack, "--format", "json"]
    try:
        result = subprocess.run(
            [*command, "--project-dir", str(project)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=PLAN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise NfbatchError(f"the plan of {stack} at {ref} took over {PLAN_TIMEOUT_SECONDS} s") from None
    if result.returncode == 0:
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError:
            pass
    said = " ".join(line.strip() for line in result.stderr.strip().splitlines()[-6:]) or "no message"
    raise NfbatchError(
        f"the plan of stack {stack} at {ref} failed (exit {result.returncode}): {said}",
        f"plan that commit alone to see why: git worktree add --detach /tmp/base {ref}, then nfbatch plan "
        f"--stack {stack} --project-dir /tmp/base",
    )


def new_stack_plan(stack: str, region: str) -> dict:
    """The plan of a stack that does not exist yet: nothing declared, nothing spent."""
    return {
        "stack": stack,
        "region": region,
        "notes": [],
        "config": {},
        "costs": {"idleMonthlyTotal": 0.0, "perInstanceHourTotal": 0.0},
        "resources": [],
        "iamPolicies": [],
        "userData": {},
        "nextflowConfig": None,
        "outputs": {},
    }


def compare_with_base(stack: str, directory: Path, ref: str) -> tuple[dict, str, str]:
    """What the working tree's change does to `stack` against `ref`: the comparison (`plan.compare`, with the
    stack and the base), its title and the command that prints it whole. A stack file absent at `ref` is a new
    stack: everything is created."""
    from nfbatch import plan

    checkout = resolve(directory, ref)  # a bad ref fails before anything is planned
    after = plan.build_plan(stack, directory)
    with tempfile.TemporaryDirectory(prefix="nfbatch-base-") as temporary:
        project = unpack(checkout, Path(temporary))
        found = (project / f"Pulumi.{stack}.yaml").is_file()
        before = plan_tree(project, stack, ref) if found else new_stack_plan(stack, after["region"])
    short = checkout.commit[:12]
    report = {
        "stack": stack,
        "base": {"ref": ref, "commit": checkout.commit, "stackFileAtBase": found},
        **plan.compare(before, after, labels=(f"{stack}@{ref}", stack)),
    }
    title = f"`{stack}` at `{ref}` ({short}) → working tree"
    if not found:
        title += f"; a new stack: `Pulumi.{stack}.yaml` is not at `{ref}`"
    return report, title, f"`nfbatch plan --stack {stack} --base {ref}`"
