"""genomics-batch: AWS Batch for Nextflow. Composes settings/ and components/ into the stack and its exports."""

import pulumi
import pulumi_aws as aws

from components.alerts import StackAlerts, StackAlertsArgs
from components.compute_cluster import BatchComputeCluster, BatchComputeClusterArgs
from components.head_job import NextflowHeadJob, NextflowHeadJobArgs
from components.launch_template import GenomicsLaunchTemplate, GenomicsLaunchTemplateArgs
from components.networking import BatchNetworking, BatchNetworkingArgs
from components.outputs import stack_outputs
from components.storage import WorkBucket, WorkBucketArgs
from components.teams import BatchTeams, BatchTeamsArgs
from settings import SettingsError, load_settings, raw_stack_config

try:
    s = load_settings(raw_stack_config(), pulumi.get_stack())
except SettingsError as error:
    raise pulumi.RunError(str(error)) from None  # a clean message, no traceback

# Default tags reach every resource the provider creates; the launch template carries them to instances and volumes.
provider = aws.Provider(
    "aws",
    region=s.region,
    allowed_account_ids=s.allowed_account_ids,
    default_tags=aws.ProviderDefaultTagsArgs(tags=s.cost_tags),
)
opts = pulumi.ResourceOptions(providers=[provider])
buckets = s.extra_bucket_arns

network = BatchNetworking("network", BatchNetworkingArgs.from_settings(s), opts)
bucket = WorkBucket("work", WorkBucketArgs.from_settings(s), opts)
template = GenomicsLaunchTemplate("instances", GenomicsLaunchTemplateArgs.from_settings(s), opts)
cluster = BatchComputeCluster(
    "batch",
    BatchComputeClusterArgs.from_settings(
        s,
        subnet_ids=network.subnet_ids,
        security_group_ids=[network.security_group_id],
        launch_template_id=template.id,
        launch_template_version=template.latest_version,
        work_bucket_arn=bucket.arn,
        **buckets,
    ),
    opts,
)
head_args = NextflowHeadJobArgs.from_settings(
    s,
    bucket_name=bucket.bucket,
    bucket_arn=bucket.arn,
    queue_arns=cluster.queue_arns,
    task_role_arn=cluster.task_role_arn,
    **buckets,
)
head = NextflowHeadJob("nextflow", head_args, opts)
teams = (
    BatchTeams(
        "teams",
        BatchTeamsArgs.from_settings(
            s,
            head=head_args,
            image=head.image,
            log_group_name=head.log_group_name,
            execution_role_arn=head.execution_role_arn,
        ),
        opts,
    )
    if s.teams
    else None
)
alerts = (
    StackAlerts(
        "alerts",
        StackAlertsArgs.from_settings(
            s,
            queue_arns=cluster.queue_arns,
            task_queue_arns=cluster.task_queue_arns,
            head_log_group_name=head.log_group_name,
        ),
        opts,
    )
    if s.alerts.emails
    else None
)

for name, value in stack_outputs(s, bucket, cluster, head, alerts, teams).items():
    pulumi.export(name, value)
