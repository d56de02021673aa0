"""Benchmark: how long `nfbatch status RUN` takes for a run with 1000 task jobs, against a local moto server.

Run: venv/bin/python bench/status_benchmark.py [--jobs 1000] [--repeat 5]. Prints timings and API call counts;
it asserts nothing (speed goals live here, not in the test suite).
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import conftest  # noqa: E402
from moto.batch_simple.models import batch_simple_backends  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from rich.console import Console  # noqa: E402

from nfbatch import aws as nfbatch_aws  # noqa: E402
from nfbatch.cli import main  # noqa: E402

CALLS: dict[str, int] = {}


class CountingSession(nfbatch_aws.boto3.Session):
    """Counts every API call nfbatch makes, by operation name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.events.register(
            "before-call", lambda model, **_: CALLS.__setitem__(model.name, CALLS.get(model.name, 0) + 1)
        )


nfbatch_aws.boto3.Session = CountingSession


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(jobs: int, repeat: int) -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = conftest.MotoEndpoint(f"http://127.0.0.1:{port}")
        os.environ.update(endpoint.env())
        stack = conftest._build_stack_in_moto(endpoint, Path(tempfile.mkdtemp()))
        argv = ["--outputs", str(stack.outputs_file)]
        main([*argv, "run", "hello", "--name", "bench"], console=Console(file=io.StringIO()))
        backend = batch_simple_backends[conftest.ACCOUNT][conftest.REGION]
        for i in range(jobs):
            backend.submit_job(
                job_name=f"nf-task-{i}",
                job_def_id=stack.outputs["jobDefinitionArn"],
                job_queue=stack.outputs["defaultQueueArn"],
                array_properties={},
                tags={"nfbatch-run": "bench"},
            )
        timings = []
        CALLS.clear()
        for _ in range(repeat):
            started = time.perf_counter()
            code = main([*argv, "status", "bench", "--json"], console=Console(file=io.StringIO()))
            timings.append(time.perf_counter() - started)
            assert code == 0
        print(f"nfbatch status for a run with {jobs} task jobs, {repeat} runs against moto on 127.0.0.1:")
        print(f"  median {statistics.median(timings):.3f} s, min {min(timings):.3f} s, max {max(timings):.3f} s")
        per_run = {op: n / repeat for op, n in sorted(CALLS.items())}
        print("  API calls per status: " + ", ".join(f"{op} {n:g}" for op, n in per_run.items()))
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    run(options.jobs, options.repeat)
