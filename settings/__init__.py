"""The stack's settings: one typed, validated model of everything in Pulumi.<stack>.yaml.

limits (what AWS accepts) → model (keys, defaults, reasons) → rules (cross-key checks) → errors (messages) →
load (from the engine's raw config). `load_settings` returns `StackSettings` or raises `SettingsError`.
The names below load on first use, so `facts.limits` (plain Python) can be imported without pydantic.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "SettingsError": "settings.errors",
    "partition_for": "facts.limits",
    "load_settings": "settings.load",
    "raw_stack_config": "settings.load",
    "DEFAULT_INSTANCE_TYPES": "settings.model",
    "DEFAULT_NEXTFLOW_VERSION": "settings.model",
    "StackSettings": "settings.model",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'settings' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
