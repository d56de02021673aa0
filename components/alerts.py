"""StackAlerts: opt-in alerts by email on failed runs, stuck jobs and spot reclaims, a stack budget, and saved
Logs Insights queries for the head log.

The event patterns, the message template and the policy documents are pure functions, so tests check them against
sample Batch events (moto's event-pattern matcher) and replay them into moto.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from settings import StackSettings

BATCH_JOB_STATE_CHANGE = {"source": ["aws.batch"], "detail-type": ["Batch Job State Change"]}
# A task lost with its host: Batch's status reason for a reclaimed spot instance (and any other host loss).
HOST_LOSS_PREFIX = "Host EC2"
# An attempt ends RUNNABLE again when attempts are left, FAILED when none are (AWS Batch user guide, job_states.html).
ATTEMPT_END_STATUSES = ("RUNNABLE", "FAILED")
# What a time-limit action writes on the job it cancels, before the action's reason (AWS Batch user guide,
# job_stuck_in_runnable_misconfiguration.html: "Canceled by JobStateTimeLimit action due to reason: <reason>").
TIME_LIMIT_CANCEL_PREFIX = "Canceled by JobStateTimeLimit action due to reason: "
# Every reason the queues act on (facts.contract) is a MISCONFIGURATION one; a capacity cancel is not ours.
STUCK_CANCEL_PREFIX = f"{TIME_LIMIT_CANCEL_PREFIX}MISCONFIGURATION:"
# PutRule's EventPattern holds at most 2,048 characters (botocore's events model, shape EventPattern; EventBridge
# quotas, "Event pattern size"). The provider's own check allows 4,096 (internal/service/events/rule.go).
EVENT_PATTERN_MAX_CHARS = 2048
# A job queue ARN at its longest: partition and region together at most 24 characters (botocore partitions.json:
# aws-iso-f, us-isof-south-1) and a queue name of up to 128 (botocore's Batch model, CreateJobQueue jobQueueName).
LONGEST_QUEUE_ARN = f"arn:{'p' * 9}:batch:{'r' * 15}:123456789012:job-queue/{'q' * 128}"


def head_failure_pattern(head_queue_arn: str) -> dict:
    """A pipeline run that ends FAILED: the head queue holds only head jobs, however they were submitted (nfbatch
    or `aws batch submit-job`), so the queue alone says it is a run."""
    return {**BATCH_JOB_STATE_CHANGE, "detail": {"jobQueue": [head_queue_arn], "status": ["FAILED"]}}


def stuck_job_pattern(queue_arns: Sequence[str]) -> dict:
    """A job on this stack's queues cancelled by one of their time-limit actions: CancelJob leaves it FAILED
    (botocore's Batch model, CancelJob) with the action's reason after TIME_LIMIT_CANCEL_PREFIX."""
    return {
        **BATCH_JOB_STATE_CHANGE,
        "detail": {
            "jobQueue": sorted(queue_arns),
            "status": ["FAILED"],
            "statusReason": [{"prefix": STUCK_CANCEL_PREFIX}],
        },
    }


def spot_reclaim_pattern(task_queue_arns: Sequence[str]) -> dict:
    """A task job's attempt on this stack's task queues lost with its host (spot reclaim). Only the event that ends
    the attempt counts: RUNNABLE when Batch retries it, FAILED when it does not, never both; an event in any other
    state (STARTING, RUNNING, SUCCEEDED) ends no attempt, whatever reason it shows.

    Assumed, not documented: that the RUNNABLE event of a retried attempt still carries the "Host EC2..." status
    reason. The Batch user guide says only that the event's detail "resembles the JobDetail object that's returned
    from a DescribeJobs API operation" (batch_cwe_events.html), whose statusReason gives "details for the current
    status of the job" (botocore's Batch model, JobDetail). If Batch replaces it on the way back to RUNNABLE, only
    final (FAILED) losses match and the alarm undercounts reclaims: it may stay quiet, but never counts one twice."""
    return {
        **BATCH_JOB_STATE_CHANGE,
        "detail": {
            "jobQueue": sorted(task_queue_arns),
            "status": list(ATTEMPT_END_STATUSES),
            "statusReason": [{"prefix": HOST_LOSS_PREFIX}],
        },
    }


def queues_per_rule(pattern_for: Callable[[Sequence[str]], dict], longest: str = LONGEST_QUEUE_ARN) -> int:
    """How many queue ARNs of the longest kind one rule's pattern holds within EVENT_PATTERN_MAX_CHARS, measured as
    we send it (json.dumps; the provider sends it compacted, which is shorter). `longest`: the longest ARN of
    another kind, for patterns over other resources (ECS clusters: components/instance_records.py)."""
    count = 0
    while len(json.dumps(pattern_for([longest] * (count + 1)))) <= EVENT_PATTERN_MAX_CHARS:
        count += 1
    if count == 0:
        raise ValueError("an event pattern cannot hold even one job queue ARN")
    return count


def split_for_rules(
    arns: Sequence[pulumi.Input[str]], pattern_for: Callable[[Sequence[str]], dict], longest: str = LONGEST_QUEUE_ARN
) -> list[list]:
    """The ARNs in groups that each fit one rule's pattern, so any number of queues (capped teams add theirs) fits."""
    size = queues_per_rule(pattern_for, longest)
    return [list(arns[i : i + size]) for i in range(0, len(arns), size)]


def matched_events(rule_names: Sequence[pulumi.Input[str]], period: int = 3600) -> dict:
    """The MetricAlarm arguments that count the rules' matches: one rule's AWS/Events MatchedEvents, or their sum by
    metric math (an alarm's expression may read at most 10 metrics: CloudWatch user guide, alarm-limits.html)."""
    if len(rule_names) == 1:
        return {
            "namespace": "AWS/Events",
            "metric_name": "MatchedEvents",
            "dimensions": {"RuleName": rule_names[0]},
            "statistic": "Sum",
            "period": period,
        }
    if len(rule_names) > 10:
        raise ValueError(f"{len(rule_names)} spot-reclaim rules: an alarm's metric math reads at most 10 metrics")
    ids = [f"m{i}" for i in range(len(rule_names))]
    metrics = [
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=id_,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace="AWS/Events",
                metric_name="MatchedEvents",
                dimensions={"RuleName": rule},
                period=period,
                stat="Sum",
            ),
        )
        for id_, rule in zip(ids, rule_names, strict=True)
    ]
    total = aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id="reclaims", expression=f"SUM([{','.join(ids)}])", label="task jobs that lost their host", return_data=True
    )
    return {"metric_queries": [*metrics, total]}


def numbered(suffix: str, index: int) -> str:
    """A rule's name suffix: the first keeps the plain name (no rename, no replacement), later ones -2, -3, …"""
    return suffix if index == 0 else f"{suffix}-{index + 1}"


def head_failure_message(stack: str) -> tuple[dict[str, str], str]:
    """The input transformer of the head-failure rule: what it reads from the event, and the email text."""
    paths = {
        "job": "$.detail.jobName",
        "id": "$.detail.jobId",
        "reason": "$.detail.statusReason",
        "pipeline": "$.detail.container.command[0]",
    }
    text = (
        f"genomics-batch {stack}: pipeline run <job> (<pipeline>) FAILED: <reason>. "
        f"Read its log with: nfbatch --stack {stack} logs <id>"
    )
    return paths, json.dumps(text)


def stuck_job_message(stack: str) -> tuple[dict[str, str], str]:
    paths = {"job": "$.detail.jobName", "queue": "$.detail.jobQueue", "reason": "$.detail.statusReason"}
    text = (
        f"genomics-batch {stack}: job <job> was cancelled after waiting RUNNABLE too long on <queue>: <reason>. "
        "Batch can launch no instance that runs it: check the job's vCPUs and memory against "
        "compute.instanceTypes and the compute environments' maxVcpus, and that those instance types are "
        "offered in the stack's availability zones."
    )
    return paths, json.dumps(text)


# The encryption context SNS puts on the data keys of an encrypted topic: the topic's ARN under this key (AWS's own key
# policies for services publishing to SSE topics condition on it, e.g. GameLift FlexMatch guide,
# docs.aws.amazon.com/gamelift/latest/flexmatchguide/queue-notification-sns-sse.html).
SNS_ENCRYPTION_CONTEXT_KEY = "kms:EncryptionContext:aws:sns:topicArn"


def key_policy(partition: str, account: str, region: str) -> dict:
    """The topic's key: the account administers it; EventBridge and CloudWatch alarms may encrypt with it (AWS
    re:Post, "Why isn't my SNS topic receiving EventBridge notifications": an AWS-managed aws/sns key cannot
    grant them that, so their messages would be dropped). EventBridge's grant has no aws:Source* condition: "Adding
    the aws:SourceAccount, aws:SourceArn, and aws:SourceOrgID to a AWS KMS policy is not supported for
    EventBridge-to-encrypted topics" (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html). It is
    narrowed instead by the encryption context SNS sets: only for this account's topics in this region. StringLike,
    not ArnLike: kms:EncryptionContext:<key> is a String condition key (Service Authorization Reference for AWS KMS;
    parliament reports ArnLike on it as MISMATCHED_TYPE)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "EventBridgeEncrypts",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringLike": {SNS_ENCRYPTION_CONTEXT_KEY: f"arn:{partition}:sns:{region}:{account}:*"}},
            },
            {
                "Sid": "AlarmsEncrypt",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            },
        ],
    }


def topic_policy(topic_arn: str, account: str, alarm_arns: Sequence[str] = ()) -> dict:
    """Who may publish, over TLS only. EventBridge without a condition: "You can't use Condition blocks in Amazon SNS
    topic policies for EventBridge" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html,
    "Amazon SNS permissions"). That grant admits only this account's rules: a rule elsewhere delivers through an
    execution role of its own account, which a target must allow by that account's principal (eb-service-cross-
    account.html), and no statement here names another account. CloudWatch only for this stack's alarms."""
    alarms = (
        [
            {
                "Sid": "StackAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnEquals": {"aws:SourceArn": sorted(alarm_arns)},
                },
            }
        ]
        if alarm_arns
        else []
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeRulesPublish",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
            },
            *alarms,
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:*",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def tag_cost_filter(key: str, value: str) -> dict[str, list[str]]:
    """A Budgets cost filter on one user tag: `user:<key>$<value>` (AWS Budgets API, CostFilters TagKeyValue)."""
    return {"TagKeyValue": [f"user:{key}${value}"]}


def tag_budget(
    name: str, *, monthly_usd: float, emails: list[str], tag_key: str, tag_value: str, opts: pulumi.ResourceOptions
) -> aws.budgets.Budget:
    """A monthly cost budget on one tag, emailing at 80 % of the forecast and 100 % of the actual spend."""
    notifications = [
        aws.budgets.BudgetNotificationArgs(
            comparison_operator="GREATER_THAN",
            threshold=threshold,
            threshold_type="PERCENTAGE",
            notification_type=kind,
            subscriber_email_addresses=list(emails),
        )
        for threshold, kind in ((80, "FORECASTED"), (100, "ACTUAL"))
    ]
    return aws.budgets.Budget(
        name,
        budget_type="COST",
        limit_amount=f"{monthly_usd:.2f}",
        limit_unit="USD",
        time_unit="MONTHLY",
        cost_filters=[
            aws.budgets.BudgetCostFilterArgs(name=k, values=v) for k, v in tag_cost_filter(tag_key, tag_value).items()
        ],
        notifications=notifications,
        opts=opts,
    )


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
    queue_arns: Mapping[str, pulumi.Input[str]]  # keys: facts.contract.QUEUES
    task_queue_arns: Sequence[pulumi.Input[str]]
    head_log_group_name: pulumi.Input[str]
    region: str  # the stack's region: the topic key serves EventBridge for this account's topics in it only

    @classmethod
    def from_settings(
        cls,
        s: StackSettings,
        *,
        queue_arns: Mapping[str, pulumi.Input[str]],
        task_queue_arns: Sequence[pulumi.Input[str]],
        head_log_group_name: pulumi.Input[str],
    ) -> StackAlertsArgs:
        a = s.alerts
        return cls(
            stack=s.stack,
            emails=list(a.emails),
            head_failures=a.head_failures,
            stuck_jobs=a.stuck_jobs,
            spot_interruptions_per_hour=a.spot_interruptions_per_hour,
            budget_monthly_usd=s.budget.monthly_usd,
            queue_arns=queue_arns,
            task_queue_arns=task_queue_arns,
            head_log_group_name=head_log_group_name,
            region=s.region,
        )


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
        alarm_arns = self._rules(args, topic)
        self._topic_policy(topic, alarm_arns)
        if args.budget_monthly_usd is not None:
            self._budget(args, args.budget_monthly_usd)
        self._queries(args)
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})

    def _topic(self, args: StackAlertsArgs) -> aws.sns.Topic:
        name, child = self._name, self._child
        key = aws.kms.Key(
            f"{name}-key",
            description=f"genomics-batch {args.stack}: alert topic",
            enable_key_rotation=True,
            policy=pulumi.Output.all(partition=self._partition, account=self._account).apply(
                lambda a: json.dumps(key_policy(a["partition"], a["account"], args.region))
            ),
            opts=child,
        )
        topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=key.arn, opts=child)
        for email in args.emails:
            aws.sns.TopicSubscription(
                f"{name}-email-{_email_suffix(email)}", topic=topic.arn, protocol="email", endpoint=email, opts=child
            )
        return topic

    def _topic_policy(self, topic: aws.sns.Topic, alarm_arns: list[pulumi.Output[str]]) -> None:
        aws.sns.TopicPolicy(
            f"{self._name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, self._account, *alarm_arns).apply(
                lambda a: json.dumps(topic_policy(a[0], a[1], a[2:]))
            ),
            opts=self._child,
        )

    def _rule(self, suffix: str, pattern: pulumi.Input[dict], description: str) -> aws.cloudwatch.EventRule:
        return aws.cloudwatch.EventRule(
            f"{self._name}-{suffix}",
            description=description,
            event_pattern=pulumi.Output.from_input(pattern).apply(json.dumps),
            opts=self._child,
        )

    def _queue_rules(
        self,
        suffix: str,
        arns: Sequence[pulumi.Input[str]],
        pattern_for: Callable[[Sequence[str]], dict],
        description: str,
    ) -> list[aws.cloudwatch.EventRule]:
        """As many rules as the ARNs need to keep each pattern within EventBridge's size (split_for_rules)."""
        return [
            self._rule(numbered(suffix, i), pulumi.Output.all(*group).apply(pattern_for), description)
            for i, group in enumerate(split_for_rules(arns, pattern_for))
        ]

    def _rules(self, args: StackAlertsArgs, topic: aws.sns.Topic) -> list[pulumi.Output[str]]:
        """The rules and their targets; returns the ARNs of the alarms that publish to the topic."""
        queues = args.queue_arns
        messages = []
        if args.head_failures:
            rule = self._rule(
                "head-failures",
                pulumi.Output.from_input(queues["head"]).apply(head_failure_pattern),
                "genomics-batch: a pipeline run failed",
            )
            messages.append(("head-failures", rule, head_failure_message(args.stack)))
        if args.stuck_jobs:
            rules = self._queue_rules(
                "stuck-jobs",
                [queues[key] for key in sorted(queues)],
                stuck_job_pattern,
                "genomics-batch: a job was cancelled as stuck RUNNABLE",
            )
            messages += [
                (numbered("stuck-jobs", i), rule, stuck_job_message(args.stack)) for i, rule in enumerate(rules)
            ]
        for suffix, rule, (paths, template) in messages:
            aws.cloudwatch.EventTarget(
                f"{self._name}-{suffix}",
                rule=rule.name,
                arn=topic.arn,
                input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                    input_paths=paths, input_template=template
                ),
                opts=self._child,
            )
        return [self._spot_alarm(args, topic).arn] if args.spot_interruptions_per_hour else []

    def _spot_alarm(self, args: StackAlertsArgs, topic: aws.sns.Topic) -> aws.cloudwatch.MetricAlarm:
        """Each reclaim is one matched event; the alarm counts the rules' matches (AWS/Events MatchedEvents) per
        hour. The rules keep a record of every reclaim in a log group, which is also their target."""
        name, child = self._name, self._child
        rules = self._queue_rules(
            "spot-reclaims",
            list(args.task_queue_arns),
            spot_reclaim_pattern,
            "genomics-batch: a task job lost its spot instance",
        )
        log = aws.cloudwatch.LogGroup(f"{name}-spot-reclaims", retention_in_days=30, opts=child)
        aws.cloudwatch.LogResourcePolicy(
            f"{name}-spot-reclaims",
            policy_name=f"genomics-batch-{args.stack}-spot-reclaims",
            policy_document=log.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": f"{arn}:*",
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        for i, rule in enumerate(rules):
            aws.cloudwatch.EventTarget(
                f"{name}-{numbered('spot-reclaims', i)}", rule=rule.name, arn=log.arn, opts=child
            )
        return aws.cloudwatch.MetricAlarm(
            f"{name}-spot-reclaims",
            alarm_description=(
                f"genomics-batch {args.stack}: more than {args.spot_interruptions_per_hour} task jobs lost their "
                "spot instance within an hour"
            ),
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=args.spot_interruptions_per_hour,
            treat_missing_data="notBreaching",
            alarm_actions=[topic.arn],
            **matched_events([rule.name for rule in rules]),
            opts=child,
        )

    def _budget(self, args: StackAlertsArgs, monthly_usd: float) -> None:
        """Budgets filter on one tag key; the Stack tag (set on every resource, instance and volume) names the stack."""
        tag_budget(
            f"{self._name}-budget",
            monthly_usd=monthly_usd,
            emails=args.emails,
            tag_key="Stack",
            tag_value=args.stack,
            opts=self._child,
        )

    def _queries(self, args: StackAlertsArgs) -> None:
        for suffix, title, query in (
            ("query-run", "a run's head log streams (replace RUN_NAME)", RUN_LOG_QUERY),
            ("query-errors", "errors across runs (pick the last day)", ERRORS_QUERY),
        ):
            aws.cloudwatch.QueryDefinition(
                f"{self._name}-{suffix}",
                name=f"genomics-batch/{args.stack}/{title}",
                log_group_names=[args.head_log_group_name],
                query_string=query,
                opts=self._child,
            )
