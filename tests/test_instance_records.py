"""Instance records: the rule's pattern checked by EventBridge's TestEventPattern (moto) against the ECS guide's sample
event, the size limit, the log policy, the component's and the program's inputs, and the records replayed into moto."""

import copy
import gzip
import json
import re
from pathlib import Path

import botocore
import pytest
from conftest import ACCOUNT, REGION, build_component, component_args, run_program
from parliament import analyze_policy_string
from parliament import config as parliament_config

from components.alerts import EVENT_PATTERN_MAX_CHARS
from components.costs import PRICES, RECORD_EVENT_BYTES, instance_record_costs
from components.instance_records import (
    LOG_GROUP_PREFIX,
    LONGEST_CLUSTER_ARN,
    InstanceRecords,
    InstanceRecordsArgs,
    cluster_groups,
    instance_state_pattern,
    log_write_policy,
)
from facts.contract import FARGATE
from settings import load_settings

CE = "aws:batch/computeEnvironment:ComputeEnvironment"
CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch-spot-1a2b3c4_Batch_2c06f29d-d1fe-3a49-879d-42394c86effc"
OTHER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default"
BOTOCORE = Path(botocore.__file__).parent / "data"


def sample_event(cluster: str = CLUSTER) -> dict:
    """The ECS developer guide's "Example container instance state change event" (ecs_container_instance_events.html;
    awsdocs/amazon-ecs-developer-guide doc_source/ecs_cwe_events.md), in our account and cluster, with the built-in
    attributes the agent sets at registration (aws-cdk-lib aws-ecs BuiltInAttributes) that the 2016 sample omits."""
    capabilities = [
        "logging-driver.syslog",
        "task-iam-role-network-host",
        "logging-driver.awslogs",
        "logging-driver.json-file",
        "docker-remote-api.1.17",
        "privileged-container",
        "docker-remote-api.1.18",
        "docker-remote-api.1.19",
        "ecr-auth",
        "docker-remote-api.1.20",
        "docker-remote-api.1.21",
        "docker-remote-api.1.22",
        "docker-remote-api.1.23",
        "task-iam-role",
    ]
    instance = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/b54a2a04-046f-4331-9d74-3f6d7f6ca315"
    ports = {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2376", "2375", "51678", "51679"]}
    udp = {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
    return {
        "version": "0",
        "id": "8952ba83-7be2-4ab5-9c32-6687532d15a2",
        "detail-type": "ECS Container Instance State Change",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": "2016-12-06T16:41:06Z",
        "region": REGION,
        "resources": [instance],
        "detail": {
            "agentConnected": True,
            "attributes": [{"name": f"com.amazonaws.ecs.capability.{c}"} for c in capabilities],
            "clusterArn": cluster,
            "containerInstanceArn": instance,
            "ec2InstanceId": "i-f3a8506b",
            "registeredResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 3767},
                ports,
                udp,
            ],
            "remainingResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 1988},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 767},
                ports,
                udp,
            ],
            "status": "ACTIVE",
            "version": 14801,
            "versionInfo": {"agentHash": "aebcbca", "agentVersion": "1.13.0", "dockerVersion": "DockerVersion: 1.11.2"},
            "updatedAt": "2016-12-06T16:41:06.991Z",
        },
    }


def with_built_in_attributes(event: dict) -> dict:
    event = copy.deepcopy(event)
    event["detail"]["attributes"] += [
        {"name": "ecs.instance-type", "value": "m6i.xlarge"},
        {"name": "ecs.availability-zone", "value": f"{REGION}a"},
    ]
    return event


def matched(pattern: dict, event: dict) -> bool:
    # moto 5.2.5 answers TestEventPattern with nothing (moto/events/responses.py: `pass`): its rules' own matcher
    # decides instead, the one put_events routes by (the replay below checks that path too).
    from moto.events.models import EventPattern

    return EventPattern.load(json.dumps(pattern)).matches_event(event)


def test_moto_does_not_answer_test_event_pattern(moto_server):
    events = moto_server.client("events")
    answer = events.test_event_pattern(EventPattern=json.dumps(instance_state_pattern([CLUSTER])), Event="{}")
    assert "Result" not in answer  # when moto implements it, match with it instead


def test_the_pattern_matches_this_stacks_instances_and_nothing_else():

    pattern = instance_state_pattern([CLUSTER, OTHER.replace("default", "batch-ondemand")])
    assert matched(pattern, sample_event())
    assert matched(pattern, with_built_in_attributes(sample_event()))
    assert not matched(pattern, sample_event(OTHER))  # another cluster of the account
    task = {**sample_event(), "detail-type": "ECS Task State Change"}
    assert not matched(pattern, task)


def test_the_longest_cluster_arn_bounds_ecs_names_and_batchs_own():
    with gzip.open(next((BOTOCORE / "ecs").glob("*/service-2.json.gz"))) as f:
        ecs = json.load(f)
    assert "Up to 255 letters" in ecs["shapes"]["CreateClusterRequest"]["members"]["clusterName"]["documentation"]
    assert len(LONGEST_CLUSTER_ARN.rsplit("/", 1)[1]) == 255
    # Batch: <environment name, up to 128>_Batch_<uuid> (botocore's Batch examples-1.json, ecsClusterArn).
    examples = json.loads((next((BOTOCORE / "batch").glob("*/examples-1.json"))).read_text())
    assert "_Batch_2c06f29d-d1fe-3a49-879d-42394c86effc" in json.dumps(examples)
    assert 128 + len("_Batch_") + 36 <= 255


def test_fifty_capped_teams_split_into_rules_within_the_pattern_limit():
    # 50 capped teams each have their own spot environment, beside spot, on-demand and GPU: 53 clusters.
    arns = [LONGEST_CLUSTER_ARN[:-3] + f"{i:03d}" for i in range(53)]
    groups = cluster_groups(arns)
    assert sorted(a for g in groups for a in g) == sorted(arns)
    assert all(len(json.dumps(instance_state_pattern(g))) <= EVENT_PATTERN_MAX_CHARS for g in groups)
    assert len(groups) > 1  # the check can fail: one rule could not hold them
    assert len(cluster_groups([CLUSTER, OTHER])) == 1


def test_eventbridge_may_write_only_into_the_records_group():
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/events/genomics-batch-instances-x"
    [statement] = log_write_policy(group)["Statement"]
    # EventBridge user guide, eb-use-resource-based.html ("CloudWatch Logs permissions"): these principals and actions.
    assert statement["Principal"] == {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]}
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    # The group's streams only (the provider's arn has no ":*": terraform-provider-aws logs, trimLogGroupARNWildcard).
    assert statement["Resource"] == f"{group}:*" and "Condition" not in statement
    # PutResourcePolicy "only supports logs:PutLogEvents and logs:CreateLogStream" (botocore's logs model).
    with gzip.open(next((BOTOCORE / "logs").glob("*/service-2.json.gz"))) as f:
        doc = json.load(f)["operations"]["PutResourcePolicy"]["documentation"]
    assert all(action in doc for action in statement["Action"])
    findings = analyze_policy_string(json.dumps(log_write_policy(group))).findings
    serious = [f.issue for f in findings if (parliament_config.get(f.issue, {}).get("severity") or "LOW") != "LOW"]
    assert serious == []


def build(**values):
    args = component_args(InstanceRecordsArgs, **{"cluster_arns": [CLUSTER, OTHER], **values})
    return build_component(lambda: InstanceRecords("records", args))


def test_component_declares_group_policy_rule_and_target():
    mocks, _ = build(retention_days=90)
    component = mocks.named("records")
    assert all(r.parent == component.urn for r in mocks.registrations if r is not component)
    [log] = mocks.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert log.inputs["retentionInDays"] == 90
    assert log.inputs["namePrefix"] == LOG_GROUP_PREFIX == "/aws/events/genomics-batch-instances-"
    [policy] = mocks.of_type("aws:cloudwatch/logResourcePolicy:LogResourcePolicy")
    assert policy.inputs["policyName"] == log.outputs["name"]
    assert json.loads(policy.inputs["policyDocument"]) == log_write_policy(log.outputs["arn"])
    [rule] = mocks.of_type("aws:cloudwatch/eventRule:EventRule")
    assert json.loads(rule.inputs["eventPattern"]) == instance_state_pattern([CLUSTER, OTHER])
    [target] = mocks.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert (target.inputs["rule"], target.inputs["arn"]) == (rule.outputs["name"], log.outputs["arn"])
    assert "roleArn" not in target.inputs  # Logs targets take no role (EventBridge user guide, eb-use-resource-based)


def test_args_follow_the_settings():
    s = load_settings({"aws:region": REGION, "genomics-batch:runCosts": '{"recordRetentionDays": 0}'}, "lab")
    args = InstanceRecordsArgs.from_settings(s, cluster_arns=[CLUSTER])
    assert (args.retention_days, list(args.cluster_arns)) == (0, [CLUSTER])
    assert load_settings({"aws:region": REGION}, "lab").run_costs.record_instances is True


def test_the_program_records_every_ec2_environment_and_not_fargate():
    run = run_program(
        "dev",
        {
            "genomics-batch:compute": {"gpu": {"enabled": True}},
            "genomics-batch:headJob": {"platform": "fargate"},
            "genomics-batch:teams": {"rnalab": {"maxVcpus": 64}, "core": {}},
        },
    )
    clusters = {r.name: r.outputs["ecsClusterArn"] for r in run.mocks.of_type(CE)}
    assert any(name.endswith(FARGATE) for name in clusters) and any(name.endswith("team-rnalab") for name in clusters)
    expected = sorted(arn for name, arn in clusters.items() if not name.endswith(FARGATE))
    [rule] = [r for r in run.mocks.of_type("aws:cloudwatch/eventRule:EventRule") if r.name.startswith("instance")]
    assert json.loads(rule.inputs["eventPattern"])["detail"]["clusterArn"] == expected
    log = run.mocks.named("instance-records-log", "aws:cloudwatch/logGroup:LogGroup")
    assert run.outputs["instanceEventsLogGroupName"] == log.outputs["name"]
    assert log.inputs["retentionInDays"] == 365


def test_recording_can_be_turned_off():
    run = run_program("dev", {"genomics-batch:runCosts": {"recordInstances": False}})
    assert not [r for r in run.mocks.registrations if r.name.startswith("instance-records")]
    assert "instanceEventsLogGroupName" not in run.outputs


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_declared_records_replay_into_moto_and_read_back_as_the_events(stack, request, moto_server):
    """The inputs the program declares, sent to moto as the provider sends them; an ECS event then lands in the
    group as one log event holding the EventBridge event as JSON (the format nfbatch cost reads)."""
    run = request.getfixturevalue(f"{stack}_run")
    declared = {r.typ.rsplit(":", 1)[1]: r for r in run.mocks.registrations if r.name.startswith("instance-records")}
    logs, events = moto_server.client("logs"), moto_server.client("events")
    name = declared["LogGroup"].inputs["namePrefix"] + f"replay-{stack}"
    logs.create_log_group(logGroupName=name)
    logs.put_retention_policy(logGroupName=name, retentionInDays=int(declared["LogGroup"].inputs["retentionInDays"]))
    arn = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["arn"].removesuffix(":*")
    logs.put_resource_policy(policyName=name, policyDocument=json.dumps(log_write_policy(arn)))
    rule_name = f"replay-instance-records-{stack}"
    events.put_rule(Name=rule_name, EventPattern=declared["EventRule"].inputs["eventPattern"])
    events.put_targets(Rule=rule_name, Targets=[{"Id": "records", "Arn": arn}])
    [cluster] = [r.outputs["ecsClusterArn"] for r in run.mocks.of_type(CE) if r.name == "batch-spot"]
    event = with_built_in_attributes(sample_event(cluster))
    for sent in (event, sample_event(OTHER)):
        entry = {"Source": sent["source"], "DetailType": sent["detail-type"], "Detail": json.dumps(sent["detail"])}
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    [record] = logs.filter_log_events(logGroupName=name)["events"]
    recorded = json.loads(record["message"])
    assert recorded["detail"] == event["detail"] and recorded["detail-type"] == event["detail-type"]
    attributes = {a["name"]: a.get("value") for a in recorded["detail"]["attributes"]}
    assert (attributes["ecs.instance-type"], attributes["ecs.availability-zone"]) == ("m6i.xlarge", f"{REGION}a")


def test_the_recording_cost_follows_from_the_event_size_and_prices():
    # The guide's sample, compact as EventBridge writes it, is 2.2 KB; the estimate allows for more attributes.
    assert 2000 < len(json.dumps(sample_event(), separators=(",", ":"))) < 2600 < RECORD_EVENT_BYTES
    costs = instance_record_costs(load_settings({"aws:region": REGION}, "lab"))["instanceRecords"]
    assert costs["per1000Tasks"] == round(1000 * 2 * RECORD_EVENT_BYTES / 1e9 * 0.50, 4) == 0.006
    assert (
        costs["per1000InstanceHours"] == 0.018
        and costs["storedPerGbMonth"] == 0.03 == PRICES["cloudwatch_logs_gb_month_stored"]
    )
    off = load_settings({"aws:region": REGION, "genomics-batch:runCosts": '{"recordInstances": false}'}, "lab")
    assert instance_record_costs(off) == {}


def test_the_log_group_prefix_fits_the_providers_validator():
    # terraform-provider-aws internal/service/logs, validLogGroupNamePrefix: at most 483 characters of
    # `^[0-9A-Za-z_./#-]+$` (CreateLogGroup's 512 less room for the provider's unique suffix).
    assert len(LOG_GROUP_PREFIX) <= 483 and re.fullmatch(r"[0-9A-Za-z_./#-]+", LOG_GROUP_PREFIX)
