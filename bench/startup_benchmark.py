"""Benchmark: start-up of `nfbatch --help` and `nfbatch status`, each a fresh process, against `import boto3`.

Run: venv/bin/python bench/startup_benchmark.py [--repeat 10]. `status` reads a small stack served by a local moto
server. Prints medians and the ratio to the boto3 import floor; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import conftest  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from status_benchmark import free_port  # noqa: E402


def median_seconds(command: list[str], env: dict[str, str], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def run(repeat: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's request log
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = conftest.MotoEndpoint(f"http://127.0.0.1:{port}")
        stack = conftest._build_stack_in_moto(endpoint, Path(tempfile.mkdtemp()))
        env = {**os.environ, **endpoint.env(), "NFBATCH_OUTPUTS": str(stack.outputs_file)}
        python = sys.executable
        floor = median_seconds([python, "-c", "import boto3"], env, repeat)
        print(f"start-up, median of {repeat} fresh processes:")
        print(f"  python -c 'import boto3': {floor:.3f} s")
        for label, argv in (("nfbatch --help", ["--help"]), ("nfbatch status", ["status"])):
            seconds = median_seconds([python, "-m", "nfbatch", *argv], env, repeat)
            print(f"  {label}: {seconds:.3f} s ({seconds / floor:.2f}x the boto3 import)")
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    run(parser.parse_args().repeat)
