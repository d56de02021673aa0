"""The container registries an ECR pull-through cache rule can front, and how an image name finds its registry.

Plain data and pure functions: the settings, the cache component, the head's Nextflow config and `nfbatch doctor`
read the same table, so a cache URI is spelled in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ECR's private registry host: "The Amazon ECR registry URL format is
# https://aws_account_id.dkr.ecr.region.amazonaws.com" (ECR User Guide, Registry concepts); aws-cn adds ".cn".
ECR_HOST = "{account}.dkr.ecr.{region}.amazonaws.com{suffix}"
# The secret a credentialed rule reads: botocore's ECR model, CredentialArn pattern
# `^arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+$`.
CREDENTIAL_ARN = re.compile(
    r"arn:aws(-\w+)*:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr\-pullthroughcache\/[a-zA-Z0-9\/_+=.@-]+"
)
CREDENTIAL_ARN_LENGTH = (50, 612)  # the same shape: `"min": 50, "max": 612`
# Azure's upstreamRegistryUrl is the user's own registry: botocore's ECR model, `<custom>.azurecr.io` (Azure's
# registry names are 5-50 lowercase letters and digits).
AZURE_HOST = re.compile(r"[a-z0-9]{5,50}\.azurecr\.io")
# ECR lifecycle policy countNumber: "positive integers (0 is not an accepted value)" (ECR User Guide, Lifecycle
# policy properties); our ceiling of ten years, beyond which expiry means nothing.
EXPIRE_UNUSED_DAYS_MAX = 3650
# A rule's ecrRepositoryPrefix: terraform-provider-aws internal/service/ecr/pull_through_cache_rule.go,
# `StringLenBetween(2, 30)` and `^((?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*/?|ROOT)$`.
REPOSITORY_PREFIX = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
REPOSITORY_PREFIX_LENGTH = (2, 30)
# Docker's reference grammar: the first path component names a registry only when it has a "." or a ":", is
# "localhost" or has an upper-case letter (distribution/reference normalize.go splitDockerDomain); anything else is
# Docker Hub, whose official images live under "library/".
DOCKER_HUB_HOST = "docker.io"
DOCKER_HUB_LEGACY_HOST = "index.docker.io"
DOCKER_HUB_OFFICIAL = "library/"
# Seqera's community registry builds images on request (Wave) and is no upstream ECR supports: botocore's ECR model,
# UpstreamRegistry enum, has no entry for it. Its images are pulled directly.
WAVE_COMMUNITY_HOST = "community.wave.seqera.io"


@dataclass(frozen=True)
class Upstream:
    key: str  # the settings' name for it, also the last part of its cache prefix
    upstream_registry: str  # botocore's ECR model, UpstreamRegistry enum
    url: str  # CreatePullThroughCacheRule upstreamRegistryUrl ("<custom>" for Azure: the user's registry)
    hosts: tuple[str, ...]  # the names images carry for it (Docker Hub's own and its pull host)
    credentials: str  # "none", "secret" (Secrets Manager, ecr-pullthroughcache/) or "role" (private ECR)


# Every upstream ECR supports today (botocore's ECR model, CreatePullThroughCacheRule upstreamRegistryUrl; ECR User
# Guide, "Supported upstream registries"). Quay also takes a secret, for private repositories.
UPSTREAMS: tuple[Upstream, ...] = (
    Upstream("quay", "quay", "quay.io", ("quay.io",), "none"),
    Upstream("ecr-public", "ecr-public", "public.ecr.aws", ("public.ecr.aws",), "none"),
    Upstream("k8s", "k8s", "registry.k8s.io", ("registry.k8s.io",), "none"),
    Upstream("docker-hub", "docker-hub", "registry-1.docker.io", (DOCKER_HUB_HOST, "registry-1.docker.io"), "secret"),
    Upstream("github", "github-container-registry", "ghcr.io", ("ghcr.io",), "secret"),
    Upstream("gitlab", "gitlab-container-registry", "registry.gitlab.com", ("registry.gitlab.com",), "secret"),
    Upstream("azure", "azure-container-registry", "<custom>.azurecr.io", (), "secret"),
    Upstream("chainguard", "chainguard", "cgr.dev", ("cgr.dev",), "secret"),
)
UPSTREAM_BY_KEY = {u.key: u for u in UPSTREAMS}
# On by default: the upstreams that need no credentials and that genomics images come from (nf-core's
# biocontainers on quay.io, AWS's and others' on public.ecr.aws). registry.k8s.io holds no pipeline images.
DEFAULT_UPSTREAMS = ("quay", "ecr-public")
# The cache prefix's last part is the upstream's key: `<repositoryPrefix>/<key>`.
LONGEST_KEY = max(len(u.key) for u in UPSTREAMS)


def cache_prefix(base: str, key: str) -> str:
    """A rule's ecrRepositoryPrefix: the stack's base prefix, then the upstream's key (`dev/quay`)."""
    return f"{base}/{key}"


def registry_host(account: str, region: str) -> str:
    """The stack's private ECR registry host."""
    return ECR_HOST.format(account=account, region=region, suffix=".cn" if region.startswith("cn-") else "")


def cache_uri(account: str, region: str, base: str, key: str) -> str:
    """Where images of an upstream are pulled from through the cache: `<registry host>/<prefix>` + `/<repository>`."""
    return f"{registry_host(account, region)}/{cache_prefix(base, key)}"


def split_registry(image: str) -> tuple[str, str]:
    """An image name's registry host and repository path, the way Docker reads it (distribution/reference
    normalize.go splitDockerDomain): `ubuntu:22.04` is ("docker.io", "library/ubuntu:22.04"), `quay.io/biocontainers/
    fastqc:0.12.1` is ("quay.io", "biocontainers/fastqc:0.12.1")."""
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain, remainder = first, rest
    else:
        domain, remainder = DOCKER_HUB_HOST, image
    if domain == DOCKER_HUB_LEGACY_HOST:
        domain = DOCKER_HUB_HOST
    if domain == DOCKER_HUB_HOST and "/" not in remainder:
        remainder = DOCKER_HUB_OFFICIAL + remainder
    return domain, remainder
