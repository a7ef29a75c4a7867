"""The rules of the house (../shared/DESIGN.md), checked on the source itself."""

import ast
from dataclasses import fields
from pathlib import Path

import pytest

from hpsearch.trial import TrialResult

PACKAGE = Path(__file__).resolve().parents[1] / "hpsearch"
TESTS = Path(__file__).resolve().parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def tree(path):
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_class_or_function_over_150_lines(path):
    long = [f"{node.name}: {node.end_lineno - node.lineno + 1} lines" for node in ast.walk(tree(path))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.end_lineno - node.lineno + 1 > 150]
    assert not long


@pytest.mark.parametrize("path", [p for p in MODULES if p.name != "backends.py"],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_backends_knows_which_backend_runs(path):
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Compare):
            constants = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
            assert not {"dask", "loky"} & set(constants), f"{path.name}:{node.lineno} branches on a backend"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert not any(n.split(".")[0] in ("distributed", "dask") for n in names), f"{path.name}:{node.lineno}"


def test_the_loop_never_inspects_a_strategy():
    calls = [n.func.id for n in ast.walk(tree(PACKAGE / "loop.py"))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert "hasattr" not in calls and "getattr" not in calls


def test_trial_fields_are_declared_once():
    """No module but trial.py lists several of a trial's fields together."""
    names = {f.name for f in fields(TrialResult)} - {"strategy", "repetition", "trial", "seed", "params"}
    for path in MODULES:
        if path.name == "trial.py":
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
                listed = {e.value for e in node.elts if isinstance(e, ast.Constant)} & names
                assert len(listed) < 3, f"{path.name}:{node.lineno} lists trial fields {sorted(listed)}"


def test_a_test_module_for_every_package_module():
    missing = []
    for path in MODULES:
        if path.name in ("__init__.py", "__main__.py"):
            continue
        name = "strategies" if path.parent.name == "strategies" else path.stem
        if not (TESTS / f"test_{name}.py").is_file():
            missing.append(str(path.relative_to(PACKAGE)))
    assert not missing
