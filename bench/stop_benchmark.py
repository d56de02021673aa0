"""Benchmark: how long the head's stop path takes with 200 running task jobs, against a local moto server.

SIGTERM reaches the real entrypoint, which forwards it to a stand-in Nextflow that terminates its running task jobs
the way nf-amazon's reaper does (AwsBatchExecutor: a pool of 5 threads per CPU, rate-limited by the executor's
submitRateLimit, 20/s in this stack's config); the entrypoint then uploads .nextflow.log and exits. Run:
venv/bin/python bench/stop_benchmark.py [--tasks 200]. Prints the time from SIGTERM to exit; asserts nothing.
The head's stop timeout (launchTemplate.ecsAgent.containerStopTimeoutSeconds) is sized from it: see docs/testing.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import conftest  # noqa: E402
from moto.batch_simple.models import batch_simple_backends  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from status_benchmark import free_port  # noqa: E402
from test_container import ENTRYPOINT, make_head  # noqa: E402

STAND_IN = """#!{python}
import json, os, signal, sys, time
from concurrent.futures import ThreadPoolExecutor
import boto3

jobs = json.load(open(os.environ["FAKE_TASKS"]))
open(".nextflow.log", "w").write("nextflow log line\\n")

def stop(*_):
    client = boto3.client("batch")
    started = time.monotonic()
    def terminate(numbered):
        number, job = numbered
        wait = started + number / 20 - time.monotonic()  # submitRateLimit = '20/1s'
        if wait > 0:
            time.sleep(wait)
        client.terminate_job(jobId=job, reason="Job killed by NF")
    with ThreadPoolExecutor(10) as pool:  # 5 threads per CPU of the 2-vCPU head
        list(pool.map(terminate, enumerate(jobs)))
    open(os.environ["FAKE_CANCELLED"], "w").write(str(time.monotonic() - started))
    sys.exit(143)

signal.signal(signal.SIGTERM, stop)
open(os.environ["FAKE_READY"], "w").write("ready")
while True:
    time.sleep(0.05)
"""


def run(tasks: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = conftest.MotoEndpoint(f"http://127.0.0.1:{port}")
        directory = Path(tempfile.mkdtemp())
        stack = conftest._build_stack_in_moto(endpoint, directory)
        backend = batch_simple_backends[conftest.ACCOUNT][conftest.REGION]
        jobs = []
        for _ in range(tasks):
            _, job_id, _ = backend.submit_job(
                job_name="nf-task",
                job_def_id=stack.outputs["jobDefinitionArn"],
                job_queue=stack.outputs["defaultQueueArn"],
                array_properties={},
                tags={"nfbatch-run": "run-1"},
            )
            backend._jobs[job_id].status = "RUNNING"
            jobs.append(job_id)
        (directory / "head").mkdir()
        head = make_head(directory / "head", endpoint)
        (directory / "tasks.json").write_text(json.dumps(jobs))
        stand_in = directory / "head" / "bin" / "nextflow"
        stand_in.write_text(STAND_IN.format(python=sys.executable))
        env = {
            **head["env"],
            "FAKE_TASKS": str(directory / "tasks.json"),
            "FAKE_READY": str(directory / "ready"),
            "FAKE_CANCELLED": str(directory / "cancelled"),
        }
        process = subprocess.Popen(
            ["bash", str(ENTRYPOINT), "hello"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while not (directory / "ready").exists():
            time.sleep(0.05)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=600)
        total = time.monotonic() - started
        cancelled = float((directory / "cancelled").read_text())
        stopped = sum(1 for j in jobs if backend._jobs[j].stop)
        print(f"stop path with {tasks} running task jobs, against moto on 127.0.0.1:")
        print(
            f"  SIGTERM to exit: {total:.1f} s (cancelling {stopped} tasks: {cancelled:.1f} s; "
            f"Nextflow and entrypoint shutdown, log upload: {total - cancelled:.1f} s)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    run(parser.parse_args().tasks)
