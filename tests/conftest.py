"""The one Mocks class of the tests and the fixtures that run components or the whole program under Pulumi's mocks.

`RealisticMocks` answers like AWS would (ids, ARNs, camelCase outputs); its base in nfbatch.mockrun keeps every
resource registration with its parent, protection and dependency options, so tests assert on what we would ask AWS
for. The same fixtures start a moto server for everything that calls AWS.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import inspect
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest

from facts.botocore_cache import CACHE_DIR_VARIABLE
from facts.contract import ON_DEMAND, SPOT, compute_environment_export, queue_capacity
from nfbatch.mockrun import RecordingMocks, Registration, read_engine_config, start
from nfbatch.mockrun import resolve as resolve  # re-exported for the tests
from nfbatch.mockrun import run_program as execute
from settings import StackSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "__main__.py"

# The botocore cache (facts/botocore_cache.py) of this test run lives in a temporary directory, whatever the
# environment says: the tests write nothing outside tmp, and the processes they start inherit the variable.
os.environ[CACHE_DIR_VARIABLE] = tempfile.mkdtemp(prefix="genomics-batch-cache-")
atexit.register(shutil.rmtree, os.environ[CACHE_DIR_VARIABLE], ignore_errors=True)
# Plain output wraps to shutil.get_terminal_size, which reads COLUMNS first and then the terminal (if any): one width
# for every test, whether pytest runs in a terminal, a pipe or an xdist worker; a test of another width sets its own.
os.environ["COLUMNS"] = "120"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def tool(name: str) -> str:
    """A command installed by requirements-dev (shellcheck, hadolint, aws), found beside this Python first:
    CI runs the tests with venv/bin/python and no activated virtualenv, so PATH alone does not find them."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -r requirements-dev.txt"
    return found


def _hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


@dataclass
class RealisticMocks(RecordingMocks):
    """Answers like AWS would: ids, ARNs, auto-generated names and camelCase outputs."""

    def answer(self, typ: str, name: str, inputs: dict) -> tuple[str, dict]:
        arn_base = f"arn:aws:{{}}:{self.region}:{ACCOUNT}"
        # A name_prefix gets a unique suffix from the provider (terraform-plugin-sdk id.UniqueId), no name Pulumi's.
        prefix = inputs.get("namePrefix")
        physical = inputs.get("name") or (
            f"{prefix}{_hash(typ, name, length=26)}" if prefix else f"{name}-{_hash(typ, name, length=7)}"
        )
        state = dict(inputs)
        resource_id = f"{name}-{_hash(typ, name)}"
        service = typ.split(":")[1].split("/")[0]
        if typ == "aws:s3/bucket:Bucket":
            physical = inputs.get("bucket") or f"{name}-{_hash(typ, name, length=7)}"
            resource_id = physical
            state.update(bucket=physical, arn=f"arn:aws:s3:::{physical}")
        elif typ == "aws:iam/role:Role":
            resource_id = physical
            state.update(name=physical, arn=f"arn:aws:iam::{ACCOUNT}:role/{physical}")
        elif typ == "aws:iam/instanceProfile:InstanceProfile":
            resource_id = physical
            state.update(name=physical, arn=f"arn:aws:iam::{ACCOUNT}:instance-profile/{physical}")
        elif typ == "aws:batch/computeEnvironment:ComputeEnvironment":
            state.update(name=physical, arn=arn_base.format("batch") + f":compute-environment/{physical}")
            # Batch names the environment's ECS cluster <name>_Batch_<uuid> (botocore's Batch examples-1.json)
            state["ecsClusterArn"] = arn_base.format("ecs") + f":cluster/{physical}_Batch_{_hash(name, length=36)}"
            resource_id = state["arn"]
        elif typ == "aws:batch/jobQueue:JobQueue":
            state.update(name=physical, arn=arn_base.format("batch") + f":job-queue/{physical}")
            resource_id = state["arn"]
        elif typ == "aws:batch/jobDefinition:JobDefinition":
            state.update(
                name=physical,
                revision=1,
                arn=arn_base.format("batch") + f":job-definition/{physical}:1",
                arnPrefix=arn_base.format("batch") + f":job-definition/{physical}",
            )
            resource_id = state["arn"]
        elif typ == "aws:ecr/repository:Repository":
            state.update(
                name=physical,
                arn=arn_base.format("ecr") + f":repository/{physical}",
                repositoryUrl=f"{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com/{physical}",
            )
            resource_id = physical
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            state.update(name=physical, arn=arn_base.format("logs") + f":log-group:{physical}")
            resource_id = physical
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            resource_id = f"lt-{_hash(typ, name, length=17)}"
            state.update(
                latestVersion=3, defaultVersion=3, arn=arn_base.format("ec2") + f":launch-template/{resource_id}"
            )
        elif typ.startswith("aws:ec2/"):
            prefix = {
                "vpc": "vpc",
                "subnet": "subnet",
                "securityGroup": "sg",
                "internetGateway": "igw",
                "routeTable": "rtb",
                "natGateway": "nat",
                "eip": "eipalloc",
                "vpcEndpoint": "vpce",
            }
            kind = typ.split("/")[1].split(":")[0]
            resource_id = f"{prefix.get(kind, kind)}-{_hash(typ, name, length=17)}"
            state["arn"] = arn_base.format("ec2") + f":{kind}/{resource_id}"
        elif typ == "aws:budgets/budget:Budget":  # the provider's id is <account>:<name>; the ARN has no region
            state.update(name=physical, accountId=ACCOUNT, arn=f"arn:aws:budgets::{ACCOUNT}:budget/{physical}")
            resource_id = f"{ACCOUNT}:{physical}"
        elif typ == "aws:cloudwatch/eventRule:EventRule":  # alarms count a rule's matches by its name
            state.update(name=physical, arn=arn_base.format("events") + f":rule/{physical}")
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":  # the ARN a topic policy's aws:SourceArn names
            state.update(name=physical, arn=arn_base.format("cloudwatch") + f":alarm:{physical}")
        elif typ == "docker-build:index:Image":  # pushed: the provider's id and digest are the image's digest
            digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
            state.update(digest=digest, ref=f"{inputs['tags'][0]}@{digest}", contextHash=_hash(name, length=64))
            resource_id = digest
        elif typ.startswith("pulumi:providers:"):
            resource_id = f"provider-{_hash(name)}"
        else:
            state.setdefault("arn", arn_base.format(service) + f":{physical}")
        state.setdefault("id", resource_id)
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{z}" for z in "abcdef"]
            return {"names": names, "zoneIds": [f"use1-az{i}" for i in range(1, 7)], "id": self.region}
        if args.token == "aws:index/getRegion:getRegion":
            return {
                "name": self.region,
                "region": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": "test region",
            }
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "AIDATEST", "id": ACCOUNT}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}
        if args.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":  # ECR's token: user AWS, 12 h
            return {
                "authorizationToken": "QVdTOnRva2Vu",
                "userName": "AWS",
                "password": "ecr-token",
                "proxyEndpoint": f"https://{ACCOUNT}.dkr.ecr.{self.region}.amazonaws.com",
                "registryId": ACCOUNT,
                "expiresAt": "2026-12-01T12:00:00Z",
                "region": self.region,
                "id": self.region,
            }
        raise AssertionError(f"unexpected invoke {args.token}: add a realistic answer to RecordingMocks.call")


def default_settings() -> StackSettings:
    """Every setting at its default, as a stack file holding only aws:region gives."""
    return load_settings({"aws:region": REGION}, "test")


def component_args(args_type, **values):
    """A component's args built from the model's defaults (`from_settings`), with `values` in place of any field.
    Values named like `from_settings`' keyword parameters are the wiring between components; lists default empty."""
    listed = ("list", "Sequence")  # list-like parameters (Sequence where components only read them)
    wiring = {
        name: values.pop(name, [] if any(k in str(param.annotation) for k in listed) else param.default)
        for name, param in inspect.signature(args_type.from_settings).parameters.items()
        if param.kind is param.KEYWORD_ONLY
    }
    return dataclasses.replace(args_type.from_settings(default_settings(), **wiring), **values)


def stack_config(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """A stack file's config as the engine hands it to the program."""
    return read_engine_config(ROOT / f"Pulumi.{stack}.yaml", overrides)[0]


def start_mocks(stack: str = "dev", config: dict[str, str] | None = None) -> RealisticMocks:
    mocks = RealisticMocks()
    start(mocks, stack, config or {})
    return mocks


@dataclass
class ProgramRun:
    mocks: RealisticMocks
    outputs: dict[str, Any]


def run_program(stack: str = "dev", overrides: dict[str, Any] | None = None) -> ProgramRun:
    """Run __main__.py (fresh, via runpy) for a stack file under the mocks; return registrations and exports."""
    mocks = RealisticMocks()
    return ProgramRun(mocks, execute(MAIN, mocks, stack, stack_config(stack, overrides)))


def build_component(factory) -> tuple[RecordingMocks, Any]:
    """Build one component alone under fresh mocks; `factory()` returns it."""
    mocks = start_mocks()
    built = {}

    @pulumi.runtime.test
    def program():
        built["component"] = factory()

    program()
    return mocks, built["component"]


@pytest.fixture(scope="session")
def dev_run() -> ProgramRun:
    return run_program("dev")


@pytest.fixture(scope="session")
def prod_run() -> ProgramRun:
    return run_program("prod")


@pytest.fixture(params=["dev", "prod"], scope="session")
def any_run(request, dev_run, prod_run) -> ProgramRun:
    return {"dev": dev_run, "prod": prod_run}[request.param]


# --- AWS, served by moto on loopback ---------------------------------------------------------------------------


@dataclass
class MotoEndpoint:
    url: str

    def env(self) -> dict[str, str]:
        """Environment for a process that must reach only this moto server, with throwaway credentials."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def moto_server():
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield MotoEndpoint(f"http://127.0.0.1:{port}")
    server.stop()


@dataclass
class FakeStack:
    """A deployed stack's AWS side built in moto with boto3, and the outputs file nfbatch reads."""

    endpoint: MotoEndpoint
    outputs: dict
    outputs_file: Path


def provider_budget_calls(declared: Registration, suffix: str = "") -> tuple[dict, list[dict]]:
    """The CreateBudget and CreateNotification requests the provider makes for a declared aws.budgets.Budget
    (terraform-provider-aws internal/service/budgets/budget.go: expandBudgetUnmarshal builds the Budget, cost
    filters as a map of name to values; createBudgetNotifications sends one CreateNotification per notification)."""
    inputs, name = declared.inputs, declared.outputs["name"] + suffix  # budgets are per account: one per stack
    budget = {
        "BudgetName": name,
        "BudgetType": inputs["budgetType"],
        "TimeUnit": inputs["timeUnit"],
        "BudgetLimit": {"Amount": inputs["limitAmount"], "Unit": inputs["limitUnit"]},
        "CostFilters": {f["name"]: f["values"] for f in inputs.get("costFilters", [])},
    }
    notifications = [
        {
            "AccountId": ACCOUNT,
            "BudgetName": name,
            "Notification": {
                "NotificationType": n["notificationType"],
                "ComparisonOperator": n["comparisonOperator"],
                "Threshold": float(n["threshold"]),
                "ThresholdType": n["thresholdType"],
            },
            "Subscribers": [{"SubscriptionType": "EMAIL", "Address": a} for a in n["subscriberEmailAddresses"]],
        }
        for n in inputs.get("notifications", [])
    ]
    return {"AccountId": ACCOUNT, "Budget": budget}, notifications


def create_budget_in_moto(endpoint: MotoEndpoint, declared: Registration, suffix: str = "") -> str:
    """The declared budget, created the way the provider creates it (botocore checks each request's shape)."""
    budgets = endpoint.client("budgets")
    create, notifications = provider_budget_calls(declared, suffix)
    budgets.create_budget(**create)
    for notification in notifications:
        budgets.create_notification(**notification)
    return create["Budget"]["BudgetName"]


# A single-platform image manifest (Docker's schema 2), what `docker push` sends for a one-platform build.
IMAGE_MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1469,
            "digest": "sha256:" + "1" * 64,
        },
        "layers": [],
    }
)


def _build_stack_in_moto(
    endpoint: MotoEndpoint,
    directory: Path,
    teams: dict[str, int | None] | None = None,
    budgets: dict[str, Registration] | None = None,
) -> FakeStack:
    """The stack's AWS side; with `teams` (name -> maxVcpus or None), fair-share queues, capped teams' own queues
    and a head job definition per team, and with `budgets` (team -> its declared Budget) those budgets, as the
    program declares them."""
    import urllib.request

    # Jobs must not start Docker containers: moto's simple Batch marks them finished at once.
    request = urllib.request.Request(  # noqa: S310 - the loopback moto server
        f"{endpoint.url}/moto-api/config",
        method="POST",
        data=json.dumps({"batch": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).read()  # noqa: S310 - loopback moto server
    ec2, iam, batch = endpoint.client("ec2"), endpoint.client("iam"), endpoint.client("batch")
    s3, logs = endpoint.client("s3"), endpoint.client("logs")
    suffix = _hash(str(directory), length=6)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/20")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=f"batch-{suffix}", Description="test", VpcId=vpc)["GroupId"]

    def role(name: str, service: str) -> str:
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
            }
        )
        return iam.create_role(RoleName=f"{name}-{suffix}", AssumeRolePolicyDocument=trust)["Role"]["Arn"]

    instance_role = role("instance", "ec2.amazonaws.com")
    profile = iam.create_instance_profile(InstanceProfileName=f"instance-{suffix}")["InstanceProfile"]["Arn"]
    # moto insists on a service role; the real stack uses Batch's service-linked role instead.
    service_role = role("batch-service", "batch.amazonaws.com")
    ces = {}
    for key, kind in ((SPOT, "SPOT"), (ON_DEMAND, "EC2")):
        ces[key] = batch.create_compute_environment(
            computeEnvironmentName=f"{key}-{suffix}",
            type="MANAGED",
            state="ENABLED",
            serviceRole=service_role,
            computeResources={
                "type": kind,
                "minvCpus": 0,
                "maxvCpus": 16,
                "instanceTypes": ["m6i"],
                "subnets": [subnet],
                "securityGroupIds": [sg],
                "instanceRole": profile,
            },
        )["computeEnvironmentArn"]
    fair_share = (
        {
            "schedulingPolicyArn": batch.create_scheduling_policy(
                name=f"fair-share-{suffix}",
                fairsharePolicy={
                    "shareDecaySeconds": 3600,
                    "computeReservation": 10,
                    "shareDistribution": [{"shareIdentifier": n, "weightFactor": 1} for n in teams],
                },
            )["arn"]
        }
        if teams
        else {}
    )
    queues = {}
    for key, capacity in queue_capacity(spot_fallback_to_on_demand=False).items():
        envs = [ces[c] for c in capacity]
        queues[key] = batch.create_job_queue(
            jobQueueName=f"{key}-{suffix}",
            state="ENABLED",
            priority=10,
            **fair_share,
            computeEnvironmentOrder=[{"order": i + 1, "computeEnvironment": a} for i, a in enumerate(envs)],
        )["jobQueueArn"]
    bucket = f"work-{suffix}"
    s3.create_bucket(Bucket=bucket)
    # moto applies a Deny without evaluating aws:SecureTransport, so this one covers a prefix nobody writes.
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{bucket}/tls-probe/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
        ),
    )
    head_role, task_role = role("head", "ecs-tasks.amazonaws.com"), role("task", "ecs-tasks.amazonaws.com")
    log_group = f"/genomics-batch/head-{suffix}"
    logs.create_log_group(logGroupName=log_group)
    # The head image `pulumi up` pushed (components/head_image.py): doctor asks ECR for the tag the definition names.
    ecr = endpoint.client("ecr")
    repository = ecr.create_repository(repositoryName=f"nextflow-{suffix}", imageTagMutability="IMMUTABLE")
    repository_url, head_tag = repository["repository"]["repositoryUri"], "25.04.6-0123456789abcdef"
    ecr.put_image(repositoryName=f"nextflow-{suffix}", imageManifest=IMAGE_MANIFEST, imageTag=head_tag)
    definition = batch.register_job_definition(
        jobDefinitionName=f"nextflow-{suffix}",
        type="container",
        containerProperties={
            "image": f"{repository_url}:{head_tag}",
            "jobRoleArn": head_role,
            "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": log_group}},
        },
    )
    outputs = {
        "region": REGION,
        "bucketName": bucket,
        "workDir": f"s3://{bucket}/work",
        "logsDir": f"s3://{bucket}/logs",
        **{f"{k}QueueArn": v for k, v in queues.items()},
        **{f"{k}QueueName": v.rsplit("/", 1)[-1] for k, v in queues.items()},
        **{compute_environment_export(c): arn for c, arn in ces.items()},
        "jobDefinitionArn": definition["jobDefinitionArn"],
        "jobDefinitionName": definition["jobDefinitionName"],
        "ecrRepositoryUrl": repository_url,
        "headImage": f"{repository_url}:{head_tag}",
        "headLogGroupName": log_group,
        "headJobRoleArn": head_role,
        "taskJobRoleArn": task_role,
        "instanceRoleArn": instance_role,
        "nextflowConfig": "workDir = 's3://x/work'\n",
    }
    if teams:
        outputs["teams"] = _teams_in_moto(endpoint, suffix, teams, ces, queues, fair_share, head_role)
        for team, declared in (budgets or {}).items():
            outputs["teams"][team]["budgetName"] = create_budget_in_moto(endpoint, declared, f"-{suffix}")
    outputs_file = directory / "outputs.json"
    outputs_file.write_text(json.dumps(outputs))
    return FakeStack(endpoint, outputs, outputs_file)


def _teams_in_moto(
    endpoint: MotoEndpoint,
    suffix: str,
    teams: dict[str, int | None],
    ces: dict,
    queues: dict,
    fair_share: dict,
    head_role: str,
) -> dict:
    """Each team's head job definition (tagged Team) and, for a capped team, its own queue; the `teams` export."""
    batch = endpoint.client("batch")
    exported = {}
    for name, cap in teams.items():
        queue = queues["default"]
        if cap is not None:
            queue = batch.create_job_queue(
                jobQueueName=f"team-{name}-{suffix}",
                state="ENABLED",
                priority=10,
                **fair_share,
                computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ces[SPOT]}],
            )["jobQueueArn"]
        definition = batch.register_job_definition(
            jobDefinitionName=f"team-{name}-{suffix}",
            type="container",
            tags={"Team": name},
            propagateTags=True,
            containerProperties={
                "image": "nextflow:25.04.6",
                "jobRoleArn": head_role,
                "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}],
            },
        )
        exported[name] = {
            "shareIdentifier": name,
            "weight": 1,
            "maxVcpus": cap,
            "jobDefinitionArn": definition["jobDefinitionArn"],
            "jobDefinitionName": definition["jobDefinitionName"],
            "taskQueueArn": queue,
            "taskQueueName": queue.rsplit("/", 1)[-1],
        }
    return exported


@pytest.fixture(scope="session")
def aws_env(moto_server):
    """An environment in which boto3 reaches only the moto server, with throwaway credentials."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in moto_server.env().items():
            patch.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "NFBATCH_OUTPUTS"):
            patch.delenv(key, raising=False)
        yield moto_server


@pytest.fixture(scope="module")
def shared_stack(aws_env, tmp_path_factory) -> FakeStack:
    """One stack for the tests of a module that only add uniquely named runs and jobs to it."""
    return _build_stack_in_moto(aws_env, tmp_path_factory.mktemp("shared-stack"))


@pytest.fixture(scope="module")
def team_stack(aws_env, tmp_path_factory) -> FakeStack:
    """A stack shared by two teams: genomicscore capped at 8 vCPUs on its own queue with a $1,500 budget, rnalab
    on the shared ones without one."""
    declared = run_program(
        "dev",
        {
            "genomics-batch:teams": {
                "genomicscore": {"maxVcpus": 8, "monthlyBudgetUsd": 1500, "budgetEmails": ["lead@lab.org"]},
                "rnalab": {},
            }
        },
    ).mocks.named("teams-genomicscore-budget", "aws:budgets/budget:Budget")
    return _build_stack_in_moto(
        aws_env,
        tmp_path_factory.mktemp("team-stack"),
        teams={"genomicscore": 8, "rnalab": None},
        budgets={"genomicscore": declared},
    )


@pytest.fixture
def fake_stack(aws_env, tmp_path) -> FakeStack:
    """A fresh stack for a test that breaks or reshapes it."""
    return _build_stack_in_moto(aws_env, tmp_path)


# --- botocore hooks on nfbatch's own sessions ---------------------------------------------------------------------


class Hooks:
    """botocore event handlers that every nfbatch session gets; `calls` counts API operations."""

    def __init__(self):
        self.handlers: list[tuple[str, object]] = []
        self.calls: dict[str, int] = {}

    def on(self, event: str, handler) -> None:
        self.handlers.append((event, handler))


@pytest.fixture
def hooks(monkeypatch):
    import boto3

    from nfbatch import aws as nfbatch_aws

    registry = Hooks()

    def counter(model, **_):
        registry.calls[model.name] = registry.calls.get(model.name, 0) + 1

    class HookedSession(boto3.Session):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.events.register("before-call", counter)
            for event, handler in registry.handlers:
                self.events.register(event, handler)

    monkeypatch.setattr(nfbatch_aws.boto3, "Session", HookedSession)
    return registry


def pytest_unconfigure(config):
    """After the run: a test that fails a deploy on purpose (an error raised in an apply) leaves Outputs that hold the
    same error, and the interpreter's shutdown would print each as asyncio's "Future exception was never retrieved"
    after the summary. The tests asserted on that error already; nothing runs after this hook."""
    import logging

    logging.getLogger("asyncio").disabled = True
