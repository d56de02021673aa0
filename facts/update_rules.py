"""Which input changes the AWS provider applies in place and which replace the resource, for every resource type
this program declares, so `nfbatch plan --diff` can say what `pulumi up` would do before it does it.

Standard library only. Inputs are the plan's flattened camelCase keys (`computeResources.instanceTypes`).
"""

from __future__ import annotations

from dataclasses import dataclass

# The pulumi-aws release (the one requirements.txt pins) these rules are checked against. tests/test_lock.py fails
# once the lock pins a later one: re-read the sources cited below for the terraform-provider-aws it bridges, then
# raise this. That upstream version is in none of pulumi-aws's wheel metadata (pulumi_aws/pulumi-plugin.json holds
# only its own name and version); it is at least 6.54.0, which pulumi-aws 7.37.0 upgraded to (its release notes).
PROVIDER_RULES_READ_FROM = "7.51.1"

COMPUTE_ENVIRONMENT = "aws:batch/computeEnvironment:ComputeEnvironment"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
JOB_DEFINITION = "aws:batch/jobDefinition:JobDefinition"
JOB_QUEUE = "aws:batch/jobQueue:JobQueue"
# pulumi-docker-build's Image answers every change with an update, never a replacement: its Diff gives each changed
# input (and a changed build-context hash) `provider.PropertyDiff{Kind: provider.Update}`, and Update rebuilds and
# pushes ("for images built locally there is nothing to delete. We treat those cases as updates"), leaving the old
# tags in place ("Manifests are _not_ deleted ... during updates"); only deleting the resource deletes its tags
# (pulumi/pulumi-docker-build provider/internal/image.go, Diff, Update and Delete; v0.0.22).
DOCKER_IMAGE = "docker-build:index:Image"
DOCKER_BUILD_RULES_READ_FROM = "0.0.22"  # tests/test_head_image.py fails once another pulumi-docker-build is installed
# A queue is FIFO or fair-share for life: Batch adds no scheduling policy to a FIFO queue and removes none
# (UpdateJobQueue: "can be replaced but not removed"; terraform-provider-aws job_queue.go refuses the removal), so the
# program declares the queues with replaceOnChanges on it, and adding the first team or removing the last replaces
# them, with the jobs on them.
QUEUE_KIND = "schedulingPolicyArn"

# terraform-provider-aws (bridged by pulumi-aws), internal/service/batch/compute_environment.go,
# isUpdatableAllocationStrategy: only these strategies let the provider update a compute environment in place.
# SPOT_PRICE_CAPACITY_OPTIMIZED joined them in terraform-provider-aws 6.10.0 (CHANGELOG: "Allow in-place updates of
# compute environments that have the `SPOT_PRICE_CAPACITY_OPTIMIZED` strategy", #40148); the locked pulumi-aws
# (PROVIDER_RULES_READ_FROM) bridges a later release. Plain BEST_FIT is the one Batch strategy left out.
UPDATABLE_ALLOCATION_STRATEGIES = ("BEST_FIT_PROGRESSIVE", "SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED")

# Same file, resourceComputeEnvironmentCustomizeDiff: with any other strategy (or a non-service-linked service role)
# a change to one of these forces a new compute environment.
CE_REPLACED_UNLESS_UPDATABLE = tuple(
    f"computeResources.{key}"
    for key in (
        "securityGroupIds",
        "subnets",
        "allocationStrategy",
        "bidPercentage",
        "ec2Configurations",
        "ec2KeyPair",
        "imageId",
        "instanceRole",
        "instanceTypes",
        "launchTemplate",
        "tags",
    )
)

# Inputs whose change always replaces the resource (ForceNew in the provider's schema for that type).
ALWAYS_REPLACED: dict[str, tuple[str, ...]] = {
    COMPUTE_ENVIRONMENT: ("name", "namePrefix", "type", "computeResources.type"),
    JOB_QUEUE: ("name", QUEUE_KIND),
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix"),
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "vpcId"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "namePrefix", "description", "vpcId"),
    "aws:ec2/internetGateway:InternetGateway": (),
    "aws:ec2/natGateway:NatGateway": ("allocationId", "subnetId", "connectivityType"),
    "aws:ec2/eip:Eip": ("domain",),
    "aws:ec2/routeTable:RouteTable": ("vpcId",),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("subnetId",),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("serviceName", "vpcId", "vpcEndpointType"),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "aws:iam/instanceProfile:InstanceProfile": ("name", "namePrefix", "path"),
    "aws:iam/rolePolicy:RolePolicy": ("name", "namePrefix", "role"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("role", "policyArn"),
    "aws:ecr/repository:Repository": ("name",),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "namePrefix"),
    # internal/service/ecr/pull_through_cache_rule.go: ForceNew on these; credential_arn updates in place
    # (UpdatePullThroughCacheRule). repository_creation_template.go: ForceNew on prefix only.
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule": (
        "ecrRepositoryPrefix",
        "upstreamRegistryUrl",
        "upstreamRepositoryPrefix",
    ),
    "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate": ("prefix",),
    DOCKER_IMAGE: (),
}

# What is lost when one of these is replaced: the reviewer must see it first.
HOLDS_DATA_OR_WORK = {
    "aws:s3/bucket:Bucket": "the work bucket's data",
    COMPUTE_ENVIRONMENT: "its instances and every job running on them",
    JOB_QUEUE: "every job queued or running on it",
    "aws:ecr/repository:Repository": "the head images pushed to it",
    "aws:cloudwatch/logGroup:LogGroup": "the head logs it holds",
    "aws:ec2/vpc:Vpc": "every instance (and job) in it",
    "aws:ec2/subnet:Subnet": "every instance (and job) in it",
}


def _touches(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith((f"{prefix}.", f"{prefix}["))


@dataclass(frozen=True)
class Action:
    kind: str  # "update", "replace"
    keys: tuple[str, ...]  # the changed inputs
    because: tuple[str, ...]  # the inputs that force a replacement (empty for updates)
    note: str = ""


def action_for(resource_type: str, changed: list[str], inputs: dict[str, str]) -> Action:
    """What the provider does when `changed` inputs of a resource change; `inputs` are its new flattened inputs."""
    forced = [k for k in changed if any(_touches(k, p) for p in ALWAYS_REPLACED.get(resource_type, ()))]
    note = ""
    if resource_type == COMPUTE_ENVIRONMENT:
        strategy = inputs.get("computeResources.allocationStrategy", "")
        if strategy not in UPDATABLE_ALLOCATION_STRATEGIES:
            forced += [k for k in changed if any(_touches(k, p) for p in CE_REPLACED_UNLESS_UPDATABLE)]
            note = f"{strategy} cannot be updated in place by the provider"
    elif resource_type == LAUNCH_TEMPLATE:
        note = "a new template version"
    elif resource_type == JOB_DEFINITION:
        note = "a new revision is registered"
    elif resource_type == DOCKER_IMAGE:
        note = "pulumi up builds the head image and pushes it under the new tag; the old tag stays"
    forced = sorted(set(forced))
    return Action("replace" if forced else "update", tuple(changed), tuple(forced), note)
