"""genomics-batch: AWS Batch for Nextflow. Composes settings/ and components/ into the stack and its exports."""

import pulumi
import pulumi_aws as aws

from components.alerts import StackAlerts, StackAlertsArgs
from components.compute_cluster import BatchComputeCluster, BatchComputeClusterArgs
from components.head_job import NextflowHeadJob, NextflowHeadJobArgs
from components.instance_records import InstanceRecords, InstanceRecordsArgs
from components.launch_template import GenomicsLaunchTemplate, GenomicsLaunchTemplateArgs
from components.networking import BatchNetworking, BatchNetworkingArgs
from components.outputs import stack_outputs
from components.registry_cache import RegistryCache, RegistryCacheArgs
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
cache = (
    RegistryCache("registry", RegistryCacheArgs.from_settings(s, instance_role_name=cluster.instance_role_name), opts)
    if s.registry_cache.enabled
    else None
)
head_args = NextflowHeadJobArgs.from_settings(
    s,
    bucket_name=bucket.bucket,
    bucket_arn=bucket.arn,
    queue_arns=cluster.queue_arns,
    task_role_arn=cluster.task_role_arn,
    registry_caches=cache.caches if cache else None,  # the head routes nf-core's images through them
    **buckets,
)
head = NextflowHeadJob("nextflow", head_args, opts)
records = (  # the EC2 environments' container instances, for `nfbatch cost`
    InstanceRecords(
        "instance-records",
        InstanceRecordsArgs.from_settings(s, cluster_arns=list(cluster.ecs_cluster_arns.values())),
        opts,
    )
    if s.run_costs.record_instances
    else None
)
teams = (
    BatchTeams(
        "teams",
        BatchTeamsArgs.from_settings(
            s,
            head=head_args,
            image=head.image,
            log_group_name=head.log_group_name,
            execution_role_arn=head.execution_role_arn,
            instance_events_log_group=records.log_group_name if records else None,
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

for name, value in stack_outputs(s, bucket, cluster, head, alerts, teams, cache=cache, records=records).items():
    pulumi.export(name, value)
