"""Mutation testing of hpsearch's core: how many plausible one-line bugs do the tests catch?

    pip install -e ".[mutation]"
    python benchmarks/mutation.py                 # a seeded sample of 250 mutants (about an hour, one core)
    python benchmarks/mutation.py --sample 0      # every mutant (several hours)

The tool is cosmic-ray (https://cosmic-ray.readthedocs.io). Chosen over mutmut because it
changes the module's file on disk, one mutant at a time: every process a test starts (the
loky and Dask workers that train the trials) runs the mutant too, where mutmut 3's
trampolines switch mutants inside the test process only; and its session is an SQLite file,
so an interrupted run resumes. It runs in a fresh clone of the committed HEAD in a temporary
folder, so the working tree is never left mutated, whatever stops the run.

The core modules and, for each, the functions mutated (all of a module where none are named):
the strategies, the suite's statistics and the verdict rule, the network's training step, the
trial store, the budget and the seeds. The operators are the one-line bugs a developer makes: a comparison
off by one (< for <=) or negated, + for -, * for /, a number off by one, a condition negated,
and for or, True for False, a loop that never runs, a sign or a `not` dropped.

A mutant is killed when a test fails: first the mutated module's own tests, then the fast
subset (`pytest -m "not slow"`), each stopping at its first failure. Survivors are listed in
``benchmarks/results/mutation.md``; one that cannot change behaviour is explained, in one line,
in ``benchmarks/mutation-equivalent.toml`` (keyed by module, function, operator and the mutated
line) and left out of the score.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
EQUIVALENT = ROOT / "benchmarks" / "mutation-equivalent.toml"

#: module (or package) -> (the functions mutated, None for all; its own tests)
CORE = {
    "hpsearch/search/strategies": (None, ["tests/test_strategies.py", "tests/test_multifidelity.py"]),
    "hpsearch/results/suite.py": ({"blocks_table", "relative_differences", "_groups", "suite_table", "_columns",
                                   "problems_table", "friedman", "critical_difference", "nemenyi", "leading_group"},
                                  ["tests/test_suite.py", "tests/test_verdict.py"]),
    "hpsearch/results/verdict.py": (None, ["tests/test_verdict.py", "tests/test_suite.py"]),
    "hpsearch/models/network.py": ({"forward", "_activate", "_derivative", "_output", "output_loss",
                                    "_half_squares", "_loss_value", "loss", "loss_and_gradients",
                                    "_first_layer_gradients", "step", "_descend", "train_epochs"},
                                   ["tests/test_network.py"]),
    "hpsearch/execution/store.py": (None, ["tests/test_store.py", "tests/test_durability.py"]),
    "hpsearch/search/budget.py": (None, ["tests/test_budget.py"]),
    "hpsearch/seeds.py": (None, ["tests/test_seeds.py"]),
}
OPERATORS = re.compile(
    r"core/(ReplaceComparisonOperator_(Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt|Eq_NotEq|NotEq_Eq|Is_IsNot|IsNot_Is|In_NotIn"
    r"|NotIn_In)|ReplaceBinaryOperator_(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Pow_Mul)|AddNot|NumberReplacer"
    r"|ReplaceAndWithOr|ReplaceOrWithAnd|ReplaceTrueWithFalse|ReplaceFalseWithTrue|ZeroIterationForLoop"
    r"|ReplaceBreakWithContinue|ReplaceContinueWithBreak|ReplaceUnaryOperator_Delete_USub"
    r"|ReplaceUnaryOperator_Delete_Not)$")


def _core_of(path: str) -> str | None:
    return next((core for core in CORE if path == core or path.startswith(core + "/")), None)


def run_tests(clone: Path) -> int:
    """cosmic-ray's test command: the mutated module's tests, then the fast subset (exit 0: survived)."""
    changed = subprocess.run(["git", "diff", "--name-only"], cwd=clone, capture_output=True, text=True).stdout.split()
    own = [t for path in changed if (core := _core_of(path)) for t in CORE[core][1]]
    env = {**os.environ, "PYTHONPATH": str(clone)}
    for tests in (own, ["tests"]):
        if tests:
            done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider",
                                   *tests], cwd=clone, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if done.returncode != 0:
                return 1
    return 0


def _key(module: str, definition: str | None, operator: str, mutated: str) -> str:
    """What names a mutant across versions (line numbers move): module, function, operator, and the line
    as the mutant has it."""
    return f"{module} :: {definition} :: {operator} :: {mutated.strip()}"


def _mutated(diff: str | None) -> str:
    """The mutant's own line, from cosmic-ray's diff."""
    added = [line[1:] for line in (diff or "").splitlines() if line.startswith("+") and not line.startswith("+++")]
    return added[0].strip() if added else ""


def _choose(session: Path, clone: Path, sample: int, seed: int) -> int:
    """Keep the core functions' mutants of the chosen operators, a seeded sample of them; the rest deleted."""
    db = sqlite3.connect(session)
    rows = db.execute("select job_id, module_path, operator_name, definition_name from mutation_specs").fetchall()
    kept = []
    for job, module, operator, definition in rows:
        relative = Path(module).resolve().relative_to(clone).as_posix()
        functions = CORE[_core_of(relative)][0]
        if OPERATORS.match(operator) and (functions is None or definition in functions):
            kept.append(job)
    if sample:
        kept = sorted(random.Random(seed).sample(sorted(kept), min(sample, len(kept))))
    chosen = set(kept)
    dropped = [(job,) for job, *_ in rows if job not in chosen]
    db.executemany("delete from mutation_specs where job_id = ?", dropped)
    db.executemany("delete from work_items where job_id = ?", dropped)
    db.commit()
    db.close()
    return len(kept)


def report(session: Path, clone: Path, command: str, seconds: float, sample: int, seed: int) -> str:
    """benchmarks/results/mutation.md and mutation.csv from the session."""
    equivalent = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")).get("equivalent", {}) \
        if EQUIVALENT.is_file() else {}
    db = sqlite3.connect(session)
    rows = db.execute("select s.module_path, s.operator_name, s.definition_name, s.start_pos_row, "
                      "r.test_outcome, r.worker_outcome, r.diff from mutation_specs s left join work_results r "
                      "on s.job_id = r.job_id order by s.module_path, s.start_pos_row").fetchall()
    out, lines_of = [], {}
    for module, operator, definition, row, outcome, worker, diff in rows:
        relative = Path(module).resolve().relative_to(clone).as_posix()
        lines = lines_of.setdefault(relative, (clone / relative).read_text(encoding="utf-8").splitlines())
        line = lines[row - 1] if row else ""
        key = _key(relative, definition, operator, _mutated(diff))
        state = (outcome or worker or "not run").lower()
        if state == "survived" and key in equivalent:
            state = "equivalent"
        out.append({"module": relative, "function": definition or "", "line": row, "operator": operator,
                    "outcome": state, "source": line.strip(), "mutant": _mutated(diff),
                    "why_equivalent": equivalent.get(key, "")})
    with open(RESULTS / "mutation.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(out[0]))
        writer.writeheader()
        writer.writerows(out)
    counts = {s: sum(r["outcome"] == s for r in out) for s in ("killed", "survived", "equivalent", "incompetent")}
    scored = counts["killed"] + counts["survived"]
    score = counts["killed"] / scored if scored else float("nan")
    low, high = _wilson(counts["killed"], scored)
    per_module = {}
    for r in out:
        m = per_module.setdefault(_core_of(r["module"]), {"killed": 0, "survived": 0})
        if r["outcome"] in m:
            m[r["outcome"]] += 1
    text = [
        "# Mutation testing of hpsearch's core", "",
        f"Tool: cosmic-ray; command: `{command}` (commit `{_head()}`, {seconds / 60:.0f} min).",
        f"Mutants: {len(out)} ({'a seeded sample, seed ' + str(seed) + ', of the core mutants' if sample else 'all core mutants'}"
        f" of the operators in `benchmarks/mutation.py`); killed {counts['killed']}, survived {counts['survived']}, "
        f"equivalent {counts['equivalent']} (explained in `benchmarks/mutation-equivalent.toml`), incompetent "
        f"{counts['incompetent']} (the mutant does not run: not counted).", "",
        f"**Score: {score:.1%} of the non-equivalent mutants killed** (95% Wilson interval {low:.1%} to {high:.1%}"
        f"{' for all core mutants, from this sample' if sample else ''}); a mutant is killed when the mutated module's "
        f"tests or the fast subset (`pytest -m \"not slow\"`) fail.", "",
        "| module | killed | survived | score |", "| --- | --- | --- | --- |",
        *[f"| `{m}` | {c['killed']} | {c['survived']} | "
          f"{c['killed'] / (c['killed'] + c['survived']):.0%} |" for m, c in per_module.items()
          if c["killed"] + c["survived"]],
        "", "## Survivors", "",
        "| module | function | line | operator | mutant |", "| --- | --- | --- | --- | --- |",
        *[f"| `{r['module']}` | `{r['function']}` | {r['line']} | {r['operator'].removeprefix('core/')} | "
          f"`{r['mutant'].replace('|', '/')}` |" for r in out if r["outcome"] == "survived"],
        "", "## Equivalent (cannot change behaviour)", "",
        *[f"- `{r['module']}` `{r['function']}` line {r['line']}, {r['operator'].removeprefix('core/')}: "
          f"{r['why_equivalent']}" for r in out if r["outcome"] == "equivalent"],
    ]
    (RESULTS / "mutation.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    return f"score {score:.1%} ({counts['killed']} of {scored}); {counts['equivalent']} equivalent"


def _wilson(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson interval of k of n (statsmodels')."""
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(k, n, method="wilson") if n else (float("nan"), float("nan"))


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=250, help="mutants, a seeded sample (0: all); default 250")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test", type=Path, help=argparse.SUPPRESS)  # cosmic-ray's test command, in the clone
    args = parser.parse_args()
    if args.test:
        return run_tests(args.test)
    clone = Path(tempfile.mkdtemp(prefix="hpsearch-mutation-"))
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    session, config = clone / "session.sqlite", clone / "cosmic-ray.toml"
    paths = ", ".join(f'"{clone / core}"' for core in CORE)
    config.write_text(f"[cosmic-ray]\nmodule-path = [{paths}]\ntimeout = 600.0\nexcluded-modules = []\n"
                      f'test-command = "{sys.executable} {clone / "benchmarks" / "mutation.py"} --test {clone}"\n'
                      f'[cosmic-ray.distributor]\nname = "local"\n', encoding="utf-8")
    subprocess.run(["cosmic-ray", "init", str(config), str(session)], check=True)
    chosen = _choose(session, clone, args.sample, args.seed)
    print(f"{chosen} mutants in {clone}; running them (one at a time)", flush=True)
    start = time.perf_counter()
    subprocess.run(["cosmic-ray", "exec", str(config), str(session)], check=True)
    command = "python benchmarks/mutation.py" + (f" --sample {args.sample}" if args.sample != 250 else "") + \
        (f" --seed {args.seed}" if args.seed else "")
    print(report(session, clone, command, time.perf_counter() - start, args.sample, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
