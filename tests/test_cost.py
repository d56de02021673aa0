"""`nfbatch cost` against moto: a seeded run on a spot and an on-demand container instance, priced to the cent.

moto 5.2.5 has no `pricing` service, and its DescribeSpotPriceHistory answers only from its static instance-offering
table, with no prices to seed (moto/ec2/models/spot_requests.py describe_spot_price_history): those two calls go to
real botocore clients under botocore's Stubber, which validates each request and response against the service model.
Everything else (Batch, CloudWatch Logs, EC2 launch templates) is moto.
"""

from __future__ import annotations

import io
import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import botocore
import pytest
from botocore.stub import ANY, Stubber
from conftest import ACCOUNT, REGION, _build_stack_in_moto
from rich.console import Console

from nfbatch import cost
from nfbatch.aws import Aws
from nfbatch.cli import main
from nfbatch.stack import StackOutputs

HOUR = cost.HOUR_MS
T0 = (int(time.time() * 1000) // HOUR - 48) * HOUR  # two days ago, on the hour: within spot history's 90 days
SPOT_TYPE, OD_TYPE, ZONE = "m6i.xlarge", "m6i.large", f"{REGION}a"
OD_USD = {SPOT_TYPE: 0.192, OD_TYPE: 0.096}


def nfbatch(outputs_file, *argv):
    out = io.StringIO()
    code = main(["--outputs", str(outputs_file), *argv], console=Console(file=out, width=250))
    return code, out.getvalue()


def product(instance_type: str, usd: float) -> str:
    """One PriceList item as the Price List API returns it: a JSON document per product, its OnDemand term
    (https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/price-changes.html, "Price List file")."""
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": instance_type, "regionCode": REGION}},
            "terms": {
                "OnDemand": {
                    "X.JRTCKXETXF": {
                        "priceDimensions": {"X.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": str(usd)}}}
                    }
                }
            },
        }
    )


def instance_event(cluster: str, arn: str, ec2_id: str, instance_type: str, cpu: int, memory: int, status="ACTIVE"):
    """An EventBridge "ECS Container Instance State Change" event, shaped as the ECS developer guide's example
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_container_instance_events.html)."""
    return json.dumps(
        {
            "version": "0",
            "id": "8952ba83-7be2-4ab5-9c32-6687532d15a2",
            "detail-type": "ECS Container Instance State Change",
            "source": "aws.ecs",
            "account": ACCOUNT,
            "region": REGION,
            "resources": [arn],
            "detail": {
                "agentConnected": True,
                "attributes": [
                    {"name": "ecs.instance-type", "value": instance_type},
                    {"name": "ecs.availability-zone", "value": ZONE},
                    {"name": "ecs.capability.privileged-container"},
                ],
                "clusterArn": cluster,
                "containerInstanceArn": arn,
                "ec2InstanceId": ec2_id,
                "registeredResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
                    {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2376", "2375", "51678"]},
                ],
                "status": status,
                "version": 14801,
                "versionInfo": {"agentVersion": "1.87.0", "dockerVersion": "25.0.8"},
                "updatedAt": "2026-11-29T10:00:00.000Z",
                "registeredAt": "2026-11-29T09:55:00.000Z",
            },
        }
    )


class CostStack:
    """A moto stack whose compute environments boot from a launch template with a 100 GiB gp3 root volume, and whose
    container instances are recorded in the instance-events log group."""

    def __init__(self, endpoint, directory):
        base = _build_stack_in_moto(endpoint, directory)
        self.endpoint, self.outputs = endpoint, dict(base.outputs)
        ec2, logs = endpoint.client("ec2"), endpoint.client("logs")
        suffix = directory.name[-12:].replace("_", "-")
        template = ec2.create_launch_template(
            LaunchTemplateName=f"batch-{suffix}",
            LaunchTemplateData={
                "BlockDeviceMappings": [
                    {
                        "DeviceName": "/dev/xvda",
                        "Ebs": {"VolumeSize": 100, "VolumeType": "gp3", "Iops": 3000, "Throughput": 125},
                    }
                ]
            },
        )["LaunchTemplate"]
        self.compute_environments(base.outputs["spotComputeEnvironmentArn"], template["LaunchTemplateId"], suffix)
        self.group = f"/genomics-batch/instances-{suffix}"
        logs.create_log_group(logGroupName=self.group)
        self.outputs[cost.INSTANCE_EVENTS_EXPORT] = self.group
        self.outputs_file = directory / "cost-outputs.json"
        self.write()
        self.spot_ci = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/spot-{suffix}/aaaa1111"
        self.od_ci = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/ondemand-{suffix}/bbbb2222"

    def compute_environments(self, like: str, template: str, suffix: str) -> None:
        """A spot and an on-demand compute environment booting from `template`, and the stack's queues over them."""
        batch = self.endpoint.client("batch")
        old = batch.describe_compute_environments(computeEnvironments=[like])
        resources = old["computeEnvironments"][0]["computeResources"]
        ces, self.clusters = {}, {}
        for key, kind in (("spot", "SPOT"), ("onDemand", "EC2")):
            arn = batch.create_compute_environment(
                computeEnvironmentName=f"cost-{key}-{suffix}",
                type="MANAGED",
                state="ENABLED",
                serviceRole=old["computeEnvironments"][0]["serviceRole"],
                computeResources={
                    **{
                        k: resources[k]
                        for k in (
                            "minvCpus",
                            "maxvCpus",
                            "instanceTypes",
                            "subnets",
                            "securityGroupIds",
                            "instanceRole",
                        )
                    },
                    "type": kind,
                    "launchTemplate": {"launchTemplateId": template, "version": "1"},
                },
            )["computeEnvironmentArn"]
            ces[key] = arn
            self.clusters[key] = batch.describe_compute_environments(computeEnvironments=[arn])["computeEnvironments"][
                0
            ]["ecsClusterArn"]
        for queue, envs in (("head", ["onDemand"]), ("default", ["spot"]), ("priority", ["onDemand", "spot"])):
            self.outputs[f"{queue}QueueArn"] = batch.create_job_queue(
                jobQueueName=f"cost-{queue}-{suffix}",
                state="ENABLED",
                priority=10,
                computeEnvironmentOrder=[{"order": i + 1, "computeEnvironment": ces[e]} for i, e in enumerate(envs)],
            )["jobQueueArn"]
        self.outputs |= {"spotComputeEnvironmentArn": ces["spot"], "onDemandComputeEnvironmentArn": ces["onDemand"]}

    def write(self, drop: str | None = None):
        self.outputs_file.write_text(json.dumps({k: v for k, v in self.outputs.items() if k != drop}))

    def record(self, events: list[tuple[int, str]]) -> None:
        logs = self.endpoint.client("logs")
        stream = f"events-{len(events)}-{time.monotonic_ns()}"
        logs.create_log_stream(logGroupName=self.group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=self.group, logStreamName=stream, logEvents=[{"timestamp": t, "message": m} for t, m in events]
        )

    def definition(self, vcpus: int, memory: int) -> str:
        return self.endpoint.client("batch").register_job_definition(
            jobDefinitionName=f"nf-ubuntu-{vcpus}-{memory}",
            type="container",
            containerProperties={
                "image": "ubuntu:24.04",
                "resourceRequirements": [
                    {"type": "VCPU", "value": str(vcpus)},
                    {"type": "MEMORY", "value": str(memory)},
                ],
            },
        )["jobDefinitionArn"]

    def job(self, run, name, queue, size: tuple[int, int], attempts: list[tuple[str, int, int]], tags=None) -> str:
        """Submit a job over HTTP, then give it the attempts moto cannot produce (moto's simple Batch finishes every
        job at once on no instance: containerInstanceArn "TBD"), in its in-process backend, so DescribeJobs answers
        with them through moto's own serialisation."""
        from moto.batch.models import batch_backends

        job_id = self.endpoint.client("batch").submit_job(
            jobName=name,
            jobQueue=self.outputs[f"{queue}QueueArn"],
            jobDefinition=self.definition(*size),
            tags={"nfbatch-run": run, **(tags or {})},
        )["jobId"]
        job = batch_backends[ACCOUNT][REGION]._jobs[job_id]
        job.attempts = [
            {
                "container": {"containerInstanceArn": ci, "taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/x/{i}"},
                "startedAt": start,
                "stoppedAt": stop,
                "statusReason": "Essential container in task exited",
            }
            for i, (ci, start, stop) in enumerate(attempts)
        ]
        # Created a minute before its first attempt started: ListJobs' createdAt bounds which jobs a run's cost reads.
        job.job_created_at = datetime.fromtimestamp((attempts[0][1] - 60_000) / 1000, UTC)
        job.job_started_at = datetime.fromtimestamp(attempts[-1][1] / 1000, UTC)
        job.job_stopped_at = datetime.fromtimestamp(attempts[-1][2] / 1000, UTC)
        return job_id

    def many_tasks(self, run: str, count: int) -> None:
        """`count` quarter-hour FASTQC tasks after the seeded run, four at a time, a quarter of the spot instance
        each, submitted through the server's in-process backend (a setup shortcut for big runs: nfbatch still reads
        them over HTTP)."""
        from moto.batch.models import batch_backends
        from moto.batch_simple.models import batch_simple_backends

        definition = self.definition(1, 3750)
        for i in range(count):
            _, job_id, _ = batch_simple_backends[ACCOUNT][REGION].submit_job(
                job_name=f"FASTQC_{i + 10}",
                job_def_id=definition,
                job_queue=self.outputs["defaultQueueArn"],
                array_properties={},
                tags={"nfbatch-run": run},
            )
            start = T0 + 2 * HOUR + (i // 4) * HOUR // 4
            job = batch_backends[ACCOUNT][REGION]._jobs[job_id]
            job.job_created_at = datetime.fromtimestamp((T0 + HOUR) / 1000, UTC)  # queued while the head ran
            job.attempts = [
                {
                    "container": {"containerInstanceArn": self.spot_ci},
                    "startedAt": start,
                    "stoppedAt": start + HOUR // 4,
                }
            ]

    def seed_run(self, run: str, team: str | None = None) -> None:
        """The run of the hand calculation in test_a_run_is_priced_to_the_cent (its head tagged with `team`)."""
        team_tag = {"Team": team} if team else None
        self.job(run, f"nfbatch-{run}", "head", (1, 3750), [(self.od_ci, T0, T0 + 2 * HOUR)], team_tag)
        self.job(run, "FASTQC_1", "default", (2, 4000), [(self.spot_ci, T0, T0 + 2 * HOUR)])
        self.job(run, "FASTQC_2", "default", (1, 7500), [(self.spot_ci, T0 + HOUR // 2, T0 + 3 * HOUR // 2)])
        self.job(
            run,
            "ALIGN_1",
            "default",
            (1, 3000),
            [(self.spot_ci, T0, T0 + HOUR), (self.od_ci, T0 + HOUR, T0 + 2 * HOUR)],
        )
        self.record(
            [
                (T0 - 60_000, instance_event(self.clusters["spot"], self.spot_ci, "i-0spot", SPOT_TYPE, 4096, 15000)),
                (T0 - 30_000, instance_event(self.clusters["onDemand"], self.od_ci, "i-0od", OD_TYPE, 2048, 7500)),
                (T0 + HOUR, instance_event(self.clusters["spot"], self.spot_ci, "i-0spot", SPOT_TYPE, 4096, 15000)),
            ]
        )


@pytest.fixture
def stack(aws_env, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return CostStack(aws_env, tmp_path)


def stubbed(service: str, region: str = REGION):
    client = boto3.client(service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def stub_prices(stack, od=OD_USD, spot_steps=((T0 - 3 * HOUR, 0.08), (T0 + HOUR, 0.10)), pricing_error=None):
    """Real ec2 and pricing clients under Stubber, answering in the order nfbatch asks: instances by ARN, for the
    spot one its history before its on-demand price (needed only for the saving)."""
    types = [SPOT_TYPE if arn == stack.spot_ci else OD_TYPE for arn in sorted([stack.od_ci, stack.spot_ci])]
    return stub_calls([(SPOT_TYPE, list(spot_steps))], [(t, od[t]) for t in types], pricing_error)


def priced(stack, run, pricing_error=None, team=None, since=None):
    """price_run (or price_runs with `since`) with the spot history and Price List answers stubbed."""
    return priced_with(stack, stub_prices(stack, pricing_error=pricing_error), run=run, since=since, team=team)


VOLUME_HOUR = 100 * 0.08 / 730  # gp3 $0.08/GB-month, baseline IOPS and throughput free (components/costs.py PRICES)


def test_a_run_is_priced_to_the_cent(stack, hooks):
    stack.seed_run("rna-1")
    result = priced(stack, "rna-1")
    # Spot m6i.xlarge (4 vCPU, 15000 MiB registered) over T0..T0+2h: $0.08/h for the first hour, $0.10/h for the
    # second (the price in force at T0 is the one stamped T0-3h: botocore EC2 model, DescribeSpotPriceHistory "the
    # response merely indicates the last time that the price changed"), plus 2 h of the 100 GiB root volume.
    spot_whole = 0.08 + 0.10 + 2 * VOLUME_HOUR
    fastqc_1 = 0.5 * spot_whole  # 2 of 4 vCPUs, 4000 of 15000 MiB: max = 0.5, the whole two hours
    fastqc_2 = 0.5 * (0.08 * 0.5 + 0.10 * 0.5 + VOLUME_HOUR)  # 7500 of 15000 MiB = 0.5, T0+0.5h..T0+1.5h
    align_spot = 0.25 * (0.08 + VOLUME_HOUR)  # 1 of 4 vCPUs (3000 MiB), first hour; reclaimed, retried on demand
    # On-demand m6i.large (2 vCPU, 7500 MiB) at $0.096/h over T0..T0+2h.
    od_whole = 2 * 0.096 + 2 * VOLUME_HOUR
    head = 0.5 * od_whole  # 1 of 2 vCPUs, 3750 of 7500 MiB
    align_od = 0.5 * (0.096 + VOLUME_HOUR)  # the second attempt, T0+1h..T0+2h: 1 of 2 vCPUs
    idle = spot_whole - fastqc_1 - fastqc_2 - align_spot + od_whole - head - align_od
    assert round(fastqc_1 + fastqc_2, 2) == 0.15 and round(align_spot + align_od, 2) == 0.08
    assert result["processes"] == [
        {"process": "FASTQC", "jobs": 2, "attempts": 2, "usd": 0.15},
        {"process": "ALIGN", "jobs": 1, "attempts": 2, "usd": 0.08},
    ]
    assert (result["headUsd"], result["idleUsd"]) == (round(head, 2), round(idle, 2)) == (0.11, 0.08)
    assert result["totalUsd"] == round(spot_whole + od_whole, 2) == 0.42
    assert result["spotSavingUsd"] == round(2 * 0.192 - 0.18, 2) == 0.20  # the spot hours at on-demand price
    assert result["unpriced"] == [] and result["inProgress"] is False and result["tasks"] == 3
    lines = cost.text_lines(result)
    assert "total $0.42, spot saving $0.20 against on-demand" in lines and "FASTQC" in lines[1]
    assert {(i["instanceType"], i["capacity"], i["hours"]) for i in result["instances"]} == {
        (SPOT_TYPE, "spot", 2.0),
        (OD_TYPE, "on-demand", 2.0),
    }
    # Bounded calls: the head alone (its owner is checked before any task is listed), then its tasks in one
    # DescribeJobs (ceil(3/100)), one FilterLogEvents page, one launch template lookup for both compute
    # environments, the queues and their compute environments once each.
    assert hooks.calls["DescribeJobs"] == 2 and hooks.calls["FilterLogEvents"] == 1
    assert hooks.calls["DescribeLaunchTemplateVersions"] == 1 and hooks.calls["DescribeComputeEnvironments"] == 1


def test_on_demand_prices_are_cached_on_disk(stack, hooks):
    stack.seed_run("cached")
    priced(stack, "cached")
    cached = json.loads(cost.cache_file().read_text())
    assert cached[f"{REGION}/{OD_TYPE}"]["usd"] == 0.096
    prices = cost.Prices(Aws(REGION), REGION, pricing=object())  # a second lookup would fail on this client
    assert prices.on_demand(OD_TYPE) == 0.096
    stale = cost.Prices(Aws(REGION), REGION, pricing=object(), now=time.time() + cost.PRICE_CACHE_TTL_SECONDS + 1)
    with pytest.raises(AttributeError):  # past the TTL it asks the Price List API again
        stale.on_demand(OD_TYPE)


def test_a_run_in_progress_is_priced_so_far(stack, hooks):
    stack.seed_run("live")

    def running(parsed, **_):  # the head is still RUNNING: its attempt is not in `attempts` until it ends
        for job in parsed.get("jobs", []):
            if job["jobName"] == "nfbatch-live":
                job.update(status="RUNNING", attempts=[])
                job.pop("stoppedAt", None)
                job.setdefault("container", {})["containerInstanceArn"] = stack.od_ci

    hooks.on("after-call.batch.DescribeJobs", running)
    result = priced(stack, "live")
    assert result["inProgress"] is True and result["pricedSoFar"] is True and result["state"] == "RUNNING"
    assert result["headUsd"] > 0.11  # priced from T0 to now, two days on
    out = "\n".join(cost.text_lines(result))
    assert "still running: priced so far" in out


def test_jobs_older_than_the_recording_are_unpriced_with_the_reason(stack, hooks):
    stack.seed_run("old")
    stack.job("old", "TRIM_1", "default", (1, 1000), [(stack.spot_ci.replace("aaaa1111", "cccc3333"), T0, T0 + HOUR)])
    result = priced(stack, "old")
    assert result["unpriced"] == [
        {
            "item": "container instance cccc3333: 1 attempt(s) of TRIM",
            "reason": "no record of the instance (it ran before the stack recorded instances, or the records have "
            "expired)",
            "attempts": 1,
        }
    ]
    assert result["totalUsd"] == 0.42  # the rest is still priced


def test_a_pricing_refusal_names_what_is_unpriced_and_shows_the_rest(stack, hooks):
    stack.seed_run("denied")
    result = priced(stack, "denied", pricing_error="AccessDeniedException")
    reasons = {u["item"]: u["reason"] for u in result["unpriced"]}
    assert reasons[f"spot saving on {SPOT_TYPE} i-0spot"] == "access denied: your credentials lack pricing:GetProducts"
    assert any(k.startswith(f"{OD_TYPE} i-0od") and "pricing:GetProducts" in v for k, v in reasons.items())
    # Spot prices need no Price List: the spot instance's jobs are still priced.
    assert result["processes"][0]["process"] == "FASTQC" and result["processes"][0]["usd"] == 0.15


def test_unknown_run_and_a_stack_without_records_are_clear_errors(stack, hooks, capsys):
    code, _ = nfbatch(stack.outputs_file, "cost", "no-such-run")
    assert code == 2 and "no run named no-such-run" in capsys.readouterr().err
    stack.write(drop=cost.INSTANCE_EVENTS_EXPORT)
    hooks.calls.clear()
    code, _ = nfbatch(stack.outputs_file, "cost", "no-such-run")
    err = capsys.readouterr().err
    assert code == 2 and "no instanceEventsLogGroupName" in err and "pulumi up" in err and "Traceback" not in err
    assert hooks.calls == {}  # refused before any AWS call


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cost"], "cost prices one run, or every run since a time"),
        (["cost", "r", "--since", "30d"], "not both"),
        (["cost", "--since", "30x"], "--since 30x: not a time span"),
    ],
)
def test_bad_cost_input_is_refused_before_any_aws_call(stack, hooks, capsys, argv, message):
    code, _ = nfbatch(stack.outputs_file, *argv)
    assert code == 2 and message in capsys.readouterr().err and hooks.calls == {}


def test_attempts_take_resource_requirements_and_the_process_from_the_job_name():
    # DescribeJobs' ContainerDetail.resourceRequirements (botocore Batch model), as nf-amazon sets them per task
    # (AwsBatchTaskHandler.newSubmitRequest: MEMORY in MiB, VCPU when cpus > 1).
    job = {
        "jobId": "j",
        "jobName": "NFCORE_RNASEQRNASEQFASTQC_12",
        "container": {"resourceRequirements": [{"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "8192"}]},
        "attempts": [{"startedAt": 1, "stoppedAt": 5, "container": {"containerInstanceArn": "ci"}}],
    }
    (attempt,) = cost.attempts_of(job, False, now=9)
    assert (attempt.process, attempt.vcpus, attempt.memory_mib, attempt.stop) == (
        "NFCORE_RNASEQRNASEQFASTQC",
        4,
        8192,
        5,
    )
    assert cost.process_name({"jobName": "X_1", "tags": {cost.PROCESS_TAG: "NFCORE:FASTQC"}}) == "NFCORE:FASTQC"


def test_pricing_endpoints_are_the_ones_botocore_knows():
    # botocore data/endpoints.json: api.pricing is served from us-east-1, eu-central-1 and ap-south-1 only.
    endpoints = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    aws = next(p for p in endpoints["partitions"] if p["partition"] == "aws")
    assert sorted(aws["services"]["api.pricing"]["endpoints"]) == sorted(cost.PRICING_ENDPOINTS["aws"])
    assert cost.pricing_region("eu-west-2") == "eu-central-1" and cost.pricing_region("ap-northeast-1") == "ap-south-1"
    assert cost.pricing_region("us-west-2") == "us-east-1" and cost.pricing_region("us-gov-west-1") is None


def test_spot_slices_are_priced_at_the_price_in_force():
    rate = cost.Rate([(0, 1.0), (2 * HOUR, 3.0)])
    assert rate.cost(HOUR, 3 * HOUR) == pytest.approx(4.0)  # 1 h at $1, 1 h at $3
    assert cost.Rate([(5 * HOUR, 2.0)]).cost(0, HOUR) == pytest.approx(2.0)  # the first step is in force at start
    assert math.isclose(cost.Rate([(0, 1.0)], volume_hour=0.5).cost(0, 2 * HOUR), 3.0)


POLICY_ARGS = {
    "partition": "aws",
    "region": REGION,
    "account_id": ACCOUNT,
    "team": "genomicscore",
    "head_queue_arn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/head",
    "job_definition_name": "head",
    "bucket_arn": "arn:aws:s3:::lab-work",
    "log_group_name": "nextflow-logs",
}


def test_the_team_run_policy_grants_pricing_reads_and_only_the_record_group():
    from parliament import analyze_policy_string

    from policies.iam import team_run_policy, write_actions_on_any_resource

    group = "/genomics-batch/instances-dev"
    policy = team_run_policy(**POLICY_ARGS, instance_events_log_group=group)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    assert by_sid["ReadInstanceRecords"]["Resource"] == [arn, f"{arn}:*"]
    assert by_sid["ReadPrices"]["Resource"] == "*" and write_actions_on_any_resource(policy) == []
    # Parliament (the Service Authorization Reference's actions and resource types) finds nothing in them.
    mine = {**policy, "Statement": [by_sid["ReadInstanceRecords"], by_sid["ReadPrices"]]}
    assert analyze_policy_string(json.dumps(mine)).findings == []
    without = team_run_policy(**{**POLICY_ARGS, "instance_events_log_group": None})
    assert "ReadPrices" not in {s["Sid"] for s in without["Statement"]}


def with_teams(stack) -> None:
    stack.outputs["teams"] = {
        name: {
            "shareIdentifier": name,
            "weight": 1,
            "maxVcpus": None,
            "jobDefinitionArn": stack.outputs["jobDefinitionArn"],
            "jobDefinitionName": stack.outputs["jobDefinitionName"],
            "taskQueueArn": stack.outputs["defaultQueueArn"],
            "taskQueueName": stack.outputs["defaultQueueArn"].rsplit("/", 1)[-1],
        }
        for name in ("genomicscore", "rnalab")
    }
    stack.write()


def test_a_team_prices_only_its_own_runs(stack, hooks, capsys):
    with_teams(stack)
    stack.seed_run("theirs", team="rnalab")
    code, _ = nfbatch(stack.outputs_file, "cost", "theirs", "--team", "genomicscore")
    err = capsys.readouterr().err
    assert code == 2 and "run theirs is team rnalab's, not team genomicscore's" in err
    code, _ = nfbatch(stack.outputs_file, "cost", "theirs", "--team", "nosuch")
    assert code == 2 and "--team nosuch: no such team" in capsys.readouterr().err
    assert priced(stack, "theirs", team="rnalab")["totalUsd"] == 0.42


def test_since_prices_every_run_of_the_team_and_sums_them(stack, hooks):
    with_teams(stack)
    stack.seed_run("ours", team="genomicscore")
    stack.seed_run("other", team="rnalab")
    result = priced(stack, None, team="genomicscore", since="30d")
    assert [r["run"] for r in result["runs"]] == ["ours"]
    # rnalab's run "other" shared the instances: its share is otherRunsUsd, outside idle and outside the total, and
    # this run + other runs + idle = what the instances cost over the span (0.21 + 0.20). The spot saving is this
    # run's: the spot instance's $0.204 against on-demand (2 h at 0.192 less 0.08 + 0.10) times the part of it that
    # was not rnalab's (half: both runs held it alike, no idle), $0.102.
    assert (result["totalUsd"], result["otherRunsUsd"], result["spotSavingUsd"], result["unpriced"]) == (
        0.26,
        0.15,
        0.1,
        [],
    )
    assert result["runs"][0]["usd"] + result["idleUsd"] == pytest.approx(0.26)
    instances = sum(i["usd"] for i in result["instances"])
    assert result["totalUsd"] + result["otherRunsUsd"] == pytest.approx(instances) == pytest.approx(0.41)
    assert "runs since 30d of team genomicscore:" in cost.text_lines(result)[0]


def test_a_big_run_takes_a_bounded_number_of_calls(stack, hooks):
    stack.seed_run("big")
    stack.many_tasks("big", 247)  # with the seeded four: 251 jobs
    result = priced(stack, "big")  # the stubs answer one spot history and two Price List lookups, no more
    assert hooks.calls["DescribeJobs"] == 1 + math.ceil(250 / 100) and hooks.calls["FilterLogEvents"] == 1
    assert hooks.calls["DescribeJobQueues"] == 1 and hooks.calls["DescribeLaunchTemplateVersions"] == 1
    assert result["tasks"] == 250 and result["processes"][0] == {
        "process": "FASTQC",
        "jobs": 249,
        "attempts": 249,
        # The seeded FASTQC pair, then 247 quarter-hours at a quarter of the instance, spot at $0.10/h by then.
        "usd": round(0.151438356 + 247 * 0.25 * (0.10 + VOLUME_HOUR) / 4, 2),
    }


def test_the_cost_verb_never_imports_pulumi_or_pydantic():
    import subprocess
    import sys

    probe = "import sys, nfbatch.cli, nfbatch.cost; print(sorted(m for m in sys.modules if m.split('.')[0] in "
    probe += "('pulumi', 'pulumi_aws', 'grpc', 'pydantic')))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


def stub_calls(
    spot: list[tuple[str, list[tuple[int, float]]]], od: list[tuple[str, float]], pricing_error: str | None = None
):
    """Stubbed ec2 and pricing clients answering `spot` history lookups and `od` Price List lookups, each in the
    order given (the order nfbatch asks in: instances by ARN); with `pricing_error`, each Price List lookup is
    refused with that error code instead."""
    ec2, ec2_stub = stubbed("ec2")
    pricing, pricing_stub = stubbed("pricing", "us-east-1")
    for instance_type, steps in spot:
        history = [
            {
                "AvailabilityZone": ZONE,
                "InstanceType": instance_type,
                "ProductDescription": "Linux/UNIX",
                "SpotPrice": f"{usd:.6f}",
                "Timestamp": datetime.fromtimestamp(t / 1000, UTC),
            }
            for t, usd in steps
        ]
        ec2_stub.add_response(
            "describe_spot_price_history",
            {"SpotPriceHistory": history},
            {
                "InstanceTypes": [instance_type],
                "AvailabilityZone": ZONE,
                "ProductDescriptions": ["Linux/UNIX"],
                "StartTime": ANY,
                "EndTime": ANY,
            },
        )
    for instance_type, usd in od:
        request = {
            "ServiceCode": "AmazonEC2",
            "Filters": cost.on_demand_filters(instance_type, REGION),
            "MaxResults": 10,
        }
        if pricing_error:
            pricing_stub.add_client_error(
                "get_products", pricing_error, "User is not authorized", 400, expected_params=request
            )
        else:
            answer = {"PriceList": [product(instance_type, usd)], "FormatVersion": "aws_v1"}
            pricing_stub.add_response("get_products", answer, request)
    return ec2, pricing, (ec2_stub, pricing_stub)


def priced_with(stack, stubs, run=None, since=None, team=None):
    ec2, pricing, (ec2_stub, pricing_stub) = stubs
    with ec2_stub, pricing_stub:
        aws, outputs = Aws(REGION), StackOutputs(stack.outputs)
        prices = cost.Prices(aws, REGION, ec2, pricing)
        result = (
            cost.price_runs(aws, outputs, since, team, prices)
            if since
            else cost.price_run(aws, outputs, run, team, prices)
        )
        ec2_stub.assert_no_pending_responses()
        pricing_stub.assert_no_pending_responses()
    return result


def test_one_type_and_zone_11_hours_apart_is_priced_at_each_ones_price_in_one_lookup(stack, hooks):
    # botocore EC2 model, DescribeSpotPriceHistory: it "returns the prices of the instance types within the time
    # range that you specified": steps fetched for the first instance's hour say nothing of the second's.
    late = stack.spot_ci.replace("aaaa1111", "dddd4444")
    stack.job("twin", "nfbatch-twin", "head", (1, 3750), [(stack.od_ci, T0, T0 + 13 * HOUR)])
    stack.job("twin", "FASTQC_1", "default", (4, 1000), [(stack.spot_ci, T0, T0 + HOUR)])
    stack.job("twin", "FASTQC_2", "default", (4, 1000), [(late, T0 + 12 * HOUR, T0 + 13 * HOUR)])
    spot = stack.clusters["spot"]
    stack.record(
        [
            (T0 - 60_000, instance_event(stack.clusters["onDemand"], stack.od_ci, "i-0od", OD_TYPE, 2048, 7500)),
            (T0 - 30_000, instance_event(spot, stack.spot_ci, "i-0early", SPOT_TYPE, 4096, 15000)),
            (T0 + 12 * HOUR - 30_000, instance_event(spot, late, "i-0late", SPOT_TYPE, 4096, 15000)),
        ]
    )
    stubs = stub_calls(
        [(SPOT_TYPE, [(T0 - HOUR, 0.08), (T0 + 11 * HOUR, 0.30)])], [(OD_TYPE, 0.096), (SPOT_TYPE, 0.192)]
    )
    result = priced_with(stack, stubs, "twin")  # one history lookup answers both: assert_no_pending_responses
    by_id = {i["ec2InstanceId"]: i["usd"] for i in result["instances"]}
    assert by_id["i-0early"] == round(0.08 + VOLUME_HOUR, 2) and by_id["i-0late"] == round(0.30 + VOLUME_HOUR, 2)
    assert hooks.calls.get("DescribeSpotPriceHistory") is None  # the stubbed client, not nfbatch's session


def test_a_window_outside_the_cached_one_is_looked_up_again():
    ec2, ec2_stub = stubbed("ec2")
    for usd in (0.08, 0.30):
        ec2_stub.add_response(
            "describe_spot_price_history",
            {
                "SpotPriceHistory": [
                    {
                        "AvailabilityZone": ZONE,
                        "InstanceType": SPOT_TYPE,
                        "SpotPrice": str(usd),
                        "Timestamp": datetime.fromtimestamp(T0 / 1000, UTC),
                    }
                ]
            },
        )
    with ec2_stub:
        prices = cost.Prices(Aws(REGION), REGION, ec2=ec2)
        assert prices.spot(SPOT_TYPE, ZONE, T0, T0 + HOUR) == [(T0, 0.08)]
        assert prices.spot(SPOT_TYPE, ZONE, T0 + 10, T0 + 20) == [(T0, 0.08)]  # inside: cached
        assert prices.spot(SPOT_TYPE, ZONE, T0 + 11 * HOUR, T0 + 12 * HOUR) == [(T0, 0.30)]  # outside: asked again
        ec2_stub.assert_no_pending_responses()
        with pytest.raises(cost.PriceRefused, match="kept for 90 days"):  # each window is checked, not the first
            prices.spot(SPOT_TYPE, ZONE, T0 - 91 * 24 * HOUR, T0)


def test_since_prices_a_shared_instance_once_across_the_runs(stack, hooks):
    # Two runs' heads side by side on one on-demand instance for an hour: the instance is priced once ($0.096/h
    # and its volume), each head gets half, and --since sums to what the instance cost, not twice it.
    stack.job("left", "nfbatch-left", "head", (1, 3750), [(stack.od_ci, T0, T0 + HOUR)])
    stack.job("right", "nfbatch-right", "head", (1, 3750), [(stack.od_ci, T0, T0 + HOUR)])
    stack.record([(T0 - 60_000, instance_event(stack.clusters["onDemand"], stack.od_ci, "i-0od", OD_TYPE, 2048, 7500))])
    result = priced_with(stack, stub_calls([], [(OD_TYPE, 0.096)]), since="30d")
    whole = 0.096 + VOLUME_HOUR
    assert {r["run"]: r["usd"] for r in result["runs"]} == {"left": round(whole / 2, 2), "right": round(whole / 2, 2)}
    assert (result["totalUsd"], result["idleUsd"]) == (round(whole, 2), 0.0) and len(result["instances"]) == 1
    # Listed and described once for both runs: ListJobs once on the head queue and, per task queue, BEFORE_CREATED_AT
    # then AFTER_CREATED_AT, since the task queues are empty and an empty BEFORE page is not trusted
    # (runs.task_summaries).
    assert hooks.calls["ListJobs"] == 1 + 2 * len(StackOutputs(stack.outputs).task_queue_arns)
    assert "idle instance time (all runs)" in "\n".join(cost.text_lines(result))


def boot_and_leave(stack, arn: str, ec2_id: str, up: int, down: int) -> None:
    spot = stack.clusters["spot"]
    stack.record(
        [
            (T0 - 60_000, instance_event(stack.clusters["onDemand"], stack.od_ci, "i-0od", OD_TYPE, 2048, 7500)),
            (up, instance_event(spot, arn, ec2_id, SPOT_TYPE, 4096, 15000)),
            (down, instance_event(spot, arn, ec2_id, SPOT_TYPE, 4096, 15000, status="INACTIVE")),
        ]
    )


def test_an_instance_of_this_run_alone_is_charged_from_boot_to_gone(stack, hooks):
    # Attempt startedAt is after boot and image pull (botocore Batch model, AttemptDetail.startedAt: "when the
    # attempt transitioned from the STARTING state to the RUNNING state"): the records bound the instance's life.
    own = stack.spot_ci.replace("aaaa1111", "eeee5555")
    stack.job("solo", "nfbatch-solo", "head", (1, 3750), [(stack.od_ci, T0, T0 + 2 * HOUR)])
    stack.job("solo", "ALIGN_1", "default", (4, 1000), [(own, T0 + HOUR // 4, T0 + 5 * HOUR // 4)])
    boot_and_leave(stack, own, "i-0own", T0 + HOUR // 12, T0 + 4 * HOUR // 3)  # T0+5min to T0+80min
    stubs = stub_calls([(SPOT_TYPE, [(T0 - HOUR, 0.12)])], [(OD_TYPE, 0.096), (SPOT_TYPE, 0.192)])
    result = priced_with(stack, stubs, "solo")
    life = next(i for i in result["instances"] if i["ec2InstanceId"] == "i-0own")
    assert (life["hours"], life["wholeLife"]) == (1.25, True) and life["usd"] == round(1.25 * (0.12 + VOLUME_HOUR), 2)
    assert result["processes"][0]["usd"] == round(0.12 + VOLUME_HOUR, 2)  # all 4 vCPUs for its hour
    assert result["totalUsd"] == round(
        result["processes"][0]["usd"] + result["headUsd"] + result["idleUsd"], 2
    )  # boot and the minutes before scale-in are idle, and the totals add up to what the instances cost


def test_an_instance_another_run_used_is_charged_for_the_span_this_run_held_it(stack, hooks):
    shared = stack.spot_ci.replace("aaaa1111", "ffff6666")
    stack.job("mine", "nfbatch-mine", "head", (1, 3750), [(stack.od_ci, T0, T0 + 2 * HOUR)])
    stack.job("mine", "ALIGN_1", "default", (4, 1000), [(shared, T0 + HOUR // 4, T0 + 5 * HOUR // 4)])
    stack.job("theirs", "TRIM_1", "default", (1, 1000), [(shared, T0 + HOUR // 4, T0 + HOUR // 2)])
    boot_and_leave(stack, shared, "i-0shared", T0 + HOUR // 12, T0 + 4 * HOUR // 3)
    stubs = stub_calls([(SPOT_TYPE, [(T0 - HOUR, 0.12)])], [(OD_TYPE, 0.096), (SPOT_TYPE, 0.192)])
    result = priced_with(stack, stubs, "mine")
    held = next(i for i in result["instances"] if i["ec2InstanceId"] == "i-0shared")
    assert (held["hours"], held["wholeLife"]) == (1.0, False)


def test_task_listing_is_bounded_by_the_heads_life(stack, hooks):
    # botocore Batch model, ListJobsRequest.filters: "Only one filter can be used at a time", results "sorted by
    # the createdAt field, with the most recent jobs being first". moto applies neither, so this lists jobs of
    # other runs created before, during and after the head's life, and asserts which are described.
    stack.job("early", "X_1", "default", (1, 1000), [(stack.spot_ci, T0 - 5 * HOUR, T0 - 4 * HOUR)])
    stack.seed_run("bounded")
    stack.job("during", "Y_1", "default", (1, 1000), [(stack.spot_ci, T0 + HOUR // 2, T0 + HOUR)])
    stack.job("late", "Z_1", "default", (1, 1000), [(stack.spot_ci, T0 + 5 * HOUR, T0 + 6 * HOUR)])
    described: list[str] = []
    hooks.on("provide-client-params.batch.DescribeJobs", lambda params, **_: described.extend(params["jobs"]))
    result = priced(stack, "bounded")
    names = {j["jobId"]: j["jobName"] for j in Aws(REGION).client("batch").describe_jobs(jobs=described)["jobs"]}
    assert sorted(set(names.values())) == ["ALIGN_1", "FASTQC_1", "FASTQC_2", "Y_1", "nfbatch-bounded"]
    # Y_1 of run "during" shared the spot instance: it stays priced over this run's span, and Y_1's part (a quarter
    # of the instance for half an hour at $0.08) is the other runs', neither idle nor in this run's total.
    assert result["otherRunsUsd"] == round(0.25 * 0.5 * (0.08 + VOLUME_HOUR), 2) and result["totalUsd"] == 0.40
    assert result["totalUsd"] + result["otherRunsUsd"] == pytest.approx(0.41)  # the instances' 0.21 + 0.20
    assert sum(i["usd"] for i in result["instances"]) == pytest.approx(0.41)
    assert not any(i["wholeLife"] for i in result["instances"])


def test_gpus_count_in_the_share():
    detail = json.loads(instance_event("c", "ci", "i-0g", "g5.2xlarge", 8192, 30000))["detail"]
    detail["registeredResources"].append({"name": "GPU", "type": "STRINGSET", "stringSetValue": ["GPU-1"]})
    gpu_instance = cost.instance_from(detail)
    assert gpu_instance is not None and gpu_instance.gpus == 1
    job = {
        "jobId": "j",
        "jobName": "BASECALL_1",
        "container": {"resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "GPU", "value": "1"}]},
        "attempts": [{"startedAt": 1, "stoppedAt": 5, "container": {"containerInstanceArn": "ci"}}],
    }
    (attempt,) = cost.attempts_of(job, False, now=9)
    assert cost.share(attempt, gpu_instance) == 1.0  # one vCPU of eight, but the only GPU


def test_records_without_type_or_zone_are_unpriced_for_that_reason():
    instances: dict = {}
    incomplete: set = set()
    detail = json.loads(instance_event("c", "ci-x", "i-0x", SPOT_TYPE, 4096, 15000))["detail"]
    detail["attributes"] = [a for a in detail["attributes"] if a["name"] != "ecs.availability-zone"]
    cost.note_record(instances, incomplete, detail, T0)
    assert instances == {} and incomplete == {"ci-x"}
    assert cost.missing_reason("ci-x", incomplete) == "the records for the instance lack its type or zone"
    assert cost.missing_reason(None, incomplete) == "the attempt names no container instance"


def test_fargate_is_told_by_platform_capabilities():
    job = {
        "jobId": "j",
        "jobName": "nfbatch-f",
        "platformCapabilities": ["FARGATE"],
        "container": {"resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}]},
        "attempts": [{"startedAt": 1, "stoppedAt": HOUR, "container": {}}],
    }
    (attempt,) = cost.attempts_of(job, True, now=9)
    ec2_job = {**job, "platformCapabilities": ["EC2"]}
    assert attempt.fargate and not cost.attempts_of(ec2_job, True, now=9)[0].fargate


def test_a_team_stack_needs_team_for_cost(stack, hooks, capsys):
    with_teams(stack)
    hooks.calls.clear()
    code, _ = nfbatch(stack.outputs_file, "cost", "anything")
    assert code == 2 and "say which one you run as" in capsys.readouterr().err and hooks.calls == {}


def test_price_list_answers_are_checked_and_a_corrupt_cache_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(cost.PriceRefused, match="several on-demand prices"):
        cost.on_demand_usd([product(OD_TYPE, 0.096), product(OD_TYPE, 0.2)])
    assert cost.on_demand_usd([product(OD_TYPE, 0.096), product(OD_TYPE, 0.096)]) == 0.096
    assert {"Type": "TERM_MATCH", "Field": "licenseModel", "Value": "No License required"} in cost.on_demand_filters(
        OD_TYPE, REGION
    )
    cost.cache_file().parent.mkdir(parents=True)
    cost.cache_file().write_text("{not json")
    assert cost.read_cache(cost.cache_file()) == {}


def test_the_pricing_endpoint_comes_from_botocores_partitions():
    # botocore data/endpoints.json: the aws-eusc partition serves api.pricing from eusc-de-east-1 itself.
    assert cost.pricing_region("eusc-de-east-1") == "eusc-de-east-1"
    assert cost.pricing_region("cn-north-1") == "cn-northwest-1"


def test_the_team_run_policy_grants_every_call_the_verb_makes(stack, hooks):
    from policies.iam import team_run_policy

    stack.seed_run("iam")
    priced(stack, "iam")
    services = {"ListJobs": "batch", "DescribeJobs": "batch", "DescribeJobQueues": "batch"}
    services |= {
        "DescribeComputeEnvironments": "batch",
        "FilterLogEvents": "logs",
        "DescribeLaunchTemplateVersions": "ec2",
    }
    made = {f"{services[op]}:{op}" for op in hooks.calls} | {"ec2:DescribeSpotPriceHistory", "pricing:GetProducts"}
    policy = team_run_policy(**POLICY_ARGS, instance_events_log_group=stack.group)
    granted = {
        a for s in policy["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert made - granted == set() and len(made) == 8  # the README and docs/costs.md list these eight


def test_a_runs_line_under_since_sums_its_sub_cent_processes_before_rounding():
    # Rounding each process first would give 40 x round(0.0049, 2) = 0.0; the run's charge is rounded once.
    report = cost.Report(by_run={})
    for i in range(40):
        attempt = cost.Attempt(f"j{i}", f"P{i}", False, "ci", 0, HOUR, 1, 1000, run="tiny")
        report.charge(attempt, 0.0049)
    head = {"jobId": "h", "jobName": "nfbatch-tiny", "status": "SUCCEEDED", "tags": {"nfbatch-run": "tiny"}}
    entry = cost.run_entry(head, report, [], now=HOUR)
    assert entry["usd"] == 0.20 and sum(p["usd"] for p in entry["processes"]) == 0.0


def test_the_single_run_text_says_its_lines_are_rounded(stack, hooks):
    stack.seed_run("told")
    lines = cost.text_lines(priced(stack, "told"))
    assert "(lines are rounded to the cent: their sum may differ from the total by a few half-cents)" in lines
    assert any("other runs on the same instances" in line for line in lines)


def test_the_span_held_starts_no_earlier_than_the_instances_first_record():
    # The docstring's "clipped to its recorded life": an attempt cannot run before the instance was recorded.
    instance = cost.Instance("ci", "i-0", SPOT_TYPE, ZONE, 4, 15000, "c", first=T0 + HOUR, last=T0 + 3 * HOUR)
    held = [cost.Attempt("j", "P", False, "ci", T0, T0 + 2 * HOUR, 1, 1000)]
    assert cost.priced_spans(instance, held, alone=False) == [(T0 + HOUR, T0 + 2 * HOUR)]
    unrecorded = cost.Instance("ci", "i-0", SPOT_TYPE, ZONE, 4, 15000, "c")  # first 0: no record, the attempts rule
    assert cost.priced_spans(unrecorded, held, alone=False) == [(T0, T0 + 2 * HOUR)]
    other = cost.Attempt("k", "Q", False, "ci", T0 - HOUR, T0 + 3 * HOUR, 1, 1000, other=True)
    assert cost.priced_spans(instance, [*held, other], alone=False) == [(T0 + HOUR, T0 + 2 * HOUR)]  # never widens


def test_other_runs_share_of_an_instance_is_theirs_and_everything_adds_up(stack, hooks):
    shared = stack.spot_ci.replace("aaaa1111", "ffff6666")
    stack.job("mine", "nfbatch-mine", "head", (1, 3750), [(stack.od_ci, T0, T0 + 2 * HOUR)])
    stack.job("mine", "ALIGN_1", "default", (2, 1000), [(shared, T0 + HOUR // 4, T0 + 5 * HOUR // 4)])
    stack.job("theirs", "TRIM_1", "default", (1, 1000), [(shared, T0 + HOUR // 4, T0 + HOUR // 2)])
    boot_and_leave(stack, shared, "i-0shared", T0 + HOUR // 12, T0 + 4 * HOUR // 3)
    stubs = stub_calls([(SPOT_TYPE, [(T0 - HOUR, 0.12)])], [(OD_TYPE, 0.096), (SPOT_TYPE, 0.192)])
    result = priced_with(stack, stubs, "mine")
    rate = 0.12 + VOLUME_HOUR  # the shared 4-vCPU instance, priced over the hour "mine" held it
    assert result["processes"][0]["usd"] == round(0.5 * rate, 2)  # 2 of 4 vCPUs for the hour
    assert result["otherRunsUsd"] == round(0.25 * 0.25 * rate, 2)  # TRIM_1: 1 of 4 vCPUs for a quarter-hour
    # That the run, other runs and the idle add up to the instances is asserted unrounded, in the next test.


def test_the_run_other_runs_and_idle_add_up_to_the_instance_unrounded():
    # The same shared instance as above, and a second session 3 h later, priced by the pure apportion.
    instance = cost.Instance("ci", "i-0", SPOT_TYPE, ZONE, 4, 15000, "c", first=T0, last=T0 + 8 * HOUR)
    mine = cost.Attempt("j", "ALIGN", False, "ci", T0 + HOUR // 4, T0 + 5 * HOUR // 4, 2, 1000)
    resumed = cost.Attempt("r", "ALIGN", False, "ci", T0 + 4 * HOUR, T0 + 5 * HOUR, 1, 1000)
    theirs = cost.Attempt("k", "TRIM", False, "ci", T0 + HOUR // 4, T0 + 3 * HOUR, 1, 1000, other=True)
    held = [mine, resumed, theirs]
    spans = cost.priced_spans(instance, held, alone=False, sessions=[T0, T0 + 4 * HOUR - 60_000])
    assert spans == [(T0 + HOUR // 4, T0 + 5 * HOUR // 4), (T0 + 4 * HOUR, T0 + 5 * HOUR)]  # not the 3 h between
    rate, report = cost.Rate([(T0 - HOUR, 0.12), (T0 + 4 * HOUR + HOUR // 2, 0.20)], VOLUME_HOUR), cost.Report()
    cost.apportion(report, instance, held, rate, 0.192, spans)
    whole = rate.cost_over(spans)
    assert whole == pytest.approx(0.12 + 0.5 * 0.12 + 0.5 * 0.20 + 2 * VOLUME_HOUR, rel=1e-12)
    assert report.charged() + report.other_usd + report.idle_usd == pytest.approx(whole, rel=1e-12)
    # TRIM_1 is charged only inside the spans (its first hour, 1 of 4 vCPUs), never for the gap it ran in.
    assert report.other_usd == pytest.approx(0.25 * (0.12 + VOLUME_HOUR), rel=1e-12)
    on_demand_saving = 2 * (0.192 + VOLUME_HOUR) - whole
    assert report.saving_usd == pytest.approx(on_demand_saving * (whole - report.other_usd) / whole, rel=1e-12)


def test_every_session_of_a_resumed_run_is_priced(stack, hooks):
    # `nfbatch run --resume --name X` submits a new head under the same name (nfbatch/runs.py submit_run): both ran.
    stack.job("again", "nfbatch-again", "head", (1, 3750), [(stack.od_ci, T0, T0 + HOUR)])
    stack.job("again", "nfbatch-again", "head", (1, 3750), [(stack.od_ci, T0 + 2 * HOUR, T0 + 3 * HOUR)])
    stack.record([(T0 - 60_000, instance_event(stack.clusters["onDemand"], stack.od_ci, "i-0od", OD_TYPE, 2048, 7500))])
    result = priced_with(stack, stub_calls([], [(OD_TYPE, 0.096)]), "again")
    assert result["sessions"] == 2
    assert result["headUsd"] == round(2 * 0.5 * (0.096 + VOLUME_HOUR), 2)  # half the instance, an hour each session
    # The instance is priced over each session's hour, not the idle hour between them: 2 h, not 3 h.
    assert (result["totalUsd"], result["idleUsd"]) == (round(2 * (0.096 + VOLUME_HOUR), 2), 0.11) == (0.21, 0.11)
    assert "sessions: 2" in cost.text_lines(result)[0]
    assert "sessions" not in cost.text_lines(result | {"sessions": 1})[0]  # one session is not worth a word


def test_sessions_far_apart_list_only_their_own_tasks_and_read_records_per_session(stack, hooks):
    stack.job("apart", "nfbatch-apart", "head", (1, 3750), [(stack.od_ci, T0, T0 + HOUR)])
    stack.job("apart", "nfbatch-apart", "head", (1, 3750), [(stack.od_ci, T0 + 6 * HOUR, T0 + 7 * HOUR)])
    for i in range(3):  # another run's jobs created between the sessions: never described
        stack.job("busy", f"GAP_{i}", "default", (1, 1000), [(stack.spot_ci, T0 + 3 * HOUR, T0 + 4 * HOUR)])
    stack.record([(T0 - 60_000, instance_event(stack.clusters["onDemand"], stack.od_ci, "i-0od", OD_TYPE, 2048, 7500))])
    windows: list[tuple[int, int]] = []
    hooks.on(
        "provide-client-params.logs.FilterLogEvents",
        lambda params, **_: windows.append((params["startTime"], params["endTime"])),
    )
    result = priced_with(stack, stub_calls([], [(OD_TYPE, 0.096)]), "apart")
    assert hooks.calls["DescribeJobs"] == 1  # the heads; no task was created inside a session
    # FilterLogEvents over each session, from an hour before its first start to an hour after its end.
    assert windows == [(T0 - HOUR, T0 + 2 * HOUR), (T0 + 5 * HOUR, T0 + 8 * HOUR)]
    assert (result["tasks"], result["totalUsd"]) == (0, round(2 * (0.096 + VOLUME_HOUR), 2))


def test_a_finished_runs_listing_never_pages_through_jobs_created_after_it(stack, hooks):
    # botocore Batch model, ListJobsRequest.maxResults: "When --filters is used, Batch returns up to 100 values";
    # BEFORE_CREATED_AT bounds the newest job listed, so jobs created after stop + margin are never returned.
    start, stop = T0, T0 + 2 * HOUR
    bound = stop + cost.RECORD_MARGIN_MS
    client, stub = stubbed("batch")
    outputs = StackOutputs(stack.outputs)
    for n, queue in enumerate(outputs.task_queue_arns):
        request = {"jobQueue": queue, "filters": [{"name": "BEFORE_CREATED_AT", "values": [str(bound)]}]}
        if n:  # an empty BEFORE page is listed again AFTER_CREATED_AT start (runs.task_summaries)
            stub.add_response("list_jobs", {"jobSummaryList": []}, request)
            after = {"jobQueue": queue, "filters": [{"name": "AFTER_CREATED_AT", "values": [str(start)]}]}
            stub.add_response("list_jobs", {"jobSummaryList": []}, after)
            continue
        margin_jobs = [{"jobId": f"m{i}", "jobName": "M", "createdAt": stop + 1 + i} for i in range(100)]
        stub.add_response("list_jobs", {"jobSummaryList": margin_jobs, "nextToken": "2"}, request)
        ours = [{"jobId": "r", "jobName": "R", "createdAt": start + 1}, {"jobId": "o", "jobName": "O", "createdAt": 1}]
        stub.add_response("list_jobs", {"jobSummaryList": ours, "nextToken": "3"}, {**request, "nextToken": "2"})
    aws = Aws(REGION)
    aws._clients["batch"] = client
    with stub:  # a third page would be an unexpected call, which the Stubber refuses
        kept, later = cost.runs.task_summaries(aws, outputs, start, stop, cost.RECORD_MARGIN_MS)
        stub.assert_no_pending_responses()
    assert [s["jobId"] for s in kept] == ["r"] and len(later) == 100


def test_jobs_created_long_after_the_run_are_neither_described_nor_later(stack, hooks):
    stack.seed_run("quiet")
    for i in range(20):  # created 5 h after the head stopped: past the listing's margin
        stack.job("busy", f"LATE_{i}", "default", (1, 1000), [(stack.spot_ci, T0 + 7 * HOUR, T0 + 8 * HOUR)])
    stack.job("busy", "MARGIN_1", "default", (1, 1000), [(stack.spot_ci, T0 + 5 * HOUR // 2, T0 + 3 * HOUR)])
    # moto ignores ListJobs' created-at filters (moto/batch/models.py list_jobs: "Return True for unsupported
    # filters"), so the bound is asserted on the requests sent: the BEFORE bound first on each task queue, then, as
    # moto's page holds jobs past it (default) or none (priority), AFTER_CREATED_AT from the head's creation.
    sent: list[tuple[str, list]] = []
    hooks.on(
        "provide-client-params.batch.ListJobs",
        lambda params, **_: sent.append((params["jobQueue"], params.get("filters"))),
    )
    outputs = StackOutputs(stack.outputs)
    heads, described, later = cost.run_jobs(Aws(REGION), outputs, "quiet", None)
    bound, created = str(T0 + 2 * HOUR + cost.RECORD_MARGIN_MS), str(heads[0]["createdAt"])
    for queue in outputs.task_queue_arns:
        assert [f for q, f in sent if q == queue] == [
            [{"name": "BEFORE_CREATED_AT", "values": [bound]}],
            [{"name": "AFTER_CREATED_AT", "values": [created]}],
        ]
    assert later == [T0 + 5 * HOUR // 2 - 60_000]  # MARGIN_1, inside the hour's margin; no LATE job
    assert {j["jobName"] for j in described} == {"FASTQC_1", "FASTQC_2", "ALIGN_1"}
    result = priced(stack, "quiet")
    assert hooks.calls["DescribeJobs"] == 4  # twice the heads, then the run's tasks: none of the late jobs
    assert result["tasks"] == 3


def test_an_empty_before_page_is_listed_again_after_the_heads_creation(stack, hooks):
    # botocore Batch model, ListJobsRequest.filters: BEFORE_CREATED_AT is "the time that's before the job was
    # created": were it to mean the opposite, a run priced within the margin would get an empty first page.
    start, stop = T0, T0 + 2 * HOUR
    bound = stop + cost.RECORD_MARGIN_MS
    client, stub = stubbed("batch")
    outputs = StackOutputs(stack.outputs)
    for queue in outputs.task_queue_arns:
        before = {"jobQueue": queue, "filters": [{"name": "BEFORE_CREATED_AT", "values": [str(bound)]}]}
        after = {"jobQueue": queue, "filters": [{"name": "AFTER_CREATED_AT", "values": [str(start)]}]}
        stub.add_response("list_jobs", {"jobSummaryList": []}, before)
        stub.add_response(
            "list_jobs", {"jobSummaryList": [{"jobId": queue[-6:], "jobName": "R", "createdAt": stop}]}, after
        )
    aws = Aws(REGION)
    aws._clients["batch"] = client
    with stub:
        kept, later = cost.runs.task_summaries(aws, outputs, start, stop, cost.RECORD_MARGIN_MS)
        stub.assert_no_pending_responses()
    assert [s["jobId"] for s in kept] == [q[-6:] for q in outputs.task_queue_arns] and later == []


def test_an_instance_recorded_after_the_listing_margin_is_not_the_runs_alone():
    # Jobs created after stop + margin were never listed: one of them may have run on an instance still recorded then.
    bounds = cost.Bounds(created=T0, later=[], shared=set(), listed_until=T0 + 3 * HOUR)
    instance = cost.Instance("ci", "i-0", SPOT_TYPE, ZONE, 4, 15000, "c", first=T0 + 1, last=T0 + 3 * HOUR, gone=True)
    assert bounds.alone(instance)
    instance.last = T0 + 3 * HOUR + 1
    assert not bounds.alone(instance)


def test_a_before_listing_that_overshoots_its_bound_is_listed_again_from_the_heads_creation(stack, hooks):
    # botocore Batch model, ListJobsRequest.filters: BEFORE_CREATED_AT is "the time that's before the job was
    # created", words that leave the direction to the name: a first page past the bound falls back to AFTER_CREATED_AT.
    start, stop = T0, T0 + 2 * HOUR
    bound = stop + cost.RECORD_MARGIN_MS
    client, stub = stubbed("batch")
    outputs = StackOutputs(stack.outputs)
    queue = outputs.task_queue_arns[0]
    before = {"jobQueue": queue, "filters": [{"name": "BEFORE_CREATED_AT", "values": [str(bound)]}]}
    after = {"jobQueue": queue, "filters": [{"name": "AFTER_CREATED_AT", "values": [str(start)]}]}
    past = {"jobSummaryList": [{"jobId": "z", "jobName": "Z", "createdAt": bound + 1}]}
    stub.add_response("list_jobs", past, before)
    ours = [{"jobId": "z", "jobName": "Z", "createdAt": bound + 1}, {"jobId": "r", "jobName": "R", "createdAt": start}]
    stub.add_response("list_jobs", {"jobSummaryList": ours}, after)
    for other in outputs.task_queue_arns[1:]:
        stub.add_response("list_jobs", {"jobSummaryList": []}, {"jobQueue": other, "filters": before["filters"]})
        stub.add_response("list_jobs", {"jobSummaryList": []}, {"jobQueue": other, "filters": after["filters"]})
    aws = Aws(REGION)
    aws._clients["batch"] = client
    with stub:
        kept, later = cost.runs.task_summaries(aws, outputs, start, stop, cost.RECORD_MARGIN_MS)
        stub.assert_no_pending_responses()
    assert [s["jobId"] for s in kept] == ["r"] and later == []
