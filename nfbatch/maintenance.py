"""Stack upkeep: `doctor` (is the deployed stack healthy, and how to fix it) and `prune-job-definitions`.

Every check returns plain dicts so the CLI can print a table or JSON.
"""

from __future__ import annotations

import re
import time

from botocore.config import Config
from botocore.exceptions import ClientError

from facts.contract import NEXTFLOW_JOB_DEFINITION_PREFIX, TEAM_TAG, queue_capacity
from nfbatch.aws import RETRY_CONFIG, Aws
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
