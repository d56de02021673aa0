"""StackAlerts: opt-in alerts by email on failed runs, stuck jobs and spot reclaims, a stack budget, and saved
Logs Insights queries for the head log.

The event patterns, the message template and the policy documents are pure functions, so tests check them against
sample Batch events (moto's TestEventPattern) and replay them into moto.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.contract import STUCK_REASONS

if TYPE_CHECKING:
    from settings import StackSettings

BATCH_JOB_STATE_CHANGE = {"source": ["aws.batch"], "detail-type": ["Batch Job State Change"]}
# A task lost with its host: Batch's status reason for a reclaimed spot instance (and any other host loss).
HOST_LOSS_PREFIX = "Host EC2"


def head_failure_pattern(head_queue_arn: str) -> dict:
    """A pipeline run that ends FAILED: the head queue holds only head jobs, however they were submitted (nfbatch
    or `aws batch submit-job`), so the queue alone says it is a run."""
    return {**BATCH_JOB_STATE_CHANGE, "detail": {"jobQueue": [head_queue_arn], "status": ["FAILED"]}}


def stuck_job_pattern(queue_arns: list[str]) -> dict:
    """A job on this stack's queues cancelled by a time-limit action (its reason is the action's)."""
    return {**BATCH_JOB_STATE_CHANGE, "detail": {
        "jobQueue": sorted(queue_arns), "status": ["FAILED"], "statusReason": list(STUCK_REASONS)}}


def spot_reclaim_pattern(task_queue_arns: list[str]) -> dict:
    """A task job on this stack's task queues that lost its host (spot reclaim), whatever it does next."""
    return {**BATCH_JOB_STATE_CHANGE, "detail": {
        "jobQueue": sorted(task_queue_arns), "statusReason": [{"prefix": HOST_LOSS_PREFIX}]}}


def head_failure_message(stack: str) -> tuple[dict[str, str], str]:
    """The input transformer of the head-failure rule: what it reads from the event, and the email text."""
    paths = {"job": "$.detail.jobName", "id": "$.detail.jobId", "reason": "$.detail.statusReason",
             "pipeline": "$.detail.container.command[0]"}
    text = (f"genomics-batch {stack}: pipeline run <job> (<pipeline>) FAILED: <reason>. "
            f"Read its log with: nfbatch --stack {stack} logs <id>")
    return paths, json.dumps(text)


def stuck_job_message(stack: str) -> tuple[dict[str, str], str]:
    paths = {"job": "$.detail.jobName", "queue": "$.detail.jobQueue", "reason": "$.detail.statusReason"}
    text = (f"genomics-batch {stack}: job <job> was cancelled after waiting RUNNABLE too long on <queue>: <reason>. "
            "No instance type the queue may launch can run it: check the job's vCPUs and memory against "
            "compute.instanceTypes and the compute environments' maxVcpus.")
    return paths, json.dumps(text)


def key_policy(partition: str, account: str) -> dict:
    """The topic's key: the account administers it; EventBridge and CloudWatch alarms may encrypt with it (AWS
    re:Post, "Why isn't my SNS topic receiving EventBridge notifications": an AWS-managed aws/sns key cannot
    grant them that, so their messages would be dropped)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "AlertSourcesEncrypt", "Effect": "Allow",
         "Principal": {"Service": ["events.amazonaws.com", "cloudwatch.amazonaws.com"]},
         "Action": ["kms:GenerateDataKey*", "kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account}}},
    ]}


def topic_policy(topic_arn: str, account: str) -> dict:
    """Only this account's EventBridge rules and CloudWatch alarms publish; nothing reaches the topic without TLS."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AlertSourcesPublish", "Effect": "Allow",
         "Principal": {"Service": ["events.amazonaws.com", "cloudwatch.amazonaws.com"]},
         "Action": "sns:Publish", "Resource": topic_arn,
         "Condition": {"StringEquals": {"aws:SourceAccount": account}}},
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "sns:*",
         "Resource": topic_arn, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    ]}


def budget_tag_filter(stack: str) -> dict[str, list[str]]:
    """Budgets filter on one tag key; the Stack tag (set on every resource, instance and volume) names the stack."""
    return tag_cost_filter("Stack", stack)


def tag_cost_filter(key: str, value: str) -> dict[str, list[str]]:
    """A Budgets cost filter on one user tag: `user:<key>$<value>` (AWS Budgets API, CostFilters TagKeyValue)."""
    return {"TagKeyValue": [f"user:{key}${value}"]}


def tag_budget(name: str, *, monthly_usd: float, emails: list[str], tag_key: str, tag_value: str,
               opts: pulumi.ResourceOptions) -> aws.budgets.Budget:
    """A monthly cost budget on one tag, emailing at 80 % of the forecast and 100 % of the actual spend."""
    notifications = [aws.budgets.BudgetNotificationArgs(
        comparison_operator="GREATER_THAN", threshold=threshold, threshold_type="PERCENTAGE",
        notification_type=kind, subscriber_email_addresses=list(emails),
    ) for threshold, kind in ((80, "FORECASTED"), (100, "ACTUAL"))]
    return aws.budgets.Budget(
        name, budget_type="COST", limit_amount=f"{monthly_usd:.2f}", limit_unit="USD", time_unit="MONTHLY",
        cost_filters=[aws.budgets.BudgetCostFilterArgs(name=k, values=v)
                      for k, v in tag_cost_filter(tag_key, tag_value).items()],
        notifications=notifications, opts=opts)


RUN_LOG_QUERY = """fields @timestamp, @logStream, @message
| filter @message like /entrypoint: run RUN_NAME /
| stats earliest(@timestamp) as started by @logStream
| sort started desc"""
ERRORS_QUERY = """fields @timestamp, @logStream, @message
| filter @message like /(?i)(error|exception|failed)/
| sort @timestamp desc
| limit 200"""


@dataclass(frozen=True)
class StackAlertsArgs:
    stack: str
    emails: list[str]
    head_failures: bool
    stuck_jobs: bool
    spot_interruptions_per_hour: int  # 0: no alarm
    budget_monthly_usd: float | None
    queue_arns: dict[str, pulumi.Input[str]]  # keys: contract.QUEUES
    task_queue_arns: list[pulumi.Input[str]]
    head_log_group_name: pulumi.Input[str]

    @classmethod
    def from_settings(cls, s: StackSettings, *, queue_arns: dict[str, pulumi.Input[str]],
                      task_queue_arns: list[pulumi.Input[str]],
                      head_log_group_name: pulumi.Input[str]) -> StackAlertsArgs:
        a = s.alerts
        return cls(stack=s.stack, emails=list(a.emails), head_failures=a.head_failures, stuck_jobs=a.stuck_jobs,
                   spot_interruptions_per_hour=a.spot_interruptions_per_hour,
                   budget_monthly_usd=s.budget.monthly_usd, queue_arns=queue_arns, task_queue_arns=task_queue_arns,
                   head_log_group_name=head_log_group_name)


def _email_suffix(email: str) -> str:
    # Stable per address, so reordering the list renames (and replaces) nothing.
    return hashlib.sha256(email.lower().encode()).hexdigest()[:8]


class StackAlerts(pulumi.ComponentResource):
    """Outputs: topic_arn (the alert topic; `nfbatch doctor` checks its subscriptions are confirmed)."""

    def __init__(self, name: str, args: StackAlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:monitoring:StackAlerts", name, None, opts)
        self._name, self._child = name, pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        self._account = aws.get_caller_identity_output(opts=invoke).account_id
        self._partition = aws.get_partition_output(opts=invoke).partition
        topic = self._topic(args)
        self._rules(args, topic)
        if args.budget_monthly_usd is not None:
            self._budget(args)
        self._queries(args)
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})

    def _topic(self, args: StackAlertsArgs) -> aws.sns.Topic:
        name, child = self._name, self._child
        key = aws.kms.Key(
            f"{name}-key", description=f"genomics-batch {args.stack}: alert topic", enable_key_rotation=True,
            policy=pulumi.Output.all(partition=self._partition, account=self._account).apply(
                lambda a: json.dumps(key_policy(a["partition"], a["account"]))),
            opts=child)
        topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=key.arn, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-topic-policy", arn=topic.arn,
            policy=pulumi.Output.all(arn=topic.arn, account=self._account).apply(
                lambda a: json.dumps(topic_policy(a["arn"], a["account"]))),
            opts=child)
        for email in args.emails:
            aws.sns.TopicSubscription(f"{name}-email-{_email_suffix(email)}", topic=topic.arn, protocol="email",
                                      endpoint=email, opts=child)
        return topic

    def _rule(self, suffix: str, pattern: pulumi.Input[dict], description: str) -> aws.cloudwatch.EventRule:
        return aws.cloudwatch.EventRule(
            f"{self._name}-{suffix}", description=description,
            event_pattern=pulumi.Output.from_input(pattern).apply(json.dumps), opts=self._child)

    def _rules(self, args: StackAlertsArgs, topic: aws.sns.Topic) -> None:
        queues = args.queue_arns
        messages = []
        if args.head_failures:
            rule = self._rule("head-failures", pulumi.Output.from_input(queues["head"]).apply(head_failure_pattern),
                              "genomics-batch: a pipeline run failed")
            messages.append(("head-failures", rule, head_failure_message(args.stack)))
        if args.stuck_jobs:
            rule = self._rule("stuck-jobs", pulumi.Output.all(*queues.values()).apply(stuck_job_pattern),
                              "genomics-batch: a job was cancelled as stuck RUNNABLE")
            messages.append(("stuck-jobs", rule, stuck_job_message(args.stack)))
        for suffix, rule, (paths, template) in messages:
            aws.cloudwatch.EventTarget(
                f"{self._name}-{suffix}", rule=rule.name, arn=topic.arn,
                input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                    input_paths=paths, input_template=template),
                opts=self._child)
        if args.spot_interruptions_per_hour:
            self._spot_alarm(args, topic)

    def _spot_alarm(self, args: StackAlertsArgs, topic: aws.sns.Topic) -> None:
        """Each reclaim is one matched event; the alarm counts the rule's matches (AWS/Events MatchedEvents) per
        hour. The rule keeps a record of every reclaim in a log group, which is also its target."""
        name, child = self._name, self._child
        rule = self._rule("spot-reclaims", pulumi.Output.all(*args.task_queue_arns).apply(spot_reclaim_pattern),
                          "genomics-batch: a task job lost its spot instance")
        log = aws.cloudwatch.LogGroup(f"{name}-spot-reclaims", retention_in_days=30, opts=child)
        aws.cloudwatch.LogResourcePolicy(
            f"{name}-spot-reclaims", policy_name=f"genomics-batch-{args.stack}-spot-reclaims",
            policy_document=log.arn.apply(lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{arn}:*"}]})),
            opts=child)
        aws.cloudwatch.EventTarget(f"{name}-spot-reclaims", rule=rule.name, arn=log.arn, opts=child)
        aws.cloudwatch.MetricAlarm(
            f"{name}-spot-reclaims", alarm_description=(
                f"genomics-batch {args.stack}: more than {args.spot_interruptions_per_hour} task jobs lost their "
                "spot instance within an hour"),
            namespace="AWS/Events", metric_name="MatchedEvents", dimensions={"RuleName": rule.name},
            statistic="Sum", period=3600, evaluation_periods=1, comparison_operator="GreaterThanThreshold",
            threshold=args.spot_interruptions_per_hour, treat_missing_data="notBreaching",
            alarm_actions=[topic.arn], opts=child)

    def _budget(self, args: StackAlertsArgs) -> None:
        tag_budget(f"{self._name}-budget", monthly_usd=args.budget_monthly_usd, emails=args.emails, tag_key="Stack",
                   tag_value=args.stack, opts=self._child)

    def _queries(self, args: StackAlertsArgs) -> None:
        for suffix, title, query in (("query-run", "a run's head log streams (replace RUN_NAME)", RUN_LOG_QUERY),
                                     ("query-errors", "errors across runs (pick the last day)", ERRORS_QUERY)):
            aws.cloudwatch.QueryDefinition(
                f"{self._name}-{suffix}", name=f"genomics-batch/{args.stack}/{title}",
                log_group_names=[args.head_log_group_name], query_string=query, opts=self._child)
