"""WorkBucket: the S3 bucket that holds Nextflow's work directory, resume caches, logs and results.

Private, encrypted, TLS-only; scratch prefixes expire, results and logs never do. In prod it is protected so that no
`pulumi destroy` or config change can delete what users stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from facts.contract import SCRATCH_PREFIXES

if TYPE_CHECKING:
    from settings import StackSettings


# A rule as a plain dict in the provider's typed form (snake_case keys), so the keys are checked against it.
LifecycleRule = aws.s3.BucketLifecycleConfigurationRuleArgsDict


def lifecycle_rules(work_expiration_days: int, versioning: bool) -> list[LifecycleRule]:
    """Lifecycle rules as plain dicts: scratch prefixes expire, every prefix aborts stale multipart uploads.

    No rule ever names the results or logs prefixes, so nothing there expires.
    """
    rules: list[LifecycleRule] = []
    for prefix in SCRATCH_PREFIXES:
        rule: LifecycleRule = {
            "id": f"expire-{prefix}",
            "status": "Enabled",
            "filter": {"prefix": f"{prefix}/"},
            "expiration": {"days": work_expiration_days},
        }
        if versioning:
            # Expired scratch objects become noncurrent versions; without this they would be billed forever.
            rule["noncurrent_version_expiration"] = {"noncurrent_days": 1}
        rules.append(rule)
    rules.append(
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            # The whole bucket, said explicitly: the provider warns that an empty filter will become an error
            # (terraform-provider-aws, s3 bucket_lifecycle_configuration, "filter" with no arguments).
            "filter": {"prefix": ""},
            # Parts of uploads that died with a spot instance are invisible but billed.
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        }
    )
    return rules


def tls_only_policy(bucket_arn: str) -> dict:
    """Bucket policy that refuses every request not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


@dataclass(frozen=True)
class WorkBucketArgs:
    name: str | None  # None: auto-named
    work_expiration_days: int
    versioning: bool
    protect: bool
    force_destroy: bool

    @classmethod
    def from_settings(cls, s: StackSettings) -> WorkBucketArgs:
        b = s.bucket
        return cls(
            name=b.name,
            work_expiration_days=b.work_expiration_days,
            versioning=b.versioning,
            protect=b.protect,
            force_destroy=b.force_destroy,
        )


class WorkBucket(pulumi.ComponentResource):
    """The work bucket. Outputs: bucket (name), arn."""

    bucket: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: WorkBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("genomics:storage:WorkBucket", name, None, opts)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.name,
            force_destroy=args.force_destroy,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        self._lock_down(name, bucket)
        self._lifecycle(name, bucket, args)
        self.bucket = bucket.bucket
        self.arn = bucket.arn
        self.register_outputs({"bucket": self.bucket, "arn": self.arn})

    def _lock_down(self, name: str, bucket: aws.s3.Bucket) -> None:
        """No public access, owner-enforced objects, encryption at rest, TLS only."""
        child = pulumi.ResourceOptions(parent=self)
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            # SSE-S3: encryption at rest with no KMS request charges on millions of small work files.
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                )
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(tls_only_policy(arn))),
            opts=child,
        )

    def _lifecycle(self, name: str, bucket: aws.s3.Bucket, args: WorkBucketArgs) -> None:
        versioning = None
        if args.versioning:
            versioning = aws.s3.BucketVersioning(
                f"{name}-versioning",
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=pulumi.ResourceOptions(parent=self),
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=lifecycle_rules(args.work_expiration_days, args.versioning),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning] if versioning else []),
        )
