"""Where a deployed stack's outputs come from: `pulumi stack output --json`, a file, or NFBATCH_OUTPUTS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from facts.contract import (
    CAPACITY,
    FARGATE,
    GPU_QUEUE,
    NFBATCH_REQUIRED_EXPORTS,
    OPTIONAL_CAPACITY,
    QUEUES,
    TASK_QUEUES,
    compute_environment_export,
    queue_arn_export,
)
from facts.limits import aws_regions
from nfbatch import exports
from nfbatch.errors import NfbatchError


@dataclass(frozen=True)
class StackOutputs:
    values: dict

    def __getitem__(self, key: str):
        return self.values[key]

    @property
    def has_gpu(self) -> bool:
        return queue_arn_export(GPU_QUEUE) in self.values

    @property
    def head_platform(self) -> str:
        return "fargate" if compute_environment_export(FARGATE) in self.values else "ec2"

    @property
    def teams(self) -> dict[str, dict]:
        """The stack's teams (the `teams` export), or none for a single-tenant stack."""
        return self.values.get("teams") or {}

    def team(self, name: str | None) -> dict | None:
        """The team a command acts as: required on a stack with teams, refused on one without."""
        teams = self.teams
        if name is None:
            if teams:
                raise NfbatchError(
                    f"this stack is shared by teams ({', '.join(sorted(teams))}): say which one you run as",
                    f"add --team {sorted(teams)[0]}",
                )
            return None
        if not teams:
            raise NfbatchError(
                f"--team {name}: this stack has no teams",
                "leave out --team, or add the team to the stack's genomics-batch:teams and `pulumi up`",
            )
        if name not in teams:
            raise NfbatchError(
                f"--team {name}: no such team on this stack; its teams are {', '.join(sorted(teams))}",
                "pick one of those, or add the team to genomics-batch:teams and `pulumi up`",
            )
        return teams[name]

    @property
    def team_queue_arns(self) -> list[str]:
        """Capped teams' own queues (their tasks run there, not on the shared task queues)."""
        return sorted({t["taskQueueArn"] for t in self.teams.values()} - set(self.queue_arns.values()))

    @property
    def queue_arns(self) -> dict[str, str]:
        return {q: self.values[queue_arn_export(q)] for q in (*QUEUES, *([GPU_QUEUE] if self.has_gpu else []))}

    @property
    def task_queue_arns(self) -> list[str]:
        return [
            self.values[queue_arn_export(q)] for q in (*TASK_QUEUES, *([GPU_QUEUE] if self.has_gpu else []))
        ] + self.team_queue_arns

    @property
    def compute_environment_arns(self) -> dict[str, str]:
        present = [*CAPACITY, *(c for c in OPTIONAL_CAPACITY if compute_environment_export(c) in self.values)]
        return {c: self.values[compute_environment_export(c)] for c in present}


def parse_outputs(text: str, source: str) -> StackOutputs:
    try:
        values = json.loads(text)
    except ValueError as error:
        raise NfbatchError(
            f"{source} is not JSON: {error}", "give the output of `pulumi stack output --json`"
        ) from None
    if not isinstance(values, dict):
        raise NfbatchError(f"{source} must hold a JSON object of stack outputs")
    missing = [k for k in NFBATCH_REQUIRED_EXPORTS if k not in values]
    if missing:
        raise NfbatchError(
            f"stack outputs from {source} lack {', '.join(missing)}",
            "deploy the stack with this version of genomics-batch (`pulumi up`)",
        )
    found = exports.problems(values, aws_regions())
    if found:
        raise NfbatchError(
            f"stack outputs from {source}: {found[0]}"
            if len(found) == 1
            else f"stack outputs from {source} have {len(found)} problems:\n" + "\n".join(f"  - {p}" for p in found),
            "write the file again with `pulumi stack output --json`",
        )
    return StackOutputs(values)


def load_outputs(stack: str | None, outputs_file: str | None) -> StackOutputs:
    """Outputs from --outputs FILE, else NFBATCH_OUTPUTS (a path), else the Pulumi CLI."""
    path = outputs_file or os.environ.get("NFBATCH_OUTPUTS")
    if path:
        file = Path(path)
        if not file.is_file():
            raise NfbatchError(
                f"outputs file {path} does not exist", "write it with `pulumi stack output --json > outputs.json`"
            )
        return parse_outputs(file.read_text(), str(file))
    pulumi = shutil.which("pulumi")
    if not pulumi:
        raise NfbatchError(
            "no stack outputs: the Pulumi CLI is not installed and neither --outputs nor NFBATCH_OUTPUTS is set",
            "pass --outputs outputs.json (from `pulumi stack output --json`)",
        )
    command = [pulumi, "stack", "output", "--json", "--show-secrets"] + (["--stack", stack] if stack else [])
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NfbatchError(
            f"`{' '.join(command[1:])}` failed: {result.stderr.strip()}", "select a deployed stack with --stack NAME"
        )
    return parse_outputs(result.stdout, f"stack {stack or '(current)'}")
