"""Alerts: event patterns checked against sample Batch events by moto's own event-pattern matcher (the one its rules
route events with; its TestEventPattern API is a stub), the component and the program with alerts on, and every
declared alert resource replayed into moto."""

import fnmatch
import gzip
import json
import re
from pathlib import Path

import botocore
import botocore.session
from conftest import ACCOUNT, REGION, build_component, component_args, run_program
from parliament import analyze_policy_string
from parliament import config as parliament_config

from components.alerts import (
    EVENT_PATTERN_MAX_CHARS,
    LONGEST_QUEUE_ARN,
    TIME_LIMIT_CANCEL_PREFIX,
    StackAlerts,
    StackAlertsArgs,
    head_failure_message,
    head_failure_pattern,
    key_policy,
    split_for_rules,
    spot_reclaim_pattern,
    stuck_job_pattern,
    topic_policy,
)
from facts.contract import CAPACITY_REASON, STUCK_REASONS
from facts.limits import JOB_QUEUES_PER_ACCOUNT, JOB_STATE_TIME_LIMIT_SECONDS

BATCH = f"arn:aws:batch:{REGION}:{ACCOUNT}"
QUEUES = {q: f"{BATCH}:job-queue/batch-{q}-4f2a" for q in ("head", "default", "priority")}
OTHER_STACK = f"{BATCH}:job-queue/batch-default-9c9c"


def batch_event(queue: str, status: str, job_name: str = "nfbatch-rna-1", reason: str = "") -> dict:
    """A "Batch Job State Change" event as AWS Batch sends it to EventBridge (Batch user guide, "AWS Batch
    events"): the detail is the job as DescribeJobs shows it."""
    return {
        "version": "0",
        "id": "c8f9c4b5-76e5-d76a-f980-7011e206042b",
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "account": ACCOUNT,
        "time": "2026-11-23T08:00:00Z",
        "region": REGION,
        "resources": [f"{BATCH}:job/4c7599ae-0a82-49aa-ba5a-4727fcce14a8"],
        "detail": {
            "jobName": job_name,
            "jobId": "4c7599ae-0a82-49aa-ba5a-4727fcce14a8",
            "jobQueue": queue,
            "status": status,
            "statusReason": reason,
            "attempts": [],
            "createdAt": 1763884800000,
            "jobDefinition": f"{BATCH}:job-definition/nextflow-1a2b:1",
            "container": {"command": ["nf-core/rnaseq", "-r", "3.14.0"]},
            "tags": {"nfbatch-run": "rna-1"},
        },
    }


def matches(pattern: dict, event: dict) -> bool:
    from moto.events.models import EventPattern

    return EventPattern.load(json.dumps(pattern)).matches_event(event)


def test_head_failure_rule_matches_only_this_stacks_failed_runs():
    pattern = head_failure_pattern(QUEUES["head"])
    assert matches(pattern, batch_event(QUEUES["head"], "FAILED", reason="Essential container exited"))
    assert not matches(pattern, batch_event(f"{BATCH}:job-queue/another-stacks-head", "FAILED"))
    assert not matches(pattern, batch_event(QUEUES["head"], "SUCCEEDED"))
    assert not matches(pattern, batch_event(QUEUES["default"], "FAILED", job_name="nf-fastqc_1"))
    # A run submitted without nfbatch (`aws batch submit-job --job-name nf-hello`) is a run too.
    assert matches(pattern, batch_event(QUEUES["head"], "FAILED", job_name="nf-hello"))


def cancelled(reason: str) -> str:
    """The status reason of a job a time-limit action cancelled (AWS Batch user guide,
    job_stuck_in_runnable_misconfiguration.html: "Canceled by JobStateTimeLimit action due to reason: <reason>")."""
    return f"{TIME_LIMIT_CANCEL_PREFIX}{reason}"


def test_the_cancel_reason_is_the_one_the_user_guide_documents():
    # AWS Batch user guide, "Jobs stuck in RUNNABLE due to misconfiguration", after the job is canceled.
    assert cancelled("MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT") == (
        "Canceled by JobStateTimeLimit action due to reason: MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"
    )


def test_stuck_job_rule_matches_time_limit_cancellations_on_this_stack():
    pattern = stuck_job_pattern(list(QUEUES.values()))
    for reason in STUCK_REASONS:
        for queue in QUEUES.values():
            assert matches(pattern, batch_event(queue, "FAILED", job_name="nf-bwa", reason=cancelled(reason))), reason
        # The bare reason is what a job shows while it waits, never on the cancelled job: the rule used to match
        # only this, and so never fired.
        assert not matches(pattern, batch_event(QUEUES["default"], "FAILED", reason=reason))
        assert not matches(pattern, batch_event(QUEUES["default"], "RUNNABLE", reason=cancelled(reason)))
        assert not matches(pattern, batch_event(OTHER_STACK, "FAILED", reason=cancelled(reason)))
    # No queue cancels on capacity (contract.CAPACITY_REASON); and the email's advice is about misconfiguration.
    assert not matches(pattern, batch_event(QUEUES["default"], "FAILED", reason=cancelled(CAPACITY_REASON)))
    assert not matches(pattern, batch_event(QUEUES["default"], "FAILED", reason="Essential container exited"))


def test_every_supported_misconfiguration_reason_is_acted_on_and_capacity_is_not():
    # AWS Batch user guide, "Automatic remediation with jobStateTimeLimitActions": the statusReason values that
    # support jobStateTimeLimitActions.
    supported = {
        "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
        "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
        "MISCONFIGURATION:EC2_INSTANCE_CONFIGURATION_UNSUPPORTED",
    }
    assert set(STUCK_REASONS) | {CAPACITY_REASON} == supported and CAPACITY_REASON not in STUCK_REASONS
    assert all(reason.startswith("MISCONFIGURATION:") for reason in STUCK_REASONS)


def batch_model() -> dict:
    path = Path(botocore.__file__).parent / "data" / "batch" / "2016-08-10" / "service-2.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))


def test_time_limit_actions_pass_the_providers_and_the_apis_checks():
    shapes = batch_model()["shapes"]
    run = run_program(
        "dev",
        {"genomics-batch:compute": {"gpu": {"enabled": True}}, "genomics-batch:teams": {"capped": {"maxVcpus": 16}}},
    )
    queues = run.mocks.of_type("aws:batch/jobQueue:JobQueue")
    assert {q.name for q in queues} >= {
        "batch-head",
        "batch-default",
        "batch-priority",
        "batch-gpu",
        "batch-team-capped",
    }
    # terraform-provider-aws internal/service/batch/job_queue.go: action and state are the SDK's enums,
    # max_time_seconds int64validator.Between(600, 86400), reason required (any string).
    assert JOB_STATE_TIME_LIMIT_SECONDS == (600, 86400)
    doc = shapes["JobStateTimeLimitAction"]["members"]["maxTimeSeconds"]["documentation"]
    assert "minimum value is 600" in doc and "maximum value is 86,400" in doc
    for queue in queues:
        actions = queue.inputs["jobStateTimeLimitActions"]
        assert sorted(a["reason"] for a in actions) == sorted(STUCK_REASONS), queue.name
        for action in actions:
            # CANCEL: the only action for ECS compute environments (botocore, JobStateTimeLimitAction.action).
            assert action["action"] == "CANCEL" and action["action"] in shapes["JobStateTimeLimitActionsAction"]["enum"]
            assert action["state"] in shapes["JobStateTimeLimitActionsState"]["enum"]
            assert JOB_STATE_TIME_LIMIT_SECONDS[0] <= action["maxTimeSeconds"] <= JOB_STATE_TIME_LIMIT_SECONDS[1]


def test_every_cancellation_a_queue_makes_reaches_the_stuck_job_alert():
    """End to end: each declared queue's own actions, turned into the event Batch sends, match a declared rule."""
    run = run_program(
        "dev",
        {"genomics-batch:alerts": {"emails": ["oncall@lab.org"]}, "genomics-batch:teams": {"capped": {"maxVcpus": 16}}},
    )
    patterns = [
        json.loads(r.inputs["eventPattern"])
        for r in run.mocks.of_type("aws:cloudwatch/eventRule:EventRule")
        if r.name.startswith("alerts-stuck-jobs")
    ]
    queues = run.mocks.of_type("aws:batch/jobQueue:JobQueue")
    assert len(queues) == 4
    for queue in queues:
        for action in queue.inputs["jobStateTimeLimitActions"]:
            event = batch_event(queue.outputs["arn"], "FAILED", reason=cancelled(action["reason"]))
            assert any(matches(p, event) for p in patterns), (queue.name, action["reason"])


def lost_host(queue: str, status: str) -> dict:
    return batch_event(queue, status, job_name="nf-bwa", reason="Host EC2 (instance i-0a1b2c3d4e5f67890) terminated.")


def test_spot_reclaim_rule_matches_lost_hosts_on_the_task_queues():
    pattern = spot_reclaim_pattern([QUEUES["default"], QUEUES["priority"]])
    assert matches(pattern, lost_host(QUEUES["default"], "RUNNABLE"))
    assert matches(pattern, lost_host(QUEUES["priority"], "FAILED"))
    assert not matches(pattern, lost_host(QUEUES["head"], "RUNNABLE"))
    assert not matches(pattern, lost_host(OTHER_STACK, "RUNNABLE"))
    assert not matches(pattern, batch_event(QUEUES["default"], "FAILED", reason="Essential container exited"))


def test_each_lost_attempt_counts_once():
    """A task with three attempts reclaimed three times: Batch moves it to RUNNABLE after each lost attempt that has
    another left and to FAILED after the last (AWS Batch user guide, job_states.html, RUNNING). The events in
    between (STARTING, RUNNING), even if they still show the last reason, end no attempt and do not count."""
    pattern = spot_reclaim_pattern([QUEUES["default"]])
    events = [
        lost_host(QUEUES["default"], status)
        for status in ("RUNNABLE", "STARTING", "RUNNING", "RUNNABLE", "STARTING", "RUNNING", "FAILED")
    ]
    assert sum(matches(pattern, e) for e in events) == 3
    # Retried until it succeeded: two losses, and the SUCCEEDED event does not add a third.
    events = [lost_host(QUEUES["default"], status) for status in ("RUNNABLE", "RUNNING", "RUNNABLE", "SUCCEEDED")]
    assert sum(matches(pattern, e) for e in events) == 2


def test_a_retried_reclaim_counts_only_while_its_runnable_event_keeps_the_host_reason():
    # The event detail "resembles the JobDetail" (Batch user guide, batch_cwe_events.html), whose statusReason is for
    # "the current status of the job" (botocore Batch model): that the RUNNABLE event after a lost attempt keeps the
    # "Host EC2" reason is our assumption. If it does not, the retried loss goes uncounted (the alarm undercounts).
    doc = botocore.session.get_session().get_service_model("batch").shape_for("JobDetail").members["statusReason"]
    assert "current status of the job" in doc.documentation
    pattern = spot_reclaim_pattern([QUEUES["default"]])
    assert matches(pattern, lost_host(QUEUES["default"], "RUNNABLE"))
    assert not matches(pattern, batch_event(QUEUES["default"], "RUNNABLE", job_name="nf-bwa", reason=""))
    assert matches(pattern, lost_host(QUEUES["default"], "FAILED"))  # the final loss counts either way


def test_the_pattern_limit_is_the_apis():
    events = Path(botocore.__file__).parent / "data" / "events" / "2014-02-03" / "service-2.json.gz"
    shapes = json.loads(gzip.decompress(events.read_bytes()))["shapes"]
    assert shapes["PutRuleRequest"]["members"]["EventPattern"]["shape"] == "EventPattern"
    assert EVENT_PATTERN_MAX_CHARS == shapes["EventPattern"]["max"] == 2048


def test_the_longest_queue_arn_bounds_every_partition_and_queue_name():
    partitions = json.loads((Path(botocore.__file__).parent / "data" / "partitions.json").read_text())["partitions"]
    longest = max(
        len(p["id"]) + len(region) for p in partitions for region in p["regions"] if not region.endswith("-global")
    )  # aws-global and the like are no region a queue lives in
    name = re.search(
        r"up to (\d+) letters",
        batch_model()["shapes"]["CreateJobQueueRequest"]["members"]["jobQueueName"]["documentation"],
    )
    assert len(LONGEST_QUEUE_ARN) == len("arn::batch::123456789012:job-queue/") + longest + int(name.group(1))


def worst_case_arns(count: int = JOB_QUEUES_PER_ACCOUNT) -> list[str]:
    """`count` distinct queue ARNs, each as long as any can be."""
    return [LONGEST_QUEUE_ARN[:-3] + f"{i:03d}" for i in range(count)]


def test_fifty_of_the_longest_queue_arns_fit_in_split_rules():
    arns = worst_case_arns()
    for pattern_for in (stuck_job_pattern, spot_reclaim_pattern):
        assert len(json.dumps(pattern_for(arns), separators=(",", ":"))) > EVENT_PATTERN_MAX_CHARS  # one rule won't do
        groups = split_for_rules(arns, pattern_for)
        assert sorted(a for g in groups for a in g) == sorted(arns)
        assert all(len(json.dumps(pattern_for(g))) <= EVENT_PATTERN_MAX_CHARS for g in groups)
        # The spot alarm sums one metric per rule; metric math reads at most 10 (CloudWatch, alarm-limits.html).
        assert len(groups) <= 10
    # Each rule still matches only its own queues, and together they match every one.
    groups = split_for_rules(arns, stuck_job_pattern)
    for arn in arns:
        event = batch_event(arn, "FAILED", reason=cancelled(STUCK_REASONS[0]))
        assert [matches(stuck_job_pattern(g), event) for g in groups].count(True) == 1


def test_the_head_failure_email_names_the_run_pipeline_reason_and_the_logs_command():
    paths, template = head_failure_message("prod")
    event = batch_event(QUEUES["head"], "FAILED", reason="Essential container in task exited")
    # What EventBridge substitutes: each path read from the event, placed into the template.
    values = {
        "job": event["detail"]["jobName"],
        "id": event["detail"]["jobId"],
        "reason": event["detail"]["statusReason"],
        "pipeline": event["detail"]["container"]["command"][0],
    }
    assert set(paths) == set(values)
    text = json.loads(template)
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    assert text == (
        "genomics-batch prod: pipeline run nfbatch-rna-1 (nf-core/rnaseq) FAILED: Essential container in "
        "task exited. Read its log with: nfbatch --stack prod logs 4c7599ae-0a82-49aa-ba5a-4727fcce14a8"
    )


def statements(document: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in document["Statement"]}


def test_eventbridge_may_encrypt_and_publish_without_conditions_it_cannot_meet():
    topic, alarm = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:reclaims"
    key, publish = statements(key_policy("aws", ACCOUNT, REGION)), statements(topic_policy(topic, ACCOUNT, [alarm]))
    # SNS developer guide, sns-key-management.html: aws:SourceAccount, aws:SourceArn and aws:SourceOrgID in the KMS
    # policy are "not supported for EventBridge-to-encrypted topics"; EventBridge user guide,
    # eb-use-resource-based.html: "You can't use Condition blocks in Amazon SNS topic policies for EventBridge".
    assert key["EventBridgeEncrypts"]["Principal"] == {"Service": "events.amazonaws.com"}
    conditions = key["EventBridgeEncrypts"]["Condition"]
    assert not any(k.startswith("aws:Source") for block in conditions.values() for k in block)
    # Narrowed by the encryption context SNS sets on a topic's data keys (the topic ARN under aws:sns:topicArn, as
    # AWS's GameLift FlexMatch guide conditions its SSE topic key): this account's topics in this region only.
    assert conditions == {"StringLike": {"kms:EncryptionContext:aws:sns:topicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:*"}}
    assert fnmatch.fnmatchcase(topic, conditions["StringLike"]["kms:EncryptionContext:aws:sns:topicArn"])
    for elsewhere in (f"arn:aws:sns:{REGION}:210987654321:alerts", f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts"):
        assert not fnmatch.fnmatchcase(elsewhere, conditions["StringLike"]["kms:EncryptionContext:aws:sns:topicArn"])
    china = statements(key_policy("aws-cn", ACCOUNT, "cn-north-1"))["EventBridgeEncrypts"]["Condition"]
    assert china["StringLike"]["kms:EncryptionContext:aws:sns:topicArn"] == f"arn:aws-cn:sns:cn-north-1:{ACCOUNT}:*"
    assert publish["EventBridgeRulesPublish"]["Principal"] == {"Service": "events.amazonaws.com"}
    assert "Condition" not in publish["EventBridgeRulesPublish"]
    # CloudWatch alarms: only this account's, and on the topic only this stack's alarm.
    assert key["AlarmsEncrypt"]["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    assert publish["StackAlarmsPublish"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnEquals": {"aws:SourceArn": [alarm]},
    }
    assert "StackAlarmsPublish" not in statements(topic_policy(topic, ACCOUNT))  # no alarm, no grant
    # Closed to other accounts: a rule elsewhere publishes through its own account's execution role, which only a
    # statement naming that account would admit (EventBridge user guide, eb-service-cross-account.html).
    principals = [s["Principal"] for s in publish.values() if s["Effect"] == "Allow"]
    assert all(set(p) == {"Service"} for p in principals)
    assert publish["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_parliament_finds_nothing_above_low_in_the_key_and_topic_policies():
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
    for document in (
        key_policy("aws", ACCOUNT, REGION),
        topic_policy(topic, ACCOUNT, [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:reclaims"]),
    ):
        findings = analyze_policy_string(json.dumps(document)).findings
        serious = [
            (f.issue, f.detail)
            for f in findings
            if (parliament_config.get(f.issue, {}).get("severity") or "LOW") != "LOW"
        ]
        assert serious == [], document
    # kms:EncryptionContext:<key> is a String condition key: an ARN operator on it is a type mismatch (why the key
    # policy says StringLike), and a misspelt key is unknown to KMS. The check can fail.
    grant = statements(key_policy("aws", ACCOUNT, REGION))["EventBridgeEncrypts"]
    for condition in (
        {"ArnLike": grant["Condition"]["StringLike"]},
        {"StringLike": {"kms:EncryptionContxt:aws:sns:topicArn": "arn:aws:sns:*"}},
    ):
        document = {"Version": "2012-10-17", "Statement": [{**grant, "Condition": condition}]}
        issues = {f.issue for f in analyze_policy_string(json.dumps(document)).findings}
        assert issues & {"MISMATCHED_TYPE", "UNKNOWN_CONDITION_FOR_ACTION"}, condition


def build(**values):
    args = component_args(
        StackAlertsArgs,
        **{
            "emails": ["oncall@lab.org", "lead@lab.org"],
            "queue_arns": QUEUES,
            "head_log_group_name": "/head",
            "task_queue_arns": [QUEUES["default"], QUEUES["priority"]],
            **values,
        },
    )
    return build_component(lambda: StackAlerts("alerts", args))


def test_component_declares_an_encrypted_topic_rules_alarm_and_queries():
    mocks, _ = build(budget_monthly_usd=3000.0)
    component = mocks.named("alerts")
    assert all(r.parent == component.urn for r in mocks.registrations if r is not component)
    [key] = mocks.of_type("aws:kms/key:Key")
    [topic] = mocks.of_type("aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"] and key.inputs["enableKeyRotation"] is True
    assert json.loads(key.inputs["policy"]) == key_policy("aws", ACCOUNT, REGION)
    [policy] = mocks.of_type("aws:sns/topicPolicy:TopicPolicy")
    [alarm] = mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert json.loads(policy.inputs["policy"]) == topic_policy(topic.outputs["arn"], ACCOUNT, [alarm.outputs["arn"]])
    emails = sorted(s.inputs["endpoint"] for s in mocks.of_type("aws:sns/topicSubscription:TopicSubscription"))
    assert emails == ["lead@lab.org", "oncall@lab.org"]
    rules = {r.name: json.loads(r.inputs["eventPattern"]) for r in mocks.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert rules["alerts-head-failures"] == head_failure_pattern(QUEUES["head"])
    assert rules["alerts-stuck-jobs"] == stuck_job_pattern(list(QUEUES.values()))
    assert (alarm.inputs["metricName"], alarm.inputs["threshold"], alarm.inputs["period"]) == (
        "MatchedEvents",
        20,
        3600,
    )
    # A few queues: one rule each, under the names they always had (a rename would replace them).
    assert sorted(rules) == ["alerts-head-failures", "alerts-spot-reclaims", "alerts-stuck-jobs"]
    assert alarm.inputs["dimensions"] == {
        "RuleName": mocks.named("alerts-spot-reclaims", "aws:cloudwatch/eventRule:EventRule").outputs["name"]
    }
    assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]]
    [budget] = mocks.of_type("aws:budgets/budget:Budget")
    assert budget.inputs["limitAmount"] == "3000.00"
    assert budget.inputs["costFilters"] == [{"name": "TagKeyValue", "values": ["user:Stack$test"]}]
    assert {(n["threshold"], n["notificationType"]) for n in budget.inputs["notifications"]} == {
        (80, "FORECASTED"),
        (100, "ACTUAL"),
    }
    assert len(mocks.of_type("aws:cloudwatch/queryDefinition:QueryDefinition")) == 2


def test_fifty_queues_split_into_rules_that_fit_and_one_alarm_sums_them(moto_server):
    arns = worst_case_arns()
    queues = {"head": arns[0], "default": arns[1], "priority": arns[2]} | {
        f"team-t{i:02d}": arn for i, arn in enumerate(arns[3:])
    }
    task_queues = arns[1:]
    mocks, _ = build(queue_arns=queues, task_queue_arns=task_queues)
    rules = {r.name: r for r in mocks.of_type("aws:cloudwatch/eventRule:EventRule")}
    targets = {t.name: t for t in mocks.of_type("aws:cloudwatch/eventTarget:EventTarget")}
    for suffix, covered in (("stuck-jobs", arns), ("spot-reclaims", task_queues)):
        mine = sorted((n for n in rules if n.startswith(f"alerts-{suffix}")), key=len)
        assert mine[0] == f"alerts-{suffix}" and len(mine) > 1  # the first keeps its name
        patterns = [json.loads(rules[n].inputs["eventPattern"]) for n in mine]
        assert all(len(rules[n].inputs["eventPattern"]) <= EVENT_PATTERN_MAX_CHARS for n in mine)
        assert sorted(a for p in patterns for a in p["detail"]["jobQueue"]) == sorted(covered)
        assert all(targets[n].inputs["rule"] == rules[n].outputs["name"] for n in mine)  # each rule has its target
    # The alarm adds up every spot-reclaim rule's matches.
    [alarm] = mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    queries = alarm.inputs["metricQueries"]
    counted = [q for q in queries if "metric" in q]
    assert sorted(q["metric"]["dimensions"]["RuleName"] for q in counted) == sorted(
        r.outputs["name"] for n, r in rules.items() if n.startswith("alerts-spot-reclaims")
    )
    [total] = [q for q in queries if q.get("returnData")]
    assert total["expression"] == f"SUM([{','.join(q['id'] for q in counted)}])"
    assert "metricName" not in alarm.inputs and "namespace" not in alarm.inputs
    # CloudWatch takes the alarm as declared (moto, through botocore's PutMetricAlarm shape).
    moto_server.client("cloudwatch").put_metric_alarm(
        AlarmName="replay-spot-reclaims-split",
        EvaluationPeriods=1,
        Threshold=20.0,
        ComparisonOperator=alarm.inputs["comparisonOperator"],
        Metrics=[
            {
                "Id": q["id"],
                "ReturnData": bool(q.get("returnData")),
                **(
                    {"Expression": q["expression"], "Label": q["label"]}
                    if "expression" in q
                    else {
                        "MetricStat": {
                            "Metric": {
                                "Namespace": q["metric"]["namespace"],
                                "MetricName": q["metric"]["metricName"],
                                "Dimensions": [{"Name": k, "Value": v} for k, v in q["metric"]["dimensions"].items()],
                            },
                            "Period": int(q["metric"]["period"]),
                            "Stat": q["metric"]["stat"],
                        }
                    }
                ),
            }
            for q in queries
        ],
    )


def test_each_alert_can_be_turned_off():
    mocks, _ = build(head_failures=False, stuck_jobs=False, spot_interruptions_per_hour=0)
    assert mocks.of_type("aws:cloudwatch/eventRule:EventRule") == []
    assert mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") == []
    assert mocks.of_type("aws:budgets/budget:Budget") == []
    assert len(mocks.of_type("aws:sns/topic:Topic")) == 1


def test_the_program_declares_alerts_only_when_emails_are_set():
    run = run_program(
        "dev", {"genomics-batch:alerts": {"emails": ["oncall@lab.org"]}, "genomics-batch:budget": {"monthlyUsd": 500}}
    )
    assert run.outputs["alertTopicArn"] == run.mocks.of_type("aws:sns/topic:Topic")[0].outputs["arn"]
    rules = {
        r.name: json.loads(r.inputs["eventPattern"]) for r in run.mocks.of_type("aws:cloudwatch/eventRule:EventRule")
    }
    head_queue = run.outputs["headQueueArn"]
    assert rules["alerts-head-failures"]["detail"]["jobQueue"] == [head_queue]
    assert sorted(rules["alerts-spot-reclaims"]["detail"]["jobQueue"]) == sorted(
        [run.outputs["defaultQueueArn"], run.outputs["priorityQueueArn"]]
    )
    assert run.mocks.of_type("aws:budgets/budget:Budget")[0].inputs["costFilters"][0]["values"] == ["user:Stack$dev"]


def test_declared_alert_resources_replay_into_moto(moto_server):
    """The inputs the program declares, sent to moto as the provider would send them: moto accepts every one."""
    run = run_program(
        "dev", {"genomics-batch:alerts": {"emails": ["oncall@lab.org"]}, "genomics-batch:budget": {"monthlyUsd": 500}}
    )
    one = {
        r.name: r.inputs
        for r in run.mocks.registrations
        if r.custom and r.typ in ("aws:kms/key:Key", "aws:cloudwatch/eventRule:EventRule")
    }
    one |= {
        "alerts-head-failures-target": run.mocks.named(
            "alerts-head-failures", "aws:cloudwatch/eventTarget:EventTarget"
        ).inputs
    }
    kms, sns = moto_server.client("kms"), moto_server.client("sns")
    events, cloudwatch = moto_server.client("events"), moto_server.client("cloudwatch")
    key = kms.create_key(Policy=one["alerts-key"]["policy"])["KeyMetadata"]["Arn"]
    topic = sns.create_topic(Name="alerts-replay", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@lab.org")
    for suffix in ("head-failures", "stuck-jobs", "spot-reclaims"):
        events.put_rule(Name=f"replay-{suffix}", EventPattern=one[f"alerts-{suffix}"]["eventPattern"])
    transformer = one["alerts-head-failures-target"]["inputTransformer"]
    events.put_targets(
        Rule="replay-head-failures",
        Targets=[
            {
                "Id": "topic",
                "Arn": topic,
                "InputTransformer": {
                    "InputPathsMap": transformer["inputPaths"],
                    "InputTemplate": transformer["inputTemplate"],
                },
            }
        ],
    )
    alarms = [r.inputs for r in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")]
    assert len(alarms) == 1
    cloudwatch.put_metric_alarm(
        AlarmName="replay-spot-reclaims",
        Namespace=alarms[0]["namespace"],
        MetricName=alarms[0]["metricName"],
        Dimensions=[{"Name": "RuleName", "Value": "replay-spot-reclaims"}],
        Statistic=alarms[0]["statistic"],
        Period=int(alarms[0]["period"]),
        EvaluationPeriods=int(alarms[0]["evaluationPeriods"]),
        Threshold=float(alarms[0]["threshold"]),
        ComparisonOperator=alarms[0]["comparisonOperator"],
        TreatMissingData=alarms[0]["treatMissingData"],
        AlarmActions=[topic],
    )
    alarm = cloudwatch.describe_alarms(AlarmNames=["replay-spot-reclaims"])["MetricAlarms"][0]["AlarmArn"]
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(topic_policy(topic, ACCOUNT, [alarm]))
    )
    assert json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])["Statement"][1]["Condition"][
        "ArnEquals"
    ] == {"aws:SourceArn": [alarm]}
    budget = run.mocks.of_type("aws:budgets/budget:Budget")[0].inputs
    moto_server.client("budgets").create_budget(
        AccountId=ACCOUNT,
        Budget={
            "BudgetName": "replay",
            "BudgetType": budget["budgetType"],
            "TimeUnit": budget["timeUnit"],
            "BudgetLimit": {"Amount": budget["limitAmount"], "Unit": budget["limitUnit"]},
            "CostFilters": {f["name"]: f["values"] for f in budget["costFilters"]},
        },
        NotificationsWithSubscribers=[
            {
                "Notification": {
                    "NotificationType": n["notificationType"],
                    "ComparisonOperator": n["comparisonOperator"],
                    "Threshold": float(n["threshold"]),
                    "ThresholdType": n["thresholdType"],
                },
                "Subscribers": [{"SubscriptionType": "EMAIL", "Address": a} for a in n["subscriberEmailAddresses"]],
            }
            for n in budget["notifications"]
        ],
    )
    assert sorted(r["Name"] for r in events.list_rules(NamePrefix="replay-")["Rules"]) == [
        "replay-head-failures",
        "replay-spot-reclaims",
        "replay-stuck-jobs",
    ]
    described = moto_server.client("budgets").describe_budget(AccountId=ACCOUNT, BudgetName="replay")["Budget"]
    assert described["BudgetLimit"]["Amount"] in ("500.00", "500.0", "500")
