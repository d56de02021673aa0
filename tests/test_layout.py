"""The house rules that keep the code readable: short functions where decisions live, one home per fact."""

import ast
import subprocess

from conftest import ROOT

MAX_FUNCTION_LINES = 50


def test_no_function_in_components_or_settings_is_over_fifty_lines():
    long = []
    for path in [*ROOT.glob("components/*.py"), *ROOT.glob("settings/*.py"), ROOT / "__main__.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert long == []


def test_main_reads_as_a_table_of_contents():
    assert len((ROOT / "__main__.py").read_text().splitlines()) <= 45


def test_component_args_carry_no_defaults():
    # Defaults live once, in the settings model; a component used alone is configured on purpose.
    import dataclasses

    from components import compute_cluster, head_job, launch_template, networking, storage

    for module in (compute_cluster, head_job, launch_template, networking, storage):
        for value in vars(module).values():
            if dataclasses.is_dataclass(value) and value.__module__ == module.__name__:
                defaulted = [f.name for f in dataclasses.fields(value)
                             if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
                assert defaulted == [], f"{value.__name__} defaults {defaulted}"


def test_the_project_cites_public_sources_not_the_private_notes():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    citing = [name for name in tracked if "shared" + "/" in (ROOT / name).read_text(errors="replace")]
    assert citing == []
