"""Run the genomics-batch program under Pulumi's mock runtime and record every resource it declares.

Shared by `nfbatch plan` (placeholder values for what only AWS knows) and the test suite (realistic values): both
subclass `RecordingMocks` and differ only in what `new_resource` and `call` answer.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import json
import runpy
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import Stack
from pulumi.runtime.sync_await import _sync_await

from facts.contract import PROJECT

# Stands in for an encrypted (`secure:`) config value, which cannot be read without the stack's secrets provider.
SECRET_PLACEHOLDER = "SecretValueHiddenFromPlan"  # noqa: S105 - a marker, not a password


@dataclass
class Registration:
    """One resource as the program registered it."""

    urn: str
    typ: str
    name: str
    inputs: dict
    outputs: dict
    parent: str
    provider: str
    protect: bool
    retain_on_delete: bool
    ignore_changes: list[str]
    dependencies: list[str]
    delete_before_replace: bool
    custom: bool
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    secret_inputs: list[str] = field(default_factory=list)  # inputs the program marked secret


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Base mocks: subclasses answer `new_resource` through `answer` and `call` themselves."""

    region: str = "us-east-1"
    registrations: list[Registration] = field(default_factory=list)
    calls: list[tuple[str, dict]] = field(default_factory=list)
    _pending: dict = field(default_factory=dict)

    def answer(self, typ: str, name: str, inputs: dict) -> tuple[str, dict]:
        raise NotImplementedError

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        # A secret input reaches the mocks wrapped (pulumi/runtime/rpc.py, wrap_rpc_secret): record what it holds,
        # and which inputs were secret.
        inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in args.inputs.items()}
        secret = sorted(k for k, v in args.inputs.items() if rpc.is_rpc_secret(v))
        resource_id, state = self.answer(args.typ, args.name, inputs)
        self._pending[(args.typ, args.name)] = (inputs, state, secret)
        return resource_id, state

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.typ == typ]

    def named(self, name: str, typ: str | None = None) -> Registration:
        found = [r for r in self.registrations if r.name == name and typ in (None, r.typ)]
        assert len(found) == 1, f"expected one resource named {name}, found {[r.urn for r in found]}"
        return found[0]


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Keeps the registration options (parent, protect, dependencies…) that MockResourceArgs leaves out."""

    mocks: RecordingMocks  # MockMonitor.__init__ sets it; start() passes the RecordingMocks it records into

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        mocks = self.mocks
        inputs, state, secret = mocks._pending.pop((request.type, request.name), ({}, {}, []))
        mocks.registrations.append(
            Registration(
                urn=response.urn,
                typ=request.type,
                name=request.name,
                inputs=inputs,
                outputs=state,
                parent=request.parent,
                provider=request.provider,
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                ignore_changes=list(request.ignoreChanges),
                dependencies=list(request.dependencies),
                delete_before_replace=bool(request.deleteBeforeReplace),
                custom=bool(request.custom),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                secret_inputs=secret,
            )
        )
        return response


def _conceal(value: Any) -> tuple[Any, bool]:
    """The value with every encrypted (`secure:`) part replaced by the placeholder, and whether there was one."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return SECRET_PLACEHOLDER, True
    if isinstance(value, dict):
        pairs = {k: _conceal(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(s for _, s in pairs.values())
    if isinstance(value, list):
        items = [_conceal(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def read_engine_config(path: Path, overrides: dict[str, Any] | None = None) -> tuple[dict[str, str], list[str]]:
    """A stack file's config as the engine hands it over (objects as JSON text, scalars as strings), and the keys
    holding encrypted values, which are replaced by a placeholder."""
    from settings.stack_file import read_stack_config

    values = {**read_stack_config(path), **(overrides or {})}
    config, secret_keys = {}, []
    for key, raw in values.items():
        value, secret = _conceal(raw)
        if secret:
            secret_keys.append(key)
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config, secret_keys


def start(mocks: RecordingMocks, stack: str, config: dict[str, str], secret_keys: list[str] | None = None) -> None:
    pulumi_settings.ROOT.set(None)  # a fresh root stack resource for each program run
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=RecordingMonitor(mocks))
    pulumi.runtime.set_all_config(config, secret_keys or [])


def resolve(value: Any) -> Any:
    """The plain value of an Output (or of a structure holding Outputs), once the mocks have answered."""
    return _sync_await(pulumi.Output.from_input(value).future())


def close_idle_event_loops() -> None:
    """Close every event loop that is not running: the ones Pulumi's sync helper left behind (see below)."""
    for candidate in gc.get_objects():
        if (
            isinstance(candidate, asyncio.AbstractEventLoop)
            and not candidate.is_running()
            and not candidate.is_closed()
        ):
            candidate.close()


@cache
def _close_event_loops_at_exit() -> None:
    """Pulumi's sync helper (pulumi.runtime.sync_await._ensure_event_loop) makes an event loop in each mock-monitor
    thread that registers a resource or answers an invoke, and never closes them. At interpreter exit a loop's
    self-pipe can be finalized before the loop, whose __del__ then prints 'Exception ignored in
    BaseEventLoop.__del__ ... Invalid file descriptor' (seen in about 1 plan in 20). Closing every idle loop at
    exit, while their sockets still exist, prevents it; not sooner, because later mock runs reuse them."""
    atexit.register(close_idle_event_loops)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The mock runtime makes tens of thousands of short-lived objects per hundred resources while everything
    imported stays alive, so the cyclic collector would rescan that heap again and again: half of a 50-team plan's
    time (bench/plan_benchmark.py). It is paused for the run, a few seconds at most, with the imported heap frozen
    out of it (gc.freeze, Python's gc module documentation); reference counting still frees almost everything as it
    goes. At the end what the run left is moved straight into the oldest generation (freeze, then unfreeze) rather
    than scanned at once by the next young collection, which took a quarter of a 50-team plan; a later full
    collection frees its cycles."""
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


# The SDK's private function that without_stack_traces replaces during a mock run (pulumi/runtime/resource.py).
STACK_TRACE_FUNCTION = "_get_stack_trace"


def empty_stack_trace() -> Callable[[], Any] | None:
    """What the SDK's _get_stack_trace returns when it finds no user frame (an empty source_pb2.StackTrace), or None
    when this SDK has no such type: then nothing is replaced."""
    try:
        from pulumi.runtime.proto import source_pb2
    except ImportError:
        return None
    return getattr(source_pb2, "StackTrace", None)


@contextlib.contextmanager
def without_stack_traces() -> Iterator[None]:
    """Pulumi extracts the Python stack of every resource it registers (pulumi/runtime/resource.py
    `_get_stack_trace`) for the engine's diagnostics; the mock monitor never reads it (MockMonitor.RegisterResource
    in pulumi/runtime/mocks.py). During a mock run it is an empty trace, the value the SDK itself sends when it finds
    no user frame. Measured with farm-bench (whole `nfbatch plan` processes, paired runs): without this, a dev plan
    takes as long (within 1.5 %), 50 teams 6.5 % longer and 200 teams 8.7 %. The name is private, so when an SDK
    has no such function (or no StackTrace type) the run goes on with the SDK's own traces;
    tests/test_plan.py fails loudly on that SDK, so the loss is seen."""
    saved = getattr(pulumi_resource, STACK_TRACE_FUNCTION, None)
    empty = empty_stack_trace()
    if not callable(saved) or empty is None:
        yield
        return
    setattr(pulumi_resource, STACK_TRACE_FUNCTION, empty)
    try:
        yield
    finally:
        setattr(pulumi_resource, STACK_TRACE_FUNCTION, saved)


def run_program(
    main: Path, mocks: RecordingMocks, stack: str, config: dict[str, str], secret_keys: list[str] | None = None
) -> dict[str, Any]:
    """Run `main` (fresh, via runpy) under the mocks; return its resolved stack outputs."""
    start(mocks, stack, config, secret_keys)
    project_dir = str(main.parent)
    if project_dir not in sys.path:
        sys.path.insert(0, project_dir)

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(main), run_name="__main__")

    with fewer_collections(), without_stack_traces():
        program()
        _close_event_loops_at_exit()
        root = pulumi_settings.get_root_resource()
        if not isinstance(root, Stack):  # set_mocks makes a fresh one (pulumi/runtime/mocks.py, set_mocks)
            raise RuntimeError(f"the mock run left no root stack resource (found {root!r})")
        return {k: resolve(v) for k, v in root.outputs.items()}
