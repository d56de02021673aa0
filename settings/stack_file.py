"""Reading a `Pulumi.<stack>.yaml` strictly, as the Pulumi CLI reads it: UTF-8, valid YAML, a mapping with a
`config:` mapping of namespaced string keys, and no key given twice (Pulumi's YAML reader refuses duplicates too).

Used by `nfbatch plan`; under `pulumi up` the CLI has read the file already and the program sees only its values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from facts.contract import PROJECT

# The top-level keys of a stack file the Pulumi CLI knows (stack settings, secrets, ESC environments).
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")


class StackFileError(ValueError):
    """A stack file that cannot be read; the message names the file, the place and what is allowed."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, naming both lines."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise StackFileError(
                    f"line {line}: key {key!r} is given twice (first on line {seen[key]}); Pulumi "
                    "refuses duplicate keys, so keep one"
                )
            if isinstance(key, (dict, list)):
                raise StackFileError(f"line {line}: a key must be a plain value, not a {type(key).__name__}")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _document(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StackFileError(
            f"is not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}); save it as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise StackFileError(f"is not valid YAML: {where}{error.problem}") from None


def _config_keys(config: dict) -> None:
    for key in config:
        if not isinstance(key, str):
            raise StackFileError(f"config key {key!r} must be a string such as {PROJECT}:network")
        if ":" not in key:
            raise StackFileError(
                f"config key {key!r} has no namespace; Pulumi stack files name every key with one "
                f"(did you mean '{PROJECT}:{key}'?)"
            )


def parse_stack_file(raw: bytes) -> dict[str, Any]:
    """The `config:` mapping of a stack file's bytes, or StackFileError saying what is wrong and where."""
    document = _document(raw)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(f"must be a mapping with a `config:` key, not a {type(document).__name__}")
    stray = [k for k in document if k not in STACK_FILE_KEYS]
    if stray and any(isinstance(k, str) and ":" in k for k in stray):
        raise StackFileError(f"keys such as {stray[0]!r} belong under `config:` (indent them below a line `config:`)")
    if stray:
        raise StackFileError(f"unknown top-level key {stray[0]!r}; a stack file has only " + ", ".join(STACK_FILE_KEYS))
    config = document.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StackFileError(f"`config:` must be a mapping of keys to values, not a {type(config).__name__}")
    _config_keys(config)
    return config


def read_stack_config(path: Path) -> dict[str, Any]:
    """The `config:` mapping of the stack file at `path`; StackFileError names the file."""
    try:
        return parse_stack_file(path.read_bytes())
    except StackFileError as error:
        raise StackFileError(f"{path.name} {error}") from None
