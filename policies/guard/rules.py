"""The CrossGuard rules of genomics-batch, as plain functions over a resource's type and properties.

Each `check_*` returns violation messages (empty when the resource passes), so tests call them directly; `POLICIES`
wraps them for `pulumi preview --policy-pack policies/guard`. Values not yet known in a preview are skipped, not
failed: the same rules run again at `pulumi up`, when they are known.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from facts.contract import COST_TAG_KEYS as REQUIRED_COST_TAGS
from facts.contract import TEAM_TAG
from facts.update_rules import UPDATABLE_ALLOCATION_STRATEGIES
from policies.iam import reaches_other_results, write_actions_on_any_resource

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
BUCKET = "aws:s3/bucket:Bucket"
COMPUTE_ENVIRONMENT = "aws:batch/computeEnvironment:ComputeEnvironment"
JOB_QUEUE = "aws:batch/jobQueue:JobQueue"
OPEN = {"0.0.0.0/0", "::/0"}


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


# --- mandatory, per resource ------------------------------------------------------------------------------------


def check_imdsv2(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != LAUNCH_TEMPLATE:
        return []
    tokens = (props.get("metadataOptions") or {}).get("httpTokens")
    return [] if tokens == "required" else [f"launch template must require IMDSv2 (httpTokens is {tokens!r})"]


def check_block_devices_encrypted(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != LAUNCH_TEMPLATE:
        return []
    return [
        f"block device {m.get('deviceName')} is not encrypted"
        for m in props.get("blockDeviceMappings") or []
        if m.get("ebs") is not None and not _truthy(m["ebs"].get("encrypted"))
    ]


def check_no_open_ingress(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    rules: list[Mapping[str, Any]] = []
    if resource_type == SECURITY_GROUP:
        rules = props.get("ingress") or []
    elif resource_type == "aws:ec2/securityGroupRule:SecurityGroupRule" and props.get("type") == "ingress":
        rules = [props]
    elif resource_type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        rules = [{"cidrBlocks": [props.get("cidrIpv4")], "ipv6CidrBlocks": [props.get("cidrIpv6")]}]
    found = []
    for rule in rules:
        opened = OPEN & {*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])}
        found += [
            f"ingress open to {cidr} (ports {rule.get('fromPort')}-{rule.get('toPort')})" for cidr in sorted(opened)
        ]
    return found


def check_no_full_access(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    arns: list[str] = []
    if resource_type in (
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    ):
        arns = [props.get("policyArn") or ""]
    elif resource_type == "aws:iam/role:Role":
        arns = list(props.get("managedPolicyArns") or [])
    return [
        f"{arn} grants full access; attach a scoped policy"
        for arn in arns
        if isinstance(arn, str) and "FullAccess" in arn
    ]


def check_no_write_on_any_resource(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    documents = []
    if resource_type in (
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/policy:Policy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
    ):
        documents = [props.get("policy")]
    elif resource_type == "aws:iam/role:Role":
        documents = [p.get("policy") for p in props.get("inlinePolicies") or []]
    found = []
    for document in documents:
        if not isinstance(document, str):
            continue  # unknown until deploy
        parsed = json.loads(document)
        if isinstance(parsed.get("Statement"), dict):
            parsed["Statement"] = [parsed["Statement"]]
        found += [f"{action} is allowed on every resource (*)" for action in write_actions_on_any_resource(parsed)]
    return found


# --- advisory, per resource --------------------------------------------------------------------------------------


def check_topic_encrypted(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != "aws:sns/topic:Topic":
        return []
    return [] if props.get("kmsMasterKeyId") else ["SNS topic is not encrypted (set kmsMasterKeyId)"]


def check_topic_not_public(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """A topic policy may allow a service principal, or anyone only under a condition; never everyone outright."""
    if resource_type != "aws:sns/topicPolicy:TopicPolicy" or not isinstance(props.get("policy"), str):
        return []
    statements = json.loads(props["policy"]).get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    return [
        f"topic policy statement {s.get('Sid', i)} allows everyone (Principal *) without a condition"
        for i, s in enumerate(statements)
        if s.get("Effect") == "Allow" and s.get("Principal") in ("*", {"AWS": "*"}) and not s.get("Condition")
    ]


def check_min_vcpus_zero(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != COMPUTE_ENVIRONMENT:
        return []
    minimum = (props.get("computeResources") or {}).get("minVcpus") or 0
    return [f"minVcpus is {minimum:g}: instances run, and cost, while no job is queued"] if minimum > 0 else []


def check_updatable_in_place(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """A compute environment the provider cannot update in place is replaced by ordinary edits, killing its jobs."""
    if resource_type != COMPUTE_ENVIRONMENT:
        return []
    strategy = (props.get("computeResources") or {}).get("allocationStrategy")
    if not isinstance(strategy, str) or strategy in UPDATABLE_ALLOCATION_STRATEGIES:
        return []
    return [
        f"allocation strategy {strategy} cannot be updated in place by the AWS provider: launch template, "
        f"instance type and subnet changes replace this compute environment and stop its jobs "
        f"(use {' or '.join(UPDATABLE_ALLOCATION_STRATEGIES)})"
    ]


def check_cost_tags(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Cost tags on the resource (or, through the provider's default tags, in tagsAll), and for launch templates
    on the instances and volumes they launch."""
    if resource_type == LAUNCH_TEMPLATE:
        specs = {s.get("resourceType"): s.get("tags") or {} for s in props.get("tagSpecifications") or []}
        return [
            f"launch template does not tag {kind}s with {', '.join(missing)}"
            for kind in ("instance", "volume")
            if (missing := [t for t in REQUIRED_COST_TAGS if t not in specs.get(kind, {})])
        ]
    if not resource_type.startswith("aws:") or ("tags" not in props and "tagsAll" not in props):
        return []  # a resource type without AWS tags (a docker-build Image's `tags` are image references)
    tags = {**(props.get("tags") or {}), **(props.get("tagsAll") or {})}
    missing = [t for t in REQUIRED_COST_TAGS if t not in tags]
    return [f"missing cost tags: {', '.join(missing)}"] if missing else []


# --- stack-wide --------------------------------------------------------------------------------------------------


def _depends_on(resource: Any, key: str, target: Any) -> bool:
    return any(d.urn == target.urn for d in (resource.property_dependencies or {}).get(key, []))


def check_buckets_locked_down(resources: Iterable[Any]) -> list[tuple[str, str]]:
    """(urn, message) for every bucket lacking a full public access block, default encryption or a TLS-only policy."""
    resources = list(resources)
    found = []
    for bucket in (r for r in resources if r.resource_type == BUCKET):

        def attached(kind: str, bucket=bucket) -> list[Any]:
            return [r for r in resources if r.resource_type == kind and _depends_on(r, "bucket", bucket)]

        blocks = attached("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        if not any(all(_truthy(b.props.get(f)) for f in flags) for b in blocks):
            found.append((bucket.urn, "bucket has no public access block with all four settings on"))
        if not attached("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
            found.append((bucket.urn, "bucket has no default server-side encryption"))
        policies = attached("aws:s3/bucketPolicy:BucketPolicy")
        if not policies:
            found.append((bucket.urn, "bucket has no policy denying requests without TLS"))
        for policy in policies:
            document = policy.props.get("policy")
            if isinstance(document, str) and not _denies_plain_http(json.loads(document)):
                found.append((bucket.urn, "bucket policy does not deny requests without TLS"))
    return found


def _denies_plain_http(document: Mapping[str, Any]) -> bool:
    statements = document.get("Statement") or []
    statements = [statements] if isinstance(statements, dict) else statements
    return any(
        s.get("Effect") == "Deny"
        and (s.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        for s in statements
    )


def check_spot_has_on_demand_head_queue(resources: Iterable[Any]) -> list[tuple[str, str]]:
    """Advisory: a stack that queues jobs on spot should have a queue with on-demand capacity only, for heads."""
    resources = list(resources)
    kinds = {
        r.urn: (r.props.get("computeResources") or {}).get("type")
        for r in resources
        if r.resource_type == COMPUTE_ENVIRONMENT
    }
    queues = {}
    for queue in (r for r in resources if r.resource_type == JOB_QUEUE):
        ce_urns = [d.urn for d in (queue.property_dependencies or {}).get("computeEnvironmentOrders", [])]
        queues[queue.urn] = {kinds.get(u) for u in ce_urns}
    uses_spot = [urn for urn, types in queues.items() if "SPOT" in types]
    # Fargate (not FARGATE_SPOT) is on-demand capacity too: headJob.platform fargate puts the head queue there.
    has_head = any(types and types <= {"EC2", "FARGATE"} for types in queues.values())
    if uses_spot and not has_head:
        return [
            (
                urn,
                "queue uses spot capacity but the stack has no on-demand-only queue for Nextflow head jobs; "
                "a reclaimed head kills the whole run",
            )
            for urn in uses_spot
        ]
    return []


def _team_documents(resources: list[Any]) -> Iterable[tuple[Any, str, dict]]:
    """(resource, team, policy document) for every known policy of a team: its roles' policies (inline in a role
    tagged with the team, or a role policy naming such a role) and its run policy (a policy tagged with it)."""

    def team_of(resource: Any) -> str | None:
        return (resource.props.get("tags") or {}).get(TEAM_TAG)

    roles = {r.urn: team_of(r) for r in resources if r.resource_type == "aws:iam/role:Role"}
    for r in resources:
        documents, team = [r.props.get("policy")], None
        if r.resource_type == "aws:iam/role:Role":
            documents, team = [p.get("policy") for p in r.props.get("inlinePolicies") or []], team_of(r)
        elif r.resource_type == "aws:iam/rolePolicy:RolePolicy":
            team = next(
                (roles[d.urn] for d in (r.property_dependencies or {}).get("role", []) if roles.get(d.urn)), None
            )
        elif r.resource_type == "aws:iam/policy:Policy":
            team = team_of(r)
        for document in documents:
            if team and isinstance(document, str):
                yield r, team, json.loads(document)


def check_teams_keep_to_their_results(resources: Iterable[Any]) -> list[tuple[str, str]]:
    """No team's role or run policy reaches another team's results/ prefix in the stack's work bucket."""
    resources = list(resources)
    buckets = [b.props["arn"] for b in resources if b.resource_type == BUCKET and isinstance(b.props.get("arn"), str)]
    found = []
    for resource, team, document in _team_documents(resources):
        for bucket in buckets:
            found += [
                (resource.urn, f"team {team}'s policy grants {grant}, which reaches other teams' results/")
                for grant in reaches_other_results(document, bucket, team)
            ]
    return found


# --- the pack ----------------------------------------------------------------------------------------------------


def _resource_policy(name: str, description: str, check, level: EnforcementLevel) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, args.urn)

    return ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)


def _stack_policy(name: str, description: str, check, level: EnforcementLevel) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation) -> None:
        for urn, message in check(args.resources):
            report_violation(message, urn)

    return StackValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)


MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY
POLICIES = [
    _resource_policy("launch-template-imdsv2", "Launch templates require IMDSv2.", check_imdsv2, MANDATORY),
    _resource_policy(
        "block-devices-encrypted", "Every EBS block device is encrypted.", check_block_devices_encrypted, MANDATORY
    ),
    _resource_policy(
        "no-open-ingress", "No security-group ingress from 0.0.0.0/0 or ::/0.", check_no_open_ingress, MANDATORY
    ),
    _resource_policy(
        "no-full-access-policies", "No *FullAccess managed policy is attached.", check_no_full_access, MANDATORY
    ),
    _resource_policy(
        "no-write-on-any-resource", "No IAM write action is allowed on *.", check_no_write_on_any_resource, MANDATORY
    ),
    _resource_policy("sns-topic-encrypted", "SNS topics are encrypted with KMS.", check_topic_encrypted, MANDATORY),
    _resource_policy("sns-topic-not-public", "No SNS topic policy allows everyone.", check_topic_not_public, MANDATORY),
    _stack_policy(
        "teams-keep-to-their-results",
        "No team's role or run policy reaches another team's results/.",
        check_teams_keep_to_their_results,
        MANDATORY,
    ),
    _stack_policy(
        "s3-buckets-locked-down",
        "Buckets block public access, encrypt by default and deny plain HTTP.",
        check_buckets_locked_down,
        MANDATORY,
    ),
    _resource_policy(
        "compute-environment-scales-to-zero", "Compute environments keep minVcpus at 0.", check_min_vcpus_zero, ADVISORY
    ),
    _stack_policy(
        "spot-with-on-demand-head-queue",
        "Spot queues come with an on-demand-only head queue.",
        check_spot_has_on_demand_head_queue,
        ADVISORY,
    ),
    _resource_policy(
        "compute-environment-updatable-in-place",
        "Compute environments use an allocation strategy the provider updates in place.",
        check_updatable_in_place,
        ADVISORY,
    ),
    _resource_policy("cost-tags", "Resources, instances and volumes carry the cost tags.", check_cost_tags, ADVISORY),
]
