"""Sequential verdicts on tables: their error under the null and what they save.

    cd benchmarks; python sequential.py [--null 200]

* **A/A error**: random search against Optuna's RandomSampler (the same search by another
  implementation) replayed from the five reference tables for 500 repetitions each
  (``hpsearch run experiments/suite-aa.toml --out results/aa``). A null comparison is a sequence
  of 100 units of one problem: the 100 recorded seeds in a random order, each with one of its 5
  repetitions (which share the seed's split and network seeds, with strategy seeds of their
  own); ``--null`` sequences per problem, each decided at alpha = 0.05 (one comparison). The
  error is the share ending ``better`` or ``worse``. The sequences reuse the same 500 units per
  problem, so they are not independent: the binomial (Wilson) interval treats them as if they
  were and understates the uncertainty.
* **Savings**: the reference tabular suite (``results/reference/suite-tabular``: 7 strategies
  against random, 5 problems, 100 units each): the 35 per-problem comparisons decided
  sequentially at alpha / 35 (the suite's family) and, as when each problem is its own run until
  decided, at alpha / 7, against the fixed design's verdicts at N = 100 (Wilcoxon, Holm over the
  35); and the 7 pooled ones (each wave's mean relative difference over the 5 problems) at
  alpha / 7 against suite.csv's.
* **Runs until decided on tables**: ``--runs`` root seeds of a run until decided (at most 100
  repetitions, the default verdict) of random against optuna:RandomSampler replayed on each
  recorded table (``results/tables``, 100 seeds): how many end better or worse.
* **Cross-check**: the betting sequence against ``confseq.betting.betting_cs`` where confseq
  imports (its release predates NumPy 2: a copy with ``np.float_`` renamed works).

Writes benchmarks/results/sequential.csv (``check, comparisons, error, error_ci_high`` and the
savings columns beside them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from _common import report
from hpsearch.results.sequential import betting_cs, decide, decide_all

ROOT = Path(__file__).resolve().parents[1]
METHODS = (("betting", 0.05), ("betting", 0.5), ("asymptotic", 0.5))


def losses(folder: Path) -> pd.DataFrame:
    summary = pd.read_csv(folder / "summary.csv")
    summary["loss"] = summary["test_rmse"].fillna(summary["test_log_loss"]) if "test_log_loss" in summary \
        else summary["test_rmse"]
    return summary


def null_error(aa: pd.DataFrame, per_problem: int, method: str, clip: float, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    wide = aa.pivot_table(index=["problem", "repetition"], columns="strategy", values="loss")
    errors = decided = total = 0
    used = []
    for problem, table in wide.groupby(level=0):
        d = ((table["optuna:RandomSampler"] - table["random"]) / table["random"]).droplevel(0)
        by_seed = {s: d[d.index % 100 == s].to_numpy() for s in range(100)}
        for _ in range(per_problem):
            order = rng.permutation(100)
            sequence = [by_seed[s][rng.integers(len(by_seed[s]))] for s in order]
            out = decide(sequence, 0.05, 0.01, method, clip)
            total += 1
            errors += out.decision in ("better", "worse")
            decided += out.decided
            used.append(out.decided_at or 100)
    low, high = proportion_confint(errors, total, alpha=0.05, method="wilson")
    return {"check": f"A/A {method}" + (f" clip {clip:g}" if method == "betting" else ""), "comparisons": total,
            "error": errors / total, "error_ci_high": high, "decided_share": decided / total,
            "mean_repetitions": float(np.mean(used))}


def savings(suite: pd.DataFrame, fixed_problems: pd.DataFrame, fixed_pooled: pd.DataFrame, method: str,
            clip: float) -> list[dict]:
    wide = suite.pivot_table(index=["problem", "repetition"], columns="strategy", values="loss")
    strategies = [s for s in wide.columns if s != "random"]
    per_problem = {(p, s): ((t[s] - t["random"]) / t["random"]).to_numpy() for p, t in wide.groupby(level=0)
                   for s in strategies}
    pooled = {s: np.mean([per_problem[(p, s)] for p in wide.index.levels[0]], axis=0) for s in strategies}
    own_run = {}  # each problem its own run until decided: K = its 7 comparisons
    for problem in wide.index.levels[0]:
        own_run.update({(problem, s): d for s, d in decide_all(
            {s: per_problem[(problem, s)] for s in strategies}, 0.05, 0.01, method, clip).items()})
    rows = []
    for name, found, fixed in (("per problem, K = 35", decide_all(per_problem, 0.05, 0.01, method, clip),
                                fixed_problems),
                               (f"per problem, each its own run (K = {len(strategies)})", own_run, fixed_problems),
                               ("pooled", decide_all(pooled, 0.05, 0.01, method, clip), fixed_pooled)):
        table = pd.DataFrame([{"key": k, "fixed": fixed[k], "sequential": d.decision, "at": d.decided_at}
                              for k, d in found.items()])
        base = table[table["fixed"] != "cannot tell"]
        made = base[base["sequential"] != "cannot tell"]
        opposite = ((made["fixed"] == "better") & (made["sequential"] == "worse")) | (
            (made["fixed"] == "worse") & (made["sequential"] == "better"))
        rows.append({"check": f"savings {name} {method}" + (f" clip {clip:g}" if method == "betting" else ""),
                     "comparisons": len(table), "fixed_decided": len(base),
                     "decided_share": len(made) / max(len(base), 1),
                     "agreement": float((made["sequential"] == made["fixed"]).sum() / max(len(base), 1)),
                     "opposite": int(opposite.sum()), "cannot_tell": int((table["sequential"] == "cannot tell").sum()),
                     "mean_repetitions": float(table["at"].fillna(100).mean()),
                     "mean_repetitions_where_fixed_decides": float(base["at"].fillna(100).mean()),
                     "run_repetitions": float(table["at"].fillna(100).max())})
    return rows


def runs_on_tables(seeds: int, tables: Path) -> list[dict]:
    """Runs until decided (at most 100 repetitions) of random against optuna:RandomSampler, replayed
    on each recorded table for ``seeds`` root seeds: how many end better or worse."""
    import tempfile

    from hpsearch.config import parse
    from hpsearch.runner import run_experiment

    rows = []
    for table in sorted(p for p in tables.iterdir() if (p / "table.json").is_file()):
        decisions = []
        for seed in range(seeds):
            exp = parse({"name": "aa", "seed": 100 + seed, "strategies": ["random", "optuna:RandomSampler"],
                         "repetitions": {"max": 100, "until": "decided"}, "budget": {"epochs": 1200},
                         "table": {"path": str(table)}, "output": {"figures": "none"}}, "<benchmark>")
            folder = Path(tempfile.mkdtemp(prefix="hpsearch-aa-"))
            run_experiment(exp, folder / "run", progress=False)
            decisions.append(pd.read_csv(folder / "run" / "comparison.csv").set_index("strategy")
                             .loc["optuna:RandomSampler", "decision"])
        counts = pd.Series(decisions).value_counts().to_dict()
        rows.append({"check": f"A/A runs until decided on {table.name}", "comparisons": seeds,
                     "error": (counts.get("better", 0) + counts.get("worse", 0)) / seeds,
                     "decided_share": (seeds - counts.get("cannot tell", 0)) / seeds})
    return rows


def cross_check() -> dict:
    try:
        from confseq.betting import betting_cs as reference
    except Exception as exc:  # noqa: BLE001 (any reason it does not import)
        return {"check": "betting vs confseq", "note": f"confseq not importable: {type(exc).__name__}"}
    rng = np.random.default_rng(1)
    worst = 0.0
    for _ in range(20):
        x = rng.beta(rng.uniform(0.5, 5), rng.uniform(0.5, 5), size=int(rng.integers(5, 120)))
        a, b = reference(x, alpha=0.05), betting_cs(x, 0.05)
        worst = max(worst, float(np.max(np.abs(a[0] - b[0]))), float(np.max(np.abs(a[1] - b[1]))))
    return {"check": "betting vs confseq", "comparisons": 20, "max_abs_diff": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--null", type=int, default=200, help="null sequences per problem")
    parser.add_argument("--aa", default=str(ROOT / "results" / "aa"))
    parser.add_argument("--suite", default=str(ROOT / "results" / "reference" / "suite-tabular"))
    parser.add_argument("--runs", type=int, default=5, help="root seeds of runs until decided on each table")
    parser.add_argument("--tables", default=str(ROOT / "results" / "tables"))
    args = parser.parse_args()
    aa, suite = losses(Path(args.aa)), losses(Path(args.suite))
    problems = pd.read_csv(Path(args.suite) / "problems.csv")
    problems = problems[problems["outcome"] == "test"].set_index(["problem", "strategy"])["verdict"]
    pooled = pd.read_csv(Path(args.suite) / "suite.csv")
    pooled = pooled[pooled["outcome"] == "test"].set_index("strategy")["verdict"]
    rows = [null_error(aa, args.null, method, clip) for method, clip in METHODS]
    for method, clip in METHODS:
        rows += savings(suite, problems, pooled, method, clip)
    if args.runs:
        rows += runs_on_tables(args.runs, Path(args.tables))
    rows.append(cross_check())
    report("sequential", pd.DataFrame(rows), "A/A error, savings against the fixed design, cross-check")


if __name__ == "__main__":
    main()
