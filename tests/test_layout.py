"""The house rules that keep the code readable: short functions where decisions live, one home per fact."""

import ast
import subprocess
import textwrap

from conftest import ROOT

MAX_FUNCTION_LINES = 50


def non_test_modules() -> list[str]:
    """Every Python file of the project outside tests/, tracked or new (container/ holds shell only)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(name for name in listed if not name.startswith("tests/") and (ROOT / name).is_file())


def long_functions(source: str, where: str) -> list[str]:
    """Functions (nested and async ones too) longer than MAX_FUNCTION_LINES, decorators not counted."""
    long = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                long.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return long


def test_no_function_outside_the_tests_is_over_fifty_lines():
    modules = non_test_modules()
    # The rule covers the whole tree, not a list to keep up to date: every package, the benchmarks and both scripts.
    assert {"__main__.py", "tasks.py"} <= set(modules)
    assert {name.split("/")[0] for name in modules if "/" in name} >= {
        "facts",
        "policies",
        "settings",
        "components",
        "nfbatch",
        "bench",
    }
    assert [entry for name in modules for entry in long_functions((ROOT / name).read_text(), name)] == []


def test_the_length_rule_sees_nested_and_async_functions():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    source = f"def outer():\n    async def inner():\n{textwrap.indent(body, '    ')}\n" + "def short():\n    pass\n"
    assert long_functions(source, "m.py") == [
        f"m.py:1 outer ({MAX_FUNCTION_LINES + 2} lines)",
        f"m.py:2 inner ({MAX_FUNCTION_LINES + 1} lines)",
    ]


def test_main_reads_as_a_table_of_contents():
    # Counted in statements, not lines: ruff format puts each argument of a long call on a line of its own.
    body = ast.parse((ROOT / "__main__.py").read_text()).body
    steps = [node for node in body if not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr))]
    assert len(steps) <= 15, [ast.unparse(node).splitlines()[0] for node in steps]


def test_component_args_carry_no_defaults():
    # Defaults live once, in the settings model; a component used alone is configured on purpose.
    import dataclasses

    from components import compute_cluster, head_job, launch_template, networking, storage

    for module in (compute_cluster, head_job, launch_template, networking, storage):
        for value in vars(module).values():
            if dataclasses.is_dataclass(value) and value.__module__ == module.__name__:
                defaulted = [
                    f.name
                    for f in dataclasses.fields(value)
                    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
                ]
                assert defaulted == [], f"{value.__name__} defaults {defaulted}"


def test_the_project_cites_public_sources_not_the_private_notes():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    citing = [name for name in tracked if "shared" + "/" in (ROOT / name).read_text(errors="replace")]
    assert citing == []


# The layers from the ground up: a module may import its own layer and those below it, never one above.
LAYERS = ("facts", "policies", "settings", "components", "nfbatch")


def _imported_packages(path) -> set[str]:
    """The project's top-level packages a module imports (at any depth: function-local imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


def test_imports_run_one_way_from_the_facts_up():
    upward = []
    for rank, layer in enumerate(LAYERS):
        for path in sorted((ROOT / layer).rglob("*.py")):
            above = {p for p in _imported_packages(path) if LAYERS.index(p) > rank}
            upward += [f"{path.relative_to(ROOT)} imports {p}" for p in sorted(above)]
    assert upward == []


def test_the_layering_check_sees_an_upward_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from components.contract import X\n    import nfbatch.cli\n")
    assert _imported_packages(module) == {"components", "nfbatch"}
