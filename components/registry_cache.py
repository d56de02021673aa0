"""RegistryCache: ECR pull-through cache rules for the upstream registries task images come from, the template the
cached repositories are created with, and the instance role's grant to fill them.

Pure decisions (the rules' requests, the lifecycle policy) are plain functions; the component only declares them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from facts.registries import UPSTREAM_BY_KEY, cache_prefix, cache_uri
from policies.iam import assume_role_policy, cache_creation_policy, cache_pull_policy, cache_repository_arns

if TYPE_CHECKING:
    from settings import StackSettings

# The cache mirrors upstream tags, which move (`latest`, rebuilt biocontainers): ECR refreshes a cached tag from
# upstream, so its repositories keep the API's default, MUTABLE (botocore's ECR model,
# CreateRepositoryCreationTemplate imageTagMutability: "If this parameter is omitted, the default setting of MUTABLE").
IMAGE_TAG_MUTABILITY = "MUTABLE"
# AES256 (S3-managed keys) costs nothing; KMS would add a key, its per-request price and the creation role's kms:*
# grants for images that are public upstream anyway.
ENCRYPTION_TYPE = "AES256"


@dataclass(frozen=True)
class CacheRule:
    """One pull-through cache rule as CreatePullThroughCacheRule takes it (botocore's ECR model)."""

    key: str
    ecr_repository_prefix: str
    upstream_registry_url: str
    credential_arn: str | None


def cache_rules(base: str, upstreams: dict[str, tuple[str | None, str | None]]) -> list[CacheRule]:
    """The rules for upstream key -> (credentialArn, url): each under `<base>/<key>`; Azure's URL is the user's."""
    return [
        CacheRule(key, cache_prefix(base, key), url or UPSTREAM_BY_KEY[key].url, credential)
        for key, (credential, url) in upstreams.items()
    ]


def lifecycle_policy(expire_unused_days: int) -> dict:
    """Expire any cached image no task has pulled for `expire_unused_days` days (ECR User Guide, "Lifecycle policy
    properties": countType sinceImagePulled, countUnit days; https://docs.aws.amazon.com/AmazonECR/latest/userguide/
    lifecycle_policy_parameters.html). A later pull imports it from upstream again."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"expire images not pulled for {expire_unused_days} days",
                "selection": {
                    "tagStatus": "any",
                    "countType": "sinceImagePulled",
                    "countUnit": "days",
                    "countNumber": expire_unused_days,
                },
                "action": {"type": "expire"},
            }
        ]
    }


@dataclass(frozen=True)
class RegistryCacheArgs:
    region: str  # the stack's region: the cache URIs' registry host (settings: aws:region)
    base_prefix: str  # `<base>` of every rule's `<base>/<key>` (settings: registryCache.repositoryPrefix, rules.py)
    upstreams: dict[str, tuple[str | None, str | None]]  # key -> (Secrets Manager ARN, Azure URL); facts/registries
    expire_unused_days: int  # days unpulled before a cached image expires (settings: registryCache.expireUnusedDays)
    tags: dict[str, str]  # the cost tags of the repositories ECR creates, which the provider's default_tags miss
    instance_role_name: pulumi.Input[str]  # the Batch instance role; the ECS agent pulls (and imports) with it

    @classmethod
    def from_settings(cls, s: StackSettings, *, instance_role_name: pulumi.Input[str]) -> RegistryCacheArgs:
        from settings.rules import cache_base

        return cls(
            region=s.region,
            base_prefix=cache_base(s),
            upstreams={k: (u.credential_arn, u.url) for k, u in s.registry_cache.all_upstreams.items()},
            expire_unused_days=s.registry_cache.expire_unused_days,
            tags=s.cost_tags,
            instance_role_name=instance_role_name,
        )


class RegistryCache(pulumi.ComponentResource):
    """The stack's ECR pull-through caches. `caches`: upstream image host -> cache URI to pull `<repository>` from."""

    caches: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: RegistryCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:registry_cache:RegistryCache", name, None, opts)
        child, invoke = pulumi.ResourceOptions(parent=self), pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        rules = cache_rules(args.base_prefix, args.upstreams)
        arns = pulumi.Output.all(partition, account).apply(
            lambda p: cache_repository_arns(p[0], args.region, p[1], [r.ecr_repository_prefix for r in rules])
        )
        # A rule's id is its prefix (`d.SetId(repositoryPrefix)`) and a new upstream_registry_url (ForceNew) keeps
        # the prefix, so create-before-delete meets PullThroughCacheRuleAlreadyExistsException: delete first. A rule
        # holds no images: the delete calls DeletePullThroughCacheRule alone, and the repositories it filled stay
        # (terraform-provider-aws internal/service/ecr/pull_through_cache_rule.go).
        rule_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(delete_before_replace=True))
        for rule in rules:
            aws.ecr.PullThroughCacheRule(
                f"{name}-{rule.key}",
                ecr_repository_prefix=rule.ecr_repository_prefix,
                upstream_registry_url=rule.upstream_registry_url,
                credential_arn=rule.credential_arn,
                opts=rule_opts,
            )
        self._template(name, args, arns, child)
        # The ECS agent pulls task images with the instance role: the first pull of an image imports it.
        aws.iam.RolePolicy(
            f"{name}-pull",
            role=args.instance_role_name,
            policy=arns.apply(lambda a: json.dumps(cache_pull_policy(a))),
            opts=child,
        )
        self.caches = account.apply(lambda a: cache_map(a, args.region, args.base_prefix, args.upstreams))
        self.register_outputs({"caches": self.caches})

    def _template(
        self, name: str, args: RegistryCacheArgs, arns: pulumi.Output[list[str]], child: pulumi.ResourceOptions
    ) -> None:
        # A template that sets resource tags needs a role ECR assumes (ECR User Guide, "Creating a repository
        # creation template": "If you intend to use KMS keys, resource tags, or a combination of both ... you need
        # to" create a custom policy and role; https://docs.aws.amazon.com/AmazonECR/latest/userguide/
        # repository-creation-templates-create.html).
        role = aws.iam.Role(
            f"{name}-creation", assume_role_policy=json.dumps(assume_role_policy("ecr.amazonaws.com")), opts=child
        )
        grant = aws.iam.RolePolicy(
            f"{name}-creation",
            role=role.id,
            policy=arns.apply(lambda a: json.dumps(cache_creation_policy(a))),
            opts=child,
        )
        # The template keeps create-before-delete: its only ForceNew field is its prefix, which is also its id
        # (terraform-provider-aws internal/service/ecr/repository_creation_template.go), so a replacement never
        # reuses a live id, and the new template covers first pulls before the old one goes.
        aws.ecr.RepositoryCreationTemplate(
            f"{name}-template",
            # One template at the base covers every rule's `<base>/<key>`: "a prefix of prod would apply to all
            # repositories beginning with prod/" (botocore's ECR model, CreateRepositoryCreationTemplate prefix).
            prefix=args.base_prefix,
            applied_fors=["PULL_THROUGH_CACHE"],
            description="genomics-batch pull-through cache repositories",
            custom_role_arn=role.arn,
            encryption_configurations=[{"encryption_type": ENCRYPTION_TYPE}],
            image_tag_mutability=IMAGE_TAG_MUTABILITY,
            lifecycle_policy=json.dumps(lifecycle_policy(args.expire_unused_days)),
            resource_tags=args.tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[grant])),
        )


def cache_map(
    account: str, region: str, base: str, upstreams: dict[str, tuple[str | None, str | None]]
) -> dict[str, str]:
    """Every host an upstream's images are named by -> its cache URI (Docker Hub has two: docker.io and its pull
    host). Azure's host is the user's registry, its URL in the settings."""
    found: dict[str, str] = {}
    for key, (_credential, url) in upstreams.items():
        for host in UPSTREAM_BY_KEY[key].hosts or ((url,) if url else ()):
            found[host] = cache_uri(account, region, base, key)
    return found
