"""Documentation generated from the model: README table and outputs list, the stack-file JSON Schema, and that the
schema and the program agree on what is valid."""

import json
import subprocess

import jsonschema
import pytest
import yaml
from conftest import ROOT, tool

from facts.contract import EXPORTS
from settings import SettingsError, load_settings
from settings.reference import SCHEMA_PATH, config_rows, readme_text, schema_text, stack_file_schema

REFRESH = "refresh with `venv/bin/python -m settings.reference --write`"


def test_readme_configuration_table_and_outputs_list_are_current():
    readme = (ROOT / "README.md").read_text()
    assert readme_text(readme) == readme, REFRESH


def test_committed_schema_is_current():
    assert SCHEMA_PATH.read_text() == schema_text(), REFRESH


def test_every_setting_has_a_default_reason_and_appears_once():
    rows = config_rows()
    keys = [key for key, *_ in rows]
    assert len(keys) == len(set(keys)) > 40
    assert all(why for *_, why in rows), [key for key, *_, why in rows if not why]
    table = dict((key, (default, allowed)) for key, default, allowed, _ in rows)
    # Spot checks that the table reads the model, not a copy of it.
    assert table["compute.spot.bidPercentage"] == ("`100`", "1–100")
    assert table["network.egress"][1] == "`public`, `nat-single`, `nat-per-az`"
    assert table["aws:region"][0] == "— (required)"


def test_outputs_list_names_every_export():
    readme = (ROOT / "README.md").read_text()
    assert all(f"- `{e.name}`: {e.description}" in readme for e in EXPORTS)


def validate(config: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(stack_file_schema())
    return [e.message for e in validator.iter_errors({"config": config})]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_both_presets_validate_with_check_jsonschema(stack):
    result = subprocess.run([tool("check-jsonschema"), "--schemafile", str(SCHEMA_PATH),
                             str(ROOT / f"Pulumi.{stack}.yaml")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert validate(config) == []


# Each bad config is refused by the schema and by the program, with the same key named.
BAD = [
    ({"genomics-batch:compute": {"spot": {"bidPercentage": 140}}}, "140 is greater than the maximum of 100"),
    ({"genomics-batch:network": {"egress": "nat"}}, "'nat' is not one of"),
    ({"genomics-batch:network": {"azCount": 1}}, "1 is less than the minimum of 2"),
    ({"genomics-batch:netwrk": {"mode": "create"}}, "'genomics-batch:netwrk' is not valid"),
    ({"genomics-batch:headJob": {"logRetentionDays": 42}}, "42 is not one of"),
    ({"genomics-batch:headJob": {"memoryMib": "lots"}}, "'lots' is not of type 'integer'"),
    ({"genomics-batch:bucket": {"versioning": 3}}, "3 is not of type 'boolean'"),
    ({"genomics-batch:launchTemplate": {"rootVolume": {"sizeGb": 100}}}, "Additional properties are not allowed"),
    ({"genomics-batch:tags": {"Owner": 7}}, "7 is not of type 'string'"),
    ({"genomics-batch:compute": {"instanceTypes": []}}, "[] should be non-empty"),
]


@pytest.mark.parametrize(("config", "message"), BAD)
def test_schema_and_program_refuse_the_same_bad_values(config, message):
    full = {"aws:region": "us-east-1", **config}
    assert any(message in m for m in validate(full)), validate(full)
    with pytest.raises(SettingsError):
        load_settings({k: v if isinstance(v, str) else json.dumps(v) for k, v in full.items()}, "test")


def test_schema_requires_the_region_and_lets_other_namespaces_and_secrets_through():
    assert "'aws:region' is a required property" in validate({})
    assert validate({"aws:region": "eu-west-1", "aws:profile": "lab", "other-project:key": 1,
                     "genomics-batch:tags": {"secure": "AAABAKc="}}) == []
    assert validate({"aws:region": "eu-west-1", "genomics-batch:tags": {"secure": 5}})
