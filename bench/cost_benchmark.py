"""Benchmark: how long `nfbatch cost RUN` takes, and how many API calls it makes, for a run of 5,000 task jobs.

Run: venv/bin/python bench/cost_benchmark.py [--jobs 5000]. Batch and CloudWatch Logs are a local moto server; the
spot price history and the Price List API are botocore Stubbers (moto has neither: tests/test_cost.py). Prints the
time and the calls by operation; tests/test_cost.py asserts the counts' bounds, not the time. The seeded run uses
three instance types (a spot pair of types and an on-demand one), so the count shows one lookup per type and zone.
FilterLogEvents pages grow with every record of the stack's instances in the run's time, other runs' too: on a busy
stack that count rises with the stack's traffic, not with this run's size.
`--later N` seeds N jobs of another run created hours after this one ended: they must not add a DescribeJobs call
(nor, on AWS, a ListJobs page: BEFORE_CREATED_AT bounds the listing; moto applies no ListJobs filter or paging, so
tests/test_cost.py shows that part with a Stubber).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import conftest  # noqa: E402
import test_cost  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from nfbatch import aws as nfbatch_aws  # noqa: E402
from nfbatch import cost  # noqa: E402
from nfbatch.stack import StackOutputs  # noqa: E402

CALLS: Counter = Counter()
OTHER_TYPE = "c6i.2xlarge"


class CountingSession(nfbatch_aws.boto3.Session):
    """Counts every API call nfbatch's own session makes, by operation name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.events.register("before-call", lambda model, **_: CALLS.update([model.name]))


nfbatch_aws.boto3.Session = CountingSession


def seed_later(stack, count: int) -> None:
    """`count` jobs of run "busy" created 8 h after the seeded run began (6 h after its head stopped), in-process."""
    from datetime import UTC, datetime

    from moto.batch.models import batch_backends
    from moto.batch_simple.models import batch_simple_backends

    definition = stack.definition(1, 1000)
    for i in range(count):
        _, job_id, _ = batch_simple_backends[conftest.ACCOUNT][conftest.REGION].submit_job(
            job_name=f"LATE_{i}",
            job_def_id=definition,
            job_queue=stack.outputs["defaultQueueArn"],
            array_properties={},
            tags={"nfbatch-run": "busy"},
        )
        job = batch_backends[conftest.ACCOUNT][conftest.REGION]._jobs[job_id]
        job.job_created_at = datetime.fromtimestamp((test_cost.T0 + 8 * test_cost.HOUR) / 1000, UTC)


def run(jobs: int, later: int = 0) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = conftest.MotoEndpoint(f"http://127.0.0.1:{port}")
        os.environ.update(endpoint.env(), XDG_CACHE_HOME=tempfile.mkdtemp())
        directory = Path(tempfile.mkdtemp()) / "bench-stack-0"
        directory.mkdir()
        stack = test_cost.CostStack(endpoint, directory)
        stack.seed_run("bench")
        stack.many_tasks("bench", jobs - 4)
        seed_later(stack, later)
        other = stack.spot_ci.replace("aaaa1111", "zzzz9999")  # sorts after the seeded spot instance
        start = test_cost.T0 + test_cost.HOUR // 2
        stack.job("bench", "BWA_1", "default", (8, 16000), [(other, start, start + test_cost.HOUR)])
        event = test_cost.instance_event(stack.clusters["spot"], other, "i-0c6i", OTHER_TYPE, 8192, 15500)
        stack.record([(start - 60_000, event)])
        ec2, pricing, stubs = test_cost.stub_calls(
            [
                (
                    test_cost.SPOT_TYPE,
                    [(test_cost.T0 - 3 * test_cost.HOUR, 0.08), (test_cost.T0 + test_cost.HOUR, 0.10)],
                ),
                (OTHER_TYPE, [(test_cost.T0 - test_cost.HOUR, 0.14)]),
            ],
            [(test_cost.OD_TYPE, 0.096), (test_cost.SPOT_TYPE, 0.192), (OTHER_TYPE, 0.34)],
        )
        with stubs[0], stubs[1]:
            for client in (ec2, pricing):  # the stubbed clients' calls count too (first: before the Stubber answers)
                client.meta.events.register_first("before-call.*.*", lambda model, **_: CALLS.update([model.name]))
            aws = nfbatch_aws.Aws(conftest.REGION)
            CALLS.clear()  # the stack's setup counted too
            started = time.perf_counter()
            result = cost.price_run(
                aws, StackOutputs(stack.outputs), "bench", None, cost.Prices(aws, conftest.REGION, ec2, pricing)
            )
            took = time.perf_counter() - started
            for stub in stubs:  # every answer the stubs held was asked for, no fewer, and (Stubber raises) no more
                stub.assert_no_pending_responses()
        print(f"nfbatch cost for a run of {result['tasks']} task jobs against moto on 127.0.0.1: {took:.2f} s")
        print(
            f"  total ${result['totalUsd']:,.2f}, {len(result['instances'])} instances, "
            f"{len(result['unpriced'])} unpriced"
        )
        print("  API calls: " + ", ".join(f"{op} {n}" for op, n in sorted(CALLS.items())))
    finally:
        server.stop()


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's request log
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--later", type=int, default=0, help="jobs of another run created after this one")
    arguments = parser.parse_args()
    run(arguments.jobs, arguments.later)
