"""The GitHub workflows: valid against GitHub's workflow schema (check-jsonschema ships it), and doing what the
docs promise (docs/review.md, Pull-request workflow): tests, every stack planned against the base in one comment of
our own, the plans uploaded, a failed check when a protected stack loses data, a guarded preview; dev then approved
prod; every job installing from the hashed lock with the Pulumi CLI of .pulumi.version."""

import json
import shlex
import subprocess

import pytest
import yaml
from conftest import ROOT, tool

from nfbatch import guardrails, pr_comment
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


def step(job: dict, name_starts: str) -> dict:
    [found] = [s for s in job["steps"] if s.get("name", "").startswith(name_starts)]
    return found


def plan_commands(script: str) -> list[list[str]]:
    """Every `nfbatch plan` command of a run script, as words, with the loop's variables filled in."""
    script = script.replace("\\\n", " ").replace('"$stack"', "dev").replace('"$BASE"', "HEAD^1")
    return [shlex.split(line.split(" > ")[0]) for line in script.splitlines() if "-m nfbatch plan" in line]


def test_pull_requests_run_the_tests_and_rerun_when_a_label_changes():
    workflow = load("pull-request.yml")
    # Label changes rerun the check (the default types are opened, synchronize, reopened):
    # https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#onevent_nametypes
    assert {"opened", "synchronize", "reopened", "labeled", "unlabeled"} <= set(workflow["on"]["pull_request"]["types"])
    assert any(s.get("run") == "bash .ci/run" for s in workflow["jobs"]["test"]["steps"])
    assert workflow["permissions"] == {"contents": "read"}  # each job asks for what it needs


def test_every_stack_file_is_planned_against_the_base_it_was_merged_into():
    job = load("pull-request.yml")["jobs"]["plan"]
    # The checkout is the merge commit (GITHUB_SHA of pull_request: "the last merge commit of the pull request merge
    # branch", docs.github.com/actions events-that-trigger-workflows#pull_request): its first parent is the base it
    # was merged into, unlike origin/<base>, which moves on. fetch-depth 2 brings the parents (actions/checkout
    # README, "Checkout HEAD^"); the token stays out of .git/config while the PR's code runs (persist-credentials).
    [checkout] = steps_using(job, "actions/checkout@")
    assert checkout["with"]["fetch-depth"] >= 2 and checkout["with"]["persist-credentials"] is False
    assert job["env"]["BASE"] == "HEAD^1"
    script = step(job, "Plan every stack file")["run"]
    assert "for file in Pulumi.*.yaml; do" in script
    commands = plan_commands(script)
    assert {c[c.index("--format") + 1] for c in commands} == {"json", "markdown"}
    for words in commands:  # every flag the workflow passes exists, --base included
        assert words[words.index("--base") + 1] == "HEAD^1"
        build_parser().parse_args(words[words.index("nfbatch") + 1 :])
    assert '> "plans/$stack.json"' in script and '> "plans/$stack.md"' in script  # compose reads the .md beside
    [markdown] = [c for c in commands if "markdown" in c]
    assert "artifact" in markdown[markdown.index("--full-plan-hint") + 1]  # where a cut plan's details are


def test_a_protected_stack_losing_data_fails_the_check_unless_labelled():
    job = load("pull-request.yml")["jobs"]["plan"]
    guard = step(job, "Check that no protected stack loses data")
    assert (
        guard["env"]["ALLOW"]
        == f"${{{{ contains(github.event.pull_request.labels.*.name, '{guardrails.ALLOW_LABEL}') }}}}"
    )
    assert 'nfbatch.guardrails --base "$BASE" "${labelled[@]}" plans/*.json' in guard["run"]
    enforce = step(job, "Fail when a protected stack would lose data")
    assert enforce["if"] == f"steps.{guard['id']}.outputs.status != '0'" and 'exit "$STATUS"' in enforce["run"]
    names = [s.get("name", s.get("uses")) for s in job["steps"]]
    assert names.index(enforce["name"]) > names.index(step(job, "Post the comment")["name"])  # the comment goes first
    no_change = step(job, "With the no-infrastructure-change label")
    assert all("--expect-no-changes" in c for c in plan_commands(no_change["run"]))
    for words in plan_commands(no_change["run"]):
        build_parser().parse_args(words[words.index("nfbatch") + 1 :])


def test_the_plans_are_uploaded_and_posted_as_one_comment_of_our_own():
    job = load("pull-request.yml")["jobs"]["plan"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    [upload] = steps_using(job, "actions/upload-artifact@v4")
    assert upload["with"]["path"] == "plans/" and upload["with"]["overwrite"] is True
    compose = step(job, "Write the comment")
    assert compose["env"]["ARTIFACT_URL"] == f"${{{{ steps.{upload['id']}.outputs.artifact-url }}}}"
    assert "nfbatch.pr_comment compose" in compose["run"] and "GITHUB_STEP_SUMMARY" in compose["run"]
    post = step(job, "Post the comment")
    # Even after a failed plan (below); forks get a read-only token.
    assert post["if"] == "${{ !cancelled() && github.event.pull_request.head.repo.full_name == github.repository }}"
    assert "nfbatch.pr_comment find comments.json" in post["run"]
    assert "--method PATCH" in post["run"] and "--method POST" in post["run"]
    assert "gh pr comment" not in post["run"]  # --edit-last edits whatever the bot posted last: pulumi/actions' too


def run_step(tmp_path, name: str, **env: str) -> subprocess.CompletedProcess:
    """A plan-job step's own shell (GitHub's `bash -e`), in tmp_path, with a stand-in `gh` that records its calls in
    tmp_path/calls and serves tmp_path/served.json as the comments. The step's literal env values are its own."""
    found = step(load("pull-request.yml")["jobs"]["plan"], name)
    script, literal = found["run"], {k: v for k, v in found.get("env", {}).items() if "${{" not in v}
    if not (tmp_path / "venv").exists():
        (tmp_path / "venv").symlink_to(ROOT / "venv")
    fake = tmp_path / "bin" / "gh"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text('#!/bin/sh\necho "$*" >> "$CALLS"\n[ "$2" = --paginate ] && cat "$COMMENTS"\nexit 0\n')
    fake.chmod(0o755)
    (tmp_path / "calls").write_text("")
    base = {"PATH": f"{fake.parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "CALLS": str(tmp_path / "calls")}
    base |= {"COMMENTS": str(tmp_path / "served.json"), "GITHUB_REPOSITORY": "o/r", "PR": "7"}
    environment = base | literal | env
    return subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=environment, capture_output=True, text=True)


THEIRS = {"id": 1, "user": {"login": "github-actions[bot]"}, "body": "#### :tropical_drink: `preview` on p/dev"}
OURS = {"id": 2, "user": {"login": "github-actions[bot]"}, "body": pr_comment.MARKER + "\nold"}


def test_the_comment_script_updates_ours_and_leaves_pulumi_actions_alone(tmp_path):
    (tmp_path / "comment.md").write_text(pr_comment.MARKER + "\nnew")

    def calls(*existing):
        (tmp_path / "served.json").write_text(json.dumps(list(existing)))
        assert run_step(tmp_path, "Post the comment").returncode == 0
        return (tmp_path / "calls").read_text().splitlines()[1:]

    assert calls(THEIRS) == ["api --method POST repos/o/r/issues/7/comments -F body=@comment.md"]
    assert calls(THEIRS, OURS) == ["api --method PATCH repos/o/r/issues/comments/2 -F body=@comment.md"]


@pytest.mark.parametrize("planned", ["failure", "success"])  # the plan failed; the plans could not be composed
def test_a_failed_plan_replaces_our_comment_and_still_fails_the_check(tmp_path, planned):
    job = load("pull-request.yml")["jobs"]["plan"]
    compose, post = step(job, "Write the comment"), step(job, "Post the comment")
    # Without a status function a step's `if` implies success() and is skipped after a failed step:
    # https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/evaluate-expressions-in-workflows-and-actions#status-check-functions
    assert compose["if"].startswith("${{ !cancelled()") and post["if"].startswith("${{ !cancelled()")
    assert compose["env"]["PLANNED"] == f"${{{{ steps.{step(job, 'Plan every stack file')['id']}.outcome }}}}"
    assert compose["env"]["MARKER"] == pr_comment.MARKER  # `find` knows it for ours next time
    (tmp_path / "plans").mkdir()  # a plan that failed left no JSON (or composing it fails)
    summary = tmp_path / "summary.md"
    env = {"PLANNED": planned, "BASE_BRANCH": "main", "ARTIFACT_URL": "", "RUN_URL": "https://x/runs/1"}
    composed = run_step(tmp_path, "Write the comment", GITHUB_STEP_SUMMARY=str(summary), **env)
    # A failed plan step has already failed the job; a compose that fails fails its own step.
    assert (composed.returncode == 0) is (planned == "failure"), composed.stderr
    comment = (tmp_path / "comment.md").read_text()
    assert comment.startswith(pr_comment.MARKER + "\n") and "plan failed: see the log, https://x/runs/1" in comment
    assert summary.read_text() == comment
    (tmp_path / "served.json").write_text(json.dumps([THEIRS, OURS]))
    assert run_step(tmp_path, "Post the comment").returncode == 0
    assert (tmp_path / "calls").read_text().splitlines()[1:] == [
        "api --method PATCH repos/o/r/issues/comments/2 -F body=@comment.md"  # the stale plan is replaced
    ]


def test_the_preview_runs_pulumi_with_the_policy_pack_where_credentials_exist():
    preview = load("pull-request.yml")["jobs"]["preview"]
    [pulumi] = steps_using(preview, "pulumi/actions@")
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policies/guard"
    assert pulumi["with"]["comment-on-pr"] is True
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert "AWS_PREVIEW_ROLE_ARN" in preview["if"]  # only where credentials are configured
    assert steps_using(preview, "aws-actions/configure-aws-credentials@")[0]["with"]["role-to-assume"]
    assert preview["permissions"]["id-token"] == "write"


def jobs_of_every_workflow():
    return [(path.name, name, job) for path in WORKFLOWS for name, job in load(path.name)["jobs"].items()]


@pytest.mark.parametrize(
    ("workflow", "name", "job"), jobs_of_every_workflow(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_job_installs_from_the_lock_and_runs_the_pinned_cli(workflow, name, job):
    runs = [s["run"] for s in job["steps"] if "run" in s]
    installs = [r for r in runs if "pip install" in r]
    assert all("--require-hashes" in r and "-r requirements.txt" in r for r in installs), installs
    uses_venv = any("venv/" in r for r in runs) or steps_using(job, "pulumi/actions@")
    assert not uses_venv or installs or "bash .ci/run" in runs  # .ci/run: tasks.py builds venv/ from the dev lock
    for pulumi in steps_using(job, "pulumi/actions@"):
        # pulumi/actions v6 src/config.ts: pulumi-version-file is read and trimmed; without a pin it installs ^3.
        assert pulumi["with"]["pulumi-version-file"] == ".pulumi.version" and "pulumi-version" not in pulumi["with"]
        assert runs and job["steps"].index(pulumi) > job["steps"].index(next(s for s in job["steps"] if "run" in s))


@pytest.mark.parametrize(
    ("workflow", "name", "job"), jobs_of_every_workflow(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_run_scripts_pass_shellcheck_and_take_inputs_from_env(workflow, name, job, tmp_path):
    for i, s in enumerate(s for s in job["steps"] if "run" in s):
        # Expressions in a script are pasted into it before the shell runs: values go through env instead.
        assert "${{" not in s["run"], s.get("name")
        script = tmp_path / f"{i}.sh"
        script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + s["run"])  # GitHub's bash: bash -e {0}
        result = subprocess.run([tool("shellcheck"), str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


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


def test_deploys_can_build_the_head_image_for_either_architecture():
    # pulumi up builds container/ (components/head_image.py): BuildKit through buildx, and QEMU for linux/arm64 on
    # GitHub's x86_64 runners (docker/setup-qemu-action), both before the Pulumi step.
    jobs = load("deploy.yml")["jobs"]
    for job in ("up-dev", "up-prod"):
        uses = [step.get("uses", "") for step in jobs[job]["steps"]]
        pulumi = next(i for i, u in enumerate(uses) if u.startswith("pulumi/actions@"))
        for action in ("docker/setup-qemu-action@", "docker/setup-buildx-action@"):
            assert any(u.startswith(action) for u in uses[:pulumi]), (job, action)
