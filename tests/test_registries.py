"""facts/registries.py: the upstream table and the patterns agree with botocore's ECR model, and an image name
finds its registry the way Docker's reference parser does."""

import re

import botocore.session
import pytest

from facts import registries
from facts.registries import (
    CREDENTIAL_ARN,
    DEFAULT_UPSTREAMS,
    REPOSITORY_PREFIX,
    REPOSITORY_PREFIX_LENGTH,
    UPSTREAM_BY_KEY,
    UPSTREAMS,
    cache_prefix,
    cache_uri,
    split_registry,
)

ECR = botocore.session.get_session().get_service_model("ecr")


def _botocore_pattern(shape: str) -> str:
    return ECR.shape_for(shape).metadata["pattern"].removeprefix("^").removesuffix("$")


def test_every_upstream_is_one_ecr_names_and_only_private_ecr_is_left_out():
    # botocore's ECR model, UpstreamRegistry: the registries a pull-through cache rule can front.
    enum = set(ECR.shape_for("UpstreamRegistry").enum)
    assert {u.upstream_registry for u in UPSTREAMS} == enum - {"ecr"}
    assert len(UPSTREAM_BY_KEY) == len(UPSTREAMS)


def test_each_upstream_url_is_the_one_botocore_documents():
    # CreatePullThroughCacheRule upstreamRegistryUrl: "Quay (quay) - quay.io" and so on, one line per registry.
    doc = ECR.operation_model("CreatePullThroughCacheRule").input_shape.members["upstreamRegistryUrl"].documentation
    for upstream in UPSTREAMS:
        if upstream.key == "chainguard":  # not in this botocore's list; the ECR user guide names cgr.dev
            continue
        url = upstream.url.replace("<", "&lt;").replace(">", "&gt;")
        assert f"(<code>{upstream.upstream_registry}</code>) \N{EN DASH} <code>{url}</code>" in doc


def test_the_defaults_need_no_credentials():
    assert DEFAULT_UPSTREAMS and all(UPSTREAM_BY_KEY[k].credentials == "none" for k in DEFAULT_UPSTREAMS)


def test_the_credential_pattern_is_botocores():
    assert CREDENTIAL_ARN.pattern == _botocore_pattern("CredentialArn")
    ok = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/dockerhub-AbCdEf"
    assert CREDENTIAL_ARN.fullmatch(ok)
    assert not CREDENTIAL_ARN.fullmatch(ok.replace("ecr-pullthroughcache/", "dockerhub/"))


@pytest.mark.parametrize(
    ("prefix", "valid"),
    [("dev/quay", True), ("genomics-prod/ecr-public", True), ("Dev/quay", False), ("dev//quay", False), ("d", False)],
)
def test_a_prefix_is_valid_as_the_provider_checks_it(prefix, valid):
    # terraform-provider-aws internal/service/ecr/pull_through_cache_rule.go: StringLenBetween(2, 30) and the pattern.
    low, high = REPOSITORY_PREFIX_LENGTH
    assert bool(REPOSITORY_PREFIX.fullmatch(prefix) and low <= len(prefix) <= high) is valid


def test_every_cache_prefix_of_a_short_base_is_valid():
    for upstream in UPSTREAMS:
        assert REPOSITORY_PREFIX.fullmatch(cache_prefix("dev", upstream.key))


def test_the_cache_uri_is_the_private_registry_host_and_the_prefix():
    uri = cache_uri("123456789012", "eu-west-1", "dev", "quay")
    assert uri == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dev/quay"
    assert cache_uri("123456789012", "cn-north-1", "dev", "quay").startswith(
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/"
    )


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        # distribution/reference normalize.go splitDockerDomain, case by case.
        ("ubuntu:22.04", ("docker.io", "library/ubuntu:22.04")),
        ("docker.io/ubuntu", ("docker.io", "library/ubuntu")),
        ("index.docker.io/biocontainers/fastqc", ("docker.io", "biocontainers/fastqc")),
        ("biocontainers/fastqc:0.12.1--hdfd78af_0", ("docker.io", "biocontainers/fastqc:0.12.1--hdfd78af_0")),
        ("quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0", ("quay.io", "biocontainers/fastqc:0.12.1--hdfd78af_0")),
        ("localhost/x", ("localhost", "x")),
        ("localhost:5000/x", ("localhost:5000", "x")),
        ("Lab/tool", ("Lab", "tool")),
    ],
)
def test_an_image_finds_its_registry_as_docker_reads_it(image, expected):
    assert split_registry(image) == expected


def test_the_module_names_no_registry_twice():
    hosts = [h for u in UPSTREAMS for h in u.hosts]
    assert len(hosts) == len(set(hosts))
    assert registries.WAVE_COMMUNITY_HOST not in hosts
    assert all(re.fullmatch(r"[a-z0-9.-]+", h) for h in hosts)
