"""How a bad setting is reported: `genomics-batch:<key path> = <value>: <what is allowed>`, one line per problem.

Turns pydantic's errors into those lines, using the model's own bounds, literals and known keys.
"""

from __future__ import annotations

import difflib
import json
import unicodedata
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, RootModel
from pydantic_core import ErrorDetails

from facts.contract import PROJECT


class SettingsError(ValueError):
    """Stack config that cannot be deployed; the message lists every problem, one per line, and ends with the
    exact command that mends the first."""

    def __init__(self, problems: list[str], fix: str | None = None):
        self.problems = problems
        self.fix = fix
        self.summary = "\n".join(["invalid stack configuration:", *(f"  - {p}" for p in problems)])
        super().__init__(self.summary + (f"\nfix: {fix}" if fix else ""))


# Marks a problem about a key that is absent, so no value is shown.
MISSING = object()


def printable(text: str) -> str:
    """`text` as it may stand in an error line: escaped in JSON (quoted, "\\n", "\\u202e") when it holds a control,
    format or line-separator character, which printed raw could start a forged line or reorder the text."""
    unsafe = any(unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp") for c in text)
    return json.dumps(text) if unsafe else text


def show(value: Any) -> str:
    """A value for an error line. Long values are cut, except ARNs: their end (a role's name) is what tells them
    apart, and IAM's are at most 2,048 characters (botocore's IAM model, arnType)."""
    text = json.dumps(value) if not isinstance(value, str) else printable(value)
    whole = isinstance(value, str) and value.startswith("arn:") and len(value) <= 2048
    return text if len(text) <= 80 or whole else text[:77] + "..."


def problem(path: str, value: Any, allowed: str) -> str:
    """One problem line for a key path below the project namespace (`compute.spot.maxVcpus`)."""
    key = printable(f"{PROJECT}:{path}")
    return f"{key}: {allowed}" if value is MISSING else f"{key} = {show(value)}: {allowed}"


def location_path(top: str, loc: tuple) -> str:
    """`top` plus a pydantic error location as a key path: ("spot", "maxVcpus") -> compute.spot.maxVcpus. A bad
    mapping key (pydantic's ("genomics-core", "[key]")) is the path of that entry: teams.genomics-core."""
    if loc and loc[-1] == "[key]":
        loc = (*loc[:-2], str(loc[-2]))
    path = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    return top + (f".{path}" if path else "")


def unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is not None and get_origin(annotation) is not Literal:
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[0] if args else None
    return annotation


def inner_type(annotation: Any) -> Any:
    """The type under Annotated, Optional and RootModel wrappers (a dict or list type stays as it is)."""
    while True:
        if isinstance(annotation, type) and issubclass(annotation, RootModel):
            annotation = annotation.model_fields["root"].annotation
        elif get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation


def _walk(model: type, loc: tuple) -> tuple[Any, Any]:
    """The pydantic FieldInfo an error location (in aliases) points at, or None, and the type found there."""
    field, current = None, inner_type(model)
    for part in loc:
        if get_origin(current) is dict:  # a key of a mapping, such as a team's name
            current = inner_type(get_args(current)[1])
        elif get_origin(current) is list:
            current = inner_type(get_args(current)[0])
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return None, None
            current = inner_type(field.annotation)
    return field, current


def _field_at(model: type, loc: tuple) -> Any:
    return _walk(model, loc)[0]


def _unknown_key(model: type, loc: tuple) -> str:
    parent = _walk(model, loc[:-1])[1]
    known = sorted(f.alias or n for n, f in parent.model_fields.items())
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key{hint}; allowed keys: {', '.join(known)}"


def _command_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _config(verb: str, stack: str | None) -> str:
    """`pulumi config <verb>` for the stack the problem is in (`--stack`, which every config subcommand takes:
    pulumi.com/docs/iac/cli/commands/pulumi_config_set, "-s, --stack string The name of the stack to operate on")."""
    return f"pulumi config {verb}" + (f" --stack {stack}" if stack else "")


def fix_for(problem_line: str, model: type, stack: str | None = None) -> str:
    """The `pulumi config` command that mends one problem in `stack`: back to the default where there is one."""
    key = problem_line.split(" = ", 1)[0].split(": ", 1)[0]
    namespace, _, path = key.partition(":")
    rm, set_ = _config("rm", stack), _config("set", stack)
    if namespace == "aws" and path == "allowedAccountIds":
        return f'list your account ids quoted in the stack file, {key}: ["111122223333"], or `{rm} {key}`'
    if namespace == "aws":
        return f"{set_} aws:region us-east-1 (or the region where your data lives)"
    if namespace != PROJECT:
        return f"{rm} '{key}', then set it as '{PROJECT}:{path}'"
    if "unknown key" in problem_line:
        return f"{rm} --path '{key}'"
    renamed = _rename_fix(key, path, problem_line, stack)
    if renamed:
        return renamed
    field = _field_at(model, tuple(p for p in path.split(".") if "[" not in p)) if "[" not in path else None
    default = field.get_default(call_default_factory=True) if field is not None and not field.is_required() else None
    if isinstance(default, (bool, int, str)):
        return f"{set_} --path '{key}' {_command_value(default)} (the default), or another allowed value"
    return f"{set_} --path '{key}' <an allowed value>, or `{rm} --path '{key}'` for the default"


# Problems mended by renaming a key, not by a new value: a team's name, and a user tag key that is the program's own
# or one IAM would take for another (settings/rules.py, _tags).
RENAME_KEY = ("is not a team name", "which the program sets itself", "only in case", "tag keys must be")


def _rename_fix(key: str, path: str, problem_line: str, stack: str | None = None) -> str | None:
    section, _, name = path.partition(".")
    if section not in ("teams", "tags") or not name or not any(p in problem_line for p in RENAME_KEY):
        return None
    rm, set_ = _config("rm", stack), _config("set", stack)
    if section == "teams":
        return (
            f"rename the team '{name}' in the stack file's {PROJECT}:teams (or `{rm} --path '{key}'` "
            "and set its settings again under the new name)"
        )
    return (
        f"rename the tag key: `{rm} --path '{key}'`, then `{set_} --path "
        f"'{PROJECT}:tags.<another key>' <the same value>`"
    )


def allowed_for(model: type, loc: tuple, error: ErrorDetails) -> str:
    """What is allowed at `loc`, in words, for one pydantic error."""
    kind = error["type"]
    field = _field_at(model, loc)
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"} and field is not None:
        bounds = {type(m).__name__: m for m in field.metadata}
        low = getattr(bounds.get("Ge"), "ge", None)
        high = getattr(bounds.get("Le"), "le", None)
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
    if kind == "literal_error":
        return "must be one of " + error["ctx"]["expected"].replace("'", "")
    if kind == "extra_forbidden":
        return _unknown_key(model, loc)
    if kind == "missing":
        return "is required"
    extra = field.json_schema_extra if field is not None and isinstance(field.json_schema_extra, dict) else {}
    if kind == "string_pattern_mismatch" and extra.get("allowed"):
        return f"must be {extra['allowed']}"  # in words, not the pattern
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message[0].lower() + message[1:]
