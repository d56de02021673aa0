"""What AWS itself accepts: gp3 volume limits, log retention periods, bucket names, instance type names, partitions.

Plain data and pure functions; the settings model and the cross-key rules cite these rather than restate them.
"""

from __future__ import annotations

import re

# gp3 limits as botocore's EC2 model documents them (CreateVolume), plus the two ratio rules AWS enforces.
GP3_SIZE_GIB = (1, 65536)
GP3_IOPS = (3000, 80000)
GP3_THROUGHPUT_MIBPS = (125, 2000)
GP3_MAX_IOPS_PER_GIB = 500
GP3_MAX_MIBPS_PER_IOPS = 0.25

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)

# botocore's Batch model, UpdatePolicy.jobExecutionTimeoutMinutes: how long an infrastructure update lets a running
# job finish before its instance is replaced.
UPDATE_TIMEOUT_MINUTES = (1, 7200)

# Batch job-state time-limit actions accept 600 to 86400 seconds (JobStateTimeLimitAction.maxTimeSeconds).
JOB_STATE_TIME_LIMIT_SECONDS = (600, 86400)

REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
INSTANCE_TYPE_NAME = re.compile(r"optimal|default_x86_64|default_arm64|[a-z][a-z0-9-]*[0-9][a-z0-9-]*(\.[a-z0-9-]+)?")
VPC_ID = re.compile(r"vpc-[0-9a-f]{8,17}")
SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}")
ROUTE_TABLE_ID = re.compile(r"rtb-[0-9a-f]{8,17}")
TAG_KEY = re.compile(r"[\w .:/=+\-@]+")
TAG_VALUE = re.compile(r"[\w .:/=+\-@]*")


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would reject `name` as a general-purpose bucket name, or None when it is acceptable."""
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters long"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name):
        return "must use only lowercase letters, digits, dots and hyphens, and start and end with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "must not contain '..', '.-' or '-.'"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        return "must not look like an IP address"
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return f"must not start with '{prefix}'"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            return f"must not end with '{suffix}'"
    return None


def partition_for(region: str) -> str:
    """The ARN partition of a region name."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
