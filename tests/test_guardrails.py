"""The pull-request guard (nfbatch/guardrails.py) and the comment (nfbatch/pr_comment.py), on sample plan JSON in the
shape `nfbatch plan --base REF --format json` writes, and on real git repositories for the stack files at the base."""

import json
import subprocess

import pytest
from conftest import ROOT

from facts import update_rules
from nfbatch import guardrails, pr_comment
from nfbatch.errors import NfbatchError

BUCKET, LOGS, REPO = guardrails.DATA_TYPES
QUEUE = update_rules.JOB_QUEUE
PROTECTED = "config:\n  aws:region: us-east-1\n  genomics-batch:bucket:\n    protect: true\n"
UNPROTECTED = "config:\n  aws:region: us-east-1\n  genomics-batch:bucket:\n    protect: false\n    forceDestroy: true\n"


def change(action, type_, name, **extra):
    return {"action": action, "type": type_, "name": name, "because": [], "loses": None, **extra}


def plan(stack, *changes):
    return {"stack": stack, "base": "origin/main", "changes": list(changes)}


def git(directory, *args):
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=directory,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path):
    """A project whose base commit has a protected prod and an unprotected dev."""
    (tmp_path / "Pulumi.prod.yaml").write_text(PROTECTED)
    (tmp_path / "Pulumi.dev.yaml").write_text(UNPROTECTED)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    return tmp_path


# --- the plan JSON it reads -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("not json", "not JSON"),
        (json.dumps({"stack": "prod"}), "no `changes` list"),
        (json.dumps({"changes": []}), "`stack` = None"),
        (json.dumps({"stack": "../etc", "changes": []}), "`stack` = '../etc'"),
        (json.dumps(plan("prod", change("recreate", BUCKET, "b"))), "changes[0].action = 'recreate'"),
        (json.dumps(plan("prod", {"action": "delete", "name": "b"})), "changes[0].type = None"),
    ],
)
def test_a_plan_not_in_the_shape_is_refused_with_the_key_that_is_wrong(text, names):
    with pytest.raises(NfbatchError) as raised:
        guardrails.load_plan(text, "plans/prod.json")
    assert names in raised.value.message and raised.value.message.startswith("plans/prod.json")
    assert raised.value.exit_code == 2


def test_data_is_the_bucket_the_logs_and_the_image_repository():
    assert set(guardrails.DATA_TYPES) <= update_rules.HOLDS_DATA_OR_WORK.keys()
    snapshot = (ROOT / "tests" / "__snapshots__" / "test_plan.ambr").read_text()
    assert all(f"`{t}`" in snapshot for t in guardrails.DATA_TYPES)  # the types the program really declares


def test_only_replacing_or_deleting_data_counts():
    losses = guardrails.data_losses(
        plan(
            "prod",
            change("replace", BUCKET, "work-bucket"),
            change("delete", LOGS, "nextflow-logs"),
            change("replace", REPO, "nextflow-image"),
            change("update", BUCKET, "work-bucket"),
            change("create", BUCKET, "other"),
            change("replace", QUEUE, "default"),  # running work: listed first by the plan, not data
        )
    )
    assert [(c["action"], c["name"]) for c in losses] == [
        ("replace", "work-bucket"),
        ("delete", "nextflow-logs"),
        ("replace", "nextflow-image"),
    ]


# --- which stacks are protected -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "protected"),
    [
        (PROTECTED, True),
        (UNPROTECTED, False),
        ("config:\n  aws:region: us-east-1\n", True),  # unset: the settings model's default, protect: true
        ("config:\n  aws:region: us-east-1\n  genomics-batch:bucket:\n    protect: maybe\n", True),  # invalid
        ("config:\n  aws:region: us-east-1\n  genomics-batch:bucket:\n    secure: AAABAA==\n", True),  # encrypted
        ("config: [\n", True),  # not YAML
    ],
)
def test_a_stack_is_protected_unless_its_file_says_protect_false(tmp_path, text, protected):
    (tmp_path / "Pulumi.s.yaml").write_text(text)
    assert guardrails.is_protected(tmp_path / "Pulumi.s.yaml", "s") is protected


def test_the_presets_are_what_the_docs_say():
    assert guardrails.is_protected(ROOT / "Pulumi.prod.yaml", "prod")
    assert not guardrails.is_protected(ROOT / "Pulumi.dev.yaml", "dev")


def test_turning_protection_off_in_the_change_is_still_checked_against_the_base(repo):
    (repo / "Pulumi.prod.yaml").write_text(UNPROTECTED)
    [verdict] = guardrails.verdicts([plan("prod", change("replace", BUCKET, "work-bucket"))], repo, "main")
    assert verdict.protected and verdict.fails


def test_an_unprotected_stack_loses_data_without_failing(repo):
    found = guardrails.verdicts(
        [plan("dev", change("replace", BUCKET, "work-bucket")), plan("prod", change("update", BUCKET, "wb"))],
        repo,
        "main",
    )
    assert [(v.stack, v.protected, v.fails) for v in found] == [("dev", False, False), ("prod", True, False)]
    text = guardrails.render(found, allowed=False)
    assert "passed" in text and "not a failure" in text and "`dev`: REPLACE Bucket `work-bucket`" in text


def test_a_new_stack_is_judged_by_its_file_in_the_change(repo):
    (repo / "Pulumi.lab.yaml").write_text(PROTECTED)
    [verdict] = guardrails.verdicts([plan("lab", change("create", BUCKET, "work-bucket"))], repo, "main")
    assert verdict.protected and not verdict.fails


def test_removing_a_protected_stack_file_fails(repo):
    (repo / "Pulumi.prod.yaml").unlink()
    found = guardrails.verdicts([plan("dev")], repo, "main")
    assert [(v.stack, v.removed, v.fails) for v in found] == [("dev", False, False), ("prod", True, True)]
    assert "`prod`: its stack file is removed" in guardrails.render(found, allowed=False)


def test_a_bad_base_is_a_clear_error(repo):
    with pytest.raises(NfbatchError) as raised:
        guardrails.verdicts([plan("prod")], repo, "origin/nope")
    assert "--base origin/nope: not a commit" in raised.value.message and "fetch-depth: 0" in raised.value.fix


def run_guard(repo, *args, plans):
    for p in plans:
        (repo / f"{p['stack']}.json").write_text(json.dumps(p))
    files = [str(repo / f"{p['stack']}.json") for p in plans]
    return guardrails.main(["--project-dir", str(repo), "--base", "main", *args, *files])


def test_the_command_fails_on_data_loss_unless_the_label_allows_it(repo, capsys):
    losing = [plan("prod", change("replace", BUCKET, "work-bucket", because=["bucket"], loses="the data"))]
    assert run_guard(repo, plans=losing) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and guardrails.ALLOW_LABEL in out
    assert "- `prod`: REPLACE Bucket `work-bucket` (forced by bucket): loses the data" in out
    assert run_guard(repo, "--allow", plans=losing) == 0
    assert "allowed by the `allow-data-replacement` label" in capsys.readouterr().out
    assert run_guard(repo, plans=[plan("prod", change("update", BUCKET, "work-bucket"))]) == 0
    assert "passed" in capsys.readouterr().out


def test_the_command_exits_2_on_bad_input(repo, capsys):
    (repo / "bad.json").write_text('{"stack": "prod"}')
    assert guardrails.main(["--project-dir", str(repo), str(repo / "bad.json")]) == 2
    assert "no `changes` list" in capsys.readouterr().err
    assert guardrails.main(["--project-dir", str(repo), str(repo / "missing.json")]) == 2


# --- the comment ----------------------------------------------------------------------------------------------------


def test_the_summary_is_in_pulumis_words():
    assert pr_comment.summary(plan("s")) == "no changes"
    p = plan("s", change("replace", QUEUE, "a"), change("create", QUEUE, "b"), change("replace", QUEUE, "c"))
    assert pr_comment.summary(p) == "1 to create, 2 to replace"


def big_markdown(stack, size):
    lines = [f"**{stack}**: 3 to replace", "", "<details><summary>details</summary>", "", "```diff"]
    while sum(len(line) + 1 for line in lines) < size:
        lines.append(f"~ {stack} resource-{len(lines)}: an input that changed from one value to another")
    return "\n".join([*lines, "```", "</details>"])


def test_twenty_five_stacks_of_full_plans_fit_one_comment_and_each_is_named():
    sections = [
        (plan(f"team{i:02}", change("replace", QUEUE, "q")), big_markdown(f"team{i:02}", 64_000)) for i in range(25)
    ]
    sections.append((plan("quiet"), "nothing to see"))
    text = pr_comment.compose(sections, "main", "**Data check: passed.**", "https://example.com/a/1")
    assert len(text) <= pr_comment.LIMIT < 65_536
    assert text.startswith(pr_comment.MARKER + "\n")
    for i in range(25):
        assert f"| `team{i:02}` | 1 to replace |" in text and f"#### `team{i:02}`" in text
        assert f"**team{i:02}**: 3 to replace" in text  # each plan's opening summary survives the cut
    assert "| `quiet` | no changes |" in text and "#### `quiet`" not in text
    assert "[plans artifact](https://example.com/a/1)" in text and "left out to fit" in text
    assert text.count("```") % 2 == 0 and text.count("<details") == text.count("</details>")


def test_plans_that_fit_are_posted_whole():
    sections = [(plan("dev", change("replace", QUEUE, "q")), big_markdown("dev", 5_000))]
    text = pr_comment.compose(sections, "main", "**Data check: passed.**", "")
    assert big_markdown("dev", 5_000) in text and "left out" not in text


def test_a_cut_closes_what_it_leaves_open():
    cut = pr_comment.fit(big_markdown("x", 10_000), 2_000, "there")
    assert len(cut) <= 2_000 and cut.count("```") == 2 and cut.count("</details>") == 1 and "is there." in cut


PULUMI_ACTIONS = "#### :tropical_drink: `preview` on genomics-batch/dev\n\n<details>\n<summary>Pulumi report</summary>"


def comments(*entries):
    return [{"id": i, "user": {"login": who}, "body": body} for i, who, body in entries]


def test_find_picks_our_comment_and_never_a_pulumi_actions_or_user_one():
    page1 = comments((11, "github-actions[bot]", PULUMI_ACTIONS), (12, "alice", pr_comment.MARKER + "\nquoted"))
    page2 = comments((13, "github-actions[bot]", pr_comment.MARKER + "\n### genomics-batch plan"))
    assert pr_comment.find(json.dumps(page1) + json.dumps(page2)) == 13  # gh --paginate: one array per page
    assert pr_comment.find(json.dumps(page1)) is None
    assert pr_comment.find("[]") is None


def test_the_comment_command_reads_plans_and_their_markdown(tmp_path, capsys):
    (tmp_path / "dev.json").write_text(json.dumps(plan("dev", change("replace", BUCKET, "work-bucket"))))
    (tmp_path / "dev.md").write_text("**dev**: 1 to replace")
    (tmp_path / "guard.md").write_text("**Data check: passed.**")
    args = ["compose", "--base", "main", "--verdict", str(tmp_path / "guard.md"), str(tmp_path / "dev.json")]
    assert pr_comment.main(args) == 0
    out = capsys.readouterr().out
    assert "### genomics-batch plan against `main`" in out and "**dev**: 1 to replace" in out
    (tmp_path / "dev.md").unlink()
    assert pr_comment.main(args) == 2
    assert "needs the plan JSON and its markdown" in capsys.readouterr().err
