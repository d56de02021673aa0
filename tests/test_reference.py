"""Documentation generated from the model: the configuration reference's table and outputs list
(docs/configuration.md), the stack-file JSON Schema, and that the schema and the program agree on what is valid."""

import json
import re
import subprocess

import jsonschema
import pytest
import yaml
from conftest import ROOT, tool

from facts.contract import EXPORTS
from settings import SettingsError, load_settings
from settings.reference import (
    CONFIGURATION_PATH,
    SCHEMA_PATH,
    config_rows,
    configuration_text,
    replace_section,
    schema_text,
    stack_file_schema,
)

REFRESH = "refresh with `venv/bin/python -m settings.reference --write`"


def test_configuration_table_and_outputs_list_are_current():
    page = CONFIGURATION_PATH.read_text()
    assert CONFIGURATION_PATH == ROOT / "docs" / "configuration.md"
    assert configuration_text(page) == page, REFRESH


def test_refreshing_rewrites_only_the_generated_sections():
    page = CONFIGURATION_PATH.read_text()
    stale = replace_section(page, "config-reference", "| key |\n")
    assert stale != page
    assert configuration_text(stale) == page
    with pytest.raises(ValueError, match=re.escape("docs/configuration.md has no generated section 'outputs'")):
        replace_section("# no markers here\n", "outputs", "- `region`\n")


def test_write_refreshes_the_configuration_page_and_the_schema(tmp_path, monkeypatch):
    from settings import reference

    page, schema = tmp_path / "configuration.md", tmp_path / "schema" / "stack.json"
    page.write_text(replace_section(CONFIGURATION_PATH.read_text(), "outputs", "- stale\n"))
    monkeypatch.setattr(reference, "CONFIGURATION_PATH", page)
    monkeypatch.setattr(reference, "SCHEMA_PATH", schema)
    readme = (ROOT / "README.md").read_text()
    assert reference.main(["--write"]) == 0
    assert page.read_text() == CONFIGURATION_PATH.read_text()
    assert schema.read_text() == schema_text()
    assert (ROOT / "README.md").read_text() == readme


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
    page = CONFIGURATION_PATH.read_text()
    assert all(f"- `{e.name}`: {e.description}" in page for e in EXPORTS)


def test_the_readme_no_longer_carries_a_generated_section():
    # One copy of the reference: the README links to docs/configuration.md instead of repeating it.
    readme = (ROOT / "README.md").read_text()
    assert "BEGIN GENERATED" not in readme
    assert "docs/configuration.md" in readme


def validate(config: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(stack_file_schema())
    return [e.message for e in validator.iter_errors({"config": config})]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_both_presets_validate_with_check_jsonschema(stack):
    result = subprocess.run(
        [tool("check-jsonschema"), "--schemafile", str(SCHEMA_PATH), str(ROOT / f"Pulumi.{stack}.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
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
    assert (
        validate(
            {
                "aws:region": "eu-west-1",
                "aws:profile": "lab",
                "other-project:key": 1,
                "genomics-batch:tags": {"secure": "AAABAKc="},
            }
        )
        == []
    )
    assert validate({"aws:region": "eu-west-1", "genomics-batch:tags": {"secure": 5}})
