"""Stack upkeep: `doctor` (is the deployed stack healthy, and how to fix it) and `prune-job-definitions`.

Every check returns plain dicts so the CLI can print a table or JSON.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.config import Config
from botocore.exceptions import ClientError

from facts.contract import NEXTFLOW_JOB_DEFINITION_PREFIX, TEAM_TAG, queue_capacity
from facts.registries import UPSTREAMS
from nfbatch.aws import RETRY_CONFIG, Aws
from nfbatch.errors import NfbatchError
from nfbatch.policy_eval import ALLOW, DENY, decision, document, for_principal
from nfbatch.pull_errors import is_rate_limited, pull_hint, pull_reason
from nfbatch.runs import describe_jobs, list_job_summaries
from nfbatch.stack import StackOutputs


def _check(name: str, ok: bool, detail: str, fix: str | None = None) -> dict:
    return {"check": name, "ok": ok, "detail": detail, "fix": None if ok else fix}


def expected_queue_orders(outputs: StackOutputs) -> dict[str, list[list[str]]]:
    """Allowed compute-environment orders per queue (the default queue may have opted into spill-over)."""
    arns = outputs.compute_environment_arns
    allowed: dict[str, list[list[str]]] = {}
    for fallback in (False, True):
        for queue, capacity in queue_capacity(fallback, outputs.head_platform, outputs.has_gpu).items():
            order = [arns[c] for c in capacity]
            if order not in allowed.setdefault(queue, []):
                allowed[queue].append(order)
    return allowed


REDEPLOY = "run `pulumi up` for this stack"  # when the stack's name is not known


def _up(stack: str | None) -> str:
    """`pulumi up`, naming the stack when it is known (issue 18: every fix line names its stack)."""
    return f"`pulumi up --stack {stack}`" if stack else "`pulumi up`"


def redeploy(stack: str | None) -> str:
    return f"run {_up(stack)}" if stack else REDEPLOY


def doctor(aws: Aws, outputs: StackOutputs, stack: str | None = None) -> list[dict]:
    """Every check of a deployed stack, in the order a person would fix them; `stack` (when known) is named in fixes."""
    definition = _head_definition(aws, outputs)
    return [
        *_compute_environment_checks(aws, outputs, stack),
        *_queue_checks(aws, outputs, stack),
        _job_definition_check(outputs, definition, stack),
        head_image_check(aws, outputs, definition, stack),
        *_team_checks(aws, outputs, stack),
        *_cost_tag_checks(aws, outputs, stack),
        *_bucket_checks(aws, outputs, stack),
        *_role_checks(aws, outputs, stack),
        *_cache_rule_checks(aws, outputs, stack),
        _cache_grant_check(aws, outputs, stack),
        *_pull_failure_checks(aws, outputs),
        *_alert_checks(aws, outputs, stack),
    ]


def _compute_environment_checks(aws: Aws, outputs: StackOutputs, stack: str | None) -> list[dict]:
    arns, checks = outputs.compute_environment_arns, []
    found = {
        ce["computeEnvironmentArn"]: ce
        for ce in aws.client("batch").describe_compute_environments(computeEnvironments=list(arns.values()))[
            "computeEnvironments"
        ]
    }
    for key, arn in arns.items():
        ce = found.get(arn)
        if ce is None:
            checks.append(_check(f"{key} compute environment", False, f"{arn} does not exist", redeploy(stack)))
            continue
        name = ce["computeEnvironmentName"]
        reason = f": {ce['statusReason']}" if ce.get("statusReason") else ""
        checks.append(
            _check(
                f"{key} compute environment",
                ce.get("status") == "VALID",
                f"{name} is {ce.get('status')}{reason}",
                f"fix the cause in the status reason (often the instance role or subnets), then {_up(stack)}",
            )
        )
        checks.append(
            _check(
                f"{key} compute environment enabled",
                ce.get("state") == "ENABLED",
                f"{name} is {ce.get('state')}",
                f"aws batch update-compute-environment --compute-environment {name} --state ENABLED",
            )
        )
    return checks


def _queue_checks(aws: Aws, outputs: StackOutputs, stack: str | None) -> list[dict]:
    checks = []
    queues = {
        q["jobQueueArn"]: q
        for q in aws.client("batch").describe_job_queues(jobQueues=list(outputs.queue_arns.values()))["jobQueues"]
    }
    allowed = expected_queue_orders(outputs)
    for key, arn in outputs.queue_arns.items():
        queue = queues.get(arn)
        if queue is None:
            checks.append(_check(f"{key} queue", False, f"{arn} does not exist", redeploy(stack)))
            continue
        name = queue["jobQueueName"]
        checks.append(
            _check(
                f"{key} queue enabled",
                queue.get("state") == "ENABLED",
                f"{name} is {queue.get('state')}",
                f"aws batch update-job-queue --job-queue {name} --state ENABLED",
            )
        )
        order = [o["computeEnvironment"] for o in sorted(queue["computeEnvironmentOrder"], key=lambda o: o["order"])]
        checks.append(
            _check(
                f"{key} queue order",
                order in allowed[key],
                " then ".join(a.rsplit("/", 1)[-1] for a in order) or "no compute environment",
                f"someone changed the queue by hand; {_up(stack)} restores it",
            )
        )
    return checks


def _head_definition(aws: Aws, outputs: StackOutputs) -> dict | None:
    """The stack's head job definition as DescribeJobDefinitions gives it, or None when Batch has none."""
    definitions = aws.client("batch").describe_job_definitions(jobDefinitions=[outputs["jobDefinitionArn"]])[
        "jobDefinitions"
    ]
    return definitions[0] if definitions else None


def _job_definition_check(outputs: StackOutputs, definition: dict | None, stack: str | None) -> dict:
    status = definition["status"] if definition else "missing"
    detail = f"{outputs['jobDefinitionName']} is {status}"
    return _check("head job definition", status == "ACTIVE", detail, redeploy(stack))


HEAD_IMAGE_CHECK = "head image in ECR"
# A private registry's host: "The Amazon ECR registry URL format is https://aws_account_id.dkr.ecr.region.amazonaws.com"
# (botocore's ECR model, AuthorizationData.proxyEndpoint), .amazonaws.com.cn in China (the ECR user guide, Registries).
ECR_HOST = re.compile(r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")


def ecr_image(image: str) -> dict | None:
    """The DescribeImages request (plus the `region` to ask) for an image in a private ECR registry, by digest when
    it names one, else by tag (`latest` when none, as Docker does); None for an image anywhere else."""
    host, _, rest = image.partition("/")
    match = ECR_HOST.fullmatch(host)
    if not match or not rest:
        return None
    name, _, digest = rest.partition("@")
    repository, _, tag = name.partition(":")
    image_id = {"imageDigest": digest} if digest else {"imageTag": tag or "latest"}
    return {
        "region": match["region"],
        "registryId": match["account"],
        "repositoryName": repository,
        "imageIds": [image_id],
    }


def _push_fix(image: str, outputs: StackOutputs, stack: str | None) -> str:
    """How the missing head image gets there. The stack's own repository is filled by `pulumi up` (headJob.image
    unset, components/head_image.py), after a refresh: while the state says the image was pushed, `pulumi up` sees
    nothing to do; a refresh finds its tag gone and drops it ("The `buidx.Image` will query your registries during
    refresh ... If any are missing a subsequent `update` will push them", pulumi-docker-build's Image docs). Any
    other image is whoever set headJob.image to push."""
    where = f" --stack {stack}" if stack else ""
    # The stack's own image is named by tag (headImage) or, in the head definition, by digest (repo@sha256:...).
    if image.startswith(tuple(f"{outputs.values.get('ecrRepositoryUrl')}{sep}" for sep in ":@")):
        return (
            f"`pulumi refresh{where}` (it finds the tag gone), then `pulumi up{where}` builds container/ and pushes "
            "it again (Docker needed)"
        )
    return (
        f"push {image}, or point headJob.image at an image that exists (`pulumi config set{where} --path "
        f"'genomics-batch:headJob.image' <image>`, then `pulumi up{where}`), or remove it to have pulumi up build one"
    )


def head_image_check(aws: Aws, outputs: StackOutputs, definition: dict | None, stack: str | None = None) -> dict:
    """Does the image the head job definition names exist? Until it does every run fails at its start with
    CannotPullContainerError. Asked with DescribeImages, which answers ImageNotFoundException ("The image requested
    does not exist in the specified repository") or RepositoryNotFoundException (botocore's ECR model)."""
    image = ((definition or {}).get("containerProperties") or {}).get("image") or outputs.values.get("headImage")
    if not image:
        return _check(HEAD_IMAGE_CHECK, False, "the head job definition names no image", redeploy(stack))
    request = ecr_image(image)
    if request is None:
        return _check(HEAD_IMAGE_CHECK, True, f"{image}: not in a private ECR registry, not checked")
    region = request.pop("region")
    ecr = aws.client("ecr") if region == aws.region else aws.session.client("ecr", region_name=region)
    try:
        ecr.describe_images(**request)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code not in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise
        what = "its repository does not exist" if code == "RepositoryNotFoundException" else "no such image"
        detail = f"{image}: {what}; every run fails with CannotPullContainerError"
        return _check(HEAD_IMAGE_CHECK, False, detail, _push_fix(image, outputs, stack))
    return _check(HEAD_IMAGE_CHECK, True, image)


def _team_checks(aws: Aws, outputs: StackOutputs, stack: str | None) -> list[dict]:
    """On a stack shared by teams: every queue is fair-share (team runs give a share identifier, which the SubmitJob
    API reference says not to give to a queue without a fair-share policy), capped teams' queues are enabled, and
    each team's head job definition is active."""
    if not outputs.teams:
        return []
    batch, checks = aws.client("batch"), []
    queues = batch.describe_job_queues(jobQueues=[*outputs.queue_arns.values(), *outputs.team_queue_arns])["jobQueues"]
    fifo = sorted(q["jobQueueName"] for q in queues if not q.get("schedulingPolicyArn"))
    checks.append(
        _check(
            "fair-share queues",
            not fifo,
            f"without a scheduling policy: {', '.join(fifo)}" if fifo else f"{len(queues)} queues share by team",
            redeploy(stack),
        )
    )
    state = {q["jobQueueArn"]: (q["jobQueueName"], q.get("state")) for q in queues}
    for arn in outputs.team_queue_arns:
        name, status = state.get(arn, (arn.rsplit("/", 1)[-1], "missing"))
        checks.append(
            _check(
                f"team queue {name} enabled",
                status == "ENABLED",
                f"{name} is {status}",
                redeploy(stack)
                if status == "missing"
                else f"aws batch update-job-queue --job-queue {name} --state ENABLED",
            )
        )
    arns = {t["jobDefinitionArn"]: name for name, t in sorted(outputs.teams.items())}
    listed = list(arns)  # DescribeJobDefinitions takes at most 100 (API reference, jobDefinitions)
    active = {
        d["jobDefinitionArn"]
        for i in range(0, len(listed), 100)
        for d in batch.describe_job_definitions(jobDefinitions=listed[i : i + 100])["jobDefinitions"]
        if d.get("status") == "ACTIVE"
    }
    for arn, team in arns.items():
        checks.append(
            _check(
                f"team {team} head job definition",
                arn in active,
                f"{arn.rsplit('/', 1)[-1]} is {'ACTIVE' if arn in active else 'not active'}",
                redeploy(stack),
            )
        )
    return checks


COST_TAG_CHECK = f"{TEAM_TAG} cost allocation tag"


# Activation is account-wide and, in an organization, the management account's (budget.activateTeamCostTag).
def activate(stack: str | None) -> str:
    where = f" --stack {stack}" if stack else ""
    return (
        f"`pulumi config set{where} --path 'genomics-batch:budget.activateTeamCostTag' true`, then {_up(stack)} "
        f"(or `aws ce update-cost-allocation-tags-status --cost-allocation-tags-status TagKey={TEAM_TAG},"
        "Status=Active`), with credentials of the account that pays the bill"
    )


def cost_tag_check(tags: list[dict], budgeted: list[str], stack: str | None = None) -> dict:
    """What ListCostAllocationTags' CostAllocationTags (botocore's Cost Explorer model: TagKey, Type, Status Active
    or Inactive) say of the Team key. Team budgets filter on the tag, so they see nothing until it is Active; AWS
    lists a key only once resources carry it, up to 24 h after its first use. A failure only when a budget needs it:
    without one the tag is for Cost Explorer's reports alone."""
    status = next((t.get("Status") for t in tags if t.get("TagKey") == TEAM_TAG), None)
    needs = f"; the budgets of {', '.join(budgeted)} count nothing until it is Active" if budgeted else ""
    if status == "Active":
        return _check(COST_TAG_CHECK, True, "Active: budgets and Cost Explorer can filter on it")
    if status is None:
        return _check(
            COST_TAG_CHECK,
            not budgeted,
            f"AWS does not list {TEAM_TAG} yet (it does up to 24 h after a resource first carries the tag){needs}",
            f"wait until `aws ce list-cost-allocation-tags --tag-keys {TEAM_TAG}` lists it, then {activate(stack)}",
        )
    return _check(COST_TAG_CHECK, not budgeted, f"{status}{needs}", activate(stack))


def _cost_tag_checks(aws: Aws, outputs: StackOutputs, stack: str | None) -> list[dict]:
    """The Team key's status in Cost Explorer, on a stack with teams."""
    if not outputs.teams:
        return []
    budgeted = sorted(name for name, t in outputs.teams.items() if t.get("budgetName"))
    # A read for advice only: one retry, so an account or endpoint that cannot answer does not hold the others up.
    ce = aws.session.client(
        "ce",
        region_name=aws.region,
        config=RETRY_CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 2})),
    )
    try:
        tags = ce.list_cost_allocation_tags(TagKeys=[TEAM_TAG], Type="UserDefined")["CostAllocationTags"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        return [
            _check(
                COST_TAG_CHECK,
                not budgeted,
                f"cannot read its status: ListCostAllocationTags answered {code}",
                "run doctor with credentials that may call "
                "ce:ListCostAllocationTags (in an organization, the "
                "management account's)",
            )
        ]
    return [cost_tag_check(tags, budgeted, stack)]


def _bucket_checks(aws: Aws, outputs: StackOutputs, stack: str | None) -> list[dict]:
    s3, bucket = aws.client("s3"), outputs["bucketName"]
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        return [
            _check(
                "work bucket reachable",
                False,
                f"{bucket}: {error.response['Error'].get('Code')}",
                "check the bucket exists and your credentials may read it",
            )
        ]
    try:
        tls = "aws:SecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError:
        tls = False
    return [
        _check("work bucket reachable", True, bucket),
        _check("work bucket TLS-only policy", tls, "present" if tls else "missing", redeploy(stack)),
    ]


def _role_checks(aws: Aws, outputs: StackOutputs, stack: str | None) -> list[dict]:
    iam, checks = aws.client("iam"), []
    for label, key in (
        ("head job role", "headJobRoleArn"),
        ("task job role", "taskJobRoleArn"),
        ("instance role", "instanceRoleArn"),
    ):
        name = outputs[key].rsplit("/", 1)[-1]
        try:
            iam.get_role(RoleName=name)
            checks.append(_check(label, True, name))
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchEntity":
                raise
            checks.append(_check(label, False, f"{name} does not exist", redeploy(stack)))
    return checks


# --- the registry cache (issue 19) --------------------------------------------------------------------------------

CACHE_RULES_CHECK = "registry cache rules"
CACHE_GRANT_CHECK = "instance role may fill the cache"
PULL_WINDOW_DAYS = 7  # Batch keeps finished jobs for days; a week covers the runs someone still asks about
PULL_FAILURES_CHECK = f"image pull failures ({PULL_WINDOW_DAYS} days)"
PULL_SCAN_CAP = 1000  # job summaries read per queue (10 ListJobs pages): doctor stays quick on a busy stack
PULL_DESCRIBE_CAP = 500  # failed jobs described (5 DescribeJobs calls of 100)
CACHE_OFF = "off (registryCache.enabled is false): task images are pulled from their registries"
# The ECR actions that fill a cache on the first pull of an image (https://docs.aws.amazon.com/AmazonECR/latest/
# userguide/pull-through-cache-iam.html): BatchImportUpstreamImage always, CreateRepository for a repository that
# does not exist yet; granted by an identity policy or the private registry's permissions policy. TagResource too:
# the Service Authorization Reference's operations table maps BatchGetImage to ecr:BatchImportUpstreamImage,
# ecr:CreateRepository and ecr:TagResource (https://docs.aws.amazon.com/service-authorization/latest/reference/
# list_amazonelasticcontainerregistry.html), and the stack grants all three (policies/iam.py CACHE_PULL_ACTIONS).
CACHE_ACTIONS = ("ecr:BatchImportUpstreamImage", "ecr:CreateRepository", "ecr:TagResource")
CACHE_ACTIONS_TEXT = ", ".join(CACHE_ACTIONS[:-1]) + " and " + CACHE_ACTIONS[-1]
CACHE_PROBE = "nfbatch-doctor-probe"  # a repository name under a prefix, for the grant's resource ARN


@dataclass(frozen=True)
class CacheRule:
    prefix: str  # the rule's ecrRepositoryPrefix (dev/quay)
    account: str
    region: str
    url: str  # the upstreamRegistryUrl it must front
    hosts: tuple[str, ...]  # the image hosts the stack routes through it


def cache_rules(caches: dict[str, str]) -> list[CacheRule]:
    """The rules a registryCaches export (image host -> `<registry host>/<prefix>`) implies, one per prefix."""
    by_prefix: dict[str, CacheRule] = {}
    for host, uri in sorted(caches.items()):
        registry, _, prefix = uri.partition("/")
        match = ECR_HOST.fullmatch(registry)
        upstream = next((u for u in UPSTREAMS if host in u.hosts), None)
        url = upstream.url if upstream else host  # an Azure registry is its own host (facts/registries.py)
        if not match or not prefix:
            raise NfbatchError(
                f"registryCaches: {host} -> {uri!r} is not <account>.dkr.ecr.<region>.amazonaws.com/<prefix>",
                "write the outputs again with `pulumi stack output --json`",
            )
        known = by_prefix.get(prefix)
        hosts = (*known.hosts, host) if known else (host,)
        by_prefix[prefix] = CacheRule(prefix, match["account"], match["region"], url, hosts)
    return list(by_prefix.values())


def _ecr_in(aws: Aws, region: str):
    return aws.client("ecr") if region == aws.region else aws.session.client("ecr", region_name=region)


def cache_rule_check(rule: CacheRule, found: dict | None, stack: str | None = None) -> dict:
    """One rule as DescribePullThroughCacheRules gives it (None: PullThroughCacheRuleNotFoundException)."""
    name, hosts = f"cache rule {rule.prefix}", ", ".join(rule.hosts)
    # The provider reads a rule by its prefix and, when ECR says PullThroughCacheRuleNotFoundException, drops it
    # from the state ("not found, removing from state": terraform-provider-aws internal/service/ecr/
    # pull_through_cache_rule.go, resourcePullThroughCacheRuleRead): a refresh first, then up creates it again.
    refresh_up = f"`pulumi up --refresh{f' --stack {stack}' if stack else ''}`"
    if found is None:
        detail = f"missing: images of {hosts} routed to {rule.prefix}/ fail with CannotPullContainerError"
        return _check(name, False, detail, f"run {refresh_up}: it finds the rule gone and creates it again")
    actual = found.get("upstreamRegistryUrl", "")
    if actual.lower() != rule.url.lower():
        # upstream_registry_url is ForceNew in the provider (same file) and UpdatePullThroughCacheRule takes only
        # credentialArn and customRoleArn (botocore's ECR model): a refresh sees the change, up replaces the rule.
        detail = f"fronts {actual or 'nothing'}, not {rule.url}: images of {hosts} would come from the wrong registry"
        return _check(name, False, detail, f"run {refresh_up}: it replaces the rule with one for {rule.url}")
    # Prefixes are unique per registry (account and region), not per project: say which base this stack holds.
    base = rule.prefix.rsplit("/", 1)[0]
    owner = (
        f"this stack owns {base}/ here: another stack in this account and region needs its own "
        "registryCache.repositoryPrefix"
    )
    return _check(name, True, f"{rule.url} for {hosts}; {owner}")


def _cache_rule_checks(aws: Aws, outputs: StackOutputs, stack: str | None) -> list[dict]:
    caches = outputs.values.get("registryCaches") or {}
    if not caches:
        return [_check(CACHE_RULES_CHECK, True, CACHE_OFF)]
    checks = []
    for rule in cache_rules(caches):
        # One prefix per call, as the provider reads a rule: a missing prefix among several would fail the call.
        try:
            answer = _ecr_in(aws, rule.region).describe_pull_through_cache_rules(
                registryId=rule.account, ecrRepositoryPrefixes=[rule.prefix]
            )
            found = next(
                (r for r in answer.get("pullThroughCacheRules", []) if r.get("ecrRepositoryPrefix") == rule.prefix),
                None,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "PullThroughCacheRuleNotFoundException":
                raise
            found = None
        checks.append(cache_rule_check(rule, found, stack))
    return checks


def role_policies(iam, role: str) -> tuple[list[tuple[str, dict]], dict | None]:
    """A role's identity policies (inline, then attached managed ones at their default version) by name, and its
    permissions boundary's document (None without one): ListRolePolicies/GetRolePolicy, ListAttachedRolePolicies/
    GetPolicy/GetPolicyVersion and GetRole (Role.PermissionsBoundary), botocore's IAM model."""
    found = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        for name in page["PolicyNames"]:
            found.append((name, document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])))
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        for attached in page["AttachedPolicies"]:
            found.append((attached["PolicyName"], _managed_document(iam, attached["PolicyArn"])))
    boundary = iam.get_role(RoleName=role)["Role"].get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
    return found, _managed_document(iam, boundary) if boundary else None


def _managed_document(iam, arn: str) -> dict:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return document(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])


def cache_grant_gaps(
    identity: list[tuple[str, dict]],
    boundary: dict | None,
    registry_policy: dict | None,
    role_arn: str,
    repositories: list[str],
) -> list[str]:
    """What the role may not do of CACHE_ACTIONS on each repository ARN, each as `<action> on <arn>: <why>`. An
    allow comes from its own policies or from statements of the registry's permissions policy naming it; an
    explicit deny in any wins; a permissions boundary must allow it too (IAM policy evaluation logic)."""
    granted = [d for _, d in identity] + ([for_principal(registry_policy, role_arn)] if registry_policy else [])
    gaps = []
    for repository in repositories:
        for action in CACHE_ACTIONS:
            verdict = decision(granted, action, repository)
            if verdict == DENY:
                named = [n for n, d in identity if decision([d], action, repository) == DENY] or ["the registry policy"]
                gaps.append(f"{action} on {repository}: denied by {named[0]}")
            elif verdict != ALLOW:
                gaps.append(f"{action} on {repository}: no policy of the role allows it")
            elif boundary is not None and decision([boundary], action, repository) != ALLOW:
                gaps.append(f"{action} on {repository}: outside the role's permissions boundary")
    return gaps


def _registry_policy(ecr) -> dict | None:
    """The private registry's permissions policy (GetRegistryPolicy), None when it has none."""
    try:
        return document(ecr.get_registry_policy()["policyText"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "RegistryPolicyNotFoundException":
            raise
        return None


def _cache_grant_check(aws: Aws, outputs: StackOutputs, stack: str | None) -> dict:
    """May the instance role (the ECS agent pulls with it) import into every cache prefix?"""
    caches = outputs.values.get("registryCaches") or {}
    if not caches:
        return _check(CACHE_GRANT_CHECK, True, CACHE_OFF)
    role_arn, rules = outputs["instanceRoleArn"], cache_rules(caches)
    name, partition = role_arn.rsplit("/", 1)[-1], role_arn.split(":")[1]
    try:
        identity, boundary = role_policies(aws.client("iam"), name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise
        return _check(CACHE_GRANT_CHECK, False, f"{name} does not exist", redeploy(stack))
    gaps = []
    for region in sorted({r.region for r in rules}):
        here = [r for r in rules if r.region == region]
        registry = _registry_policy(_ecr_in(aws, region))
        arns = [f"arn:{partition}:ecr:{region}:{r.account}:repository/{r.prefix}/{CACHE_PROBE}" for r in here]
        gaps += cache_grant_gaps(identity, boundary, registry, role_arn, arns)
    if gaps:
        detail = f"{name}: " + "; ".join(g.replace(f"/{CACHE_PROBE}", "/*") for g in gaps)
        fix = f"{redeploy(stack)}: the stack grants {CACHE_ACTIONS_TEXT} on its cache prefixes"
        return _check(CACHE_GRANT_CHECK, False, detail + "; the first pull of each image fails", fix)
    prefixes = ", ".join(f"{r.prefix}/*" for r in rules)
    return _check(CACHE_GRANT_CHECK, True, f"{name} may {CACHE_ACTIONS_TEXT} on {prefixes}")


def recent_failed_jobs(aws: Aws, outputs: StackOutputs, since_ms: int) -> tuple[list[dict], int]:
    """FAILED jobs created since `since_ms` on the head and task queues (DescribeJobs details, at most
    PULL_DESCRIBE_CAP), and how many job summaries were read. ListJobs takes one filter and ignores jobStatus when
    given one (botocore's Batch model, ListJobsRequest.filters), so AFTER_CREATED_AT is asked and FAILED kept here."""
    since = [{"name": "AFTER_CREATED_AT", "values": [str(since_ms)]}]
    paginator, read, failed = aws.client("batch").get_paginator("list_jobs"), 0, []
    for queue in dict.fromkeys([outputs["headQueueArn"], *outputs.task_queue_arns]):
        pages = paginator.paginate(jobQueue=queue, filters=since, PaginationConfig={"MaxItems": PULL_SCAN_CAP})
        for page in pages:
            read += len(page["jobSummaryList"])
            # The window again here: moto (and any stand-in) may ignore the filter, and it costs nothing.
            page_jobs = [s for s in page["jobSummaryList"] if s.get("createdAt", 0) >= since_ms]
            failed += [s["jobId"] for s in page_jobs if s.get("status") == "FAILED"]
    return describe_jobs(aws, failed[:PULL_DESCRIBE_CAP]), read


def pull_failure_check(jobs: list[dict], caches: dict[str, str], since: str) -> dict:
    """The check on failed jobs' reasons: none failed pulling its image, or how many did and what to do."""
    pulls = sorted((j for j in jobs if pull_reason(j)), key=lambda j: j.get("createdAt", 0), reverse=True)
    if not pulls:
        return _check(PULL_FAILURES_CHECK, True, f"none of {len(jobs)} failed jobs since {since}")
    limited = [j for j in pulls if is_rate_limited(pull_reason(j) or "")]
    newest = (limited or pulls)[0]
    reason, image = pull_reason(newest) or "", (newest.get("container") or {}).get("image")
    detail = (
        f"{len(pulls)} job(s) since {since} could not pull their image, {len(limited)} for a registry's rate limit; "
        f"newest: {newest['jobName']} ({image or 'image unknown'}): {reason[:200]}"
    )
    return _check(PULL_FAILURES_CHECK, False, detail, pull_hint(reason, caches, image))


def _pull_failure_checks(aws: Aws, outputs: StackOutputs, now: float | None = None) -> list[dict]:
    since_ms = int(((now or time.time()) - PULL_WINDOW_DAYS * 86400) * 1000)
    jobs, _ = recent_failed_jobs(aws, outputs, since_ms)
    since = datetime.fromtimestamp(since_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [pull_failure_check(jobs, outputs.values.get("registryCaches") or {}, since)]


def _alert_checks(aws: Aws, outputs: StackOutputs, stack: str | None) -> list[dict]:
    """With alerts on, every email subscription must be confirmed, or its alerts go nowhere."""
    topic = outputs.values.get("alertTopicArn")
    if not topic:
        return []
    paginator = aws.client("sns").get_paginator("list_subscriptions_by_topic")
    subscriptions = [s for page in paginator.paginate(TopicArn=topic) for s in page["Subscriptions"]]
    pending = [s["Endpoint"] for s in subscriptions if s["SubscriptionArn"] == "PendingConfirmation"]
    if not subscriptions:
        return [_check("alert subscriptions", False, "the alert topic has no subscription", redeploy(stack))]
    resend = " ".join(
        f"aws sns subscribe --topic-arn {topic} --protocol email --notification-endpoint {e};" for e in pending
    )
    return [
        _check(
            "alert subscriptions confirmed",
            not pending,
            f"waiting for confirmation: {', '.join(pending)}" if pending else f"{len(subscriptions)} confirmed",
            "open the email from AWS Notifications sent to each address and choose 'Confirm subscription' "
            f"(to send it again: {resend.rstrip(';')})",
        )
    ]


def stale_job_definitions(
    aws: Aws, outputs: StackOutputs, older_than_days: int, now: float | None = None
) -> list[dict]:
    """ACTIVE `nf-*` job definitions that no job on the task queues used within the window.

    Job definitions carry no creation date, so age is judged by use: Batch keeps finished jobs for days, and a
    definition none of them used within `older_than_days` is stale. The stack's own definition is never listed.
    """
    cutoff_ms = int(((now or time.time()) - older_than_days * 86400) * 1000)
    since = [{"name": "AFTER_CREATED_AT", "values": [str(cutoff_ms)]}]
    ids = [s["jobId"] for q in outputs.task_queue_arns for s in list_job_summaries(aws, q, since)]
    used = {j["jobDefinition"] for j in describe_jobs(aws, ids)}
    protected = {outputs["jobDefinitionArn"], outputs["jobDefinitionName"]}
    stale = []
    paginator = aws.client("batch").get_paginator("describe_job_definitions")
    for page in paginator.paginate(status="ACTIVE"):
        for definition in page["jobDefinitions"]:
            name, arn = definition["jobDefinitionName"], definition["jobDefinitionArn"]
            if not name.startswith(NEXTFLOW_JOB_DEFINITION_PREFIX) or name in protected or arn in protected:
                continue
            if arn in used or f"{name}:{definition['revision']}" in used:
                continue
            stale.append({"name": name, "revision": definition["revision"], "arn": arn})
    return sorted(stale, key=lambda d: (d["name"], d["revision"]))


def deregister(aws: Aws, definitions: list[dict]) -> None:
    batch = aws.client("batch")
    for definition in definitions:
        batch.deregister_job_definition(jobDefinition=definition["arn"])
