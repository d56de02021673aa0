"""WorkBucket: lifecycle and TLS policy documents (pure) and the guard rails the component declares."""

import json

import pytest
from conftest import build_component, component_args, resolve

from components.storage import WorkBucket, WorkBucketArgs, lifecycle_rules, tls_only_policy
from facts.contract import CACHE_PREFIX, LOGS_PREFIX, RESULTS_PREFIX, WORK_PREFIX


def test_only_scratch_prefixes_expire():
    rules = lifecycle_rules(30, versioning=False)
    expiring = {r["filter"].get("prefix") for r in rules if "expiration" in r}
    assert expiring == {f"{WORK_PREFIX}/", f"{CACHE_PREFIX}/"}
    assert all(r["expiration"]["days"] == 30 for r in rules if "expiration" in r)
    mentioned = json.dumps(rules)
    assert f"{RESULTS_PREFIX}/" not in mentioned and f"{LOGS_PREFIX}/" not in mentioned
    [abort] = [r for r in rules if "abort_incomplete_multipart_upload" in r]
    assert abort["filter"] == {"prefix": ""}  # every prefix, said explicitly (an empty filter is deprecated)


def test_versioned_bucket_also_expires_noncurrent_scratch():
    assert all("noncurrent_version_expiration" in r for r in lifecycle_rules(7, True) if "expiration" in r)
    assert not any("noncurrent_version_expiration" in r for r in lifecycle_rules(7, False))


def test_tls_policy_denies_plain_http_on_bucket_and_objects():
    [statement] = tls_only_policy("arn:aws:s3:::b")["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]


def build(**kwargs):
    return build_component(lambda: WorkBucket("work", component_args(WorkBucketArgs, **kwargs)))


def test_bucket_is_private_encrypted_owner_enforced_and_tls_only():
    mocks, bucket = build(name="lab-work-bucket")
    arn = "arn:aws:s3:::lab-work-bucket"
    assert resolve(bucket.arn) == arn and resolve(bucket.bucket) == "lab-work-bucket"
    [pab] = mocks.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(
        pab.inputs[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    [own] = mocks.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert own.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    [sse] = mocks.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    [policy] = mocks.of_type("aws:s3/bucketPolicy:BucketPolicy")
    assert json.loads(policy.inputs["policy"]) == tls_only_policy(arn)
    [lifecycle] = mocks.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert {r["id"] for r in lifecycle.inputs["rules"]} == {r["id"] for r in lifecycle_rules(30, True)}
    assert all(
        r.inputs["bucket"] == "lab-work-bucket"
        for r in mocks.registrations
        if r.custom and r.typ != "aws:s3/bucket:Bucket"
    )


@pytest.mark.parametrize("protect", [True, False])
def test_protection_follows_the_setting(protect):
    mocks, _ = build(protect=protect, force_destroy=not protect, versioning=protect)
    bucket = mocks.named("work-bucket")
    assert bucket.protect is protect and bucket.retain_on_delete is protect
    assert bucket.inputs["forceDestroy"] is (not protect)
    assert len(mocks.of_type("aws:s3/bucketVersioning:BucketVersioning")) == (1 if protect else 0)


def test_versioning_is_enabled_before_lifecycle_rules_reference_it():
    mocks, _ = build(versioning=True)
    [versioning] = mocks.of_type("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    assert versioning.urn in mocks.named("work-lifecycle").dependencies
