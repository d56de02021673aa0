"""Alerts: event patterns checked against sample Batch events by moto's own event-pattern matcher (the one its rules
route events with; its TestEventPattern API is a stub), the component and the program with alerts on, and every
declared alert resource replayed into moto."""

import json

from conftest import ACCOUNT, REGION, build_component, component_args, run_program

from components.alerts import (
    StackAlerts,
    StackAlertsArgs,
    head_failure_message,
    head_failure_pattern,
    key_policy,
    spot_reclaim_pattern,
    stuck_job_pattern,
    topic_policy,
)

BATCH = f"arn:aws:batch:{REGION}:{ACCOUNT}"
QUEUES = {q: f"{BATCH}:job-queue/batch-{q}-4f2a" for q in ("head", "default", "priority")}
OTHER_STACK = f"{BATCH}:job-queue/batch-default-9c9c"


def batch_event(queue: str, status: str, job_name: str = "nfbatch-rna-1", reason: str = "") -> dict:
    """A "Batch Job State Change" event as AWS Batch sends it to EventBridge (Batch user guide, "AWS Batch
    events"): the detail is the job as DescribeJobs shows it."""
    return {
        "version": "0", "id": "c8f9c4b5-76e5-d76a-f980-7011e206042b", "detail-type": "Batch Job State Change",
        "source": "aws.batch", "account": ACCOUNT, "time": "2026-11-23T08:00:00Z", "region": REGION,
        "resources": [f"{BATCH}:job/4c7599ae-0a82-49aa-ba5a-4727fcce14a8"],
        "detail": {"jobName": job_name, "jobId": "4c7599ae-0a82-49aa-ba5a-4727fcce14a8", "jobQueue": queue,
                   "status": status, "statusReason": reason, "attempts": [], "createdAt": 1763884800000,
                   "jobDefinition": f"{BATCH}:job-definition/nextflow-1a2b:1",
                   "container": {"command": ["nf-core/rnaseq", "-r", "3.14.0"]},
                   "tags": {"nfbatch-run": "rna-1"}},
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


def test_stuck_job_rule_matches_time_limit_cancellations_on_this_stack():
    pattern = stuck_job_pattern(list(QUEUES.values()))
    stuck = "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"
    assert matches(pattern, batch_event(QUEUES["default"], "FAILED", job_name="nf-bwa", reason=stuck))
    assert matches(pattern, batch_event(QUEUES["head"], "FAILED",
                                                reason="MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE"))
    assert not matches(pattern, batch_event(OTHER_STACK, "FAILED", reason=stuck))
    assert not matches(pattern, batch_event(QUEUES["default"], "FAILED", reason="Essential container exited"))


def test_spot_reclaim_rule_matches_lost_hosts_on_the_task_queues():
    pattern = spot_reclaim_pattern([QUEUES["default"], QUEUES["priority"]])
    lost = "Host EC2 (instance i-0a1b2c3d4e5f67890) terminated."
    assert matches(pattern, batch_event(QUEUES["default"], "RUNNABLE", job_name="nf-bwa", reason=lost))
    assert matches(pattern, batch_event(QUEUES["priority"], "FAILED", job_name="nf-bwa", reason=lost))
    assert not matches(pattern, batch_event(QUEUES["head"], "RUNNABLE", reason=lost))
    assert not matches(pattern, batch_event(OTHER_STACK, "RUNNABLE", reason=lost))
    assert not matches(pattern, batch_event(QUEUES["default"], "FAILED", reason="Essential container exited"))


def test_the_head_failure_email_names_the_run_pipeline_reason_and_the_logs_command():
    paths, template = head_failure_message("prod")
    event = batch_event(QUEUES["head"], "FAILED", reason="Essential container in task exited")
    # What EventBridge substitutes: each path read from the event, placed into the template.
    values = {"job": event["detail"]["jobName"], "id": event["detail"]["jobId"],
              "reason": event["detail"]["statusReason"], "pipeline": event["detail"]["container"]["command"][0]}
    assert set(paths) == set(values)
    text = json.loads(template)
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    assert text == ("genomics-batch prod: pipeline run nfbatch-rna-1 (nf-core/rnaseq) FAILED: Essential container in "
                    "task exited. Read its log with: nfbatch --stack prod logs 4c7599ae-0a82-49aa-ba5a-4727fcce14a8")


def build(**values):
    args = component_args(StackAlertsArgs, emails=["oncall@lab.org", "lead@lab.org"], queue_arns=QUEUES,
                          task_queue_arns=[QUEUES["default"], QUEUES["priority"]], head_log_group_name="/head",
                          **values)
    return build_component(lambda: StackAlerts("alerts", args))


def test_component_declares_an_encrypted_topic_rules_alarm_and_queries():
    mocks, _ = build(budget_monthly_usd=3000.0)
    component = mocks.named("alerts")
    assert all(r.parent == component.urn for r in mocks.registrations if r is not component)
    [key] = mocks.of_type("aws:kms/key:Key")
    [topic] = mocks.of_type("aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"] and key.inputs["enableKeyRotation"] is True
    assert json.loads(key.inputs["policy"]) == key_policy("aws", ACCOUNT)
    [policy] = mocks.of_type("aws:sns/topicPolicy:TopicPolicy")
    assert json.loads(policy.inputs["policy"]) == topic_policy(topic.outputs["arn"], ACCOUNT)
    emails = sorted(s.inputs["endpoint"] for s in mocks.of_type("aws:sns/topicSubscription:TopicSubscription"))
    assert emails == ["lead@lab.org", "oncall@lab.org"]
    rules = {r.name: json.loads(r.inputs["eventPattern"]) for r in mocks.of_type("aws:cloudwatch/eventRule:EventRule")}
    assert rules["alerts-head-failures"] == head_failure_pattern(QUEUES["head"])
    assert rules["alerts-stuck-jobs"] == stuck_job_pattern(list(QUEUES.values()))
    [alarm] = mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert (alarm.inputs["metricName"], alarm.inputs["threshold"], alarm.inputs["period"]) == (
        "MatchedEvents", 20, 3600)
    assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]]
    [budget] = mocks.of_type("aws:budgets/budget:Budget")
    assert budget.inputs["limitAmount"] == "3000.00"
    assert budget.inputs["costFilters"] == [{"name": "TagKeyValue", "values": ["user:Stack$test"]}]
    assert {(n["threshold"], n["notificationType"]) for n in budget.inputs["notifications"]} == {
        (80, "FORECASTED"), (100, "ACTUAL")}
    assert len(mocks.of_type("aws:cloudwatch/queryDefinition:QueryDefinition")) == 2


def test_each_alert_can_be_turned_off():
    mocks, _ = build(head_failures=False, stuck_jobs=False, spot_interruptions_per_hour=0)
    assert mocks.of_type("aws:cloudwatch/eventRule:EventRule") == []
    assert mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") == []
    assert mocks.of_type("aws:budgets/budget:Budget") == []
    assert len(mocks.of_type("aws:sns/topic:Topic")) == 1


def test_the_program_declares_alerts_only_when_emails_are_set():
    run = run_program("dev", {"genomics-batch:alerts": {"emails": ["oncall@lab.org"]},
                              "genomics-batch:budget": {"monthlyUsd": 500}})
    assert run.outputs["alertTopicArn"] == run.mocks.of_type("aws:sns/topic:Topic")[0].outputs["arn"]
    rules = {r.name: json.loads(r.inputs["eventPattern"])
             for r in run.mocks.of_type("aws:cloudwatch/eventRule:EventRule")}
    head_queue = run.outputs["headQueueArn"]
    assert rules["alerts-head-failures"]["detail"]["jobQueue"] == [head_queue]
    assert sorted(rules["alerts-spot-reclaims"]["detail"]["jobQueue"]) == sorted(
        [run.outputs["defaultQueueArn"], run.outputs["priorityQueueArn"]])
    assert run.mocks.of_type("aws:budgets/budget:Budget")[0].inputs["costFilters"][0]["values"] == ["user:Stack$dev"]


def test_declared_alert_resources_replay_into_moto(moto_server):
    """The inputs the program declares, sent to moto as the provider would send them: moto accepts every one."""
    run = run_program("dev", {"genomics-batch:alerts": {"emails": ["oncall@lab.org"]},
                              "genomics-batch:budget": {"monthlyUsd": 500}})
    one = {r.name: r.inputs for r in run.mocks.registrations
           if r.custom and r.typ in ("aws:kms/key:Key", "aws:cloudwatch/eventRule:EventRule")}
    one |= {"alerts-head-failures-target": run.mocks.named("alerts-head-failures",
                                                           "aws:cloudwatch/eventTarget:EventTarget").inputs}
    kms, sns = moto_server.client("kms"), moto_server.client("sns")
    events, cloudwatch = moto_server.client("events"), moto_server.client("cloudwatch")
    key = kms.create_key(Policy=one["alerts-key"]["policy"])["KeyMetadata"]["Arn"]
    topic = sns.create_topic(Name="alerts-replay", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                             AttributeValue=json.dumps(topic_policy(topic, ACCOUNT)))
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="oncall@lab.org")
    for suffix in ("head-failures", "stuck-jobs", "spot-reclaims"):
        events.put_rule(Name=f"replay-{suffix}", EventPattern=one[f"alerts-{suffix}"]["eventPattern"])
    transformer = one["alerts-head-failures-target"]["inputTransformer"]
    events.put_targets(Rule="replay-head-failures", Targets=[{"Id": "topic", "Arn": topic, "InputTransformer": {
        "InputPathsMap": transformer["inputPaths"], "InputTemplate": transformer["inputTemplate"]}}])
    alarms = [r.inputs for r in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")]
    assert len(alarms) == 1
    cloudwatch.put_metric_alarm(
        AlarmName="replay-spot-reclaims", Namespace=alarms[0]["namespace"], MetricName=alarms[0]["metricName"],
        Dimensions=[{"Name": "RuleName", "Value": "replay-spot-reclaims"}], Statistic=alarms[0]["statistic"],
        Period=int(alarms[0]["period"]), EvaluationPeriods=int(alarms[0]["evaluationPeriods"]),
        Threshold=float(alarms[0]["threshold"]), ComparisonOperator=alarms[0]["comparisonOperator"],
        TreatMissingData=alarms[0]["treatMissingData"], AlarmActions=[topic])
    budget = run.mocks.of_type("aws:budgets/budget:Budget")[0].inputs
    moto_server.client("budgets").create_budget(
        AccountId=ACCOUNT,
        Budget={"BudgetName": "replay", "BudgetType": budget["budgetType"], "TimeUnit": budget["timeUnit"],
                "BudgetLimit": {"Amount": budget["limitAmount"], "Unit": budget["limitUnit"]},
                "CostFilters": {f["name"]: f["values"] for f in budget["costFilters"]}},
        NotificationsWithSubscribers=[{
            "Notification": {"NotificationType": n["notificationType"], "ComparisonOperator": n["comparisonOperator"],
                             "Threshold": float(n["threshold"]), "ThresholdType": n["thresholdType"]},
            "Subscribers": [{"SubscriptionType": "EMAIL", "Address": a} for a in n["subscriberEmailAddresses"]],
        } for n in budget["notifications"]])
    assert sorted(r["Name"] for r in events.list_rules(NamePrefix="replay-")["Rules"]) == [
        "replay-head-failures", "replay-spot-reclaims", "replay-stuck-jobs"]
    described = moto_server.client("budgets").describe_budget(AccountId=ACCOUNT, BudgetName="replay")["Budget"]
    assert described["BudgetLimit"]["Amount"] in ("500.00", "500.0", "500")
