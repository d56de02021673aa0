"""Pipeline runs on a stack: submit the head job, find runs and their task jobs, read logs, stop runs.

A run is one head job named `nfbatch-<run name>` on the stack's head queue, tagged with the run name; its task jobs
carry the same tag (the head's nextflow.config sets it), so a run's tasks are found by tag.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

from facts.contract import HEAD_JOB_NAME_PREFIX as JOB_PREFIX
from facts.contract import HEAD_SCHEDULING_PRIORITY, PARAMS_PREFIX, PIPELINE_TAG, RUN_TAG, TEAM_TAG, team_prefix
from facts.limits import TEAM_NAME, TEAM_NAME_RULE
from nfbatch.aws import Aws
from nfbatch.errors import NfbatchError
from nfbatch.pull_errors import pull_hint, pull_reason
from nfbatch.stack import StackOutputs

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
# A pipeline Nextflow can fetch: a name (hello, nf-core/rnaseq) or an https:// repository, no shell characters.
PIPELINE = re.compile(r"https://[^\s'\"`$;&|<>(){}\\]+|[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9._-]+)*")
DESCRIBE_BATCH = 100  # DescribeJobs takes at most 100 ids per call
TERMINAL = {"SUCCEEDED", "FAILED"}
STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


def new_run_name(pipeline: str, now: datetime | None = None) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", pipeline.rsplit("/", 1)[-1]).strip("-").lower() or "run"
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{slug[:60]}-{stamp}-{uuid.uuid4().hex[:4]}"


def check_run_name(name: str) -> str:
    if not RUN_NAME.fullmatch(name):
        raise NfbatchError(
            f"run name {name!r} is not allowed",
            "use 1-100 letters, digits, '-' or '_', starting with a letter or digit",
        )
    return name


@dataclass(frozen=True)
class RunRequest:
    pipeline: str
    run_name: str
    nextflow_args: list[str] = field(default_factory=list)
    revision: str | None = None
    profile: str | None = None
    params_file: Path | None = None
    resume: bool = False
    team: str | None = None  # on a stack with teams: who runs it (share identifier, job definition, Team tag)
    # The host whose cache docker.registry names for this run, or "none"; None: the head decides
    # (components/head_job.py unqualified_registry: the cache of the registry the pipeline's own config names).
    unqualified_registry: str | None = None


def check_params_file(path: Path) -> None:
    """The params file must be a YAML or JSON mapping: parsed here, before anything is uploaded."""
    if path.is_dir():
        raise NfbatchError(f"params file {path} is a directory", "give the YAML or JSON file itself")
    if not path.is_file():
        raise NfbatchError(f"params file {path} does not exist")
    try:
        params = yaml.safe_load(path.read_text())
    except UnicodeDecodeError:
        raise NfbatchError(f"params file {path} is not UTF-8 text", "save it as UTF-8 YAML or JSON") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise NfbatchError(
            f"params file {path} is not valid YAML or JSON{where}: {getattr(error, 'problem', error)}",
            "fix the file; Nextflow would fail on it",
        ) from None
    if not isinstance(params, dict):
        raise NfbatchError(
            f"params file {path} must hold a mapping of parameter names to values",
            "write it as `name: value` lines (YAML) or a JSON object",
        )


def validate_request(request: RunRequest) -> None:
    """Everything checkable without AWS, checked before any AWS call."""
    check_run_name(request.run_name)
    if not request.pipeline or request.pipeline.startswith("-"):
        raise NfbatchError(
            f"pipeline {request.pipeline!r} is not a pipeline name",
            "give a pipeline such as hello or nf-core/rnaseq before any nextflow option",
        )
    if not PIPELINE.fullmatch(request.pipeline):
        raise NfbatchError(
            f"pipeline {request.pipeline!r} is not allowed",
            "give a pipeline name such as hello or nf-core/rnaseq, or an https:// repository URL: "
            "letters, digits, '.', '_', '-' and '/', no spaces or shell characters",
        )
    if request.params_file is not None:
        check_params_file(request.params_file)
    if request.team is not None and not TEAM_NAME.fullmatch(request.team):
        raise NfbatchError(f"--team {request.team!r} is not a team name", f"team names are {TEAM_NAME_RULE}")


def check_unqualified_registry(host: str | None, caches: dict) -> None:
    """--unqualified-registry must name a host the stack caches (the registryCaches export), or none; the head
    refuses anything else too (container/entrypoint.sh), but only after the job has waited for a place to run."""
    if host is None or host == "none" or host in caches:
        return
    cached = ", ".join(sorted(caches))
    raise NfbatchError(
        f"--unqualified-registry {host}: the stack has no cache of it",
        f"use one of {cached}, or none" if cached else "the stack's registryCache is off: drop the option",
    )


def nextflow_command(request: RunRequest, params_uri: str | None) -> list[str]:
    """The head container's command: the pipeline, then `nextflow run` options, then the user's own arguments."""
    command = [request.pipeline]
    if request.revision:
        command += ["-r", request.revision]
    if request.profile:
        command += ["-profile", request.profile]
    if params_uri:
        command += ["-params-file", params_uri]
    if request.resume:
        command.append("-resume")
    return command + list(request.nextflow_args)


@dataclass(frozen=True)
class Submitted:
    run_name: str
    job_id: str
    job_name: str
    params_uri: str | None


def head_queue_must_accept_jobs(aws: Aws, outputs: StackOutputs) -> None:
    queues = aws.client("batch").describe_job_queues(jobQueues=[outputs["headQueueArn"]])["jobQueues"]
    if not queues:
        raise NfbatchError(f"head queue {outputs['headQueueArn']} does not exist", "run `pulumi up` for the stack")
    queue = queues[0]
    if queue["state"] != "ENABLED":
        raise NfbatchError(
            f"head queue {queue['jobQueueName']} is {queue['state']}",
            f"aws batch update-job-queue --job-queue {queue['jobQueueName']} --state ENABLED",
        )


def name_must_be_new(aws: Aws, outputs: StackOutputs, request: RunRequest) -> None:
    """A second run under an earlier run's name would hide the first (status, logs and stop find the newest)."""
    name = f"{JOB_PREFIX}{request.run_name}"
    earlier = [
        s
        for s in list_job_summaries(aws, outputs["headQueueArn"], [{"name": "JOB_NAME", "values": [name]}])
        if s["jobName"] == name
    ]
    if earlier:
        newest = max(earlier, key=lambda s: s.get("createdAt", 0))
        raise NfbatchError(
            f"a run named {request.run_name} already exists ({newest['status']}, created "
            f"{_iso(newest.get('createdAt'))})",
            f"continue it with `nfbatch run {request.pipeline} --name {request.run_name} --resume`, "
            "or pick a new --name",
        )


def submit_run(aws: Aws, outputs: StackOutputs, request: RunRequest) -> Submitted:
    validate_request(request)
    team = outputs.team(request.team)  # before any AWS call: a team stack needs --team, others refuse it
    check_unqualified_registry(request.unqualified_registry, outputs.values.get("registryCaches") or {})
    head_queue_must_accept_jobs(aws, outputs)
    if request.resume:
        resume_must_be_own_team(aws, outputs, request)
    else:
        name_must_be_new(aws, outputs, request)
    params_uri = None
    if request.params_file is not None:
        # A team's members may upload only under params/<team>/ (its run policy), and its jobs read only there.
        prefix = team_prefix(PARAMS_PREFIX, request.team) if request.team is not None else PARAMS_PREFIX
        key = f"{prefix}/{request.run_name}/{request.params_file.name}"
        aws.client("s3").upload_file(str(request.params_file), outputs["bucketName"], key)
        params_uri = f"s3://{outputs['bucketName']}/{key}"
    job_name = f"{JOB_PREFIX}{request.run_name}"
    tags = {RUN_TAG: request.run_name, PIPELINE_TAG: request.pipeline[:256]}
    # Fair-share queues require a share identifier on every job, and the team's run policy requires it to be the
    # team's own, with its Team tag (policies/iam.py, team_run_policy). They also refuse a job whose definition has
    # no scheduling priority unless it is overridden: sent here too, so a head job definition registered without one
    # still runs (contract.HEAD_SCHEDULING_PRIORITY).
    as_team = (
        {"shareIdentifier": team["shareIdentifier"], "schedulingPriorityOverride": HEAD_SCHEDULING_PRIORITY}
        if team
        else {}
    )
    response = aws.client("batch").submit_job(
        jobName=job_name,
        jobQueue=outputs["headQueueArn"],
        jobDefinition=team["jobDefinitionArn"] if team else outputs["jobDefinitionArn"],
        containerOverrides={
            "command": nextflow_command(request, params_uri),
            "environment": [
                {"name": "NF_RUN_NAME", "value": request.run_name},
                *(
                    [{"name": "NF_UNQUALIFIED_REGISTRY", "value": request.unqualified_registry}]
                    if request.unqualified_registry
                    else []
                ),
            ],
        },
        tags={**tags, TEAM_TAG: request.team} if team else tags,
        propagateTags=True,
        **as_team,
    )
    return Submitted(request.run_name, response["jobId"], job_name, params_uri)


# --- reading runs -------------------------------------------------------------------------------------------------


def describe_jobs(aws: Aws, job_ids: Iterable[str]) -> list[dict]:
    """DescribeJobs in batches of 100 (its limit): 1000 jobs take 10 calls."""
    ids = list(dict.fromkeys(job_ids))
    jobs = []
    for start in range(0, len(ids), DESCRIBE_BATCH):
        jobs += aws.client("batch").describe_jobs(jobs=ids[start : start + DESCRIBE_BATCH])["jobs"]
    return jobs


def list_job_summaries(aws: Aws, queue: str, filters: list[dict] | None = None) -> Iterator[dict]:
    """Every job of a queue (all states when filtered; ListJobs' default is RUNNING only)."""
    paginator = aws.client("batch").get_paginator("list_jobs")
    pages = paginator.paginate(jobQueue=queue, filters=filters or [{"name": "JOB_NAME", "values": ["*"]}])
    for page in pages:
        yield from page["jobSummaryList"]


def run_summary(job: dict) -> dict:
    """The fields `status` shows for one head job, as plain JSON-ready values."""
    tags = job.get("tags", {})
    started, stopped = job.get("startedAt"), job.get("stoppedAt")
    end = stopped or (int(time.time() * 1000) if started else None)
    return {
        "run": tags.get(RUN_TAG) or job["jobName"].removeprefix(JOB_PREFIX),
        "team": job_team(job),
        "pipeline": tags.get(PIPELINE_TAG) or (job.get("container", {}).get("command") or ["?"])[0],
        "state": job["status"],
        "reason": job.get("statusReason"),
        "createdAt": _iso(job.get("createdAt")),
        "startedAt": _iso(started),
        "stoppedAt": _iso(stopped),
        "durationSeconds": (end - started) // 1000 if started and end else None,
        "headJobId": job["jobId"],
        "exitCode": job.get("container", {}).get("exitCode"),
        "logStream": job.get("container", {}).get("logStreamName"),
    }


def _iso(millis: int | None) -> str | None:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds") if millis else None


def job_team(job: dict) -> str | None:
    """The team a job runs as: its share identifier (DescribeJobs), else its Team tag."""
    return job.get("shareIdentifier") or job.get("tags", {}).get(TEAM_TAG)


def recent_runs(aws: Aws, outputs: StackOutputs, limit: int = 20, team: str | None = None) -> list[dict]:
    """The newest runs, or the newest of one team's (ListJobs has no tags, so the newest heads are described a
    hundred at a time until `limit` of the team's are found)."""
    if team is not None:
        outputs.team(team)  # an unknown team is refused before any AWS call
    summaries = list(
        list_job_summaries(aws, outputs["headQueueArn"], [{"name": "JOB_NAME", "values": [f"{JOB_PREFIX}*"]}])
    )
    summaries.sort(key=lambda s: s.get("createdAt", 0), reverse=True)
    found: list[dict] = []
    step = limit if team is None else DESCRIBE_BATCH
    for start in range(0, len(summaries), step):
        jobs = describe_jobs(aws, [s["jobId"] for s in summaries[start : start + step]])
        found += [j for j in jobs if team is None or job_team(j) == team]
        if team is None or len(found) >= limit:
            break
    found.sort(key=lambda j: j.get("createdAt", 0), reverse=True)
    return [run_summary(j) for j in found[:limit]]


def find_head_summary(aws: Aws, outputs: StackOutputs, run: str, again: str = "status {run}") -> dict:
    """The newest head job of a run, by run name (one ListJobs, no DescribeJobs) or by head job id. `again` is the
    command, without `nfbatch`, that a task job's id is answered with: the same verb, given the task's run."""
    if re.fullmatch(r"[0-9a-f-]{36}", run):
        jobs = aws.client("batch").describe_jobs(jobs=[run])["jobs"]
        if jobs:
            return must_be_a_head(outputs, jobs[0], again)
    check_run_name(run)
    summaries = [
        s
        for s in list_job_summaries(
            aws, outputs["headQueueArn"], [{"name": "JOB_NAME", "values": [f"{JOB_PREFIX}{run}"]}]
        )
        if s["jobName"] == f"{JOB_PREFIX}{run}"
    ]
    if not summaries:
        raise NfbatchError(
            f"no run named {run} on the head queue"
            + (", and no job with that id" if re.fullmatch(r"[0-9a-f-]{36}", run) else ""),
            "list runs with `nfbatch status` (Batch forgets jobs some days after they end)",
        )
    return max(summaries, key=lambda s: s.get("createdAt", 0))


def must_be_a_head(outputs: StackOutputs, job: dict, again: str) -> dict:
    """A job id given for a run must be a head job on this stack's head queue (DescribeJobs' jobQueue is the queue's
    ARN, botocore's Batch model JobDetail): a task's id would show the task as a run, and `stop` would terminate it;
    another stack's head would be read against this stack's task queues."""
    queue = job.get("jobQueue") or "?"
    if queue == outputs["headQueueArn"]:
        return job
    job_id, queue_name = job["jobId"], queue.rsplit("/", 1)[-1]
    if queue in outputs.task_queue_arns:
        # Nextflow tags every task with the head's resourceLabels, the run tag among them (nf-amazon
        # AwsBatchTaskHandler.newSubmitRequest: `builder.tags(labels)`).
        run = job.get("tags", {}).get(RUN_TAG)
        if run:
            raise NfbatchError(
                f"job {job_id} is a task of run {run}, not a run",
                f"give the run instead: `nfbatch {again.format(run=run)}`",
            )
        raise NfbatchError(
            f"job {job_id} is a task job on this stack's task queue {queue_name}, not a run's head job",
            "give a run name or a head job id (`nfbatch status` lists the runs)",
        )
    raise NfbatchError(
        f"job {job_id} is not on this stack's head queue: it is on queue {queue_name}, which is not this stack's",
        "a run of another stack? Select that stack with --stack or --outputs "
        "(`nfbatch status` lists this stack's runs)",
    )


def find_head_job(aws: Aws, outputs: StackOutputs, run: str, again: str = "status {run}") -> dict:
    return describe_jobs(aws, [find_head_summary(aws, outputs, run, again)["jobId"]])[0]


def run_owner(outputs: StackOutputs, job: dict) -> str | None:
    """The team a head job was run as: its Team tag, else the team whose share identifier it carries (or that
    identifier, when no team of this stack has it), else None: a run without a team."""
    share = job.get("shareIdentifier")
    by_share = {t["shareIdentifier"]: name for name, t in outputs.teams.items()}
    return job.get("tags", {}).get(TEAM_TAG) or by_share.get(share, share) or None


def resume_must_be_own_team(aws: Aws, outputs: StackOutputs, request: RunRequest) -> None:
    """`run --resume` of a name that another team's runs (or a run without a team) used is refused. It would not
    resume: a team's head keeps its resume cache under cache/<team>/<run> (components/head_job.py head_definition,
    container/entrypoint.sh), so it would start afresh, and, as the newest head of that name, hide the other run from
    status, logs and stop."""
    outputs.team(request.team)  # before any AWS call: a team stack needs --team, others refuse it
    if not request.resume or not outputs.teams:
        return
    name = f"{JOB_PREFIX}{request.run_name}"
    earlier = [
        s["jobId"]
        for s in list_job_summaries(aws, outputs["headQueueArn"], [{"name": "JOB_NAME", "values": [name]}])
        if s["jobName"] == name
    ]
    others = {run_owner(outputs, head) for head in describe_jobs(aws, earlier)} - {request.team}
    if not others:
        return
    named = sorted(o for o in others if o)
    whose = f"belongs to team {', '.join(named)}" if named else "was run without a team"
    raise NfbatchError(
        f"run {request.run_name} {whose}, not {request.team}: resuming it as {request.team} would "
        f"not find its cache (each team's is its own, under cache/<team>/) and would hide that run "
        "from status, logs and stop",
        (f"resume it as its team (--team {named[0]}), or " if named else "") + "give this run a new --name",
    )


def _run_of(head: dict) -> str:
    return head.get("tags", {}).get(RUN_TAG) or head["jobName"].removeprefix(JOB_PREFIX)


def task_summaries(
    aws: Aws, outputs: StackOutputs, start: int, stop: int | None, margin: int = 0
) -> tuple[list[dict], list[int]]:
    """Summaries of task-queue jobs created from `start` to `stop` (None: still running), and the creation times of
    those created after `stop` up to `stop + margin` (skipped, never described). ListJobs takes one filter and lists
    newest first (botocore Batch model, ListJobsRequest.filters: "Only one filter can be used at a time", "sorted by
    the createdAt field, with the most recent jobs being first"). A finished head lists BEFORE_CREATED_AT
    `stop + margin`, so jobs created after that are never paged through however many there are; a running one lists
    AFTER_CREATED_AT `start`. The model's words for both ("the time that's before/after the job was created") leave
    the direction to the name, so each summary's createdAt is checked here: the BEFORE listing is kept only when its
    first page holds jobs and all of them were created at or before `stop + margin`; a first page past the bound, or
    an empty one (which a filter meaning the opposite would give for a run priced within the margin, or a quiet
    queue), lists that queue again AFTER_CREATED_AT `start`, which cannot lose the run's jobs."""
    bound = None if stop is None else stop + margin
    kept: list[dict] = []
    later: list[int] = []
    for queue in outputs.task_queue_arns:
        found, skipped = _queue_summaries(aws, queue, start, stop, bound)
        kept += found
        later += skipped
    return kept, later


def _queue_summaries(
    aws: Aws, queue: str, start: int, stop: int | None, bound: int | None
) -> tuple[list[dict], list[int]]:
    """One queue's listing: BEFORE_CREATED_AT `bound` when its first page is non-empty and within the bound, else
    AFTER_CREATED_AT `start` (task_summaries says why)."""
    if bound is not None:
        pages = _list_pages(aws, queue, "BEFORE_CREATED_AT", bound)
        first: list[dict] = next(pages, {"jobSummaryList": []})["jobSummaryList"]
        if first and all(s.get("createdAt", 0) <= bound for s in first):
            return _collect(chain([{"jobSummaryList": first}], pages), start, stop, bound)
    return _collect(_list_pages(aws, queue, "AFTER_CREATED_AT", start), start, stop, bound)


def _list_pages(aws: Aws, queue: str, name: str, value: int) -> Iterator[dict]:
    filters = [{"name": name, "values": [str(value)]}]
    return iter(aws.client("batch").get_paginator("list_jobs").paginate(jobQueue=queue, filters=filters))


def _collect(pages: Iterable[dict], start: int, stop: int | None, bound: int | None) -> tuple[list[dict], list[int]]:
    """The summaries created from `start` to `stop` and the creation times from `stop` to `bound`, newest first:
    the first page holding a job older than `start` is the last read."""
    kept: list[dict] = []
    later: list[int] = []
    for page in pages:
        created = [s.get("createdAt", 0) for s in page["jobSummaryList"]]
        later += [t for t in created if stop is not None and bound is not None and stop < t <= bound]
        kept += [s for s, t in zip(page["jobSummaryList"], created, strict=True) if start <= t <= (stop or t)]
        if any(t < start for t in created):
            break
    return kept, later


def task_job_ids(aws: Aws, outputs: StackOutputs, head: dict) -> list[str]:
    """Ids of jobs on the task queues created since the head job (candidates; the run tag decides)."""
    kept, _ = task_summaries(aws, outputs, head.get("createdAt", 0), None)
    return [s["jobId"] for s in kept]


def task_jobs(aws: Aws, outputs: StackOutputs, head: dict) -> list[dict]:
    """The run's task jobs: jobs on the task queues created since the head job, carrying the run's tag."""
    run = _run_of(head)
    return [j for j in describe_jobs(aws, task_job_ids(aws, outputs, head)) if j.get("tags", {}).get(RUN_TAG) == run]


def run_detail(aws: Aws, outputs: StackOutputs, run: str) -> dict:
    """One run with its task counts. The head is described in the same batches as its tasks: a run of 1000 jobs
    costs 10 DescribeJobs calls."""
    summary = find_head_summary(aws, outputs, run)
    described = describe_jobs(aws, [summary["jobId"], *task_job_ids(aws, outputs, summary)])
    head = next(j for j in described if j["jobId"] == summary["jobId"])
    tasks = [j for j in described if j is not head and j.get("tags", {}).get(RUN_TAG) == _run_of(head)]
    counts = Counter(j["status"] for j in tasks)
    return {**run_summary(head), "tasks": {state: counts.get(state, 0) for state in STATES}, "taskTotal": len(tasks)}


def stop_run(aws: Aws, outputs: StackOutputs, run: str, reason: str) -> dict:
    """Terminate the head job; Nextflow, receiving SIGTERM, cancels the tasks that are still active."""
    head = find_head_job(aws, outputs, run, "stop {run}")
    active = [j for j in task_jobs(aws, outputs, head) if j["status"] not in TERMINAL]
    finished = head["status"] in TERMINAL
    if not finished:
        aws.client("batch").terminate_job(jobId=head["jobId"], reason=reason)
    return {
        "run": run_summary(head)["run"],
        "headJobId": head["jobId"],
        "terminated": not finished,
        "state": head["status"],
        "activeTasks": [j["jobId"] for j in active],
    }


# --- logs ---------------------------------------------------------------------------------------------------------


def log_events(aws: Aws, group: str, stream: str, token: str | None = None) -> tuple[list[dict], str | None]:
    """One read of a log stream from `token` on; ([], token) while the stream does not exist yet."""
    logs = aws.client("logs")
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}  # GetLogEvents
    if token:
        kwargs["nextToken"] = token
    events: list[dict] = []
    while True:
        try:
            page = logs.get_log_events(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return events, token
            raise
        events += page["events"]
        if page.get("nextForwardToken") in (None, kwargs.get("nextToken")):
            return events, kwargs.get("nextToken")
        kwargs["nextToken"] = token = page["nextForwardToken"]


def follow_head_log(
    aws: Aws, outputs: StackOutputs, run: str, follow: bool, interval: float, sleep=time.sleep
) -> Iterator[dict]:
    """The head job's log events; with `follow`, keeps reading until the job has ended and the stream is drained."""
    head = find_head_job(aws, outputs, run, "logs {run}" + (" --follow" if follow else ""))
    group = outputs["headLogGroupName"]
    token = None
    while True:
        stream = head.get("container", {}).get("logStreamName")
        if stream:
            events, token = log_events(aws, group, stream, token)
            yield from events
        else:
            events = []
            no_log_yet(run, head, follow)
        if not follow or (head["status"] in TERMINAL and stream and not events):
            return
        sleep(interval)
        head = describe_jobs(aws, [head["jobId"]])[0]


def no_log_yet(run: str, head: dict, follow: bool) -> None:
    """A head job without a log stream: say why, rather than wait for a log that will never come."""
    status = head["status"]
    reason = head.get("statusReason") or head.get("container", {}).get("reason") or "no reason given"
    if status in TERMINAL:
        fix = (
            "`nfbatch doctor` checks the head image and says how to get it there (`pulumi up` builds and pushes "
            "it), then run again"
            if "CannotPullContainer" in reason
            else f"see `nfbatch status {run}`"
        )
        raise NfbatchError(
            f"run {run} ended {status} before writing a log: {reason}", fix, exit_code=1 if status == "FAILED" else 0
        )
    if not follow:
        raise NfbatchError(
            f"run {run} has no log yet: its head job is {status}",
            f"wait for it with `nfbatch logs {run} --follow`",
            exit_code=0,
        )


def failed_task_reports(aws: Aws, outputs: StackOutputs, run: str, which: str, tail: int = 20) -> list[dict]:
    """For `logs --tasks`: each task's state, reasons and last log lines (failed tasks only, or all)."""
    head = find_head_job(aws, outputs, run, f"logs {{run}} --tasks {which}")
    reports = []
    for job in task_jobs(aws, outputs, head):
        if which == "failed" and job["status"] != "FAILED":
            continue
        container = job.get("container", {})
        stream = container.get("logStreamName")
        lines = []
        if stream:
            group = container.get("logConfiguration", {}).get("options", {}).get("awslogs-group", "/aws/batch/job")
            events, _ = log_events(aws, group, stream)
            lines = [e["message"] for e in events[-tail:]]
        reports.append(
            {
                "jobId": job["jobId"],
                "jobName": job["jobName"],
                "state": job["status"],
                "statusReason": job.get("statusReason"),
                "reason": container.get("reason"),
                "exitCode": container.get("exitCode"),
                "logTail": lines,
                "hint": task_pull_hint(job, outputs),
            }
        )
    return reports


def task_pull_hint(job: dict, outputs: StackOutputs) -> str | None:
    """For a task that died pulling its image (CannotPullContainerError in any of its reasons): what to do, with
    the stack's caches (the registryCaches export) when a registry's rate limit refused it; None otherwise."""
    reason = pull_reason(job)
    if reason is None:
        return None
    return pull_hint(reason, outputs.values.get("registryCaches") or {}, (job.get("container") or {}).get("image"))
