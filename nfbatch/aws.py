"""boto3 clients with botocore's own retry handling, and the translation of AWS errors into clear messages."""

from __future__ import annotations

import re
from functools import cache

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    TokenRetrievalError,
)

from nfbatch.errors import NfbatchError

# Standard mode retries throttling (TooManyRequestsException, ThrottlingException) and transient errors with
# exponential backoff and full jitter; ten attempts ride out a burst of SubmitJob or DescribeJobs throttling.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10}, user_agent_extra="nfbatch")

ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
                 "ExpiredTokenException", "InvalidClientTokenId"}


@cache
def _shared_loader() -> botocore.loaders.Loader:
    # Service models are large JSON files; parsing them once per process (not per session) makes `--watch` loops
    # and repeated calls cheap. Credentials and config are still resolved by each new session.
    return botocore.loaders.create_loader()


def new_session(region: str) -> boto3.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return boto3.Session(botocore_session=core, region_name=region)


class Aws:
    """One session for the whole command; clients are made once each (endpoint from AWS_ENDPOINT_URL if set)."""

    def __init__(self, region: str, session: boto3.Session | None = None):
        self.session = session or new_session(region)
        self.region = region
        self._clients: dict[str, object] = {}

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region, config=RETRY_CONFIG)
        return self._clients[service]

    def action_for(self, operation: str) -> str:
        """The IAM action behind an operation name, e.g. SubmitJob -> batch:SubmitJob."""
        for client in self._clients.values():
            model = client.meta.service_model
            if operation in model.operation_names:
                return f"{model.signing_name}:{operation}"
        return operation


def explain(error: Exception, aws: Aws | None) -> NfbatchError:
    """A user-facing error for an exception raised by boto3."""
    if isinstance(error, (NoCredentialsError, PartialCredentialsError, TokenRetrievalError)):
        return NfbatchError("no usable AWS credentials found",
                            "set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    if isinstance(error, NoRegionError):
        return NfbatchError("no AWS region", "the stack outputs carry `region`; redeploy or pass --outputs")
    if isinstance(error, EndpointConnectionError):
        return NfbatchError(f"cannot reach AWS: {error}", "check the network, or AWS_ENDPOINT_URL if you set it")
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in ACCESS_DENIED or "not authorized" in message:
            named = re.search(r"perform: ([a-z0-9-]+:[A-Za-z0-9]+)", message)
            action = named.group(1) if named else (aws.action_for(error.operation_name) if aws else
                                                   error.operation_name)
            return NfbatchError(f"access denied: your credentials lack {action}",
                                f"grant {action} to your role or user, or use a profile that has it")
        return NfbatchError(f"AWS refused {error.operation_name}: {code}: {message}")
    return NfbatchError(str(error))
