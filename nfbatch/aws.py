"""boto3 clients with botocore's own retry handling, and the translation of AWS errors into clear messages."""

from __future__ import annotations

import os
import re
from functools import cache
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

from nfbatch.errors import NfbatchError

# Standard mode retries throttling (TooManyRequestsException, ThrottlingException) and transient errors with
# exponential backoff and full jitter; ten retries (max_attempts counts retries, not the first try) ride out a burst
# of SubmitJob or DescribeJobs throttling.
# An endpoint that cannot be reached is different: it gets a short connect timeout and one more try (below), so a
# wrong AWS_ENDPOINT_URL or a dead network fails in seconds, not after half a minute of silent retries.
RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 10}, connect_timeout=3, read_timeout=30, user_agent_extra="nfbatch"
)
CONNECTION_ATTEMPTS = 2

ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
BAD_CREDENTIALS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "RequestExpired",
}


def _stop_retrying_unreachable(attempts: int, caught_exception: Exception | None = None, **_) -> None:
    """Registered before botocore's own retry handler: after CONNECTION_ATTEMPTS, a connection failure ends the
    call instead of being retried with backoff."""
    if isinstance(caught_exception, (EndpointConnectionError, ConnectTimeoutError)) and attempts >= CONNECTION_ATTEMPTS:
        raise caught_exception


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
        self._clients: dict[str, Any] = {}  # botocore clients: classes made from service models at run time

    def client(self, service: str):
        if service not in self._clients:
            try:
                client = self.session.client(service, region_name=self.region, config=RETRY_CONFIG)
            except ValueError as error:  # botocore's word for an endpoint URL it cannot use
                raise NfbatchError(
                    f"AWS_ENDPOINT_URL = {os.environ.get('AWS_ENDPOINT_URL', '')}: {error}",
                    "set it to a URL such as http://127.0.0.1:5000, or unset it for AWS",
                ) from None
            client.meta.events.register_first(
                f"needs-retry.{client.meta.service_model.endpoint_prefix}", _stop_retrying_unreachable
            )
            self._clients[service] = client
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
        return NfbatchError(
            "no usable AWS credentials found",
            "set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )
    if isinstance(error, ProfileNotFound):
        return NfbatchError(
            f"{error}",
            "list your profiles with `aws configure list-profiles`, then set AWS_PROFILE to one of them (or unset it)",
        )
    if isinstance(error, NoRegionError):
        return NfbatchError("no AWS region", "the stack outputs carry `region`; redeploy or pass --outputs")
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        where = f"AWS_ENDPOINT_URL {endpoint}" if endpoint else "AWS"
        return NfbatchError(
            f"cannot reach {where} (tried {CONNECTION_ATTEMPTS} times): {error}",
            "check AWS_ENDPOINT_URL" if endpoint else "check the network or proxy settings",
        )
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in BAD_CREDENTIALS:
            return NfbatchError(
                f"your AWS credentials are expired or not valid ({code})",
                "run `aws sso login` (or refresh the keys of your profile), then try again",
            )
        if code in ACCESS_DENIED or "not authorized" in message:
            named = re.search(r"perform: ([a-z0-9-]+:[A-Za-z0-9]+)", message)
            action = (
                named.group(1) if named else (aws.action_for(error.operation_name) if aws else error.operation_name)
            )
            return NfbatchError(
                f"access denied: your credentials lack {action}",
                f"grant {action} to your role or user, or use a profile that has it",
            )
        return NfbatchError(f"AWS refused {error.operation_name}: {code}: {message}")
    return NfbatchError(str(error))
