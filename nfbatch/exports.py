"""What each stack export must look like when nfbatch reads it, checked against the export contract
(facts/contract.py EXPORTS) so a hand-edited outputs file is refused with the key, the value and what is expected.

Plain checks, not a pydantic model: the operational verbs never import pydantic (tests/test_nfbatch.py).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

from facts.contract import (
    CAPACITY,
    GPU_QUEUE,
    OPTIONAL_CAPACITY,
    QUEUES,
    compute_environment_export,
    queue_arn_export,
    queue_name_export,
)
from facts.limits import TEAM_NAME, TEAM_NAME_RULE, bucket_name_problem, partition_for
from facts.registries import REPOSITORY_PREFIX

# ARN layouts as the Service Authorization Reference lists them for AWS Batch, IAM and SNS (parliament's copy,
# iam_definition.json): arn:${Partition}:batch:${Region}:${Account}:job-queue/${JobQueueName}, and so on.
ARN = re.compile(r"arn:(aws(?:-[a-z]+)*):([a-z0-9-]+):([a-z0-9-]*):(\d{12}):(.+)")
# CreateJobQueue / RegisterJobDefinition (botocore's Batch model): names of up to 128 letters, digits, '-' and '_'.
BATCH_NAME = r"[A-Za-z0-9_-]{1,128}"
ROLE_PATH_AND_NAME = r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}"  # IAM identifiers: an optional path, then the name
# CloudWatch Logs' LogGroupName shape (botocore's logs model): 1-512 of [.-_/#A-Za-z0-9].
LOG_GROUP_NAME = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}")
# CreateTopic (botocore's SNS model): 1-256 letters, digits, '_' or '-'; a FIFO topic's name ends in .fifo.
SNS_TOPIC_NAME = r"[A-Za-z0-9_-]{1,256}(?:\.fifo)?"
TEAM_KEYS = ("shareIdentifier", "jobDefinitionArn", "taskQueueArn")  # what nfbatch needs of each team


@dataclass(frozen=True)
class Arn:
    """An ARN kind: its service, the resource part's pattern, whether it has a region, and how to describe it."""

    service: str
    resource: str
    regional: bool
    shown: str

    def problem(self, value: str, region: str | None) -> str | None:
        """What is wrong with `value` as this kind of ARN of a stack in `region` (None: not known), or None."""
        match = ARN.fullmatch(value)
        if (
            not match
            or match[2] != self.service
            or not re.fullmatch(self.resource, match[5])
            or bool(match[3]) != self.regional
        ):
            return f"must be {self.shown}"
        if region and match[1] != partition_for(region):
            return f"must be in partition {partition_for(region)}, the partition of region {region}"
        if region and self.regional and match[3] != region:
            return f"must be in region {region}, the stack's region"
        return None


JOB_QUEUE = Arn(
    "batch", f"job-queue/{BATCH_NAME}", True, "a job queue ARN (arn:aws:batch:<region>:<account>:job-queue/<name>)"
)
JOB_DEFINITION = Arn(
    "batch",
    rf"job-definition/{BATCH_NAME}:[1-9]\d*",
    True,
    "a job definition ARN with its revision (arn:aws:batch:<region>:<account>:job-definition/<name>:<revision>)",
)
COMPUTE_ENVIRONMENT = Arn(
    "batch",
    f"compute-environment/{BATCH_NAME}",
    True,
    "a compute environment ARN (arn:aws:batch:<region>:<account>:compute-environment/<name>)",
)
ROLE = Arn("iam", f"role/{ROLE_PATH_AND_NAME}", False, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
TOPIC = Arn("sns", SNS_TOPIC_NAME, True, "an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
Check = Callable[[object, "str | None"], "str | None"]


def show(value: object) -> str:
    """A value as a problem line shows it: plain text as it is, anything else as JSON, long values cut."""
    shown = value if isinstance(value, str) and value else json.dumps(value, default=str)
    return shown if len(shown) <= 100 else shown[:97] + "..."


NOT_TEXT = "must be a non-empty string"


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value)


def _text(value: object) -> str | None:
    return None if _is_text(value) else NOT_TEXT


def arn(kind: Arn) -> Check:
    return lambda value, region: kind.problem(value, region) if _is_text(value) else NOT_TEXT


def pattern(regex: str | re.Pattern[str], shown: str) -> Check:
    def check(value: object, region: str | None) -> str | None:
        if not _is_text(value):
            return NOT_TEXT
        return None if re.fullmatch(regex, value) else f"must be {shown}"

    return check


def text(value: object, region: str | None) -> str | None:
    return _text(value)


def bucket(value: object, region: str | None) -> str | None:
    return bucket_name_problem(value) if _is_text(value) else NOT_TEXT


def s3_uri(value: object, region: str | None) -> str | None:
    if not _is_text(value):
        return NOT_TEXT
    uri = r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?"
    return None if re.fullmatch(uri, value) else "must be an s3://<bucket>/<prefix> URI"


def mapping(value: object, region: str | None) -> str | None:
    return None if isinstance(value, dict) else "must be a JSON object"


def registry_caches(value: object, region: str | None) -> str | None:
    """Image hosts to the stack's cache URIs, `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<prefix>`
    (facts/registries.py cache_uri), each in the stack's own region."""
    if not isinstance(value, dict) or not all(_is_text(k) and _is_text(v) for k, v in value.items()):
        return "must be a JSON object of image hosts to cache URIs"
    where = re.escape(region) if region else r"[a-z0-9-]+"
    uri = rf"\d{{12}}\.dkr\.ecr\.{where}\.amazonaws\.com(?:\.cn)?/(?:{REPOSITORY_PREFIX.pattern})"
    bad = sorted(k for k, v in value.items() if not re.fullmatch(uri, v))
    if bad:
        return f"{bad[0]}: must be a cache URI, <account>.dkr.ecr.{region or '<region>'}.amazonaws.com/<prefix>"
    return None


QUEUE_NAME = pattern(BATCH_NAME, "a job queue name (up to 128 letters, digits, '-' or '_')")
DEFINITION_NAME = pattern(BATCH_NAME, "a job definition name (up to 128 letters, digits, '-' or '_')")
# One check per export of the contract; tests/test_nfbatch.py fails when an export has none.
CHECKS: dict[str, Check] = {
    "bucketName": bucket,
    "workDir": s3_uri,
    "logsDir": s3_uri,
    **{queue_arn_export(q): arn(JOB_QUEUE) for q in (*QUEUES, GPU_QUEUE)},
    **{queue_name_export(q): QUEUE_NAME for q in (*QUEUES, GPU_QUEUE)},
    **{compute_environment_export(c): arn(COMPUTE_ENVIRONMENT) for c in (*CAPACITY, *OPTIONAL_CAPACITY)},
    "jobDefinitionName": DEFINITION_NAME,
    "jobDefinitionArn": arn(JOB_DEFINITION),
    "ecrRepositoryUrl": text,
    "headImage": text,
    "headJobRoleArn": arn(ROLE),
    "taskJobRoleArn": arn(ROLE),
    "instanceRoleArn": arn(ROLE),
    "headLogGroupName": pattern(LOG_GROUP_NAME, "a log group name (1-512 of letters, digits, '.', '-', '_', '/', '#')"),
    "nextflowConfig": text,
    "seqeraPlatform": mapping,
    "alertTopicArn": arn(TOPIC),
    "registryCaches": registry_caches,
    "instanceEventsLogGroupName": pattern(
        LOG_GROUP_NAME, "a log group name (1-512 of letters, digits, '.', '-', '_', '/', '#')"
    ),
}


def _optional(check: Check) -> Check:
    return lambda value, region: None if value is None else check(value, region)


def _number_above_zero(value: object, region: str | None) -> str | None:
    return (
        None
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf
        else "must be a number above 0, or null"
    )


def _whole_vcpus(value: object, region: str | None) -> str | None:
    return (
        None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1
        else "must be a whole number of vCPUs (1 or more), or null"
    )


# What nfbatch reads of each entry of the `teams` export (components/outputs.py team_outputs), the rest ignored.
TEAM_CHECKS: dict[str, Check] = {
    "shareIdentifier": text,
    "jobDefinitionArn": arn(JOB_DEFINITION),
    "taskQueueArn": arn(JOB_QUEUE),
    "weight": _optional(_number_above_zero),
    "maxVcpus": _optional(_whole_vcpus),
    "budgetName": _optional(text),
    "taskQueueName": _optional(QUEUE_NAME),
    "jobDefinitionName": _optional(DEFINITION_NAME),
    "nextflowConfig": _optional(text),
}


def team_problems(teams: object, region: str | None) -> list[str]:
    """The `teams` export: a JSON object of team name to that team's exports."""
    if teams is None:
        return []
    if not isinstance(teams, dict):
        return [f"teams = {show(teams)}: must map each team name to its {', '.join(TEAM_KEYS)}"]
    found = []
    for name, team in teams.items():
        if not TEAM_NAME.fullmatch(name):
            found.append(f"teams: {json.dumps(name)} is not a team name: {TEAM_NAME_RULE}")
        if not isinstance(team, dict):
            found.append(f"teams.{name} = {show(team)}: must be a JSON object of the team's exports")
            continue
        missing = [k for k in TEAM_KEYS if k not in team]
        if missing:  # the wording names all three keys a team must have
            found.append(
                f"teams.{name} lacks {', '.join(missing)}: teams must map each team to its {', '.join(TEAM_KEYS)}"
            )
        found += [
            f"teams.{name}.{key} = {show(team[key])}: {problem}"
            for key, check in TEAM_CHECKS.items()
            if key in team and (problem := check(team[key], region))
        ]
    return found


def account_problems(values: dict) -> list[str]:
    """Every ARN of one stack is in one account: the head queue's (an ARN copied from another account is a mix-up)."""
    arns = {key: value for key, value in values.items() if isinstance(value, str) and ARN.fullmatch(value)}
    for name, team in (values.get("teams") or {}).items():
        arns.update({f"teams.{name}.{key}": team[key] for key in ("jobDefinitionArn", "taskQueueArn")})
    # Only called once every value passed its own check, so each of these ARNs matches ARN.
    accounts = {key: match[4] for key, value in arns.items() if (match := ARN.fullmatch(value))}
    home = accounts.get(queue_arn_export("head"))
    if home is None:
        return []
    return [
        f"{key} = {arns[key]}: must be in account {home}, the account of headQueueArn"
        for key, account in accounts.items()
        if account != home
    ]


def problems(values: dict, regions: frozenset[str]) -> list[str]:
    """Every problem of a set of stack outputs, one line each: `key = value: what is expected`."""
    region = values.get("region")
    found = (
        [f"region = {show(region)}: " + ("must be a non-empty string" if _text(region) else "not an AWS region")]
        if _text(region) or region not in regions
        else []
    )
    known = region if not found else None  # ARNs are held to the region only once it is a real one
    found += [
        f"{key} = {show(values[key])}: {problem}"
        for key, check in CHECKS.items()
        if key in values and (problem := check(values[key], known))
    ]
    found += team_problems(values.get("teams"), known)
    return found + (account_problems(values) if not found else [])
