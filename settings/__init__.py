"""The stack's settings: one typed, validated model of everything in Pulumi.<stack>.yaml.

limits (what AWS accepts) → model (keys, defaults, reasons) → rules (cross-key checks) → errors (messages) →
load (from the engine's raw config). `load_settings` returns `StackSettings` or raises `SettingsError`.
"""

from settings.errors import SettingsError
from settings.limits import partition_for
from settings.load import load_settings, raw_stack_config
from settings.model import DEFAULT_INSTANCE_TYPES, DEFAULT_NEXTFLOW_VERSION, StackSettings

__all__ = ["DEFAULT_INSTANCE_TYPES", "DEFAULT_NEXTFLOW_VERSION", "SettingsError", "StackSettings", "load_settings",
           "partition_for", "raw_stack_config"]
