"""`nfbatch plan --base REF`: a change planned against a git ref (its code and its stack file) in a repository the
test builds, `--expect-no-changes`, and markdown that fits a pull-request comment whatever the stack."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest
import yaml
from conftest import ROOT

from components.head_image import content_tag
from nfbatch.cli import main
from nfbatch.markdown import COMMENT_LIMIT, Section, fit
from nfbatch.plan import build_plan, compare, render, render_comparison
from nfbatch.plan_base import compare_with_base, resolve, unpack

# What a project checkout holds that the plan needs; the rest (tests, docs, caches, the venv) stays behind.
LEFT_BEHIND = shutil.ignore_patterns(
    "venv", ".venv", ".git", "tests", "docs", "bench", "site", "__pycache__", "*.egg-info", ".*_cache"
)
# The 25 teams of the done-when line: every fifth capped with a budget (only a capped team may have one).
TEAMS = {
    f"team{i:02d}": {
        "weight": 1 + i % 3,
        **({"maxVcpus": 8, "monthlyBudgetUsd": 500, "budgetEmails": [f"lead-{i}@lab.org"]} if i % 5 == 4 else {}),
        "principals": [f"arn:aws:iam::123456789012:role/team{i:02d}-runner"],
    }
    for i in range(25)
}


def git(repo, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def edit_stack(repo, stack: str = "dev", **sections) -> None:
    """Replace top-level settings of the repository's stack file (None removes one)."""
    path = repo / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    for key, value in sections.items():
        document["config"].pop(f"genomics-batch:{key}", None)
        if value is not None:
            document["config"][f"genomics-batch:{key}"] = value
    path.write_text(yaml.safe_dump(document))


def commit(repo, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path):
    """A git repository holding the project (program, packages, stack files) with one commit, the base."""
    project = tmp_path / "project"
    shutil.copytree(ROOT, project, ignore=LEFT_BEHIND)
    git(project, "init", "-q")
    git(project, "config", "user.email", "ci@example.org")
    git(project, "config", "user.name", "CI")
    commit(project, "base")
    return project


def plan_cli(capsys, repo, *args: str) -> tuple[int, str, str]:
    code = main(["plan", "--stack", "dev", "--project-dir", str(repo), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_first_team_and_a_raised_cap_show_replacements_first_and_the_cap_in_the_details(repo, capsys):
    # The done-when line of issue 18: a commit that adds a first team and raises a cap, planned with --base HEAD~1.
    edit_stack(
        repo, teams={"genomicscore": {"weight": 2}}, compute={"spot": {"maxVcpus": 128}, "onDemand": {"maxVcpus": 16}}
    )
    commit(repo, "a first team, and a higher spot cap")
    code, out, _ = plan_cli(capsys, repo, "--base", "HEAD~1", "--format", "markdown")
    assert code == 0 and len(out) < COMMENT_LIMIT
    summary, details = out.split("<details>", 1)
    # Pulumi's words first (pulumi/pulumi pkg/backend/display/diff.go, renderSummaryEvent: "%d to create" ...).
    assert "to create, " in summary.splitlines()[2] and "3 to replace, 0 to delete, " in summary.splitlines()[2]
    # A queue is FIFO or fair-share for life (facts/update_rules.py QUEUE_KIND): the first team replaces all three.
    for queue in ("batch-head", "batch-default", "batch-priority"):
        assert f"**!! REPLACE JobQueue {queue}: schedulingPolicyArn; loses every job queued" in summary
    assert "update in place ComputeEnvironment batch-spot" in summary
    assert "| config genomics-batch:compute.spot.maxVcpus | 64 | 128 |" in details
    assert "| ComputeEnvironment batch-spot computeResources.maxVcpus | 64 | 128 |" in details
    assert plan_cli(capsys, repo, "--base", "HEAD~1", "--expect-no-changes")[0] == 1
    code, out, _ = plan_cli(capsys, repo, "--base", "HEAD", "--expect-no-changes")
    assert code == 0
    unchanged = len(build_plan("dev", repo)["resources"])
    assert out.splitlines()[0].endswith(f": 0 to create, 0 to update, 0 to replace, 0 to delete, {unchanged} unchanged")
    assert out.splitlines()[-1] == "No differences."


def test_the_json_of_a_base_plan_is_what_the_pull_request_check_reads(repo, capsys):
    edit_stack(repo, teams={"genomicscore": {}})
    code, out, _ = plan_cli(capsys, repo, "--base", "HEAD", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["stack"] == "dev"
    assert report["base"] == {"ref": "HEAD", "commit": git(repo, "rev-parse", "HEAD").strip(), "stackFileAtBase": True}
    assert report["stacks"] == ["dev@HEAD", "dev"]
    assert set(report["summary"]) == {"create", "update", "replace", "delete", "unchanged"}
    for change in report["changes"]:
        assert {"action", "type", "name", "parent", "inputs", "because", "note", "holdsData"} <= set(change)
        assert change["action"] in ("create", "update", "replace", "delete")
    queues = [c for c in report["changes"] if c["name"] == "batch-default"]
    assert queues[0]["holdsData"] == "every job queued or running on it" and queues[0]["because"] == [
        "schedulingPolicyArn"
    ]
    assert report["summary"]["replace"] == sum(c["action"] == "replace" for c in report["changes"])
    assert report["costs"]["delta"] == {"idleMonthlyTotal": 0.0, "perInstanceHourTotal": 0.0}


def test_the_base_is_planned_by_its_own_code_not_the_working_trees(repo):
    # The base commit submits at 10 jobs/s; the working tree's code (the fixture's copy of ROOT) at 20. Only a plan
    # that ran the base's facts/contract.py can show the old rate.
    contract = repo / "facts" / "contract.py"
    text = contract.read_text()
    assert "NEXTFLOW_SUBMIT_RATE_PER_SECOND = 20\n" in text
    contract.write_text(
        text.replace("NEXTFLOW_SUBMIT_RATE_PER_SECOND = 20\n", "NEXTFLOW_SUBMIT_RATE_PER_SECOND = 10\n")
    )
    commit(repo, "submit at 10 a second")
    shutil.copy(ROOT / "facts" / "contract.py", contract)
    report, _, _ = compare_with_base("dev", repo, "HEAD")
    config = next(r for r in report["differences"] if r["item"] == "nextflow.config")
    assert "submitRateLimit = '10/1s'" in config["dev@HEAD"]
    assert "submitRateLimit = '20/1s'" in config["dev"]
    assert report["changes"] == []  # the rate reaches no resource input, only the generated config
    markdown = render_comparison(report, "markdown")
    assert "<details><summary>nextflow.config</summary>" in markdown
    assert "\n-    submitRateLimit = '10/1s'\n+    submitRateLimit = '20/1s'\n" in markdown  # a unified diff


def test_a_stack_file_absent_at_the_base_is_a_new_stack(repo, capsys):
    shutil.copy(repo / "Pulumi.dev.yaml", repo / "Pulumi.lab.yaml")
    code, out, _ = plan_cli(capsys, repo, "--base", "HEAD", "--format", "json")  # --stack dev: unchanged
    assert code == 0 and json.loads(out)["summary"]["create"] == 0
    code, out, _ = plan_cli(capsys, repo, "--stack", "lab", "--base", "HEAD", "--format", "json")
    report = json.loads(out)
    assert report["base"]["stackFileAtBase"] is False
    planned = build_plan("lab", repo)
    assert report["summary"] == {
        "create": len(planned["resources"]),
        "update": 0,
        "replace": 0,
        "delete": 0,
        "unchanged": 0,
    }
    assert report["costs"]["before"] == {"idleMonthlyTotal": 0.0, "perInstanceHourTotal": 0.0}
    code, out, _ = plan_cli(capsys, repo, "--stack", "lab", "--base", "HEAD", "--format", "markdown")
    assert "a new stack: `Pulumi.lab.yaml` is not at `HEAD`" in out.splitlines()[0]


def test_an_uncommitted_edit_is_the_after_side(repo, capsys):
    # The working tree is what the change makes, committed or not; only the base must be a commit.
    edit_stack(repo, headJob={"memoryMib": 8192, "logRetentionDays": 14})
    code, out, _ = plan_cli(capsys, repo, "--base", "HEAD", "--expect-no-changes")
    assert code == 1
    assert "update in place JobDefinition nextflow-definition" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "no-such-branch"], "--base no-such-branch: no such commit in "),
        (["--base", "HEAD~5"], "--base HEAD~5: no such commit in "),
        (["--base=--upload-pack=touch"], "not a git ref"),
        (["--expect-no-changes"], "--expect-no-changes compares two plans: it needs --base REF or --diff"),
    ],
)
def test_bad_base_input_is_a_clear_error(repo, capsys, args, message):
    code, out, err = plan_cli(capsys, repo, *args)
    assert code == 2 and out == ""
    assert message in err and "fix: " in err


def test_no_repository_or_no_git_is_a_clear_error(repo, tmp_path, capsys, monkeypatch):
    shutil.rmtree(repo / ".git")
    code, _, err = plan_cli(capsys, repo, "--base", "HEAD")
    assert code == 2 and "is not in a git repository" in err
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err = plan_cli(capsys, repo, "--base", "HEAD")
    assert code == 2 and "git is not on PATH" in err


def test_a_base_without_the_plan_code_is_a_clear_error(repo, capsys):
    # Planned by the installed nfbatch instead, it would mix today's tool with the old program: refused.
    git(repo, "rm", "-q", "nfbatch/plan.py")
    commit(repo, "no plan")
    shutil.copy(ROOT / "nfbatch" / "plan.py", repo / "nfbatch" / "plan.py")
    code, _, err = plan_cli(capsys, repo, "--base", "HEAD")
    assert code == 2 and "the tree at HEAD has no nfbatch/plan.py to plan itself with" in err


def test_base_and_diff_together_are_refused_by_the_parser(repo):
    with pytest.raises(SystemExit) as refused:
        main(["plan", "--base", "HEAD", "--diff", "prod", "--project-dir", str(repo)])
    assert refused.value.code == 2


def test_the_temporary_tree_is_removed_even_when_the_base_plan_fails(repo, tmp_path, capsys, monkeypatch):
    edit_stack(repo, compute={"spot": {"bidPercentage": 140}})
    commit(repo, "a bad stack file")
    edit_stack(repo, compute=None)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    code, _, err = plan_cli(capsys, repo, "--base", "HEAD")
    assert code == 2
    assert "the plan of stack dev at HEAD failed (exit 2)" in err
    assert "compute.spot.bidPercentage = 140: must be between 1 and 100" in err  # the base's own message
    assert list(scratch.iterdir()) == []
    assert plan_cli(capsys, repo, "--base", "HEAD~1")[0] == 0
    assert list(scratch.iterdir()) == []


# --- --expect-no-changes with --diff, and markdown that fits ------------------------------------------------------


def test_expect_no_changes_with_diff(repo, capsys):
    # Two stacks always differ at least by their Stack tag: only a stack against itself has nothing to change.
    assert plan_cli(capsys, repo, "--diff", "dev", "--expect-no-changes")[0] == 0
    assert plan_cli(capsys, repo, "--diff", "prod", "--expect-no-changes")[0] == 1
    assert plan_cli(capsys, repo, "--diff", "prod")[0] == 0  # without the flag a difference is no failure


@pytest.fixture(scope="module")
def teams_plans(tmp_path_factory):
    """The dev stack and the same stack with 25 teams, planned in a project beside the real one."""
    project = tmp_path_factory.mktemp("teams")
    for name in ("__main__.py", "Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, project / name)
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["genomics-batch:teams"] = TEAMS
    (project / "Pulumi.teams.yaml").write_text(yaml.safe_dump(document))
    return build_plan("dev", project), build_plan("teams", project)


def test_a_25_team_plan_in_markdown_fits_a_comment_and_names_every_resource(teams_plans):
    _, teams = teams_plans
    assert len(render(teams, "text")) > 2 * COMMENT_LIMIT  # far too big to post whole
    markdown = render(teams, "markdown", hint="the plans artifact")
    assert len(markdown) <= COMMENT_LIMIT
    summary = markdown.split("<details>", 1)[0]
    for resource in teams["resources"]:
        assert f"`{resource['type']}` **{resource['name']}**" in summary, resource["name"]
    assert "**Left out to fit a pull-request comment**" in summary and "The whole plan: the plans artifact." in summary
    assert "left out here to fit a comment; the whole plan: the plans artifact." in markdown


def test_25_teams_against_their_base_fit_a_comment_and_name_every_change(teams_plans, repo, capsys):
    dev, teams = teams_plans
    report = compare(dev, teams)
    assert len(report["changes"]) >= 150
    markdown = render_comparison(report, "markdown", hint="`nfbatch plan --stack teams --base main`")
    assert len(markdown) <= COMMENT_LIMIT
    summary = markdown.split("<details>", 1)[0]
    for change in report["changes"]:
        assert f" {change['type'].rsplit(':', 1)[-1]} {change['name']}" in summary, change["name"]
    # The same through the command line and git: the 25 teams committed on top of the base.
    edit_stack(repo, teams=TEAMS)
    commit(repo, "25 teams")
    code, out, _ = plan_cli(capsys, repo, "--base", "HEAD~1", "--format", "markdown")
    assert code == 0 and len(out) <= COMMENT_LIMIT
    assert "**Left out to fit a pull-request comment**" in out
    assert "The whole plan: `nfbatch plan --stack dev --base HEAD~1`." in out


def test_fit_keeps_everything_that_fits_and_says_what_it_left_out():
    head, body = ["# title", ""], ["- a change", ""]
    rows = [[f"| row {i} | {'x' * 50} |"] for i in range(100)]
    sections = [Section("Small", [["| one | two |"]], ["| a | b |", "|---|---|"]), Section("Big", rows, ["| a | b |"])]
    whole = fit(head, body, sections, "here", limit=100_000)
    assert "Left out" not in whole and whole.count("| row ") == 100
    cut = fit(head, body, sections, "the artifact", limit=2_000)
    assert len(cut) <= 2_000
    assert "| one | two |" in cut and "- a change" in cut  # the first section and the body stay whole
    kept = cut.count("| row ")
    assert 0 < kept < 100
    assert f"Big: {100 - kept} of 100 rows. The whole plan: the artifact." in cut
    assert f"*{100 - kept} of 100 rows left out here to fit a comment; the whole plan: the artifact.*" in cut
    # Even a limit that the body alone exceeds is kept, cutting the body and saying so.
    tiny = fit(head, [f"- change {i}" for i in range(500)], sections, "x", limit=1_000)
    assert len(tiny) <= 1_000 and "summary lines" in tiny


def test_the_help_says_changes_exit_1_and_errors_exit_2(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--expect-no-changes with --base or --diff: exit 1 when anything differs, 0 when nothing does" in help_text
    assert "bad input or a failed plan still exits 2" in help_text and "pulumi/pulumi#8992" in help_text


def test_a_base_unpacked_under_any_umask_tags_the_head_image_as_the_checkout_does(repo, tmp_path):
    # git archive writes 0775/0664 (tar.umask 002, git-archive docs); tarfile sets each member's mode after writing
    # it, and the tag reads modes as git records them (components/head_image.py, git_mode): no umask changes it.
    expected = content_tag(repo / "container", {"NEXTFLOW_VERSION": "25.04.6"}, ["linux/amd64"], "25.04.6")
    for umask in (0o002, 0o022, 0o077):
        previous = os.umask(umask)
        try:
            project = unpack(resolve(repo, "HEAD"), tmp_path / f"umask{umask:o}")
        finally:
            os.umask(previous)
        tag = content_tag(project / "container", {"NEXTFLOW_VERSION": "25.04.6"}, ["linux/amd64"], "25.04.6")
        assert tag == expected
