"""The docs a newcomer starts from: a short README whose first screen gives the quick start, links that resolve, one
test command everywhere, and the MkDocs site in docs/ building strictly, links and anchors checked."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, tool

README = ROOT / "README.md"
QUICK_START = ("python3 tasks.py plan", "python3 tasks.py test")
# A Markdown link or image: [text](target) or ![alt](target), the target up to a space or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def mkdocs_build(project: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("mkdocs"), "build", "--strict", "--config-file", str(project / "mkdocs.yml"), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project,
    )


def test_the_docs_site_builds_strictly(tmp_path):
    result = mkdocs_build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").is_file()


def test_the_site_turns_every_link_check_into_a_warning():
    # MkDocs reports unrecognized links, missing anchors and pages left out of the nav only at INFO level by default
    # (mkdocs/config/defaults.py, MkDocsConfig.Validation), and --strict fails on warnings alone.
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["validation"] == {
        "omitted_files": "warn",
        "not_found": "warn",
        "absolute_links": "warn",
        "unrecognized_links": "warn",
        "anchors": "warn",
    }
    assert config["theme"]["name"] in {"mkdocs", "readthedocs"} and "plugins" not in config
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md"))
    assert sorted(page for entry in config["nav"] for page in entry.values()) == pages


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("[a missing anchor](aws.md#no-such-step)", "does not contain an anchor '#no-such-step'"),
        ("[a missing page](deploy-guide.md)", "the target is not found among documentation files"),
        ("[a file outside docs/](../tasks.py)", "the target is not found among documentation files"),
        ("[a directory link](teams/)", "unrecognized relative link 'teams/'"),
    ],
)
def test_a_broken_link_fails_the_build(tmp_path, broken, message):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    with (tmp_path / "docs" / "index.md").open("a") as page:
        page.write(f"\nSee {broken}.\n")
    result = mkdocs_build(tmp_path, tmp_path / "site")
    assert result.returncode != 0
    assert message in result.stderr


def test_a_page_left_out_of_the_nav_fails_the_build(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "docs" / "orphan.md").write_text("# Orphan\n")
    result = mkdocs_build(tmp_path, tmp_path / "site")
    assert result.returncode != 0
    assert "orphan.md" in result.stderr


def test_the_readme_is_short():
    assert len(README.read_text()) < 20_000


def test_the_quick_start_is_on_the_first_screen():
    first_screen = README.read_text().splitlines()[:40]
    assert "## Quick start" in first_screen
    for command in QUICK_START:
        assert any(line.startswith(command + " ") or line == command for line in first_screen), command


def test_the_readme_says_how_to_serve_the_docs():
    assert "`venv/bin/mkdocs serve`" in README.read_text()


def without_fences(markdown: str) -> str:
    return re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)


def without_code(markdown: str) -> str:
    """The text outside fenced code blocks and inline code spans, where a link is a link."""
    return re.sub(r"`[^`\n]*`", "", without_fences(markdown))


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lowercase, punctuation dropped (code spans' backticks too), spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {
        github_anchor(line.lstrip("#"))
        for line in without_fences(path.read_text()).splitlines()
        if re.match(r"#{1,6} ", line)
    }


def relative_links(path: Path) -> list[str]:
    return [t for t in LINK.findall(without_code(path.read_text())) if not re.match(r"[a-z]+:", t)]


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` whose file is missing, or whose anchor names no heading of that Markdown file."""
    broken = []
    for link in relative_links(page):
        target, _, anchor = link.partition("#")
        path = (page.parent / target) if target else page
        if not path.is_file():
            broken.append(f"{link}: no file {target}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{link}: no heading #{anchor} in {path.name}")
    return broken


def test_every_relative_link_in_the_readme_resolves():
    assert any(link.startswith("docs/") for link in relative_links(README))
    assert broken_links(README) == []


def test_every_relative_link_in_contributing_and_the_changelog_resolves():
    for page in (ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"):
        assert broken_links(page) == [], page.name


def test_the_link_checker_sees_a_broken_link(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(
        "# Title\n\n## `pulumi up` during a drain\n\n[ok](#pulumi-up-during-a-drain) [gone](docs/x.md)\n"
        "[no such heading](#drain) [file](LICENSE)\n```bash\n[not a link](in/code.md)\n```\n"
        "[web](https://example.org) `[code](span.md)`\n"
    )
    (tmp_path / "LICENSE").write_text("Apache-2.0\n")
    assert relative_links(page) == ["#pulumi-up-during-a-drain", "docs/x.md", "#drain", "LICENSE"]
    assert anchors(page) == {"title", "pulumi-up-during-a-drain"}
    assert broken_links(page) == ["docs/x.md: no file docs/x.md", "#drain: no heading #drain in README.md"]


def ci_test_command() -> str:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "set ", "cd "))][-1]


def test_readme_and_contributing_name_the_command_ci_runs():
    assert ci_test_command() == "python3 tasks.py test"
    for name in ("README.md", "CONTRIBUTING.md"):
        assert ci_test_command() in (ROOT / name).read_text(), name
