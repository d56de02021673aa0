"""The CrossGuard pack: every rule called directly with passing and failing resources, then run over everything the
program declares for dev and prod (no mandatory violation allowed)."""

import json

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.guard import rules
from policies.guard.rules import POLICIES

GOOD_LT = {
    "metadataOptions": {"httpTokens": "required"},
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}],
    "tagSpecifications": [{"resourceType": k, "tags": {"Project": "p", "Stack": "s"}} for k in ("instance", "volume")],
}


@pytest.mark.parametrize(
    ("check", "typ", "good", "bad", "message"),
    [
        (
            rules.check_imdsv2,
            rules.LAUNCH_TEMPLATE,
            GOOD_LT,
            {"metadataOptions": {"httpTokens": "optional"}},
            "require IMDSv2",
        ),
        (rules.check_imdsv2, rules.LAUNCH_TEMPLATE, GOOD_LT, {}, "require IMDSv2"),
        (
            rules.check_block_devices_encrypted,
            rules.LAUNCH_TEMPLATE,
            GOOD_LT,
            {"blockDeviceMappings": [{"deviceName": "/dev/sdb", "ebs": {"encrypted": "false"}}]},
            "/dev/sdb is not encr",
        ),
        (
            rules.check_no_open_ingress,
            rules.SECURITY_GROUP,
            {"ingress": [{"cidrBlocks": ["10.0.0.0/8"]}]},
            {"ingress": [{"cidrBlocks": ["0.0.0.0/0"], "fromPort": 22, "toPort": 22}]},
            "open to 0.0.0.0/0 (ports 22-22)",
        ),
        (
            rules.check_no_open_ingress,
            rules.SECURITY_GROUP,
            {"ingress": []},
            {"ingress": [{"ipv6CidrBlocks": ["::/0"]}]},
            "open to ::/0",
        ),
        (
            rules.check_no_open_ingress,
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"cidrIpv4": "10.1.0.0/16"},
            {"cidrIpv4": "0.0.0.0/0"},
            "open to 0.0.0.0/0",
        ),
        (
            rules.check_no_full_access,
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"policyArn": "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"},
            {"policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"},
            "AmazonS3FullAccess grants full access",
        ),
        (
            rules.check_no_full_access,
            "aws:iam/role:Role",
            {"managedPolicyArns": []},
            {"managedPolicyArns": ["arn:aws:iam::aws:policy/AWSBatchFullAccess"]},
            "AWSBatchFullAccess",
        ),
        (
            rules.check_no_write_on_any_resource,
            "aws:iam/rolePolicy:RolePolicy",
            {
                "policy": json.dumps(
                    {"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"}]}
                )
            },
            {"policy": json.dumps({"Statement": {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}})},
            "s3:PutObject is allowed on every resource",
        ),
        (
            rules.check_min_vcpus_zero,
            rules.COMPUTE_ENVIRONMENT,
            {"computeResources": {"minVcpus": 0}},
            {"computeResources": {"minVcpus": 4}},
            "minVcpus is 4",
        ),
        (
            rules.check_updatable_in_place,
            rules.COMPUTE_ENVIRONMENT,
            {"computeResources": {"type": "SPOT", "allocationStrategy": "SPOT_CAPACITY_OPTIMIZED"}},
            {"computeResources": {"type": "SPOT", "allocationStrategy": "BEST_FIT"}},
            "BEST_FIT cannot be updated in place",
        ),
        (
            rules.check_updatable_in_place,
            rules.COMPUTE_ENVIRONMENT,
            {"computeResources": {"type": "EC2", "allocationStrategy": "BEST_FIT_PROGRESSIVE"}},
            {"computeResources": {"type": "EC2", "allocationStrategy": "BEST_FIT"}},
            "BEST_FIT cannot be updated",
        ),
        (
            rules.check_cost_tags,
            "aws:s3/bucket:Bucket",
            {"tagsAll": {"Project": "p", "Stack": "s"}},
            {"tags": {"Project": "p"}},
            "missing cost tags: Stack",
        ),
        (
            rules.check_cost_tags,
            rules.LAUNCH_TEMPLATE,
            GOOD_LT,
            {"tagSpecifications": []},
            "does not tag instances with Project, Stack",
        ),
    ],
)
def test_each_rule_passes_good_and_flags_bad_resources(check, typ, good, bad, message):
    assert check(typ, good) == []
    found = check(typ, bad)
    assert found and message in found[0]


def test_rules_ignore_other_resource_types_and_unknown_values():
    assert rules.check_imdsv2("aws:s3/bucket:Bucket", {}) == []
    assert rules.check_no_write_on_any_resource("aws:iam/rolePolicy:RolePolicy", {}) == []  # policy not known yet


def resource(typ, urn, props, **deps):
    return PolicyResource(typ, props, urn, urn.rsplit("::", 1)[-1], None, None, None, [], deps)


def bucket_with(pab=True, sse=True, policy: str | None = "tls"):
    bucket = resource(rules.BUCKET, "urn::b", {})
    found = [bucket]
    if pab:
        found.append(
            resource(
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                "urn::pab",
                {
                    k: True
                    for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
                },
                bucket=[bucket],
            )
        )
    if sse:
        found.append(
            resource(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                "urn::sse",
                {},
                bucket=[bucket],
            )
        )
    if policy:
        condition = {"Bool": {"aws:SecureTransport": "false"}} if policy == "tls" else {}
        document = json.dumps(
            {
                "Statement": [
                    {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": condition}
                ]
            }
        )
        found.append(resource("aws:s3/bucketPolicy:BucketPolicy", "urn::policy", {"policy": document}, bucket=[bucket]))
    return found


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pab": False}, "no public access block"),
        ({"sse": False}, "no default server-side encryption"),
        ({"policy": None}, "no policy denying requests without TLS"),
        ({"policy": "other"}, "does not deny requests without TLS"),
    ],
)
def test_bucket_rule_needs_all_three_guards(kwargs, message):
    assert rules.check_buckets_locked_down(bucket_with()) == []
    found = rules.check_buckets_locked_down(bucket_with(**kwargs))
    assert [m for _, m in found] == [next(m for _, m in found if message in m)]


def test_spot_queue_needs_an_on_demand_only_queue():
    spot = resource(rules.COMPUTE_ENVIRONMENT, "urn::spot", {"computeResources": {"type": "SPOT"}})
    od = resource(rules.COMPUTE_ENVIRONMENT, "urn::od", {"computeResources": {"type": "EC2"}})
    tasks = resource(rules.JOB_QUEUE, "urn::tasks", {}, computeEnvironmentOrders=[spot])
    mixed = resource(rules.JOB_QUEUE, "urn::mixed", {}, computeEnvironmentOrders=[od, spot])
    head = resource(rules.JOB_QUEUE, "urn::head", {}, computeEnvironmentOrders=[od])
    assert rules.check_spot_has_on_demand_head_queue([spot, od, tasks, mixed, head]) == []
    found = rules.check_spot_has_on_demand_head_queue([spot, od, tasks, mixed])
    assert {urn for urn, _ in found} == {"urn::tasks", "urn::mixed"}
    # A Fargate head queue is on-demand only; a FARGATE_SPOT one is not.
    for kind, passes in (("FARGATE", True), ("FARGATE_SPOT", False)):
        fargate = resource(rules.COMPUTE_ENVIRONMENT, "urn::fargate", {"computeResources": {"type": kind}})
        heads = resource(rules.JOB_QUEUE, "urn::heads", {}, computeEnvironmentOrders=[fargate])
        assert (rules.check_spot_has_on_demand_head_queue([spot, fargate, tasks, heads]) == []) is passes


def test_pack_declares_the_mandatory_and_advisory_rules():
    levels = {p.name: p.enforcement_level for p in POLICIES}
    assert {n for n, level in levels.items() if level == EnforcementLevel.MANDATORY} == {
        "launch-template-imdsv2",
        "block-devices-encrypted",
        "no-open-ingress",
        "no-full-access-policies",
        "no-write-on-any-resource",
        "s3-buckets-locked-down",
        "sns-topic-encrypted",
        "sns-topic-not-public",
        "teams-keep-to-their-results",
    }
    assert {n for n, level in levels.items() if level == EnforcementLevel.ADVISORY} == {
        "compute-environment-scales-to-zero",
        "spot-with-on-demand-head-queue",
        "cost-tags",
        "compute-environment-updatable-in-place",
    }


def violations_for(run) -> dict[str, list[str]]:
    """Run every policy of the pack, through its real validate callbacks, over what the program declared."""
    registrations = [r for r in run.mocks.registrations if r.custom and r.typ.startswith("aws:")]
    [provider] = run.mocks.of_type("pulumi:providers:aws")
    default_tags = json.loads(provider.inputs["defaultTags"])["tags"]
    by_urn = {}
    for r in registrations:
        props = {**r.outputs, **r.inputs}  # as CrossGuard sees a deployed resource: its outputs too
        if "tags" in props or r.typ in {"aws:s3/bucket:Bucket", "aws:iam/role:Role"}:
            props["tagsAll"] = {**default_tags, **(props.get("tags") or {})}  # what the provider adds
        by_urn[r.urn] = PolicyResource(r.typ, props, r.urn, r.name, None, None, None, [], {})
    for r in registrations:
        by_urn[r.urn].property_dependencies = {
            k: [by_urn[u] for u in urns if u in by_urn] for k, urns in r.property_dependencies.items()
        }
    found: dict[str, list[str]] = {}

    def reporter(policy):
        return lambda message, urn=None: found.setdefault(policy.name, []).append(f"{urn}: {message}")

    for policy in POLICIES:
        if isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(list(by_urn.values())), reporter(policy))
        else:
            for res in by_urn.values():
                policy.validate(
                    ResourceValidationArgs(res.resource_type, res.props, res.urn, res.name, None, None),
                    reporter(policy),
                )
    return found


def test_the_program_passes_every_rule(any_run):
    assert violations_for(any_run) == {}


def test_the_program_with_alerts_passes_every_rule():
    from conftest import run_program

    alerting = run_program(
        "prod", {"genomics-batch:alerts": {"emails": ["oncall@lab.org"]}, "genomics-batch:budget": {"monthlyUsd": 3000}}
    )
    assert alerting.mocks.of_type("aws:sns/topic:Topic")
    assert violations_for(alerting) == {}


def test_topic_rules_catch_an_unencrypted_or_public_topic():
    assert rules.check_topic_encrypted("aws:sns/topic:Topic", {}) == ["SNS topic is not encrypted (set kmsMasterKeyId)"]
    public = {
        "Statement": [
            {
                "Sid": "Open",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": "arn:aws:sns:us-east-1:123456789012:t",
            }
        ]
    }
    assert rules.check_topic_not_public("aws:sns/topicPolicy:TopicPolicy", {"policy": json.dumps(public)}) == [
        "topic policy statement Open allows everyone (Principal *) without a condition"
    ]
    from components.alerts import topic_policy

    ours = json.dumps(topic_policy("arn:aws:sns:us-east-1:123456789012:t", "123456789012"))
    assert rules.check_topic_not_public("aws:sns/topicPolicy:TopicPolicy", {"policy": ours}) == []


def test_the_pack_catches_a_weakened_program():
    from conftest import run_program

    # The settings cannot weaken the program, so weaken what it declared: open ingress and drop the TLS policy.
    weakened = run_program("dev")
    [sg] = weakened.mocks.of_type(rules.SECURITY_GROUP)
    sg.inputs["ingress"] = [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]
    weakened.mocks.registrations = [
        r for r in weakened.mocks.registrations if r.typ != "aws:s3/bucketPolicy:BucketPolicy"
    ]
    found = violations_for(weakened)
    assert set(found) == {"no-open-ingress", "s3-buckets-locked-down"}
