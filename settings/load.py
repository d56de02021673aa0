"""Reading a stack's config: raw values as the Pulumi engine hands them over, validated into `StackSettings`.

Every problem is collected and reported at once; nothing is declared while any remains.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from facts.contract import PROJECT
from facts.limits import ACCOUNT_ID, aws_regions
from settings.errors import MISSING, SettingsError, allowed_for, fix_for, location_path, problem, show
from settings.model import TOP_LEVEL, StackSettings
from settings.rules import cross_key_problems

# Namespaces a stack file may hold besides the project's own (the provider, Pulumi's own settings).
OTHER_NAMESPACES = ("aws", "pulumi")


def _squash(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def _namespace_problems(raw: Mapping[str, Any]) -> list[str]:
    """Keys whose namespace is a near miss of the project's: the program would ignore them and deploy defaults."""
    problems = []
    for key in raw:
        namespace, _, name = key.partition(":")
        if namespace == PROJECT or namespace in OTHER_NAMESPACES:
            continue
        if _squash(namespace) == _squash(PROJECT) or difflib.get_close_matches(
            namespace.lower(), [PROJECT], cutoff=0.8
        ):
            problems.append(
                f"{key}: unknown namespace '{namespace}' (did you mean '{PROJECT}:{name}'?); only "
                f"{PROJECT}:* keys are read, so this setting would be ignored and its defaults deployed"
            )
    return problems


def _parse(value: Any) -> Any:
    """Pulumi hands structured config over as JSON text and scalars as plain strings."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, (dict, list)):
            return parsed
    return value


def _project_sections(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The `genomics-batch:*` values by top-level key, and the problems with unknown keys."""
    data, problems = {}, []
    for key, value in raw.items():
        namespace, _, name = key.partition(":")
        if namespace != PROJECT:
            continue
        if name not in TOP_LEVEL:
            close = difflib.get_close_matches(name, list(TOP_LEVEL), n=1)
            hint = f" (did you mean '{PROJECT}:{close[0]}'?)" if close else ""
            problems.append(
                f"{key}: unknown key{hint}; allowed keys: " + ", ".join(f"{PROJECT}:{k}" for k in TOP_LEVEL)
            )
            continue
        data[name] = _parse(value)
    return data, problems


def _region_problems(region: Any) -> list[str]:
    if not region:
        return ["aws:region: is required: the AWS region to deploy to, such as us-east-1"]
    if str(region) not in aws_regions():
        close = difflib.get_close_matches(str(region), sorted(aws_regions()), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return [
            f"aws:region = {show(str(region))}: not an AWS region{hint}; a region name such as us-east-1 or eu-west-1"
        ]
    return []


ALLOWED_ACCOUNTS = "aws:allowedAccountIds"


def _allowed_accounts(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The provider's aws:allowedAccountIds as the model takes it ({} when unset), and its problems."""
    if raw.get(ALLOWED_ACCOUNTS) is None:
        return {}, []
    value = _parse(raw[ALLOWED_ACCOUNTS])
    if isinstance(value, list) and value and all(isinstance(v, str) and ACCOUNT_ID.fullmatch(v) for v in value):
        return {"allowedAccountIds": value}, []
    return {}, [
        f"{ALLOWED_ACCOUNTS} = {show(value)}: must be a list of 12-digit AWS account ids, each quoted, such "
        'as ["111122223333"] (YAML reads a bare number and drops a leading 0)'
    ]


def _section_problems(name: str, value: Any) -> list[str]:
    model = TOP_LEVEL[name]
    if not issubclass(model, BaseModel):  # tags: a plain map
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            return [problem(name, value, "must be a map of tag names to string values")]
        return []
    if not isinstance(value, dict):
        return [problem(name, value, "must be a map of settings (a YAML object)")]
    try:
        model.model_validate(value)
    except ValidationError as exc:
        return [
            problem(
                location_path(name, tuple(err["loc"])),
                err.get("input", MISSING) if err["type"] != "missing" else MISSING,
                allowed_for(model, tuple(err["loc"]), err),
            )
            for err in exc.errors()
        ]
    return []


def load_settings(raw: Mapping[str, Any], stack: str) -> StackSettings:
    """Validate raw stack config (keys like `genomics-batch:compute`, values as Pulumi stores them).

    Raises SettingsError naming every bad key path, its value and what is allowed.
    """
    data, problems = _project_sections(raw)
    problems = _namespace_problems(raw) + problems
    region = raw.get("aws:region")
    problems += _region_problems(region)
    accounts, account_problems = _allowed_accounts(raw)
    problems += account_problems
    for name, value in data.items():
        problems += _section_problems(name, value)
    if problems:
        raise SettingsError(problems, fix_for(problems[0], StackSettings, stack))
    settings = StackSettings.model_validate({"stack": stack, "region": region, **accounts, **data})
    cross = [problem(path, value, allowed) for path, value, allowed in cross_key_problems(settings)]
    if cross:
        raise SettingsError(cross, fix_for(cross[0], StackSettings, stack))
    return settings


# The keys the settings read, for an SDK that cannot list its in-process config (raw_stack_config).
KNOWN_KEYS = (*(f"{PROJECT}:{name}" for name in TOP_LEVEL), "aws:region", ALLOWED_ACCOUNTS)


def raw_stack_config() -> dict[str, Any]:
    """Every config value the engine handed this program. The Pulumi CLI passes them as JSON in PULUMI_CONFIG
    ("The runtime expects the config object to be saved to this environment variable": pulumi/pulumi
    sdk/python/cmd/pulumi-language-python/main.go), read by the public pulumi.runtime.get_config_env. A run in this
    process (the mocks of `nfbatch plan` and the tests, the automation API's inline programs) sets them with
    pulumi.runtime.set_all_config, and no public call lists those: they are read from the SDK's
    pulumi.runtime.config.CONFIG. On an SDK without that name, the known keys are read one by one with the public
    pulumi.runtime.get_config, so a run still works; only a misspelt key then goes unreported in-process (`nfbatch
    plan` reads the stack file itself and reports it). tests/test_settings.py fails loudly on such an SDK."""
    import contextvars

    from pulumi import runtime

    in_process = getattr(getattr(runtime, "config", None), "CONFIG", None)
    if isinstance(in_process, contextvars.ContextVar):
        return {**runtime.get_config_env(), **in_process.get()}
    return {
        **runtime.get_config_env(),
        **{key: value for key in KNOWN_KEYS if (value := runtime.get_config(key)) is not None},
    }
