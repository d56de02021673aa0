"""Benchmark: how long `nfbatch plan` takes for the dev stack and for a large stack, offline.

Run: venv/bin/python bench/plan_benchmark.py [--repeat 5]. The large stack has 6 AZs with a NAT gateway each,
100 extra buckets and 40 instance types, so every policy and subnet list is long; the team stacks are dev with 1 and
with 50 teams (docs/testing.md, Performance). Prints timings; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nfbatch.plan import build_plan, render  # noqa: E402


def large_project() -> Path:
    directory = Path(tempfile.mkdtemp())
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(ROOT / name, directory / name)
    families = ["m6i", "m6a", "m7i", "m7a", "c6i", "c6a", "c7i", "c7a", "r6i", "r6a", "r7i", "r7a"]
    sizes = ["large", "xlarge", "2xlarge", "4xlarge"]
    config = {
        "aws:region": "us-east-1",
        "genomics-batch:network": {"azCount": 6, "egress": "nat-per-az", "cidr": "10.40.0.0/16"},
        "genomics-batch:bucket": {
            "readOnlyBuckets": [f"public-data-{i:02d}" for i in range(50)],
            "readWriteBuckets": [f"lab-results-{i:02d}" for i in range(50)],
        },
        "genomics-batch:compute": {
            "instanceTypes": [f"{f}.{s}" for f in families for s in sizes][:40],
            "spot": {"maxVcpus": 5000},
            "onDemand": {"maxVcpus": 1000},
        },
    }
    (directory / "Pulumi.large.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


def teams_project(counts: tuple[int, ...]) -> Path:
    """The dev stack with N teams (every fifth capped and with a budget: only capped teams may have one), one stack
    file per N."""
    directory = Path(tempfile.mkdtemp())
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(ROOT / name, directory / name)
    dev = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    for count in counts:
        teams = {
            f"team{i:02d}": {
                "weight": 1 + i % 3,
                **(
                    {"maxVcpus": 8, "monthlyBudgetUsd": 500, "budgetEmails": [f"lead-{i}@lab.org"]}
                    if i % 5 == 4
                    else {}
                ),
                "principals": [f"arn:aws:iam::123456789012:role/team{i:02d}-runner"],
            }
            for i in range(count)
        }
        config = {**dev["config"], "genomics-batch:teams": teams}
        (directory / f"Pulumi.teams{count}.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


def timed(stack: str, directory: Path, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        render(build_plan(stack, directory), "markdown")
        timings.append(time.perf_counter() - started)
    return timings


def cold(stack: str, directory: Path, repeat: int) -> list[float]:
    """Wall time of a whole `nfbatch plan` process: interpreter start, imports, the plan and its markdown."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nfbatch",
                "plan",
                "--project-dir",
                str(directory),
                "--stack",
                stack,
                "--format",
                "markdown",
            ],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        timings.append(time.perf_counter() - started)
    return timings


def import_floor(repeat: int) -> list[float]:
    """Wall time of a fresh process that imports every module a plan loads (as this process has just loaded them)
    and plans nothing, ending as `nfbatch` ends (heap frozen out of the last collection)."""
    ours = ("pulumi", "pulumi_aws", "components", "settings", "policies", "nfbatch", "pydantic", "yaml", "rich")
    modules = sorted(m for m in sys.modules if m.split(".")[0] in ours)
    script = "\n".join([*(f"import {m}" for m in modules), "import gc", "gc.freeze()"])
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)
        timings.append(time.perf_counter() - started)
    return timings


def report(label: str, timings: list[float]) -> None:
    print(f"  {label}: median {statistics.median(timings):.3f} s, min {min(timings):.3f} s, max {max(timings):.3f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    started = time.perf_counter()
    build_plan("dev", ROOT)
    first = time.perf_counter() - started
    print(f"nfbatch plan, {repeat} runs each (first run, with imports: {first:.3f} s):")
    report("dev stack", timed("dev", ROOT, repeat))
    report("large stack", timed("large", large_project(), repeat))
    # Teams: a stack with 50 teams must plan in under 1.5x the time of the same stack with 1 team plus the import
    # floor, so both are timed as a user runs them, a fresh `nfbatch plan` process each, and the floor on its own.
    teams = teams_project((1, 50))
    one, fifty = cold("teams1", teams, repeat), cold("teams50", teams, repeat)
    floor = import_floor(repeat)
    report("import floor, fresh process", floor)
    report("1 team, fresh process", one)
    report("50 teams, fresh process", fifty)
    m_floor, m_one, m_fifty = (statistics.median(t) for t in (floor, one, fifty))
    print(f"  50 teams / 1 team, import floor included: {m_fifty / m_one:.2f}x (goal: under 1.5x)")
    print(f"  beyond the floor: 1 team {m_one - m_floor:.3f} s, 50 teams {m_fifty - m_floor:.3f} s")
