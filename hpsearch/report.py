"""Tables from a run: trials, per-search summary, printed results.

The report never reruns anything: it reads what the engine recorded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpsearch.trial import TIMING_COLUMNS, TrialResult, table_columns  # noqa: F401  (TIMING_COLUMNS: re-exported)


def trials_table(records: list[dict], param_names: list[str], strategy_order: list[str]) -> pd.DataFrame:
    """One row per trial, one column per quantity (:mod:`hpsearch.trial`); sorted so
    it does not depend on timing."""
    rows = [TrialResult.from_record(r).row(param_names) for r in records]
    table = pd.DataFrame(rows, columns=table_columns(param_names))
    order = {name: i for i, name in enumerate(strategy_order)}
    table = table.sort_values(["repetition", "strategy", "trial"],
                              key=lambda c: c.map(order) if c.name == "strategy" else c)
    for column in ("train_rmse", "val_rmse"):
        table[column] = table[column].astype(float)
    return table.reset_index(drop=True)


def summary_table(trials: pd.DataFrame, tests: dict, baselines: dict, param_names: list[str],
                  strategy_order: list[str]) -> pd.DataFrame:
    """One row per (strategy, repetition): the chosen configuration and the baselines."""
    rows = []
    for (strategy, repetition), group in trials.groupby(["strategy", "repetition"], sort=False):
        ok = group[group["status"] == "ok"]
        best = ok.sort_values(["val_rmse", "trial"]).iloc[0] if len(ok) else None
        base = baselines[repetition]
        test = tests.get((strategy, repetition))
        row = {"strategy": strategy, "repetition": repetition, "trials": len(group),
               "failures": int((group["status"] != "ok").sum()),
               "best_trial": None if best is None else int(best["trial"])}
        row.update({name: None if best is None else best[name] for name in param_names})
        row.update({
            "best_val_rmse": np.nan if best is None else float(best["val_rmse"]),
            "test_rmse": np.nan if test is None else test.test_rmse,
            "baseline_mean_val_rmse": base.mean_val_rmse,
            "baseline_mean_test_rmse": base.mean_test_rmse,
            "linear_val_rmse": base.linear_val_rmse,
            "linear_test_rmse": base.linear_test_rmse,
            "epochs_trained": int(group["epochs_trained"].sum()),
            "train_seconds": float(group["seconds"].sum()),
        })
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = {name: i for i, name in enumerate(strategy_order)}
    return table.sort_values(["repetition", "strategy"],
                             key=lambda c: c.map(order) if c.name == "strategy" else c).reset_index(drop=True)


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Write atomically, so a crash never leaves half a table."""
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False)  # full precision: rounding is for the md and tex tables
    tmp.replace(path)


def results_text(summary: pd.DataFrame, param_names: list[str]) -> str:
    """What ``hpsearch run`` prints at the end: best configurations beside the baselines.

    With several repetitions: the mean over repetitions per strategy instead.
    """
    if summary["repetition"].nunique() > 1:
        return _repetitions_text(summary)
    lines = []
    for strategy, group in summary.groupby("strategy", sort=False):
        valid = group.dropna(subset=["best_val_rmse"])
        if valid.empty:
            lines.append(f"{strategy}: no trial finished")
            continue
        best = valid.sort_values("best_val_rmse").iloc[0]
        params = ", ".join(f"{n}={_fmt(best[n])}" for n in param_names)
        skill = 1 - best["test_rmse"] / best["baseline_mean_test_rmse"]
        lines += [
            f"{strategy}: best of {int(best['trials'])} trials: {params}",
            f"  {'':26}{'validation':>11}{'test':>9}",
            f"  {'tuned network':26}{best['best_val_rmse']:>11.4f}{best['test_rmse']:>9.4f}",
            f"  {'predict the mean':26}{best['baseline_mean_val_rmse']:>11.4f}{best['baseline_mean_test_rmse']:>9.4f}",
            f"  {'linear regression':26}{best['linear_val_rmse']:>11.4f}{best['linear_test_rmse']:>9.4f}",
            f"  skill vs the mean on test (1 - RMSE/RMSE_mean): {skill:+.2%}",
        ]
    return "\n".join(lines)


def _repetitions_text(summary: pd.DataFrame) -> str:
    reps = summary["repetition"].nunique()
    lines = [f"mean over {reps} repetitions (± standard deviation); test = the configuration "
             f"validation chose, scored once",
             f"  {'':20}{'validation':>18}{'test':>18}{'skill':>9}"]
    for strategy, g in summary.groupby("strategy", sort=False):
        skill = 1 - g["test_rmse"].mean() / g["baseline_mean_test_rmse"].mean()
        lines.append(f"  {strategy:20}{_pm(g['best_val_rmse']):>18}{_pm(g['test_rmse']):>18}{skill:>+9.2%}")
    first = summary.drop_duplicates("repetition")
    lines.append(f"  {'predict the mean':20}{_pm(first['baseline_mean_val_rmse']):>18}"
                 f"{_pm(first['baseline_mean_test_rmse']):>18}{0:>+9.2%}")
    lines.append(f"  {'linear regression':20}{_pm(first['linear_val_rmse']):>18}"
                 f"{_pm(first['linear_test_rmse']):>18}"
                 f"{1 - first['linear_test_rmse'].mean() / first['baseline_mean_test_rmse'].mean():>+9.2%}")
    return "\n".join(lines)


def _pm(values: pd.Series) -> str:
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)
