"""The type checker's reach (pyproject.toml [tool.mypy]): every non-test module, and every pulumi_aws module it uses.

mypy itself runs in `python3 tasks.py test` before pytest; these checks only read the config and the code's syntax.
"""

from __future__ import annotations

import ast
import inspect
import tomllib
import types
from pathlib import Path

import pulumi_aws

ROOT = Path(__file__).resolve().parent.parent
NOT_CHECKED = {"tests", "venv", ".venv"}  # tests/ runs instead; the venv is third-party code


def mypy_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]


def checked_files() -> list[Path]:
    found = []
    for entry in mypy_config()["files"]:
        path = ROOT / entry
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def followed(module: str, patterns: list[str]) -> bool:
    # config_file.rst: `foo.bar.*` matches foo.bar and every submodule; a name without `*` matches only itself.
    return any(module == p or (p.endswith(".*") and (module == p[:-2] or module.startswith(p[:-1]))) for p in patterns)


def followed_patterns() -> list[str]:
    return [m for o in mypy_config()["overrides"] if o.get("follow_imports") == "normal" for m in o["module"]]


def pulumi_aws_modules(path: Path) -> set[str]:
    """The pulumi_aws modules a file reaches: `aws.<service>` and `aws.<function>` through `import pulumi_aws as
    aws`, and any `import pulumi_aws.x` / `from pulumi_aws.x import y`."""
    tree = ast.parse(path.read_text())
    aliases, modules = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name == "pulumi_aws"}
            modules |= {a.name for a in node.names if a.name.startswith("pulumi_aws.")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pulumi_aws"):
            modules.add(node.module or "")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            value = getattr(pulumi_aws, node.attr)
            modules.add(value.__name__ if isinstance(value, types.ModuleType) else inspect.getmodule(value).__name__)
    return modules


def test_every_non_test_python_file_is_type_checked():
    on_disk = {p for p in ROOT.glob("*.py")} | {
        p for d in ROOT.iterdir() if d.is_dir() and d.name not in NOT_CHECKED for p in d.rglob("*.py")
    }
    assert sorted(map(str, on_disk - set(checked_files()))) == []


def test_every_pulumi_aws_module_the_code_uses_is_followed():
    patterns = followed_patterns()
    used = set().union(*(pulumi_aws_modules(p) for p in checked_files()))
    assert {"pulumi_aws.batch", "pulumi_aws.get_partition"} <= used  # the scan sees both kinds of use
    # A skipped module is Any, so calls into it would go unchecked (pyproject.toml says why most are skipped).
    assert sorted(m for m in used if not followed(m, patterns)) == [], (
        "add these to the followed pulumi_aws modules in pyproject.toml [[tool.mypy.overrides]]"
    )
    assert not followed("pulumi_aws.lambda_", patterns)  # the list is what it claims: the rest stay skipped
