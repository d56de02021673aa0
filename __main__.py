"""genomics-batch: AWS Batch for Nextflow. Reads the stack settings once, builds the four components, exports the
values users, `nfbatch` and Seqera Platform need. Everything else lives in settings.py and components/."""

import pulumi
import pulumi_aws as aws

from components.compute_cluster import BatchComputeCluster, BatchComputeClusterArgs
from components.head_job import NextflowHeadJob, NextflowHeadJobArgs, render_nextflow_config
from components.launch_template import EcsAgentConfig, GenomicsLaunchTemplate, GenomicsLaunchTemplateArgs, RootVolume
from components.networking import BatchNetworking, BatchNetworkingArgs
from components.storage import WorkBucket, WorkBucketArgs
from policies.iam import bucket_arn
from settings import LOGS_PREFIX, WORK_PREFIX, SettingsError, load_settings, partition_for, raw_stack_config

try:
    s = load_settings(raw_stack_config(), pulumi.get_stack())
except SettingsError as error:
    raise pulumi.RunError(str(error)) from None  # a clean message, no traceback

# Default tags reach every resource the provider creates; the launch template carries them to instances and volumes.
provider = aws.Provider("aws", region=s.region, default_tags=aws.ProviderDefaultTagsArgs(tags=s.cost_tags))
opts = pulumi.ResourceOptions(providers=[provider])
partition = partition_for(s.region)
read_only_arns = [bucket_arn(b, partition) for b in s.bucket.read_only_buckets]
read_write_arns = [bucket_arn(b, partition) for b in s.bucket.read_write_buckets]

network = BatchNetworking("network", BatchNetworkingArgs(
    mode=s.network.mode, cidr=s.network.cidr, az_count=s.network.az_count, egress=s.network.egress,
    availability_zones=s.network.availability_zones, vpc_id=s.network.vpc_id, subnet_ids=s.network.subnet_ids,
), opts)

bucket = WorkBucket("work", WorkBucketArgs(
    name=s.bucket.name, work_expiration_days=s.bucket.work_expiration_days, versioning=s.bucket.versioning,
    protect=s.bucket.protect, force_destroy=s.bucket.force_destroy,
), opts)

volume = s.launch_template.root_volume
template = GenomicsLaunchTemplate("instances", GenomicsLaunchTemplateArgs(
    root_volume=RootVolume(volume.size_gib, volume.iops, volume.throughput_mibps),
    ecs_agent=EcsAgentConfig(**s.launch_template.ecs_agent.model_dump()),
    install_aws_cli=s.launch_template.install_aws_cli, key_name=s.launch_template.key_name, tags=s.cost_tags,
), opts)

c = s.compute
cluster = BatchComputeCluster("batch", BatchComputeClusterArgs(
    subnet_ids=network.subnet_ids, security_group_ids=[network.security_group_id],
    launch_template_id=template.id, launch_template_version=template.latest_version,
    work_bucket_arn=bucket.arn, read_only_bucket_arns=read_only_arns, read_write_bucket_arns=read_write_arns,
    instance_types=c.instance_types, spot_max_vcpus=c.spot.max_vcpus, spot_bid_percentage=c.spot.bid_percentage,
    on_demand_max_vcpus=c.on_demand.max_vcpus, spot_fallback_to_on_demand=c.spot_fallback_to_on_demand,
    stuck_job_timeout_seconds=c.stuck_job_timeout_seconds, update_timeout_minutes=c.update_timeout_minutes,
    head_priority=s.queues.head_priority, priority_priority=s.queues.priority_priority,
    default_priority=s.queues.default_priority,
), opts)

h = s.head_job
head = NextflowHeadJob("nextflow", NextflowHeadJobArgs(
    bucket_name=bucket.bucket, bucket_arn=bucket.arn, region=s.region, queue_arns=cluster.queue_arns,
    task_role_arn=cluster.task_role_arn, read_only_bucket_arns=read_only_arns,
    read_write_bucket_arns=read_write_arns, vcpus=h.vcpus, memory_mib=h.memory_mib, attempts=h.attempts,
    timeout_hours=h.timeout_hours, nextflow_version=h.nextflow_version, image=h.image,
    log_retention_days=h.log_retention_days, force_delete_repository=s.bucket.force_destroy,
), opts)

work_dir = bucket.bucket.apply(lambda b: f"s3://{b}/{WORK_PREFIX}")
pulumi.export("region", s.region)
pulumi.export("bucketName", bucket.bucket)
pulumi.export("workDir", work_dir)
pulumi.export("logsDir", bucket.bucket.apply(lambda b: f"s3://{b}/{LOGS_PREFIX}"))
for key in ("head", "default", "priority"):
    pulumi.export(f"{key}QueueName", cluster.queue_names[key])
    pulumi.export(f"{key}QueueArn", cluster.queue_arns[key])
pulumi.export("spotComputeEnvironmentArn", cluster.compute_environment_arns["spot"])
pulumi.export("onDemandComputeEnvironmentArn", cluster.compute_environment_arns["on-demand"])
pulumi.export("jobDefinitionName", head.job_definition_name)
pulumi.export("jobDefinitionArn", head.job_definition_arn)
pulumi.export("ecrRepositoryUrl", head.repository_url)
pulumi.export("headImage", head.image)
pulumi.export("headJobRoleArn", head.role_arn)
pulumi.export("headLogGroupName", head.log_group_name)
pulumi.export("taskJobRoleArn", cluster.task_role_arn)
pulumi.export("instanceRoleArn", cluster.instance_role_arn)
pulumi.export("nextflowConfig", pulumi.Output.all(
    work_dir, cluster.queue_names["default"], cluster.queue_names["priority"], cluster.task_role_arn,
).apply(lambda a: render_nextflow_config(
    work_dir=a[0], region=s.region, default_queue=a[1], priority_queue=a[2], task_role_arn=a[3])))
# What a Seqera Platform "manual" AWS Batch compute environment asks for.
pulumi.export("seqeraPlatform", {
    "region": s.region, "workDir": work_dir,
    "headQueue": cluster.queue_names["head"], "computeQueue": cluster.queue_names["default"],
    "headJobRole": head.role_arn, "computeJobRole": cluster.task_role_arn,
})
