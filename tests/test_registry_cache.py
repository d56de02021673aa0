"""The ECR pull-through cache: its settings, the rule and template requests validated against botocore's ECR model,
the lifecycle policy in moto, the instance role's grant, and what the dev and prod programs declare."""

from __future__ import annotations

import json
import re
import time

import botocore.session
import pulumi_aws
import pytest
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator
from conftest import ACCOUNT, REGION, build_component, component_args, default_settings, resolve, run_program
from iam_eval import decision
from parliament import analyze_policy_string
from parliament import config as parliament_config

from components.costs import estimate
from components.registry_cache import (
    ENCRYPTION_TYPE,
    IMAGE_TAG_MUTABILITY,
    RegistryCache,
    RegistryCacheArgs,
    cache_map,
    cache_rules,
    lifecycle_policy,
)
from facts.registries import DEFAULT_UPSTREAMS, REPOSITORY_PREFIX, UPSTREAM_BY_KEY, UPSTREAMS
from facts.update_rules import action_for
from nfbatch import maintenance
from nfbatch.plan import build_plan, render_text
from policies.iam import cache_creation_policy, cache_pull_policy, cache_repository_arns
from settings import SettingsError, load_settings
from settings.rules import default_cache_base

ECR = botocore.session.get_session().get_service_model("ecr")
RULE_TYPE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
TEMPLATE_TYPE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache/docker-hub-AbCdEf"


def validate(operation: str, params: dict) -> None:
    """What botocore checks before sending (types, required members, lengths), plus each string member's pattern
    and enum from the same model, which botocore's own validator leaves to the service."""
    shape = ECR.operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()
    for key, value in params.items():
        member = shape.members[key]
        if "pattern" in member.metadata:
            assert re.search(member.metadata["pattern"], value), (key, value)
        if "max" in member.metadata and isinstance(value, str):
            assert len(value) <= member.metadata["max"], (key, value)
        if getattr(member, "enum", None):
            assert value in member.enum, (key, value)


# --- the rules


def test_every_upstream_we_offer_is_in_botocore_and_its_url_in_the_model_docs():
    # botocore's ECR model, CreatePullThroughCacheRule: upstreamRegistry enum and upstreamRegistryUrl's syntax list.
    shape = ECR.operation_model("CreatePullThroughCacheRule").input_shape
    docs = shape.members["upstreamRegistryUrl"].documentation
    for upstream in UPSTREAMS:
        assert upstream.upstream_registry in shape.members["upstreamRegistry"].enum
        assert upstream.key == "chainguard" or upstream.url.replace("<", "&lt;").replace(">", "&gt;") in docs


@pytest.mark.parametrize("key", [u.key for u in UPSTREAMS])
def test_each_rule_request_is_valid_for_botocore_and_the_provider(key):
    credential = SECRET if UPSTREAM_BY_KEY[key].credentials == "secret" else None
    url = "labregistry.azurecr.io" if key == "azure" else None
    [rule] = cache_rules("dev", {key: (credential, url)})
    params = {"ecrRepositoryPrefix": rule.ecr_repository_prefix, "upstreamRegistryUrl": rule.upstream_registry_url}
    if credential:
        params["credentialArn"] = credential
    validate("CreatePullThroughCacheRule", params)
    # terraform-provider-aws internal/service/ecr/pull_through_cache_rule.go: StringLenBetween(2, 30) and its regex.
    assert REPOSITORY_PREFIX.fullmatch(rule.ecr_repository_prefix) and 2 <= len(rule.ecr_repository_prefix) <= 30
    assert rule.ecr_repository_prefix == f"dev/{key}" and "<" not in rule.upstream_registry_url


def test_the_longest_allowed_prefix_fits_every_upstream_and_one_more_character_does_not():
    longest = "a" * 19
    assert load_settings({"aws:region": REGION, "genomics-batch:registryCache": {"repositoryPrefix": longest}}, "x")
    for rule in cache_rules(longest, {u.key: (None, None) for u in UPSTREAMS}):
        validate(
            "CreatePullThroughCacheRule",
            {"ecrRepositoryPrefix": rule.ecr_repository_prefix, "upstreamRegistryUrl": "quay.io"},
        )
    with pytest.raises(AssertionError):  # the model's own max: 30
        validate(
            "CreatePullThroughCacheRule",
            {"ecrRepositoryPrefix": "a" * 20 + "/ecr-public", "upstreamRegistryUrl": "public.ecr.aws"},
        )


# --- the template and its lifecycle policy


def build(**values):
    return build_component(
        lambda: RegistryCache(
            "registry", component_args(RegistryCacheArgs, instance_role_name="batch-instance-r", **values)
        )
    )


def template_request(inputs: dict) -> dict:
    """The recorded template inputs as CreateRepositoryCreationTemplate takes them (the provider's create)."""
    return {
        "prefix": inputs["prefix"],
        "description": inputs["description"],
        "encryptionConfiguration": {"encryptionType": inputs["encryptionConfigurations"][0]["encryptionType"]},
        "resourceTags": [{"Key": k, "Value": v} for k, v in inputs["resourceTags"].items()],
        "imageTagMutability": inputs["imageTagMutability"],
        "lifecyclePolicy": inputs["lifecyclePolicy"],
        "appliedFor": inputs["appliedFors"],
        "customRoleArn": inputs["customRoleArn"],
    }


def test_the_template_request_is_valid_for_botocore_and_covers_every_rule_prefix():
    mocks, _ = build()
    [template] = mocks.of_type(TEMPLATE_TYPE)
    request = template_request(template.inputs)
    validate("CreateRepositoryCreationTemplate", request)
    assert request["appliedFor"] == ["PULL_THROUGH_CACHE"] and request["encryptionConfiguration"] == {
        "encryptionType": ENCRYPTION_TYPE
    }
    assert request["imageTagMutability"] == IMAGE_TAG_MUTABILITY == "MUTABLE"
    # "a prefix of prod would apply to all repositories beginning with prod/" (botocore's ECR model, prefix).
    rules = [r.inputs["ecrRepositoryPrefix"] for r in mocks.of_type(RULE_TYPE)]
    assert sorted(rules) == sorted(f"test/{k}" for k in DEFAULT_UPSTREAMS)
    assert all(r.startswith(request["prefix"] + "/") for r in rules)
    # default_tags never reach repositories ECR creates itself: the template carries the cost tags.
    assert template.inputs["resourceTags"] == default_settings().cost_tags


def test_a_template_with_tags_names_a_role_ecr_can_assume_and_waits_for_its_grant():
    # ECR User Guide, repository-creation-templates-create.html: KMS or resource tags need a custom role, trusted by
    # ecr.amazonaws.com (repository-creation-templates-create-iam.html).
    mocks, _ = build()
    role = mocks.named("registry-creation", "aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ecr.amazonaws.com"}
    [template] = mocks.of_type(TEMPLATE_TYPE)
    assert template.inputs["customRoleArn"] == role.outputs["arn"]
    grant = mocks.named("registry-creation", "aws:iam/rolePolicy:RolePolicy")
    assert grant.urn in template.dependencies


def test_the_lifecycle_policy_expires_images_not_pulled_for_the_set_days():
    [rule] = lifecycle_policy(45)["rules"]
    assert rule["selection"] == {
        "tagStatus": "any",
        "countType": "sinceImagePulled",
        "countUnit": "days",
        "countNumber": 45,
    }
    assert rule["action"] == {"type": "expire"}
    # botocore's ECR model: lifecyclePolicy is at most 30720 characters.
    assert len(json.dumps(lifecycle_policy(3650))) <= 30720


def test_the_lifecycle_policy_uses_only_values_of_pulumi_aws_own_enums():
    # pulumi_aws 7.x pulumi_aws/ecr/_enums.py: LifecyclePolicyCountType has SINCE_IMAGE_PULLED = "sinceImagePulled",
    # LifecyclePolicyTagStatus ANY, LifecyclePolicyActionType EXPIRE (the provider's schema, not moto's subset).
    ecr = pulumi_aws.ecr
    [rule] = lifecycle_policy(90)["rules"]
    assert rule["selection"]["countType"] == ecr.LifecyclePolicyCountType.SINCE_IMAGE_PULLED.value
    assert rule["selection"]["tagStatus"] in {t.value for t in ecr.LifecyclePolicyTagStatus}
    assert rule["action"]["type"] in {a.value for a in ecr.LifecyclePolicyActionType}


def test_moto_accepts_the_lifecycle_policy_but_for_the_count_type_it_does_not_know(moto_server):
    # A record of moto's gap, not evidence for sinceImagePulled: that is the enum test above.
    ecr = moto_server.client("ecr")
    ecr.create_repository(repositoryName="dev/quay/biocontainers/fastqc")
    policy = lifecycle_policy(90)
    # moto 5.2.5 (moto/ecr/policy_validation.py) knows only imageCountMoreThan and sinceImagePushed; AWS's lifecycle
    # policy template adds sinceImagePulled (ECR User Guide, lifecycle_policy_examples.html). So moto must refuse
    # the policy as it is, and accept it with only the count type changed.
    with pytest.raises(ClientError, match="Lifecycle policy validation failure"):
        ecr.put_lifecycle_policy(repositoryName="dev/quay/biocontainers/fastqc", lifecyclePolicyText=json.dumps(policy))
    policy["rules"][0]["selection"]["countType"] = "sinceImagePushed"
    ecr.put_lifecycle_policy(repositoryName="dev/quay/biocontainers/fastqc", lifecyclePolicyText=json.dumps(policy))
    stored = ecr.get_lifecycle_policy(repositoryName="dev/quay/biocontainers/fastqc")["lifecyclePolicyText"]
    assert json.loads(stored)["rules"][0]["selection"]["countNumber"] == 90


# --- the grants


ARNS = cache_repository_arns("aws", REGION, ACCOUNT, ["dev/quay", "dev/ecr-public"])
REPO = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/"


def test_parliament_finds_nothing_above_low_but_its_stale_resource_type_for_the_import():
    for document in (cache_pull_policy(ARNS), cache_creation_policy(ARNS)):
        serious = [
            (f.issue, f.detail)
            for f in analyze_policy_string(json.dumps(document)).findings
            if (parliament_config.get(f.issue, {}).get("severity") or "LOW") != "LOW"
        ]
        # Parliament's bundled definitions give ecr:BatchImportUpstreamImage no resource type; the Service
        # Authorization Reference lists it with `repository*` (list_amazonelasticcontainerregistry.html).
        assert all(
            issue == "RESOURCE_MISMATCH" and [d["action"] for d in detail] == ["ecr:BatchImportUpstreamImage"]
            for issue, detail in serious
        ), serious


@pytest.mark.parametrize(
    ("action", "repository", "expected"),
    [
        ("ecr:BatchImportUpstreamImage", "dev/quay/biocontainers/fastqc", "Allow"),
        ("ecr:CreateRepository", "dev/ecr-public/docker/library/ubuntu", "Allow"),
        ("ecr:TagResource", "dev/quay/biocontainers/multiqc", "Allow"),
        ("ecr:BatchImportUpstreamImage", "prod/quay/biocontainers/fastqc", "ImplicitDeny"),  # another stack's
        ("ecr:CreateRepository", "dev/docker-hub/library/ubuntu", "ImplicitDeny"),  # a rule the stack lacks
        ("ecr:CreateRepository", "devx/quay/a", "ImplicitDeny"),
        ("ecr:CreateRepository", "dev-head-image", "ImplicitDeny"),
        ("ecr:PutImage", "dev/quay/biocontainers/fastqc", "ImplicitDeny"),
        ("ecr:DeleteRepository", "dev/quay/biocontainers/fastqc", "ImplicitDeny"),
        ("ecr:SetRepositoryPolicy", "dev/quay/biocontainers/fastqc", "ImplicitDeny"),
    ],
)
def test_the_instance_role_may_fill_only_the_stacks_caches(action, repository, expected):
    assert decision([cache_pull_policy(ARNS)], action, REPO + repository) == expected


def test_the_grant_goes_on_the_instance_role_under_the_caller_account_and_partition():
    mocks, cache = build()
    grant = mocks.named("registry-pull", "aws:iam/rolePolicy:RolePolicy")
    assert grant.inputs["role"] == "batch-instance-r"
    resources = json.loads(grant.inputs["policy"])["Statement"][0]["Resource"]
    assert resources == cache_repository_arns("aws", REGION, ACCOUNT, [f"test/{k}" for k in DEFAULT_UPSTREAMS])
    assert all(r.parent.endswith("::registry") for r in mocks.registrations if r.name.startswith("registry-"))
    host = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    assert resolve(cache.caches) == {"quay.io": f"{host}/test/quay", "public.ecr.aws": f"{host}/test/ecr-public"}


def test_docker_hub_is_cached_under_both_names_images_carry_and_azure_under_its_own_host():
    found = cache_map(ACCOUNT, REGION, "dev", {"docker-hub": (SECRET, None), "azure": (SECRET, "lab1.azurecr.io")})
    assert set(found) == {"docker.io", "registry-1.docker.io", "lab1.azurecr.io"}
    assert found["docker.io"].endswith("/dev/docker-hub") and found["lab1.azurecr.io"].endswith("/dev/azure")


# --- the programs


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_dev_and_prod_declare_the_rules_template_and_grant_and_export_the_caches(stack, request):
    run = request.getfixturevalue(f"{stack}_run")
    rules = {r.inputs["ecrRepositoryPrefix"]: r.inputs["upstreamRegistryUrl"] for r in run.mocks.of_type(RULE_TYPE)}
    assert rules == {f"{stack}/quay": "quay.io", f"{stack}/ecr-public": "public.ecr.aws"}
    [template] = run.mocks.of_type(TEMPLATE_TYPE)
    assert template.inputs["prefix"] == stack
    grant = run.mocks.named("registry-pull", "aws:iam/rolePolicy:RolePolicy")
    instance_role = run.mocks.named("batch-instance", "aws:iam/role:Role")
    assert grant.inputs["role"] == instance_role.outputs["name"]
    caches = resolve(run.outputs["registryCaches"])
    assert set(caches) == {"quay.io", "public.ecr.aws"} and caches["quay.io"].endswith(f"/{stack}/quay")


def test_a_disabled_cache_declares_nothing_and_exports_nothing():
    run = run_program("dev", {"genomics-batch:registryCache": {"enabled": False}})
    assert not run.mocks.of_type(RULE_TYPE) and not run.mocks.of_type(TEMPLATE_TYPE)
    assert "registryCaches" not in run.outputs
    assert "registryCache" not in estimate(
        load_settings({"aws:region": REGION, "genomics-batch:registryCache": {"enabled": False}}, "dev")
    )


def test_the_s3_gateway_endpoint_has_no_policy_so_ecr_layers_pass(dev_run):
    # ECR layers download from S3 (ECR User Guide, vpc-endpoints.html, "Create the Amazon S3 gateway endpoint":
    # prod-<region>-starport-layer-bucket). An endpoint created without a policy gets AWS's default full-access one
    # (VPC User Guide, vpc-endpoints-access.html), so nothing of ours can block that bucket.
    [endpoint] = dev_run.mocks.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["vpcEndpointType"] == "Gateway" and "policy" not in endpoint.inputs


def test_the_plan_prices_the_cache_storage(monkeypatch):
    # Amazon ECR pricing (https://aws.amazon.com/ecr/pricing/): $0.10 per GB-month of private storage. The figure is
    # worked out here from an image weight the test picks, and read from the plan's text as a user sees it.
    from components import costs

    monkeypatch.setattr(costs, "TYPICAL_CACHE_GB", 40)
    text = render_text(build_plan("dev"), width=1000)
    assert (
        f"registry cache: $0.10/GB-month of cached images (a pipeline's images, about 40 GB: ${40 * 0.10:.2f}" in text
    )


def test_prefix_changes_replace_the_rules_and_template_and_a_new_secret_does_not():
    # terraform-provider-aws internal/service/ecr/pull_through_cache_rule.go: ForceNew on ecr_repository_prefix and
    # upstream_registry_url, credential_arn through UpdatePullThroughCacheRule; repository_creation_template.go:
    # ForceNew on prefix, lifecycle_policy and resource_tags through UpdateRepositoryCreationTemplate.
    assert action_for(RULE_TYPE, ["ecrRepositoryPrefix"], {}).kind == "replace"
    assert action_for(RULE_TYPE, ["credentialArn"], {}).kind == "update"
    assert action_for(TEMPLATE_TYPE, ["prefix"], {}).kind == "replace"
    assert action_for(TEMPLATE_TYPE, ["lifecyclePolicy", "resourceTags.Owner"], {}).kind == "update"


def test_listed_upstreams_are_added_to_the_defaults_and_a_long_stack_name_still_plans():
    s = load_settings(
        {
            "aws:region": REGION,
            "genomics-batch:registryCache": {"upstreams": {"docker-hub": {"credentialArn": SECRET}}},
        },
        "Genomics_Core-Production-EU",
    )
    assert list(s.registry_cache.all_upstreams) == ["quay", "ecr-public", "docker-hub"]
    base = RegistryCacheArgs.from_settings(s, instance_role_name="r").base_prefix
    assert base == default_cache_base("Genomics_Core-Production-EU") and len(base) == 19
    assert base.startswith("genomics-c") and base != default_cache_base("Genomics_Core-Production-US")


def test_rules_are_deleted_before_they_are_replaced_and_the_template_is_not():
    # terraform-provider-aws internal/service/ecr/pull_through_cache_rule.go: `d.SetId(repositoryPrefix)` and
    # upstream_registry_url ForceNew, so a replacement keeps the id; repository_creation_template.go: ForceNew on
    # prefix alone, which is also the id (`d.SetId(...Prefix)`), so a replaced template never reuses one.
    assert action_for(RULE_TYPE, ["upstreamRegistryUrl"], {}).kind == "replace"
    mocks, _ = build(upstreams={"quay": (None, None), "azure": (SECRET, "labregistry.azurecr.io")})
    rules = mocks.of_type(RULE_TYPE)
    assert len(rules) == 2 and all(r.delete_before_replace for r in rules)
    [template] = mocks.of_type(TEMPLATE_TYPE)
    assert not template.delete_before_replace


# --- the base prefix: also the template's own prefix


def test_a_one_letter_base_is_refused_and_a_one_letter_stack_gets_a_padded_default():
    # terraform-provider-aws internal/service/ecr/repository_creation_template.go: prefix `StringLenBetween(2, 256)`;
    # the rules' `<base>/<key>` would pass with a one-letter base, so the base is checked on its own.
    with pytest.raises(SettingsError, match=re.escape("registryCache.repositoryPrefix = a: must be 2 to 19 lowercase")):
        load_settings({"aws:region": REGION, "genomics-batch:registryCache": {"repositoryPrefix": "a"}}, "dev")
    s = load_settings({"aws:region": REGION}, "x")
    base = RegistryCacheArgs.from_settings(s, instance_role_name="r").base_prefix
    assert re.fullmatch(r"x-[0-9a-f]{8}", base) and base != default_cache_base("y")
    assert default_cache_base("ab") == "ab" and default_cache_base("dev") == "dev"  # two letters are enough


def test_a_disabled_cache_still_refuses_bad_upstream_settings():
    config = {"aws:region": REGION, "genomics-batch:registryCache": {"enabled": False, "upstreams": {"github": {}}}}
    with pytest.raises(SettingsError, match=re.escape("registryCache.upstreams.github.credentialArn")):
        load_settings(config, "dev")


# --- the cache's IAM, replayed into moto


def test_the_cache_iam_replayed_into_moto_lets_the_instance_role_fill_only_its_caches(moto_server):
    # The role, trust and inline policies exactly as the component asks for them, created through moto's IAM (which
    # checks the documents' syntax), then read back the way `nfbatch doctor` reads a live role.
    mocks, _ = build()
    iam, suffix = moto_server.client("iam"), str(time.time_ns())
    creation = mocks.named("registry-creation", "aws:iam/role:Role")
    iam.create_role(RoleName=f"creation-{suffix}", AssumeRolePolicyDocument=creation.inputs["assumeRolePolicy"])
    grant = mocks.named("registry-creation", "aws:iam/rolePolicy:RolePolicy")
    iam.put_role_policy(RoleName=f"creation-{suffix}", PolicyName="creation", PolicyDocument=grant.inputs["policy"])
    trust = iam.get_role(RoleName=f"creation-{suffix}")["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ecr.amazonaws.com"}
    ec2_trust = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    )
    role_arn = iam.create_role(RoleName=f"instance-{suffix}", AssumeRolePolicyDocument=ec2_trust)["Role"]["Arn"]
    pull = mocks.named("registry-pull", "aws:iam/rolePolicy:RolePolicy")
    iam.put_role_policy(RoleName=f"instance-{suffix}", PolicyName="registry-pull", PolicyDocument=pull.inputs["policy"])
    repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/"
    identity, boundary = maintenance.role_policies(iam, f"instance-{suffix}")
    ours = [f"{repo}test/{k}/biocontainers/fastqc" for k in DEFAULT_UPSTREAMS]
    assert maintenance.cache_grant_gaps(identity, boundary, None, role_arn, ours) == []
    theirs = maintenance.cache_grant_gaps(identity, boundary, None, role_arn, [f"{repo}prod/quay/biocontainers/x"])
    assert len(theirs) == len(maintenance.CACHE_ACTIONS)  # another stack's prefix: nothing of the three
    creator, _ = maintenance.role_policies(iam, f"creation-{suffix}")
    assert [decision([d for _, d in creator], a, ours[0]) for a in ("ecr:CreateRepository", "ecr:TagResource")] == [
        "Allow",
        "Allow",
    ]
    assert decision([d for _, d in creator], "ecr:BatchImportUpstreamImage", ours[0]) == "ImplicitDeny"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_dev_and_prod_replay_into_moto_where_it_covers_ecr_and_iam(stack, request, moto_server):
    # moto 5.2.5 has no pull-through cache rules or creation templates: those requests are checked against botocore's
    # ECR model as the provider sends them; the roles and policies go through moto's IAM, the lifecycle rule through
    # moto's ECR with the one count type it knows (test_moto_accepts_the_lifecycle_policy_... says why).
    run = request.getfixturevalue(f"{stack}_run")
    for rule in run.mocks.of_type(RULE_TYPE):
        validate(
            "CreatePullThroughCacheRule",
            {k: rule.inputs[k] for k in ("ecrRepositoryPrefix", "upstreamRegistryUrl")},
        )
    [template] = run.mocks.of_type(TEMPLATE_TYPE)
    request_ = template_request({**template.inputs, "customRoleArn": f"arn:aws:iam::{ACCOUNT}:role/creation"})
    validate("CreateRepositoryCreationTemplate", request_)
    iam, ecr, suffix = moto_server.client("iam"), moto_server.client("ecr"), f"{stack}-{time.time_ns()}"
    creation = run.mocks.named("registry-creation", "aws:iam/role:Role")
    iam.create_role(RoleName=f"creation-{suffix}", AssumeRolePolicyDocument=creation.inputs["assumeRolePolicy"])
    for name, role in (("registry-creation", f"creation-{suffix}"), ("registry-pull", f"instance-{suffix}")):
        if name == "registry-pull":
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=creation.inputs["assumeRolePolicy"])
        policy = run.mocks.named(name, "aws:iam/rolePolicy:RolePolicy").inputs["policy"]
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=policy)
        assert iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"] == json.loads(policy)
    [rule] = json.loads(template.inputs["lifecyclePolicy"])["rules"]
    known = {**rule, "selection": {**rule["selection"], "countType": "sinceImagePushed"}}
    ecr.create_repository(repositoryName=f"{stack}/quay/replay-{suffix}")
    ecr.put_lifecycle_policy(
        repositoryName=f"{stack}/quay/replay-{suffix}", lifecyclePolicyText=json.dumps({"rules": [known]})
    )


def test_the_template_description_fits_the_providers_validator():
    # terraform-provider-aws internal/service/ecr/repository_creation_template.go: description
    # `validation.StringLenBetween(0, 255)`; lifecycle_policy `validation.StringIsJSON`.
    mocks, _ = build()
    [template] = mocks.of_type(TEMPLATE_TYPE)
    assert 0 < len(template.inputs["description"]) <= 255
    assert json.loads(template.inputs["lifecyclePolicy"])["rules"]
