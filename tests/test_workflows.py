"""The GitHub workflows: valid against GitHub's workflow schema (check-jsonschema ships it), and doing what the
docs promise (docs/review.md, Pull-request workflow): tests, the offline plan comment and a guarded preview on
pull requests; dev then approved prod."""

import shlex
import subprocess

import pytest
import yaml
from conftest import ROOT, tool

from nfbatch.cli import build_parser

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def load(name: str) -> dict:
    # YAML reads the `on:` key as True; GitHub reads it as "on".
    document = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    document["on"] = document.pop(True)
    return document


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(action)]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_for_github(workflow):
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    steps: []\n")  # no runs-on
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


def test_pull_requests_run_tests_post_the_plan_and_preview_with_the_policy_pack():
    workflow = load("pull-request.yml")
    assert "pull_request" in workflow["on"]
    jobs = workflow["jobs"]
    assert any(s.get("run") == "bash .ci/run" for s in jobs["test"]["steps"])
    plan_step = next(s for s in jobs["offline-plan"]["steps"] if "nfbatch plan" in s.get("run", ""))
    commands = [line.strip() for line in plan_step["run"].splitlines() if "nfbatch plan" in line]
    assert any("--format markdown" in c and "--diff prod" in c for c in commands)
    for command in commands:  # every flag the workflow passes exists
        words = shlex.split(command)
        build_parser().parse_args(words[words.index("nfbatch") + 1 :])
    assert any("gh pr comment" in s.get("run", "") and "plan.md" in s["run"] for s in jobs["offline-plan"]["steps"])
    preview = jobs["preview"]
    [pulumi] = steps_using(preview, "pulumi/actions@")
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policies/guard"
    assert pulumi["with"]["comment-on-pr"] is True
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert "AWS_PREVIEW_ROLE_ARN" in preview["if"]  # only where credentials are configured
    assert steps_using(preview, "aws-actions/configure-aws-credentials@")[0]["with"]["role-to-assume"]
    assert workflow["permissions"]["id-token"] == "write"


def test_main_deploys_dev_then_prod_behind_an_approval():
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert jobs["up-dev"]["needs"] == "test" and jobs["up-prod"]["needs"] == "up-dev"
    assert jobs["up-prod"]["environment"] == "prod"
    for job, stack in (("up-dev", "dev"), ("up-prod", "prod")):
        [pulumi] = steps_using(jobs[job], "pulumi/actions@")
        assert pulumi["with"]["command"] == "up" and pulumi["with"]["stack-name"].endswith(f"/{stack}")
        assert pulumi["with"]["policyPacks"] == "policies/guard"
    assert workflow["concurrency"]["cancel-in-progress"] is False
