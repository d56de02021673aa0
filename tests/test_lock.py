"""The pins: requirements.txt (what Pulumi's pip toolchain and the deploys install) is the runtime part of
requirements-dev.lock, hashed; the Pulumi CLI the workflows install is the lock's SDK; the provider rules name the
pulumi-aws release they were read from; `python3 tasks.py lock` regenerates all three."""

import re
import tomllib
from collections.abc import Callable
from importlib import metadata

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import tasks
from facts import update_rules

RUNTIME_LOCK = ROOT / "requirements.txt"
DEV_LOCK = ROOT / "requirements-dev.lock"
RUNTIME_IN = ROOT / "requirements-runtime.in"


def pins(lock_text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a `uv pip compile --generate-hashes` file."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", lock_text):
        head = re.match(r"([A-Za-z0-9_.-]+)==([^ ;\\\n]+)", entry)
        if head:
            found[head[1].lower()] = (head[2], frozenset(re.findall(r"--hash=(sha256:[0-9a-f]{64})", entry)))
    return found


def ranges(in_text: str) -> set[str]:
    return {
        re.split(r"[<>=!~ ;\[]", line, maxsplit=1)[0].lower() for line in in_text.splitlines() if line[:1].isalpha()
    }


def test_the_pin_reader_reads_versions_and_hashes():
    text = (
        "a-b==1.0 \\\n    --hash=sha256:"
        + "0" * 64
        + "\n    # via x\nc==2 ; sys_platform == 'win32' \\\n    --hash=sha256:"
        + "1" * 64
        + "\n"
    )
    assert pins(text) == {
        "a-b": ("1.0", frozenset({"sha256:" + "0" * 64})),
        "c": ("2", frozenset({"sha256:" + "1" * 64})),
    }


def test_requirements_txt_pins_every_runtime_range_with_hashes():
    runtime = pins(RUNTIME_LOCK.read_text())
    assert ranges(RUNTIME_IN.read_text()) <= runtime.keys()
    # Any --hash turns on pip's hash-checking for the whole file, which then needs one on every requirement
    # (https://pip.pypa.io/en/stable/topics/secure-installs/: "Hashes are required for all requirements").
    assert all(hashes for _, hashes in runtime.values()), [n for n, (_, h) in runtime.items() if not h]


def test_requirements_txt_agrees_with_the_dev_lock():
    runtime, dev = pins(RUNTIME_LOCK.read_text()), pins(DEV_LOCK.read_text())
    disagree = {name: (pin, dev.get(name)) for name, pin in runtime.items() if dev.get(name) != pin}
    assert disagree == {}, "rerun python3 tasks.py lock"


def test_the_dev_lock_resolves_the_runtime_ranges_and_the_project_reads_them():
    assert "-r requirements-runtime.in" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # setuptools takes every non-comment line of a `file` as a requirement (setuptools/config/pyprojecttoml.py,
    # _parse_requirements_list): the hashed requirements.txt would break the project's own install.
    assert pyproject["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements-runtime.in"]}


# Where requirements.txt is installed: the workflows' runners (ubuntu-latest, setup-python 3.11) and the deploy hosts.
TARGET = {"python_version": "3.11", "python_full_version": "3.11.9", "sys_platform": "linux", "os_name": "posix"}
TARGET |= {"platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython"}
TARGET |= {"platform_python_implementation": "CPython"}


def unpinned_dependencies(pinned: set[str], requires: Callable[[str], list[str]]) -> dict[str, set[str]]:
    """pinned package -> the names it requires on TARGET (extras it is asked for included) that are not pinned."""
    missing: dict[str, set[str]] = {}
    todo, seen = [(name, "") for name in pinned], set()
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for line in requires(name):
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate(TARGET | {"extra": extra}):
                continue
            wanted = canonicalize_name(requirement.name)
            if wanted not in pinned:
                missing.setdefault(name, set()).add(wanted)
            todo += [(wanted, e) for e in requirement.extras if wanted in pinned]
    return missing


def test_the_closure_check_follows_markers_and_extras():
    requires = {
        "a": ["b>=1", "c ; sys_platform == 'win32'", "d[x] ; python_version >= '3.8'"],
        "b": ["e ; extra == 'docs'"],
        "d": ["f ; extra == 'x'"],
    }
    assert unpinned_dependencies({"a", "b", "d"}, lambda n: requires.get(n, [])) == {"d": {"f"}}


def test_requirements_txt_is_closed_under_dependencies():
    # Pulumi's pip toolchain runs `pip install -r requirements.txt` with dependencies (pulumi/pulumi
    # sdk/python/toolchain/pip.go, InstallDependencies), and in hash-checking mode "at least one hash is required to
    # match for each requirement, even subrequirements" (pypa/pip#3137). Requires-Dist is read from the venv's
    # installed metadata, which must be the pinned release.
    locked = {canonicalize_name(name): version for name, (version, _) in pins(RUNTIME_LOCK.read_text()).items()}
    installed = {name: metadata.version(name) for name in locked}
    assert installed == locked, "venv/ is not the lock: python3 tasks.py test rebuilds it"
    missing = unpinned_dependencies(set(locked), lambda name: metadata.requires(name) or [])
    assert missing == {}, "requirements.txt misses dependencies: python3 tasks.py lock"


def test_the_workflows_install_the_cli_of_the_locked_sdk():
    # pulumi/pulumi scripts/set-version.py writes one version to sdk/.version (the CLI) and to the Python SDK.
    assert (ROOT / ".pulumi.version").read_text() == pins(RUNTIME_LOCK.read_text())["pulumi"][0] + "\n"


def rules_behind(locked: str, read_from: str) -> bool:
    return Version(locked) > Version(read_from)


def test_the_provider_rules_were_read_from_the_locked_pulumi_aws():
    locked = pins(RUNTIME_LOCK.read_text())["pulumi-aws"][0]
    assert not rules_behind(locked, update_rules.PROVIDER_RULES_READ_FROM), (
        f"the lock pins pulumi-aws {locked}, but facts/update_rules.py was read from "
        f"{update_rules.PROVIDER_RULES_READ_FROM}: re-read the provider sources it cites, then raise "
        "PROVIDER_RULES_READ_FROM"
    )


@pytest.mark.parametrize(
    ("locked", "behind"), [("7.51.1", False), ("7.51.2", True), ("7.52.0", True), ("7.9.0", False)]
)
def test_a_lock_past_the_rules_is_caught(locked, behind):
    assert rules_behind(locked, "7.51.1") is behind  # by version order, not text: 7.9.0 is before 7.51.1


def test_lock_regenerates_the_dev_lock_then_requirements_txt_from_it_then_the_cli_pin(monkeypatch, tmp_path):
    commands = []
    monkeypatch.setattr(tasks, "ensure_venv", lambda: None)
    monkeypatch.setattr(tasks, "_run", lambda *command: commands.append([str(c) for c in command]))
    monkeypatch.setattr(tasks, "RUNTIME_LOCK", tmp_path / "requirements.txt")
    monkeypatch.setattr(tasks, "PULUMI_VERSION_FILE", tmp_path / ".pulumi.version")
    (tmp_path / "requirements.txt").write_text("pulumi==9.8.7 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    tasks.lock(["--upgrade-package", "pulumi-aws"])
    compiles = [c for c in commands if c[1:3] == ["pip", "compile"]]
    assert len(compiles) == 2
    dev, runtime = compiles
    assert dev[-1] == "requirements-dev.txt" and dev[dev.index("--output-file") + 1] == str(tasks.LOCK)
    assert "--upgrade-package" in dev and "--upgrade-package" not in runtime
    assert runtime[-1] == "requirements-runtime.in" and runtime[runtime.index("--constraint") + 1] == str(tasks.LOCK)
    assert runtime[runtime.index("--output-file") + 1] == str(tmp_path / "requirements.txt")
    for command in compiles:
        assert {"--universal", "--generate-hashes"} <= set(command)
    assert (tmp_path / ".pulumi.version").read_text() == "9.8.7\n"


def test_the_whole_suite_runs_on_every_core_and_ones_own_arguments_as_given():
    whole = tasks.pytest_command([], 2, "/tmp/gbt-x/t")
    assert whole[-3:] == ["-n", "2", "--basetemp=/tmp/gbt-x/t"]
    assert tasks.pytest_command([], 16, "/b")[-3:-1] == ["-n", "4"]  # capped
    assert tasks.pytest_command(["tests/test_teams.py", "-q"], 2, "/b")[-2:] == ["tests/test_teams.py", "-q"]
    assert "-n" not in tasks.pytest_command([], 1, "/b") and "-n" not in tasks.pytest_command([], None, "/b")
