"""`nfbatch teams`: what each team of a shared stack has on the cluster right now, from the AWS APIs.

Per team: its weight and cap, the vCPUs its running jobs hold, its active jobs by state and queue, and this month's
spend against its budget. A job's team is its share identifier (DescribeJobs), or its Team tag; jobs that have neither
are counted as "(no team)".
"""

from __future__ import annotations

from collections import defaultdict

from botocore.exceptions import ClientError

from nfbatch.aws import Aws
from nfbatch.runs import describe_jobs, job_team
from nfbatch.stack import StackOutputs

ACTIVE = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
HOLDING_VCPUS = ("STARTING", "RUNNING")  # jobs placed on an instance hold their vCPUs there
NO_TEAM = "(no team)"


def job_vcpus(job: dict) -> float:
    """The vCPUs a job reserves: its VCPU resource requirement, or the legacy `vcpus` field."""
    container = job.get("container", {})
    for requirement in container.get("resourceRequirements", []):
        if requirement.get("type") == "VCPU":
            return float(requirement["value"])
    return float(container.get("vcpus") or 0)


def active_job_ids(aws: Aws, queue_arn: str) -> list[tuple[str, str]]:
    """(job id, status) of every active job on a queue: ListJobs once per active state."""
    paginator = aws.client("batch").get_paginator("list_jobs")
    return [
        (s["jobId"], state)
        for state in ACTIVE
        for page in paginator.paginate(jobQueue=queue_arn, jobStatus=state)
        for s in page["jobSummaryList"]
    ]


def team_usage(aws: Aws, outputs: StackOutputs) -> dict[str, dict]:
    """Each team's share settings, running vCPUs and active jobs by queue name and state."""
    queue_names = {arn: arn.rsplit("/", 1)[-1] for arn in [*outputs.queue_arns.values(), *outputs.team_queue_arns]}
    found = [(job_id, queue) for queue in queue_names for job_id, _ in active_job_ids(aws, queue)]
    queue_of = dict(found)
    usage = {
        name: {
            "weight": team.get("weight"),
            "maxVcpus": team.get("maxVcpus"),
            "taskQueue": team["taskQueueArn"].rsplit("/", 1)[-1],
            "runningVcpus": 0.0,
            "jobs": {},
        }
        for name, team in sorted(outputs.teams.items())
    }
    counts: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for job in describe_jobs(aws, queue_of):
        if job["status"] not in ACTIVE:  # ended between the listing and the description
            continue
        owner = job_team(job)
        team = owner if owner is not None and owner in usage else NO_TEAM
        if team not in usage:
            usage[team] = {"weight": None, "maxVcpus": None, "taskQueue": None, "runningVcpus": 0.0, "jobs": {}}
        counts[team][queue_names[queue_of[job["jobId"]]]][job["status"]] += 1
        if job["status"] in HOLDING_VCPUS:
            usage[team]["runningVcpus"] += job_vcpus(job)
    for team, by_queue in counts.items():
        usage[team]["jobs"] = {queue: dict(states) for queue, states in sorted(by_queue.items())}
    return usage


def team_budgets(aws: Aws, outputs: StackOutputs) -> dict[str, dict]:
    """This month's spend of each team that has a budget, as AWS Budgets computes it (DescribeBudget): the limit,
    the actual and the forecast spend in USD, or the error code when the budget cannot be read."""
    found: dict[str, dict] = {}
    for name, team in sorted(outputs.teams.items()):
        budget_name = team.get("budgetName")
        if not isinstance(budget_name, str) or not budget_name:
            continue
        account = team["jobDefinitionArn"].split(":")[4]  # budgets live in the stack's account
        try:
            budget = aws.client("budgets").describe_budget(AccountId=account, BudgetName=budget_name)["Budget"]
        except ClientError as error:  # e.g. a run policy from before budgets:ViewBudget was granted
            found[name] = {"budgetName": budget_name, "error": error.response.get("Error", {}).get("Code", "error")}
            continue
        spend = budget.get("CalculatedSpend", {})
        found[name] = {
            "budgetName": budget_name,
            "limitUsd": float(budget["BudgetLimit"]["Amount"]),
            "actualUsd": float(spend.get("ActualSpend", {}).get("Amount", 0)),
            "forecastUsd": float(spend.get("ForecastedSpend", {}).get("Amount", 0)),
        }
    return found
