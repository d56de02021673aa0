"""`nfbatch cost`: what a run cost, by process, its head and in total, with the spot saving against on-demand.

Jobs come from Batch (DescribeJobs), the instances they ran on from the stack's recording of ECS container-instance
events (the `instanceEventsLogGroupName` export), prices from EC2's spot price history and the Price List API.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import botocore.loaders
from botocore.exceptions import ClientError

from components.costs import HOURS_PER_MONTH, PRICES, root_volume_month
from facts.contract import PROCESS_TAG, RUN_TAG
from nfbatch import runs
from nfbatch.aws import ACCESS_DENIED, RETRY_CONFIG, Aws
from nfbatch.errors import NfbatchError
from nfbatch.stack import StackOutputs

INSTANCE_EVENTS_EXPORT = "instanceEventsLogGroupName"
# A task job carries its Nextflow process under PROCESS_TAG (the head's resourceLabels); a job without it (launched
# by another config) has its process read from the job name, which nf-amazon 25.04.6 makes from the task name:
# AwsBatchTaskHandler.getJobName -> normalizeJobName(name): `replaceAll(' ','_').replaceAll(/[^a-zA-Z0-9_-]/,'')`,
# the task name being "<process> (<tag or index>)" (TaskRun.getName/lazyName), so "FASTQC (3)" is the job FASTQC_3.
HOUR_MS = 3_600_000
# On-demand prices change a few times a year: a week-old lookup is still the price.
PRICE_CACHE_TTL_SECONDS = 7 * 24 * 3600
# The Price List API's endpoints (botocore data/endpoints.json, service api.pricing): any one answers for every
# region (the regionCode filter picks), so the nearest of the partition's is used.
PRICING_ENDPOINTS = {"aws": ("us-east-1", "eu-central-1", "ap-south-1"), "aws-cn": ("cn-northwest-1",)}
# Spot price history goes back 90 days (botocore EC2 model, DescribeSpotPriceHistory StartTime: "up to the past 90
# days").
SPOT_HISTORY_DAYS = 90
# ECS records an instance when a task is placed on it, which is before the job's startedAt by the image pull (and
# when it registers, before its first task): the records are read from an hour before the run's first start.
RECORD_MARGIN_MS = HOUR_MS
FARGATE_ESTIMATE = "Fargate jobs are priced at us-east-1's vCPU and GB rates, an estimate for this region"
SINCE = re.compile(r"([1-9][0-9]{0,3})([hdw])")


@dataclass
class Instance:
    """One container instance as its recorded ECS events describe it."""

    arn: str
    ec2_id: str
    instance_type: str
    zone: str
    vcpus: float
    memory_mib: float
    cluster: str
    gpus: int = 0
    first: int = 0  # the first and last record's times: the instance's recorded life
    last: int = 0
    gone: bool = False  # a record says it left the cluster (DEREGISTERING or INACTIVE)


@dataclass
class Attempt:
    """One attempt of a job on an instance (or on Fargate): every attempt ran, so every attempt is priced."""

    job_id: str
    process: str
    head: bool
    instance: str | None
    start: int
    stop: int
    vcpus: float
    memory_mib: float
    running: bool = False
    run: str = ""
    gpus: float = 0.0
    fargate: bool = False
    other: bool = False  # another run's attempt on an instance the priced runs used: its share is not theirs


@dataclass
class Rate:
    """An instance's price over time: (from millis, USD an hour) steps, plus its volumes' USD an hour."""

    steps: list[tuple[int, float]]
    volume_hour: float = 0.0

    def cost(self, start: int, stop: int) -> float:
        """Each slice of [start, stop] priced at the price in force then (the newest step at or before it)."""
        total = 0.0
        steps = sorted(self.steps)
        for i, (since, usd) in enumerate(steps):
            until = steps[i + 1][0] if i + 1 < len(steps) else stop
            a, b = max(start, since if i else start), min(stop, until)
            if b > a:
                total += usd * (b - a) / HOUR_MS
        return total + self.volume_hour * max(0, stop - start) / HOUR_MS

    def cost_over(self, spans: list[tuple[int, int]]) -> float:
        """The cost over disjoint spans (priced_spans): the time between them is not charged."""
        return sum(self.cost(a, b) for a, b in spans)


@dataclass
class Report:
    processes: dict[str, dict] = field(
        default_factory=lambda: defaultdict(lambda: {"jobs": set(), "attempts": 0, "usd": 0.0})
    )
    head_usd: float = 0.0
    idle_usd: float = 0.0
    other_usd: float = 0.0  # other runs' shares of the instances the priced runs used: neither idle nor theirs
    saving_usd: float = 0.0
    instances: list[dict] = field(default_factory=list)
    unpriced: list[dict] = field(default_factory=list)
    # With several runs (--since), each run's charges go to its own report; idle, saving and instances stay here.
    by_run: dict[str, Report] | None = None

    def charged(self) -> float:
        """What this report's jobs were charged: processes and head, not idle."""
        return sum(e["usd"] for e in self.processes.values()) + self.head_usd

    def charge(self, attempt: Attempt, usd: float) -> None:
        if attempt.other:
            self.other_usd += usd
            return
        if self.by_run is not None:
            self.by_run.setdefault(attempt.run, Report()).charge(attempt, usd)
            return
        if attempt.head:
            self.head_usd += usd
            return
        entry = self.processes[attempt.process]
        entry["jobs"].add(attempt.job_id)
        entry["attempts"] += 1
        entry["usd"] += usd


# --- jobs ---------------------------------------------------------------------------------------------------------


def job_resources(container: dict) -> tuple[float, float]:
    """vCPUs and MiB of a job: its resourceRequirements (VCPU, MEMORY in MiB), else the deprecated vcpus/memory
    fields (botocore Batch model, ContainerDetail)."""
    needs = {r["type"]: float(r["value"]) for r in container.get("resourceRequirements", [])}
    return needs.get("VCPU", float(container.get("vcpus") or 1)), needs.get(
        "MEMORY", float(container.get("memory") or 0)
    )


def process_name(job: dict) -> str:
    """The Nextflow process of a task job: its PROCESS_TAG, else its name without the trailing task index."""
    tagged = job.get("tags", {}).get(PROCESS_TAG)
    return tagged or re.sub(r"_[0-9]+$", "", job["jobName"])


def attempts_of(job: dict, head: bool, now: int) -> list[Attempt]:
    """Each attempt that started, with its container instance (none on Fargate); a running one ends `now`."""
    vcpus, memory = job_resources(job.get("container", {}))
    process = "head" if head else process_name(job)
    extra = {
        "run": job.get("tags", {}).get(RUN_TAG) or job["jobName"].removeprefix(runs.JOB_PREFIX),
        # GPUs are a resourceRequirements type beside VCPU and MEMORY (botocore Batch model, ResourceRequirement).
        "gpus": sum(
            float(r["value"])
            for r in job.get("container", {}).get("resourceRequirements", [])
            if r.get("type") == "GPU"
        ),
        # botocore Batch model, JobDetail.platformCapabilities: "Jobs run on Fargate resources specify FARGATE".
        "fargate": "FARGATE" in job.get("platformCapabilities", []),
    }
    found = []
    for attempt in job.get("attempts", []):
        if attempt.get("startedAt"):
            arn = attempt.get("container", {}).get("containerInstanceArn")
            stop = attempt.get("stoppedAt")
            found.append(
                Attempt(
                    job["jobId"],
                    process,
                    head,
                    arn,
                    attempt["startedAt"],
                    stop or now,
                    vcpus,
                    memory,
                    not stop,
                    **extra,
                )
            )
    last_started = max((a.start for a in found), default=None)
    if job.get("startedAt") and job.get("startedAt") != last_started and not job.get("stoppedAt"):
        # An attempt under way that `attempts` does not list yet: the job's startedAt and the instance "that the
        # container is running on" (botocore Batch model, JobDetail.startedAt, ContainerDetail.containerInstanceArn).
        arn = job.get("container", {}).get("containerInstanceArn")
        found.append(Attempt(job["jobId"], process, head, arn, job["startedAt"], now, vcpus, memory, True, **extra))
    return found


# --- instances ----------------------------------------------------------------------------------------------------


def parse_event(message: str) -> dict | None:
    """The ECS container instance of one recorded EventBridge event, or None for anything else. Its `detail` is
    the ContainerInstance of DescribeContainerInstances (ECS developer guide, "Amazon ECS container instance state
    change events": https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_container_instance_events.html)."""
    try:
        event = json.loads(message)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("detail-type") != "ECS Container Instance State Change":
        return None
    return event.get("detail") if isinstance(event.get("detail"), dict) else None


def instance_from(detail: dict) -> Instance | None:
    """The instance a record describes, or None when the record lacks its type, zone or CPUs."""
    attributes = {a.get("name"): a.get("value") for a in detail.get("attributes", [])}
    resources = {r.get("name"): r for r in detail.get("registeredResources", [])}
    cpu = resources.get("CPU", {}).get("integerValue")
    if not (attributes.get("ecs.instance-type") and attributes.get("ecs.availability-zone") and cpu):
        return None
    return Instance(
        detail["containerInstanceArn"],
        detail.get("ec2InstanceId", "?"),
        attributes["ecs.instance-type"],
        attributes["ecs.availability-zone"],
        cpu / 1024,  # ECS counts 1,024 CPU units a vCPU (ECS API reference, Resource)
        float(resources.get("MEMORY", {}).get("integerValue") or 0),
        detail.get("clusterArn", "?"),
        # The agent registers GPUs as a STRINGSET resource "GPU" of the GPU ids (aws/amazon-ecs-agent,
        # agent/engine/host_resource_manager_test.go: `Name: "GPU", Type: "STRINGSET", StringSetValue: gpuIDs`).
        len(resources.get("GPU", {}).get("stringSetValue") or []),
    )


def read_instances(aws: Aws, group: str, windows: list[tuple[int, int]]) -> tuple[dict[str, Instance], set[str]]:
    """The instances recorded in the windows (one a session: price_heads), each with its recorded life (first to
    last record read), and the ARNs whose records lack type or zone (FilterLogEvents, paginated: one pass a window,
    never a call per job or instance; its pages grow with every event of the stack's instances in the windows, other
    runs' too; the time between sessions is never read)."""
    instances: dict[str, Instance] = {}
    incomplete: set[str] = set()
    paginator = aws.client("logs").get_paginator("filter_log_events")
    pages = (
        page for start, end in windows for page in paginator.paginate(logGroupName=group, startTime=start, endTime=end)
    )
    try:
        for page in pages:
            for event in page["events"]:
                detail = parse_event(event["message"])
                if not detail or not detail.get("containerInstanceArn"):
                    continue
                note_record(instances, incomplete, detail, int(event["timestamp"]))
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        raise NfbatchError(
            f"the instance records' log group {group} does not exist", "run `pulumi up` for the stack"
        ) from None
    return instances, incomplete - set(instances)


def note_record(instances: dict[str, Instance], incomplete: set[str], detail: dict, at: int) -> None:
    """Widen an instance's recorded life by one record (type, zone and cluster never change)."""
    arn, found = detail["containerInstanceArn"], instance_from(detail)
    known = instances.get(arn)
    if found is None and known is None:
        incomplete.add(arn)
        return
    if known is None:
        assert found is not None
        known = instances[arn] = found
        known.first = known.last = at
    known.first, known.last = min(known.first, at), max(known.last, at)
    # ECS container instance statuses: ACTIVE, DRAINING, REGISTERING, DEREGISTERING, INACTIVE (botocore ECS model,
    # ContainerInstance.status); the last two are an instance leaving the cluster.
    known.gone = known.gone or detail.get("status") in ("DEREGISTERING", "INACTIVE")


def cluster_capacity(aws: Aws, outputs: StackOutputs) -> dict[str, dict]:
    """ECS cluster ARN -> the compute environment behind it: its type (SPOT or EC2) and launch template, for every
    compute environment of the stack's queues, team queues included (two calls, whatever the run's size)."""
    queues = aws.client("batch").describe_job_queues(jobQueues=[outputs["headQueueArn"], *outputs.task_queue_arns])
    arns = sorted({o["computeEnvironment"] for q in queues["jobQueues"] for o in q["computeEnvironmentOrder"]})
    found = aws.client("batch").describe_compute_environments(computeEnvironments=arns)["computeEnvironments"]
    return {ce["ecsClusterArn"]: ce.get("computeResources", {}) for ce in found if ce.get("ecsClusterArn")}


# --- prices -------------------------------------------------------------------------------------------------------


def cache_file() -> Path:
    """Where on-demand prices are kept between runs (XDG Base Directory: $XDG_CACHE_HOME, else ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nfbatch" / "on-demand-prices.json"


def pricing_region(region: str) -> str | None:
    """The Price List endpoint nearest to a region, or None in a partition without one (GovCloud): the region's
    partition and its api.pricing endpoints from botocore's data/endpoints.json (regions, else regionRegex)."""
    partitions = botocore.loaders.create_loader().load_data("endpoints")["partitions"]
    mine = next((p for p in partitions if region in p.get("regions", {})), None) or next(
        (p for p in partitions if re.fullmatch(p.get("regionRegex", "$^"), region)), None
    )
    choices = tuple(sorted((mine or {}).get("services", {}).get("api.pricing", {}).get("endpoints", {})))
    if not choices:
        return None
    if len(choices) == 1:
        return choices[0]
    near = {"eu": "eu-central-1", "me": "eu-central-1", "af": "eu-central-1", "il": "eu-central-1", "ap": "ap-south-1"}
    nearest = near.get(region.split("-", 1)[0])
    return nearest if nearest in choices else "us-east-1" if "us-east-1" in choices else choices[0]


def on_demand_filters(instance_type: str, region: str) -> list[dict]:
    """One Linux, shared-tenancy, no-preinstalled-software, used-capacity product: the on-demand instance price
    (attribute names of the AmazonEC2 offer, Price List API: https://docs.aws.amazon.com/awsaccountbilling/latest/
    aboutv2/price-changes.html)."""
    terms = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms.items()]


def on_demand_usd(price_list: list[str]) -> float | None:
    """The USD hourly price of the products' OnDemand terms (each PriceList item is a JSON document); products that
    disagree are refused rather than one picked."""
    found = set()
    for item in price_list:
        product = json.loads(item)
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                if dimension.get("unit") == "Hrs" and "USD" in dimension.get("pricePerUnit", {}):
                    found.add(float(dimension["pricePerUnit"]["USD"]))
    if len(found) > 1:
        raise PriceRefused(f"the Price List API gives several on-demand prices {sorted(found)}")
    return found.pop() if found else None


def read_cache(path: Path) -> dict:
    """The on-demand price cache, or an empty one when it is missing or corrupt: a cache is never a reason to fail."""
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


class PriceRefused(Exception):
    """A price AWS would not give: the reason names the item."""


class Prices:
    """On-demand prices (cached on disk for a week, one lookup per type and region) and spot history (one
    paginated lookup per type and zone over the whole window)."""

    def __init__(self, aws: Aws, region: str, ec2=None, pricing=None, now: float | None = None):
        self.aws, self.region, self.now = aws, region, now or time.time()
        self._ec2, self._pricing = ec2, pricing
        # (type, zone) -> the window fetched and its steps; `_wanted` the union of the windows asked for so far.
        self._spot: dict[tuple[str, str], tuple[int, int, list[tuple[int, float]]]] = {}
        self._wanted: dict[tuple[str, str], tuple[int, int]] = {}
        self._memo: dict[str, float] = {}

    def pricing(self):
        if self._pricing is None:
            endpoint = pricing_region(self.region)
            if endpoint is None:
                raise PriceRefused(f"the Price List API has no endpoint for {self.region}'s partition")
            self._pricing = self.aws.session.client("pricing", region_name=endpoint, config=RETRY_CONFIG)
        return self._pricing

    def on_demand(self, instance_type: str) -> float:
        key = f"{self.region}/{instance_type}"
        if key in self._memo:
            return self._memo[key]
        path = cache_file()
        cached = read_cache(path)
        hit = cached.get(key)
        if (
            isinstance(hit, dict)
            and isinstance(hit.get("usd"), float)
            and self.now - hit.get("at", 0) < PRICE_CACHE_TTL_SECONDS
        ):
            self._memo[key] = hit["usd"]
            return hit["usd"]
        try:
            answer = self.pricing().get_products(
                ServiceCode="AmazonEC2", Filters=on_demand_filters(instance_type, self.region), MaxResults=10
            )
        except ClientError as error:
            raise PriceRefused(refusal("pricing:GetProducts", error)) from None
        usd = on_demand_usd(answer.get("PriceList", []))
        if usd is None:
            raise PriceRefused(f"the Price List API has no Linux on-demand price for {instance_type} in {self.region}")
        cached[key] = {"usd": usd, "at": self.now}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cached, indent=1, sort_keys=True))
        self._memo[key] = usd
        return usd

    def want(self, instance_type: str, zone: str, start: int, stop: int) -> None:
        """Announce a window before pricing, so one lookup per type and zone covers every window."""
        a, b = self._wanted.get((instance_type, zone), (start, stop))
        self._wanted[(instance_type, zone)] = (min(a, start), max(b, stop))

    def spot(self, instance_type: str, zone: str, start: int, stop: int) -> list[tuple[int, float]]:
        """Steps covering [start, stop]: the cached lookup when its window holds this one, else a new lookup over
        the union of this window and those announced (DescribeSpotPriceHistory returns the prices of the time range
        asked for, botocore EC2 model: a window's steps say nothing of another window)."""
        key = (instance_type, zone)
        cached = self._spot.get(key)
        if cached and cached[0] <= start and stop <= cached[1]:
            return cached[2]
        oldest = int(self.now * 1000) - SPOT_HISTORY_DAYS * 24 * HOUR_MS
        if start < oldest:  # each window is checked, not only the first one asked for
            raise PriceRefused(f"spot prices are kept for {SPOT_HISTORY_DAYS} days; this time is older")
        self.want(instance_type, zone, start, stop)
        start, stop = max(oldest, self._wanted[key][0]), self._wanted[key][1]
        ec2 = self._ec2 or self.aws.client("ec2")
        steps = []
        try:
            for page in ec2.get_paginator("describe_spot_price_history").paginate(
                InstanceTypes=[instance_type],
                AvailabilityZone=zone,
                ProductDescriptions=["Linux/UNIX"],
                StartTime=start / 1000,
                EndTime=stop / 1000,
            ):
                steps += [
                    (int(p["Timestamp"].timestamp() * 1000), float(p["SpotPrice"])) for p in page["SpotPriceHistory"]
                ]
        except ClientError as error:
            raise PriceRefused(refusal("ec2:DescribeSpotPriceHistory", error)) from None
        if not steps:
            raise PriceRefused(f"no spot price history for {instance_type} in {zone}")
        self._spot[key] = (start, stop, steps)
        return steps


def refusal(action: str, error: ClientError) -> str:
    code = error.response.get("Error", {}).get("Code", "")
    if code in ACCESS_DENIED:
        return f"access denied: your credentials lack {action}"
    return f"AWS refused {action}: {code}: {error.response.get('Error', {}).get('Message', '')}"


def volume_hour(aws: Aws, template: dict | None, memo: dict) -> tuple[float, str | None]:
    """USD an hour of the EBS volumes an instance boots with, from its compute environment's launch template
    (priced as the plan prices a root volume: components/costs.py root_volume_month); NVMe instance storage is in
    the instance price."""
    if not template:
        return 0.0, "its compute environment names no launch template, so its volumes are not priced"
    key = json.dumps(template, sort_keys=True)
    if key not in memo:
        which = (
            {"LaunchTemplateId": template["launchTemplateId"]}
            if template.get("launchTemplateId")
            else {"LaunchTemplateName": template.get("launchTemplateName", "?")}
        )
        data = aws.client("ec2").describe_launch_template_versions(
            **which, Versions=[str(template.get("version") or "$Default")]
        )["LaunchTemplateVersions"]
        volumes = [m["Ebs"] for v in data for m in v["LaunchTemplateData"].get("BlockDeviceMappings", []) if "Ebs" in m]
        other = [v.get("VolumeType") for v in volumes if v.get("VolumeType", "gp3") != "gp3"]
        # A mapping without a size keeps the AMI's root: 30 GiB (aws/amazon-ecs-ami variables.pkr.hcl,
        # block_device_size_gb); gp3 without IOPS/throughput has its baseline, 3,000 and 125 MiB/s, which are free.
        month = sum(
            root_volume_month(v.get("VolumeSize", 30), v.get("Iops", 3000), v.get("Throughput", 125))
            for v in volumes
            if v.get("VolumeType", "gp3") == "gp3"  # other types are reported unpriced, not priced as gp3
        )
        memo[key] = (month / HOURS_PER_MONTH, f"volume types {other} are not priced" if other else None)
    return memo[key]


# --- apportioning -------------------------------------------------------------------------------------------------


def share(attempt: Attempt, instance: Instance) -> float:
    """The part of an instance an attempt held: max(vCPU share, memory share, GPU share), as Seqera Platform
    estimates a task (VM hourly rate x max(CPU share, memory share) x duration), GPUs added since on a GPU instance
    they are most of the price; at most the whole instance."""
    cpu = attempt.vcpus / instance.vcpus if instance.vcpus else 1.0
    memory = attempt.memory_mib / instance.memory_mib if instance.memory_mib else 0.0
    gpu = attempt.gpus / instance.gpus if instance.gpus else 0.0
    return min(1.0, max(cpu, memory, gpu))


def merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of spans, as disjoint spans in time order."""
    union: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if union and a <= union[-1][1]:
            union[-1] = (union[-1][0], max(union[-1][1], b))
        else:
            union.append((a, b))
    return union


def session_spans(attempts: list[Attempt], sessions: list[int]) -> list[tuple[int, int]]:
    """Each session's span (its attempts' first start to last stop), merged where they overlap. An attempt is of the
    newest session created at or before its start (`sessions`: the heads' createdAt; none: one session), so a
    resumed run's spans leave out the time between its sessions."""
    starts = sorted(sessions)
    groups: dict[int, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        groups[sum(1 for c in starts[1:] if c <= attempt.start)].append(attempt)
    return merged([(min(a.start for a in g), max(a.stop for a in g)) for g in groups.values()])


def priced_spans(
    instance: Instance, attempts: list[Attempt], alone: bool, sessions: list[int] | None = None
) -> list[tuple[int, int]]:
    """The time an instance is charged for: its whole recorded life (first record, at boot, to its leaving the
    cluster) when only the priced runs used it; else the spans they held it, one a session (session_spans), each
    clipped to its recorded life. Other runs' attempts (`other`) never widen them."""
    attempts = [a for a in attempts if not a.other]
    if alone:
        return [(instance.first, max(instance.last, max(a.stop for a in attempts)))]
    clipped = [
        (max(start, instance.first or start), min(stop, instance.last) if instance.gone else stop)
        for start, stop in session_spans(attempts, sessions or [])
    ]
    return [(a, b) for a, b in clipped if b > a] or [(clipped[0][0], clipped[0][0])]


def apportion(
    report: Report,
    instance: Instance,
    attempts: list[Attempt],
    rate: Rate,
    on_demand: float | None,
    spans: list[tuple[int, int]],
) -> None:
    """Price one instance over `spans` (priced_spans) and give each attempt (other runs' too) its share of its own
    time within them; the rest is idle, so the priced runs' charges, other runs' and the idle add up to the
    instance's cost over the spans."""
    whole = rate.cost_over(spans)
    owed = [
        share(a, instance) * rate.cost_over([(max(a.start, s), min(a.stop, e)) for s, e in spans]) for a in attempts
    ]
    # Shares of max(vCPU, memory) can add up past the whole instance (one job short of CPU beside one short of
    # memory): then each is scaled down alike, so the jobs never cost more than the instance did.
    scale = min(1.0, whole / sum(owed)) if sum(owed) else 1.0
    for attempt, usd in zip(attempts, owed, strict=True):
        report.charge(attempt, usd * scale)
    report.idle_usd += whole - sum(owed) * scale
    hours = sum(e - s for s, e in spans) / HOUR_MS
    if on_demand is not None and whole:  # a spot instance: what the same hours would have cost on demand
        theirs = sum(usd for a, usd in zip(attempts, owed, strict=True) if a.other) * scale
        # The saving is the priced runs' (their share and the idle): other runs' part of it is theirs.
        report.saving_usd += (on_demand * hours + rate.volume_hour * hours - whole) * (whole - theirs) / whole
    report.instances.append(
        {
            "containerInstanceArn": instance.arn,
            "ec2InstanceId": instance.ec2_id,
            "instanceType": instance.instance_type,
            "availabilityZone": instance.zone,
            "hours": round(hours, 4),
            "usd": round(whole, 2),
            "attempts": sum(not a.other for a in attempts),
        }
    )


def fargate_usd(attempt: Attempt) -> float:
    """A Fargate job: vCPU-hours and GB-hours at Fargate's rates (components/costs.py PRICES, AWS Fargate pricing,
    Linux/x86, us-east-1)."""
    hours = (attempt.stop - attempt.start) / HOUR_MS
    return hours * (attempt.vcpus * PRICES["fargate_vcpu_hour"] + attempt.memory_mib / 1024 * PRICES["fargate_gb_hour"])


# --- a run --------------------------------------------------------------------------------------------------------


def log_group(outputs: StackOutputs) -> str:
    group = outputs.values.get(INSTANCE_EVENTS_EXPORT)
    if not group:
        raise NfbatchError(
            f"the stack outputs have no {INSTANCE_EVENTS_EXPORT}: this stack does not record its container instances, "
            "so no run on it can be priced",
            "deploy the stack with this version of genomics-batch (`pulumi up`); runs from then on can be priced",
        )
    return group


def must_be_own(outputs: StackOutputs, head: dict, team: str | None) -> None:
    """With --team, only that team's runs. The check is client-side, like the other verbs': the team run policy
    lets a member read every run's jobs and records, so it keeps honest people to their own runs, no more."""
    if team is None:
        return
    owner = runs.run_owner(outputs, head)
    if owner != team:
        whose = f"team {owner}'s" if owner else "a run without a team"
        raise NfbatchError(
            f"run {runs.run_summary(head)['run']} is {whose}, not team {team}'s",
            "price it as its own team, or drop --team",
        )


def run_jobs(aws: Aws, outputs: StackOutputs, run: str, team: str | None) -> tuple[list[dict], list[dict], list[int]]:
    """Every head of the run, oldest first (their owner checked before any task is listed), the task-queue jobs
    created while they lived (the run's and others', described in batches of 100) and the creation times of those
    created after them. `run --resume --name X` submits a new head under the same name (nfbatch/runs.py
    resume_must_be_own_team): each session ran, so each is priced; ListJobs by JOB_NAME lists them all, jobStatus
    being ignored under a filter (botocore Batch model, ListJobsRequest.filters)."""
    outputs.team(team)  # a team stack needs --team (as `run` does), an unknown team is refused: before any AWS call
    summary = runs.find_head_summary(aws, outputs, run, "cost {run}")
    name = summary["jobName"]
    named = runs.list_job_summaries(aws, outputs["headQueueArn"], [{"name": "JOB_NAME", "values": [name]}])
    ids = {s["jobId"] for s in named if s["jobName"] == name} | {summary["jobId"]}
    heads = sorted(runs.describe_jobs(aws, sorted(ids)), key=lambda h: h.get("createdAt", 0))
    for head in heads:
        must_be_own(outputs, head, team)
    return heads, *session_tasks(aws, outputs, heads)


def in_session(created: int, heads: list[dict]) -> bool:
    """Created while one of the heads lived (its createdAt to its stoppedAt; a head not stopped lives on)."""
    return any(h.get("createdAt", 0) <= created <= (h.get("stoppedAt") or created) for h in heads)


def session_tasks(aws: Aws, outputs: StackOutputs, heads: list[dict]) -> tuple[list[dict], list[int]]:
    """The task-queue jobs created while some head lived, described in batches of 100; and the creation times of
    those listed but not described (created between sessions, or in the margin after the last): one of them may
    have run on an instance the runs used, so such an instance is not theirs alone (Bounds.alone)."""
    stops = [h.get("stoppedAt") for h in heads]
    stop = None if None in stops else max(s for s in stops if s)
    start = min(h.get("createdAt", 0) for h in heads)
    kept, later = runs.task_summaries(aws, outputs, start, stop, RECORD_MARGIN_MS)
    inside = [s for s in kept if in_session(s.get("createdAt", 0), heads)]
    later += [s.get("createdAt", 0) for s in kept if not in_session(s.get("createdAt", 0), heads)]
    return runs.describe_jobs(aws, [s["jobId"] for s in inside]), later


def price_run(aws: Aws, outputs: StackOutputs, run: str, team: str | None = None, prices: Prices | None = None) -> dict:
    group = log_group(outputs)
    heads, described, later = run_jobs(aws, outputs, run, team)
    report, now, head = Report(), report_now(prices), heads[-1]
    tasks = price_heads(aws, outputs, group, heads, described, later, prices, report)[_run(head)]
    attempts = [a for h in heads for a in attempts_of(h, True, now)]
    attempts += [a for job in tasks for a in attempts_of(job, False, now)]
    result = render_report(runs.run_summary(head), report, tasks, attempts, head["status"] not in runs.TERMINAL)
    return result | {"sessions": len(heads)}


def _run(head: dict) -> str:
    return head.get("tags", {}).get(RUN_TAG) or head["jobName"].removeprefix(runs.JOB_PREFIX)


def report_now(prices: Prices | None) -> int:
    return int((prices.now if prices else time.time()) * 1000)


def price_heads(
    aws,
    outputs,
    group: str,
    heads: list[dict],
    described: list[dict],
    later: list[int],
    prices: Prices | None,
    report: Report,
) -> dict[str, list[dict]]:
    """Price the runs of `heads` together (each instance once, across all their attempts) into `report`; the
    other described jobs tell which instances the runs shared, and take their share of those (`other_usd`). Returns
    each run's task jobs."""
    now = report_now(prices)
    names = {_run(h) for h in heads}
    tasks: dict[str, list[dict]] = {name: [] for name in names}
    for job in described:
        tasks.get(job.get("tags", {}).get(RUN_TAG), []).append(job)
    attempts = [a for h in heads for a in attempts_of(h, True, now)]
    attempts += [a for name in names for job in tasks[name] for a in attempts_of(job, False, now)]
    mine = {j["jobId"] for name in names for j in tasks[name]}
    # Other runs' attempts are apportioned in the same pass, so their share of a shared instance is theirs, not idle.
    theirs = [a for j in described if j["jobId"] not in mine for a in attempts_of(j, False, now)]
    for attempt in theirs:
        attempt.other = True
    others = {a.instance for a in theirs}
    if attempts:
        start, sessions = min(a.start for a in attempts), [h.get("createdAt", 0) for h in heads]
        margin = RECORD_MARGIN_MS  # each session's records, from an hour before its first start to after its end
        windows = merged([(a - margin, b + margin) for a, b in session_spans(attempts, sessions)])
        instances, incomplete = read_instances(aws, group, windows)
        stops = [h.get("stoppedAt") for h in heads]
        bounds = Bounds(
            min(h.get("createdAt", start) for h in heads),
            later,
            others | {a.instance for a in attempts if a.head},
            None if None in stops else max(s for s in stops if s) + RECORD_MARGIN_MS,
            sessions,
        )
        prices = prices or Prices(aws, outputs["region"])
        price_attempts(aws, outputs, attempts + theirs, (instances, incomplete, bounds), prices, report)
    return tasks


@dataclass
class Bounds:
    """What decides whether the priced runs had an instance to themselves: the earliest head's creation, the
    creation times of task jobs created after the heads stopped (never described), and instances that other jobs
    (or a head: other heads are never listed) ran on."""

    created: int
    later: list[int]
    shared: set[str | None]
    listed_until: int | None = None  # task jobs created after this were never listed (runs.task_summaries)
    sessions: list[int] = field(default_factory=list)  # each head's createdAt: a session's spans (session_spans)

    def alone(self, instance: Instance) -> bool:
        """Booted after the run began, left the cluster on record, no other job seen on it, and no job created
        after the run's head stopped before it left (such a job may have run on it)."""
        return (
            instance.gone
            and instance.first >= self.created
            and instance.arn not in self.shared
            and not any(t <= instance.last for t in self.later)
            and (self.listed_until is None or instance.last <= self.listed_until)
        )


def price_attempts(aws, outputs, attempts: list[Attempt], records: tuple, prices: Prices, report: Report) -> None:
    """Each instance's attempts priced together; what cannot be priced is named in `report.unpriced`. Other runs'
    attempts (`other`) count only on instances the priced runs used, for their share of them."""
    instances, incomplete, bounds = records
    clusters = cluster_capacity(aws, outputs)
    volumes: dict[str, dict] = {}
    by_instance: dict[str | None, list[Attempt]] = defaultdict(list)
    for attempt in sorted(attempts, key=lambda a: a.other):  # the priced runs' first: they decide the instances
        if attempt.other:
            if attempt.instance is not None and attempt.instance in by_instance:
                by_instance[attempt.instance].append(attempt)
        elif attempt.fargate:
            report.charge(attempt, fargate_usd(attempt))
            if prices.region != "us-east-1" and not any(u["item"] == "Fargate rates" for u in report.unpriced):
                report.unpriced.append({"item": "Fargate rates", "reason": FARGATE_ESTIMATE})
        else:
            by_instance[attempt.instance].append(attempt)
    for arn, held in by_instance.items():
        found = instances.get(arn or "")
        if found is not None and found.zone and clusters.get(found.cluster, {}).get("type") == "SPOT":
            spans = priced_spans(found, held, bounds.alone(found), bounds.sessions)
            prices.want(found.instance_type, found.zone, spans[0][0], spans[-1][1])
    for arn, held in sorted(by_instance.items(), key=lambda kv: kv[0] or ""):
        instance = instances.get(arn or "")
        if instance is None:
            item = f"container instance {(arn or '?').rsplit('/', 1)[-1]}"
            unpriced(report, [a for a in held if not a.other], item, missing_reason(arn, incomplete))
            continue
        try:
            ce = clusters.get(instance.cluster)
            spans = priced_spans(instance, held, bounds.alone(instance), bounds.sessions)
            price_instance(aws, instance, held, ce, prices, volumes, report, spans, bounds.alone(instance))
        except PriceRefused as reason:
            item = f"{instance.instance_type} {instance.ec2_id} in {instance.zone}"
            unpriced(report, [a for a in held if not a.other], item, str(reason))


def missing_reason(arn: str | None, incomplete: set[str]) -> str:
    if arn is None:  # an EC2 attempt names its container instance (botocore Batch model, AttemptContainerDetail)
        return "the attempt names no container instance"
    if arn in incomplete:
        return "the records for the instance lack its type or zone"
    return "no record of the instance (it ran before the stack recorded instances, or the records have expired)"


def price_instance(aws, instance: Instance, held, ce: dict | None, prices: Prices, volumes, report, spans, alone):
    if ce is None:
        # A replaced compute environment takes its cluster with it, and neither the records nor Batch keep which
        # purchase option or launch template the old one had: the reason says so rather than guessing.
        raise PriceRefused(
            f"its cluster {instance.cluster.rsplit('/', 1)[-1]} is not one of the stack's compute environments' "
            "clusters: its compute environment was replaced or deleted since (a stack update), so its purchase "
            "option and volumes are no longer known"
        )
    hour, note = volume_hour(aws, ce.get("launchTemplate"), volumes)
    if note:
        report.unpriced.append({"item": f"volumes of {instance.instance_type} {instance.ec2_id}", "reason": note})
    if ce.get("type") == "SPOT":  # computeResources.type: EC2, SPOT, FARGATE or FARGATE_SPOT (botocore Batch model)
        rate = Rate(prices.spot(instance.instance_type, instance.zone, spans[0][0], spans[-1][1]), hour)
        try:  # only the saving needs the on-demand price: a refusal leaves the spot cost standing
            on_demand = prices.on_demand(instance.instance_type)
        except PriceRefused as reason:
            on_demand = None
            report.unpriced.append(
                {"item": f"spot saving on {instance.instance_type} {instance.ec2_id}", "reason": str(reason)}
            )
        apportion(report, instance, held, rate, on_demand, spans)
    else:
        apportion(report, instance, held, Rate([(0, prices.on_demand(instance.instance_type))], hour), None, spans)
    report.instances[-1] |= {"capacity": "spot" if ce.get("type") == "SPOT" else "on-demand", "wholeLife": alone}


def unpriced(report: Report, held: list[Attempt], item: str, reason: str) -> None:
    processes = sorted({a.process for a in held})
    report.unpriced.append(
        {"item": f"{item}: {len(held)} attempt(s) of {', '.join(processes)}", "reason": reason, "attempts": len(held)}
    )


def render_report(summary: dict, report: Report, tasks: list[dict], attempts: list[Attempt], running: bool) -> dict:
    processes = [
        {"process": name, "jobs": len(e["jobs"]), "attempts": e["attempts"], "usd": round(e["usd"], 2)}
        for name, e in sorted(report.processes.items(), key=lambda kv: -kv[1]["usd"])
    ]
    total = sum(e["usd"] for e in report.processes.values()) + report.head_usd + report.idle_usd
    return {
        "run": summary["run"],
        "team": summary["team"],
        "state": summary["state"],
        "inProgress": running,
        "pricedSoFar": running or any(a.running for a in attempts),
        "tasks": len(tasks),
        "processes": processes,
        "headUsd": round(report.head_usd, 2),
        "idleUsd": round(report.idle_usd, 2),
        "otherRunsUsd": round(report.other_usd, 2),
        "totalUsd": round(total, 2),
        "spotSavingUsd": round(report.saving_usd, 2),
        "instances": report.instances,
        "unpriced": report.unpriced,
    }


def since_millis(value: str, now: float | None = None) -> int:
    """`--since 30d` (hours h, days d, weeks w) as the epoch millis it reaches back to."""
    match = SINCE.fullmatch(value)
    if not match:
        raise NfbatchError(f"--since {value}: not a time span", "give a number and a unit h, d or w, e.g. 30d or 12h")
    hours = int(match.group(1)) * {"h": 1, "d": 24, "w": 168}[match.group(2)]
    return int(((now or time.time()) - hours * 3600) * 1000)


def price_runs(aws: Aws, outputs: StackOutputs, since: str, team: str | None = None, prices=None) -> dict:
    """Every run created since then (of one team with --team), priced together: the task queues listed and
    described once from the oldest head, each instance priced once across all the runs' attempts, and one idle
    figure for the instance time no run's job held."""
    cutoff = since_millis(since)
    outputs.team(team)
    group = log_group(outputs)
    heads = [
        s
        for s in runs.list_job_summaries(
            aws, outputs["headQueueArn"], [{"name": "JOB_NAME", "values": [f"{runs.JOB_PREFIX}*"]}]
        )
        if s.get("createdAt", 0) >= cutoff
    ]
    own = [
        h
        for h in runs.describe_jobs(aws, [s["jobId"] for s in heads])
        if team is None or runs.run_owner(outputs, h) == team
    ]
    report = Report(by_run={})
    tasks: dict[str, list[dict]] = {}
    if own:
        jobs, later = session_tasks(aws, outputs, own)
        tasks = price_heads(aws, outputs, group, own, jobs, later, prices, report)
    newest = {_run(h): h for h in sorted(own, key=lambda h: h.get("createdAt", 0))}
    priced = [run_entry(h, report, tasks[name], report_now(prices)) for name, h in newest.items()]
    return {
        "since": since,
        "team": team,
        "runs": priced,
        "idleUsd": round(report.idle_usd, 2),
        "otherRunsUsd": round(report.other_usd, 2),
        "totalUsd": round(sum(r.charged() for r in (report.by_run or {}).values()) + report.idle_usd, 2),
        "spotSavingUsd": round(report.saving_usd, 2),
        "instances": report.instances,
        "unpriced": report.unpriced,
    }


def run_entry(head: dict, report: Report, tasks: list[dict], now: int) -> dict:
    """One run of --since: its processes and head (its share of the instances; the idle is the sum's)."""
    own = (report.by_run or {}).get(_run(head), Report())
    attempts = [a for job in tasks for a in attempts_of(job, False, now)] + attempts_of(head, True, now)
    entry = render_report(runs.run_summary(head), own, tasks, attempts, head["status"] not in runs.TERMINAL)
    for key in ("idleUsd", "otherRunsUsd", "totalUsd", "spotSavingUsd", "instances", "unpriced"):
        entry.pop(key)
    entry["usd"] = round(own.charged(), 2)  # rounded once: sub-cent processes add up, as in the total
    return entry


def text_lines(result: dict) -> list[str]:
    """The report as plain lines: one run, or every run since a time and their sum."""
    if "runs" in result:
        lines = [f"runs since {result['since']}" + (f" of team {result['team']}" if result["team"] else "") + ":"]
        for r in result["runs"]:
            lines.append(f"  {r['run']:<40} ${r['usd']:>10,.2f}  {r['state']}{' (so far)' if r['pricedSoFar'] else ''}")
        lines.append(f"  {'idle instance time (all runs)':<40} ${result['idleUsd']:>10,.2f}")
        lines.append(f"  {'(not in the total) other runs on them':<40} ${result['otherRunsUsd']:>10,.2f}")
        lines.append(f"total ${result['totalUsd']:,.2f}, spot saving ${result['spotSavingUsd']:,.2f}")
        lines += [f"not priced: {u['item']}: {u['reason']}" for u in result["unpriced"]]
        return lines
    so_far = " (still running: priced so far)" if result["pricedSoFar"] else ""
    sessions = (  # one session is the common case: said only when the run was resumed
        f", sessions: {result['sessions']} (each resume is a new head, all priced)"
        if result.get("sessions", 1) > 1
        else ""
    )
    lines = [f"run {result['run']}: {result['state']}{so_far}, {result['tasks']} task job(s){sessions}"]
    lines += [f"  {p['process']:<50} ${p['usd']:>10,.2f}  {p['jobs']} job(s)" for p in result["processes"]]
    lines.append(f"  {'head job':<50} ${result['headUsd']:>10,.2f}")
    lines.append(f"  {'idle instance time':<50} ${result['idleUsd']:>10,.2f}")
    lines.append(f"  {'(not in the total) other runs on the same instances':<50} ${result['otherRunsUsd']:>10,.2f}")
    lines.append(f"total ${result['totalUsd']:,.2f}, spot saving ${result['spotSavingUsd']:,.2f} against on-demand")
    lines.append("(lines are rounded to the cent: their sum may differ from the total by a few half-cents)")
    lines += [f"not priced: {u['item']}: {u['reason']}" for u in result["unpriced"]]
    return lines
