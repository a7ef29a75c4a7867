"""The rules of the house (../shared/DESIGN.md), checked on the source itself: one test per rule."""

import ast
from dataclasses import fields
from pathlib import Path

from hpsearch.search.trial import TrialResult

PACKAGE = Path(__file__).resolve().parents[1] / "hpsearch"
TESTS = Path(__file__).resolve().parent
MODULES = sorted(PACKAGE.rglob("*.py"))
#: the layers, bottom first: a module imports only from its own layer or below
LAYERS = ["leaf", "data", "models", "search", "execution", "results", "top"]
LEAVES = {"errors", "files", "machine", "seeds", "sections"}  # hpsearch/errors.py, files.py, ...: import nothing of hpsearch's


def tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LEAVES:
        return 0
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return LAYERS.index("top")


def imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every hpsearch import of ``path``, at any depth (lazy ones too)."""
    out = []
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "hpsearch":
            out.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "hpsearch"]
    return out


def graph() -> dict[str, set[str]]:
    """module -> the hpsearch modules it imports (``from pkg import module`` resolved to the module)."""
    known = {module_name(p) for p in MODULES}
    edges: dict[str, set[str]] = {}
    for path in MODULES:
        me = module_name(path)
        for _, module, names in imports(path):
            targets = {f"{module}.{n}" for n in names if f"{module}.{n}" in known} or {module}
            edges.setdefault(me, set()).update(t for t in targets if t != me)
    return edges


def test_the_five_subpackages_and_imports_that_point_one_way():
    """top -> results -> execution -> search -> models -> data -> leaf modules; never up."""
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == set(LAYERS[1:-1])
    upward = [f"{me} -> {t}" for me, targets in graph().items() for t in targets
              if t.startswith("hpsearch.") and layer(t) > layer(me)]
    assert not upward
    for name in LAYERS[1:-1]:  # each subpackage says its job and what it may import
        doc = ast.get_docstring(tree(PACKAGE / name / "__init__.py"))
        assert doc and "import" in doc, name


def test_no_import_cycle_between_modules():
    edges = graph()
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
                return True
            if nxt not in state and visit(nxt, path + [nxt]):
                return True
        state[node] = 2
        return False

    for node in sorted(edges):
        if node not in state and visit(node, [node]):
            break
    # a subpackage's __init__ imports its own modules (strategies' registry): not a cycle in practice,
    # but any other loop is
    assert not cycle or all(".strategies" in m for m in cycle), " -> ".join(cycle)


def test_no_private_name_crosses_a_module():
    """No module imports a name starting with ``_`` from another, nor reaches an attribute
    starting with ``_`` that only another hpsearch module defines (``net._resume``)."""
    defined: dict[str, set[str]] = {}
    for path in MODULES:
        names = set()
        for node in ast.walk(tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    for n in ast.walk(target):
                        names.add(n.id if isinstance(n, ast.Name) else getattr(n, "attr", ""))
        defined[module_name(path)] = {n for n in names if n.startswith("_") and not n.startswith("__")}
    crossing = []
    for path in MODULES:
        me = module_name(path)
        for line, module, names in imports(path):
            crossing += [f"{me}:{line} imports {module}.{n}" for n in names
                         if n.startswith("_") and not n.startswith("__")]
        elsewhere = set().union(*(v for k, v in defined.items() if k != me)) - defined[me]
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Attribute) and node.attr in elsewhere:
                crossing.append(f"{me}:{node.lineno} uses {ast.unparse(node)}")
    assert not crossing


def test_no_class_or_function_over_150_lines():
    long = [f"{path.name}:{node.name}: {node.end_lineno - node.lineno + 1} lines"
            for path in MODULES for node in ast.walk(tree(path))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.end_lineno - node.lineno + 1 > 150]
    assert not long


def test_no_module_over_450_lines():
    """A module that grows past 450 lines holds two things: split it where it divides."""
    long = [f"{path.relative_to(PACKAGE)}: {len(path.read_text().splitlines())} lines" for path in MODULES
            if len(path.read_text().splitlines()) > 450]
    assert not long


def test_config_composes_the_sections_and_imports_nothing_inside_a_function():
    """config.py stays a composer (under 300 lines); every section it reads is imported at the top,
    from the module that declares it: no lazy import to dodge the layering."""
    path = PACKAGE / "config.py"
    assert len(path.read_text().splitlines()) < 300
    lazy = [f"config.py:{node.lineno}" for top in tree(path).body for node in ast.walk(top)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and top is not node
            and not isinstance(top, (ast.Import, ast.ImportFrom))]
    assert not lazy


def test_every_section_is_a_pydantic_section_declared_below_the_top():
    """Each part declares its own section; the file's shape composes them (experiment.py)."""
    from hpsearch.experiment import ExperimentFile, SuiteFile
    from hpsearch.sections import Section

    owners = {}
    for model in (ExperimentFile, SuiteFile):
        for name, info in model.model_fields.items():
            for cls in getattr(info.annotation, "__args__", ()) + (info.annotation,):
                if isinstance(cls, type) and issubclass(cls, Section):
                    owners[name] = cls.__module__
    assert {"budget": "hpsearch.search.budget", "data": "hpsearch.data.source", "model": "hpsearch.models.section",
            "output": "hpsearch.results.writer", "verdict": "hpsearch.results.verdict",
            "table": "hpsearch.execution.table"}.items() <= owners.items()
    assert {b.__module__ for b in ExperimentFile.__mro__} >= {"hpsearch.execution.backends",
                                                              "hpsearch.search.strategies"}


def test_only_backends_knows_which_backend_runs():
    found = []
    for path in MODULES:
        if path.name == "backends.py":
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Compare):
                constants = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
                if {"dask", "loky"} & set(constants):
                    found.append(f"{path.name}:{node.lineno} branches on a backend")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n.split(".")[0] in ("distributed", "dask") for n in names):
                    found.append(f"{path.name}:{node.lineno} imports dask")
    assert not found


def test_the_loop_never_inspects_a_strategy():
    calls = [n.func.id for n in ast.walk(tree(PACKAGE / "search" / "loop.py"))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert not {"hasattr", "getattr"} & set(calls)


def test_no_objective_is_recognised_by_identity():
    """An objective declares what it can do (``TrainsTogether``); nothing compares functions."""
    found = []
    for path in MODULES:
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn))
                                                     for op in node.ops):
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                if names & {"train_and_score", "train_together", "evaluate", "fit_and_score"}:
                    found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert not found


def test_trial_fields_are_declared_once():
    """No module but trial.py lists several of a trial's fields together."""
    names = {f.name for f in fields(TrialResult)} - {"strategy", "repetition", "trial", "seed", "params"}
    listed_together = []
    for path in MODULES:
        if path.name == "trial.py":
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
                listed = {e.value for e in node.elts if isinstance(e, ast.Constant)} & names
                if len(listed) >= 3:
                    listed_together.append(f"{path.name}:{node.lineno} lists trial fields {sorted(listed)}")
    assert not listed_together
