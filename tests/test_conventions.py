"""Project conventions that code review would otherwise have to catch."""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPTS = sorted(p for p in REPO.glob("*.py"))


def test_there_are_scripts():
    assert {"gen_synthetic_dataset.py", "gen_proposal_list.py"} <= {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_layout(script):
    tree = ast.parse(script.read_text())
    doc = ast.get_docstring(tree)
    assert doc and "python " in doc, f"{script.name}: module docstring needs an example command"
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"get_args_parser", "main"} <= names, script.name
    main_blocks = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert main_blocks, script.name
    # bad input is reported as one line, not a traceback (tests/test_errors.py)
    assert "run_main(main, get_args_parser())" in ast.unparse(main_blocks[0]), script.name


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_import_runs_nothing_and_help_works(script, tmp_path):
    # run from an unrelated folder: no working-directory assumptions
    code = f"import sys; sys.path.insert(0, {str(REPO)!r}); import {script.stem}"
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == "", res.stderr
    res = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0 and "usage:" in res.stdout, res.stderr


def test_no_bare_prints_in_ops():
    offenders = []
    for path in (REPO / "ops").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"use logging in ops/: {offenders}"


PYTHON_FILES = sorted([*SCRIPTS, *REPO.glob("ops/**/*.py"), *REPO.glob("bench/*.py"), *REPO.glob("tests/*.py")])


def unused_imports(source: str) -> list[str]:
    """Names a module imports but never reads (``__future__`` and ``__all__`` re-exports aside)."""
    tree = ast.parse(source)
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update({(a.asname or a.name).split(".")[0]: node.lineno for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            imported.update({a.asname or a.name: node.lineno for a in node.names})
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    exported = {e.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets) for e in n.value.elts}
    return [f"line {line}: {name}" for name, line in imported.items() if name not in read | exported]


def test_unused_imports_helper_finds_them():
    assert unused_imports("import os\nimport numpy as np\nfrom a import b, c\nprint(np, c)\n") == \
        ["line 1: os", "line 3: b"]


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_unused_imports(path):
    assert unused_imports(path.read_text()) == [], path.name


def test_no_path_tricks_in_scripts_and_ops():
    # scripts find ``ops`` beside them; pytest gets the root from pyproject.toml
    offenders = [f"{p.relative_to(REPO)}:{i}" for p in [*SCRIPTS, *REPO.glob("ops/**/*.py")]
                 for i, line in enumerate(p.read_text().splitlines(), 1) if "sys.path" in line]
    assert offenders == []


def test_ops_ground_floor_is_small_and_every_module_has_a_role():
    ground = {p.stem for p in (REPO / "ops").glob("*.py")}
    assert ground == {"__init__", "device", "errors", "io", "log", "temporal"}
    rooms = {p.name for p in (REPO / "ops").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert {"formats", "video", "proposals", "models", "train", "evaluation"} <= rooms
    for room in rooms:
        init = REPO / "ops" / room / "__init__.py"
        assert init.is_file(), f"ops/{room} has no __init__.py"
        listed = init.read_text()
        for module in (REPO / "ops" / room).glob("*.py"):
            if module.stem != "__init__":
                assert f"``{module.stem}``" in listed, f"ops/{room}/__init__.py does not list {module.stem}"


# files of the original SSN code that the docs cite by their original names
ORIGINAL_SSN_PATHS = {"ops/sequence_funcs.py", "ops/detection_metrics.py"}


def test_readme_and_docs_name_only_code_that_exists():
    import importlib
    import re
    missing = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = doc.read_text()
        for path in set(re.findall(r"\bops(?:/[a-z0-9_]+)+(?:\.py)?", text)) - ORIGINAL_SSN_PATHS:
            if not (REPO / path).exists():
                missing.append(f"{doc.name}: {path}")
        for dotted in set(re.findall(r"\bops(?:\.[a-z0-9_]+)+", text)):
            parts = dotted.split(".")
            for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:cut]))
                except ImportError:
                    continue
                try:
                    for attr in parts[cut:]:
                        obj = getattr(obj, attr)
                except AttributeError:
                    missing.append(f"{doc.name}: {dotted}")
                break
            else:
                missing.append(f"{doc.name}: {dotted}")
    assert missing == []
