"""The pull-request guard: fails when a protected stack would lose data, i.e. when the plan of a change (the JSON of
`nfbatch plan --stack S --base REF --format json`) replaces or deletes its bucket, head logs or image repository.

    python -m nfbatch.guardrails [--base REF] [--allow] [--project-dir DIR] PLAN.json...

Prints the verdict as markdown; exits 0 (nothing lost, or `--allow`), 1 (a protected stack would lose data) or 2
(bad input: a plan not in the shape below, a bad ref). The plan JSON it reads:

    {"stack": "prod",                         the stack planned: Pulumi.prod.yaml
     "changes": [{"action": "create" | "update" | "replace" | "delete",
                  "type": "aws:s3/bucket:Bucket", "name": "work-bucket",
                  "because": ["bucket"],         optional: the inputs that force a replacement
                  "loses": "..." | null}]}       optional: what the replacement or deletion loses
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from facts import update_rules
from nfbatch.errors import NfbatchError

# The label that lets a pull request replace or delete a protected stack's data, after a reviewer has read why.
ALLOW_LABEL = "allow-data-replacement"
# What no `pulumi up` brings back once replaced or deleted: the bucket's objects, the head logs, the pushed images.
# The other entries of facts.update_rules.HOLDS_DATA_OR_WORK (compute environments, queues, the VPC, subnets) hold
# running work: the plan lists their replacements first, but they come back whole, so they do not fail the check.
DATA_TYPES = ("aws:s3/bucket:Bucket", "aws:cloudwatch/logGroup:LogGroup", "aws:ecr/repository:Repository")
ACTIONS = ("create", "update", "replace", "delete")
LOSING = ("replace", "delete")
STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
PLAN_COMMAND = "nfbatch plan --stack S --base REF --format json"


@dataclass
class Verdict:
    stack: str
    protected: bool
    losses: list[dict] = field(default_factory=list)  # the changes that lose data
    removed: bool = False  # the stack file exists at the base and not in the change

    @property
    def fails(self) -> bool:
        return self.protected and (bool(self.losses) or self.removed)


def load_plan(text: str, source: str) -> dict:
    """A --base plan's JSON, checked against the shape above: a guard that misread its input would pass silently."""
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as error:
        raise NfbatchError(f"{source}: not JSON ({error})", f"write it with {PLAN_COMMAND}") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("changes"), list):
        raise NfbatchError(f"{source}: no `changes` list", f"write it with {PLAN_COMMAND}")
    if not isinstance(plan.get("stack"), str) or not STACK_NAME.fullmatch(plan["stack"]):
        raise NfbatchError(f"{source}: `stack` = {plan.get('stack')!r}: must name the stack file planned")
    for i, change in enumerate(plan["changes"]):
        if not isinstance(change, dict) or change.get("action") not in ACTIONS:
            got = change.get("action") if isinstance(change, dict) else change
            raise NfbatchError(f"{source}: changes[{i}].action = {got!r}: must be one of {', '.join(ACTIONS)}")
        for key in ("type", "name"):
            if not isinstance(change.get(key), str):
                raise NfbatchError(f"{source}: changes[{i}].{key} = {change.get(key)!r}: must be a string")
    return plan


def data_losses(plan: dict) -> list[dict]:
    """The changes that replace or delete a resource holding data."""
    return [c for c in plan["changes"] if c["action"] in LOSING and c["type"] in DATA_TYPES]


def is_protected(stack_file: Path, stack: str) -> bool:
    """bucket.protect as the program reads it (the settings model's default when unset); a file the settings
    cannot read, or an encrypted bucket setting, counts as protected: the guard fails closed."""
    from nfbatch.mockrun import read_engine_config
    from settings import SettingsError, load_settings
    from settings.stack_file import StackFileError

    try:
        config, _ = read_engine_config(stack_file)
        return bool(load_settings(config, stack).bucket.protect)
    except (StackFileError, SettingsError):
        return True


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise NfbatchError("--base needs git, which is not installed") from None


def check_ref(directory: Path, ref: str) -> None:
    if _git(directory, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode:
        raise NfbatchError(
            f"--base {ref}: not a commit in the repository at {directory}",
            "fetch it first (git fetch origin <branch>), or check out with fetch-depth: 0 in CI",
        )


def stack_file_at(directory: Path, ref: str, stack: str) -> str | None:
    """The text of Pulumi.<stack>.yaml at `ref`, or None when the file does not exist there (a new stack)."""
    shown = _git(directory, "show", f"{ref}:./Pulumi.{stack}.yaml")
    return shown.stdout if shown.returncode == 0 else None


def stacks_at(directory: Path, ref: str) -> set[str]:
    listed = _git(directory, "ls-tree", "--name-only", ref).stdout.split()
    return {name[len("Pulumi.") : -len(".yaml")] for name in listed if re.fullmatch(r"Pulumi\..+\.yaml", name)}


def _protected_anywhere(directory: Path, stack: str, base: str | None) -> bool:
    """Protected in the change or at its base: a change that turns protection off is still checked against it."""
    here = directory / f"Pulumi.{stack}.yaml"
    if here.is_file() and is_protected(here, stack):
        return True
    text = stack_file_at(directory, base, stack) if base else None
    if text is None:
        return False
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / f"Pulumi.{stack}.yaml"
        copy.write_text(text)
        return is_protected(copy, stack)


def verdicts(plans: list[dict], directory: Path, base: str | None) -> list[Verdict]:
    if base:
        check_ref(directory, base)
    found = [Verdict(p["stack"], _protected_anywhere(directory, p["stack"], base), data_losses(p)) for p in plans]
    if base:  # a stack file the change removes: every later `pulumi up` of that stack would run on the defaults
        planned = {p["stack"] for p in plans}
        for stack in sorted(stacks_at(directory, base) - planned):
            if not (directory / f"Pulumi.{stack}.yaml").is_file():
                found.append(Verdict(stack, _protected_anywhere(directory, stack, base), removed=True))
    return sorted(found, key=lambda v: v.stack)


def _loss_line(verdict: Verdict, change: dict) -> str:
    kind = change["type"].rsplit(":", 1)[-1]
    because = f" (forced by {', '.join(change['because'])})" if change.get("because") else ""
    loses = change.get("loses") or update_rules.HOLDS_DATA_OR_WORK.get(change["type"], "its data")
    return f"- `{verdict.stack}`: {change['action'].upper()} {kind} `{change['name']}`{because}: loses {loses}"


def render(found: list[Verdict], allowed: bool) -> str:
    """The verdict as markdown: what fails (or is allowed), what is only noted (unprotected stacks)."""
    failing = [v for v in found if v.fails]
    lines = []
    for verdict in failing or found:
        lines += [_loss_line(verdict, change) for change in verdict.losses]
        if verdict.removed:
            lines.append(f"- `{verdict.stack}`: its stack file is removed; `pulumi up` would deploy the defaults")
    if not failing:
        head = "**Data check: passed.** No protected stack replaces or deletes its bucket, logs or image repository."
        lines = ["", "Unprotected stacks that lose data (not a failure):", *lines] if lines else []
    elif allowed:
        head = f"**Data check: allowed by the `{ALLOW_LABEL}` label.** These changes lose data:\n"
    else:
        head = (
            f"**Data check: FAILED.** A protected stack would lose data; if intended, label the PR `{ALLOW_LABEL}`:\n"
        )
    protected = ", ".join(f"`{v.stack}`" for v in found if v.protected) or "none"
    return "\n".join([head, *lines, "", f"Protected stacks (`bucket.protect`): {protected}."])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nfbatch.guardrails", description=__doc__.split("\n\n")[0])
    parser.add_argument("plans", nargs="+", type=Path, metavar="PLAN.json", help="nfbatch plan --base ... JSON")
    parser.add_argument("--base", metavar="REF", help="the ref the plans were made against (checks its stack files)")
    parser.add_argument("--allow", action="store_true", help=f"the pull request has the {ALLOW_LABEL} label")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="the genomics-batch project")
    args = parser.parse_args(argv)
    try:
        plans = [load_plan(_read(path), str(path)) for path in args.plans]
        found = verdicts(plans, args.project_dir, args.base)
    except NfbatchError as error:
        print(f"error: {error.message}" + (f"\nfix: {error.fix}" if error.fix else ""), file=sys.stderr)
        return error.exit_code
    sys.stdout.write(render(found, args.allow) + "\n")
    return 1 if any(v.fails for v in found) and not args.allow else 0


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as error:
        raise NfbatchError(f"{path}: {error.strerror}", "plan the stack first: nfbatch plan --base REF") from None


if __name__ == "__main__":
    sys.exit(main())
