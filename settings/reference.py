"""Documentation generated from the model and the contract, so it cannot drift: the configuration reference's table
of settings and list of outputs (docs/configuration.md), and the JSON Schema (draft 2020-12) of a `Pulumi.<stack>.yaml`.

`python -m settings.reference --write` refreshes docs/configuration.md and schema/stack-config.schema.json; the tests
fail while either is stale.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from facts.contract import EXPORTS, PROJECT
from facts.limits import REGION_NAME
from settings.errors import inner_type, unwrap
from settings.model import TOP_LEVEL, StackSettings

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schema" / "stack-config.schema.json"
# The docs page that holds the generated sections, between BEGIN and END markers; the prose around them is written.
CONFIGURATION_PATH = ROOT / "docs" / "configuration.md"
# Settings of the stack model that live in the AWS provider's namespace of the stack file.
PROVIDER_KEYS = {"region": "aws:region", "allowed_account_ids": "aws:allowedAccountIds"}
BEGIN = "<!-- BEGIN GENERATED {name}: python -m settings.reference --write -->"
END = "<!-- END GENERATED {name} -->"


# --- the configuration reference's table --------------------------------------------------------------------------


def _code(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (list, tuple)):
        return f"`{' '.join(map(str, value))}`" if value else "`[]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{json.dumps(value)}`"
    return f"`{value}`"


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "— (required)"
    value = field.get_default(call_default_factory=True)
    return "none" if value is None else _code(value)


def _allowed(field: FieldInfo, annotation: Any) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("allowed"):
        return str(extra["allowed"])
    if get_origin(annotation) is Literal:
        return ", ".join(f"`{v}`" for v in get_args(annotation))
    bounds = {type(m).__name__: m for m in field.metadata}
    if "Ge" in bounds and "Le" in bounds:
        return f"{bounds['Ge'].ge}–{bounds['Le'].le}"
    if annotation is bool:
        return "`true` or `false`"
    return ""


def config_rows(model: type[BaseModel] = StackSettings, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, default, allowed, why) for every leaf setting, in model order."""
    rows = []
    for name, field in model.model_fields.items():
        if model is StackSettings and name == "stack":
            continue  # the stack's name, not a setting
        key = (
            PROVIDER_KEYS.get(name, prefix + (field.alias or name))
            if model is StackSettings
            else prefix + (field.alias or name)
        )
        annotation = unwrap(field.annotation)
        mapped = inner_type(field.annotation)
        if get_origin(mapped) is dict and issubclass(inner_type(get_args(mapped)[1]), BaseModel):
            # A map of named entries (teams): the entry itself, then each of its settings under <name>.
            rows.append((key, _default(field), _allowed(field, annotation), field.description or ""))
            rows += config_rows(inner_type(get_args(mapped)[1]), f"{key}.<name>.")
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += config_rows(annotation, f"{key}.")
        else:
            rows.append((key, _default(field), _allowed(field, annotation), field.description or ""))
    return rows


def config_table() -> str:
    lines = ["| key | default | allowed | why this default |", "|---|---|---|---|"]
    lines += [f"| `{key}` | {default} | {allowed} | {why} |" for key, default, allowed, why in config_rows()]
    return "\n".join(lines) + "\n"


def outputs_list() -> str:
    return "\n".join(f"- `{e.name}`: {e.description}" for e in EXPORTS) + "\n"


# --- the JSON Schema of a stack file ------------------------------------------------------------------------------


def stack_file_schema() -> dict:
    """A whole `Pulumi.<stack>.yaml`: its `config:` mapping with `aws:region` and every `genomics-batch:*` key.

    Keys of other namespaces (`aws:profile`, other providers) pass; an unknown `genomics-batch:` key does not. Any
    top-level setting may instead be an encrypted value (`secure: ...`).
    """
    model = StackSettings.model_json_schema(by_alias=True)
    defs = model.pop("$defs")
    defs["SecureValue"] = {
        "type": "object",
        "properties": {"secure": {"type": "string"}},
        "required": ["secure"],
        "additionalProperties": False,
        "description": "an encrypted value (pulumi config set --secret)",
    }
    region = model["properties"]["region"]
    config = {
        "aws:region": {**region, "type": "string", "pattern": f"^{REGION_NAME.pattern}$"},
        "aws:allowedAccountIds": model["properties"]["allowedAccountIds"],
    }
    for key in TOP_LEVEL:
        # No setting is named `secure`, so an object holding that key is an encrypted value, never a setting.
        config[f"{PROJECT}:{key}"] = {
            "if": {"type": "object", "required": ["secure"]},
            "then": {"$ref": "#/$defs/SecureValue"},
            "else": model["properties"][key],
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{PROJECT} stack file (Pulumi.<stack>.yaml)",
        "type": "object",
        "required": ["config"],
        "properties": {
            "config": {
                "type": "object",
                "required": ["aws:region"],
                "properties": config,
                "propertyNames": {"anyOf": [{"enum": sorted(config)}, {"not": {"pattern": f"^{PROJECT}:"}}]},
            }
        },
        "$defs": defs,
    }


def schema_text() -> str:
    return json.dumps(stack_file_schema(), indent=2) + "\n"


# --- refreshing the files -----------------------------------------------------------------------------------------


def replace_section(text: str, name: str, body: str) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.S)
    if not pattern.search(text):
        page = CONFIGURATION_PATH.relative_to(ROOT)
        raise ValueError(f"{page} has no generated section {name!r} ({begin} ... {end})")
    return pattern.sub(lambda _: f"{begin}\n{body}{end}", text)


def configuration_text(current: str) -> str:
    """The configuration reference page `current` with its generated sections refreshed, the rest untouched."""
    text = replace_section(current, "config-reference", config_table())
    return replace_section(text, "outputs", outputs_list())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="refresh docs/configuration.md and the schema file")
    args = parser.parse_args(argv)
    if not args.write:
        sys.stdout.write(config_table())
        return 0
    CONFIGURATION_PATH.write_text(configuration_text(CONFIGURATION_PATH.read_text()))
    SCHEMA_PATH.parent.mkdir(exist_ok=True)
    SCHEMA_PATH.write_text(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
