"""Jobs that died pulling their image: how to recognise them, and what to tell the person who reads the failure.

Shared by `nfbatch doctor` (recent failures on the stack's queues) and `nfbatch logs RUN --tasks failed`.
"""

from __future__ import annotations

import re

from facts.registries import DOCKER_HUB_HOST, DOCKER_HUB_OFFICIAL, split_registry

DOCS = "docs/registry-cache.md"
# ECS names the failure in the job's reasons: "CannotPullContainerError: ... Too Many Requests - Server message:
# toomanyrequests: You have reached your pull rate limit", and "Exceeding your rate limit returns an HTTP status
# code of 429" (https://repost.aws/knowledge-center/ecs-pull-container-error-rate-limit); ECR's own throttling
# reads "TOOMANYREQUESTS: Rate exceeded" (https://docs.aws.amazon.com/AmazonECR/latest/userguide/common-errors.html).
PULL_ERROR = "CannotPullContainerError"
RATE_LIMITED = re.compile(r"toomanyrequests|too many requests|\b429\b|rate limit|rate exceeded", re.IGNORECASE)


def job_reasons(job: dict) -> list[str]:
    """Every reason a job (a DescribeJobs JobDetail or a ListJobs JobSummary) carries: statusReason, the container's
    reason and each attempt's (botocore's Batch model: JobDetail.attempts[].container.reason, .statusReason)."""
    reasons = [job.get("statusReason"), (job.get("container") or {}).get("reason")]
    for attempt in job.get("attempts") or []:
        reasons += [attempt.get("statusReason"), (attempt.get("container") or {}).get("reason")]
    return [r for r in reasons if r]


def pull_reason(job: dict) -> str | None:
    """The reason that says the image could not be pulled, or None."""
    return next((r for r in job_reasons(job) if PULL_ERROR in r), None)


def is_rate_limited(reason: str) -> bool:
    return bool(RATE_LIMITED.search(reason))


def image_host(image: str | None) -> str | None:
    return split_registry(image)[0] if image else None


def through_cache(image: str | None, host: str, cache: str) -> str:
    """How to name `image` through `cache`: a Docker Hub official image (no '/' in its name) needs `library/` there
    (ECR User Guide, pull-through-cache-working-pulling: "For Docker Hub official images, the /library prefix must
    be included"), which split_registry adds; anything else keeps its repository path."""
    repository = split_registry(image)[1] if image else ""
    if host == DOCKER_HUB_HOST and repository.startswith(DOCKER_HUB_OFFICIAL):
        return f"pull {image} as {cache}/{repository}"
    return f"pull {host}/<repository> as {cache}/<repository>"


def pull_hint(reason: str, caches: dict[str, str], image: str | None = None) -> str:
    """What to do about a pull failure. `caches` is the stack's registryCaches export (image host -> cache URI)."""
    host = image_host(image)
    if not is_rate_limited(reason):
        return (
            "the image could not be pulled: check its name and tag, and that the registry is reachable from the "
            "stack's subnets; `nfbatch doctor` checks the stack's cache rules and the instance role's grant"
        )
    if not caches:
        return (
            "the registry refused the pull for its rate limit: turn on the stack's ECR pull-through cache "
            f"(genomics-batch:registryCache, {DOCS}) and route the images through it"
        )
    if host in caches:
        return (
            f"the registry refused the pull for its rate limit: {through_cache(image, host, caches[host])} instead "
            f"(the stack's cache; {DOCS}, 'Which images go through the cache')"
        )
    cached = ", ".join(f"{h} -> {u}" for h, u in sorted(caches.items()))
    where = f"{host} has no cache rule on this stack" if host else "the image's registry may have no cache rule"
    return (
        f"the registry refused the pull for its rate limit; {where}. The stack caches {cached}: route the image "
        f"through one, or add its registry with credentials ({DOCS}, 'Adding Docker Hub or another registry')"
    )
