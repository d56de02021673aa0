"""Benchmark: how long `nfbatch plan` takes for the dev stack and for a large stack, offline.

Run: venv/bin/python bench/plan_benchmark.py [--repeat 5]. The large stack has 6 AZs with a NAT gateway each,
100 extra buckets and 40 instance types, so every policy and subnet list is long. Prints timings; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
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
        "genomics-batch:bucket": {"readOnlyBuckets": [f"public-data-{i:02d}" for i in range(50)],
                                  "readWriteBuckets": [f"lab-results-{i:02d}" for i in range(50)]},
        "genomics-batch:compute": {"instanceTypes": [f"{f}.{s}" for f in families for s in sizes][:40],
                                   "spot": {"maxVcpus": 5000}, "onDemand": {"maxVcpus": 1000}},
    }
    (directory / "Pulumi.large.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


def timed(stack: str, directory: Path, repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        render(build_plan(stack, directory), "markdown")
        timings.append(time.perf_counter() - started)
    return timings


def report(label: str, timings: list[float]) -> None:
    print(f"  {label}: median {statistics.median(timings):.3f} s, min {min(timings):.3f} s, "
          f"max {max(timings):.3f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    started = time.perf_counter()
    build_plan("dev", ROOT)
    print(f"nfbatch plan, {repeat} runs each (first run, with imports: {time.perf_counter() - started:.3f} s):")
    report("dev stack", timed("dev", ROOT, repeat))
    report("large stack", timed("large", large_project(), repeat))
