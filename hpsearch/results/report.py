"""Tables from a run: trials, per-search summary, printed results.

The report never reruns anything: it reads what the engine recorded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpsearch.data.metrics import REGRESSION, Metric, metric_of
from hpsearch.files import write_atomic
from hpsearch.search.trial import FAILED, TIMING_COLUMNS, TrialResult, table_columns  # noqa: F401  (TIMING_COLUMNS: re-exported)


def trials_table(records: list[dict], param_names: list[str], strategy_order: list[str],
                 metric: Metric = REGRESSION) -> pd.DataFrame:
    """One row per trial, one column per quantity (:mod:`hpsearch.search.trial`), losses
    named after ``metric``; sorted so it does not depend on timing."""
    rows = [TrialResult.from_record(r).row(param_names, metric) for r in records]
    table = pd.DataFrame(rows, columns=table_columns(param_names, metric))
    order = {name: i for i, name in enumerate(strategy_order)}
    table = table.sort_values(["repetition", "strategy", "trial"],
                              key=lambda c: c.map(order) if c.name == "strategy" else c)
    for column in (metric.loss("train"), metric.loss("val")):
        table[column] = table[column].astype(float)
    return table.reset_index(drop=True)


def summary_table(trials: pd.DataFrame, tests: dict, baselines: dict, param_names: list[str],
                  strategy_order: list[str], metric: Metric = REGRESSION) -> pd.DataFrame:
    """One row per (strategy, repetition): the chosen configuration, its losses (and,
    for classification, accuracy and ROC AUC on test) and the baselines."""
    rows = []
    val = metric.loss("val")
    for (strategy, repetition), group in trials.groupby(["strategy", "repetition"], sort=False):
        ok = group[group["status"] == "ok"]
        best = ok.sort_values([val, "trial"]).iloc[0] if len(ok) else None
        base = baselines[repetition]
        test = tests.get((strategy, repetition))
        row = {"strategy": strategy, "repetition": repetition, "trials": len(group),
               "failures": int(group["status"].isin(FAILED).sum()),
               "best_trial": None if best is None else int(best["trial"])}
        row.update({name: None if best is None else best[name] for name in param_names})
        row.update({
            metric.best_val: np.nan if best is None else float(best[val]),
            metric.loss("test"): np.nan if test is None else test.test_loss,
        })
        for extra in metric.extras:
            row[f"val_{extra}"] = np.nan if best is None else float(best[f"val_{extra}"])
            row[f"test_{extra}"] = np.nan if test is None else test.scores.get(f"test_{extra}", np.nan)
        row.update({
            metric.baseline_loss("val"): base.baseline_val,
            metric.baseline_loss("test"): base.baseline_test,
            metric.reference_loss("val"): base.reference_val,
            metric.reference_loss("test"): base.reference_test,
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
    write_atomic(path, table.to_csv(index=False))  # full precision: rounding is for the md and tex tables


NAMES = {"mean": "predict the mean", "linear": "linear regression", "prior": "class prior",
         "logistic": "logistic regression"}


def results_text(summary: pd.DataFrame, param_names: list[str]) -> str:
    """What ``hpsearch run`` prints at the end: best configurations beside the baselines.

    With several repetitions: the mean over repetitions per strategy instead.
    """
    m = metric_of(summary.columns)
    if summary["repetition"].nunique() > 1:
        return _repetitions_text(summary, m)
    base, ref = NAMES[m.baseline], NAMES[m.reference]
    lines = []
    for strategy, group in summary.groupby("strategy", sort=False):
        valid = group.dropna(subset=[m.best_val])
        if valid.empty:
            lines.append(f"{strategy}: no trial finished")
            continue
        best = valid.sort_values(m.best_val).iloc[0]
        params = ", ".join(f"{n}={_fmt(best[n])}" for n in param_names)
        skill = 1 - best[m.loss("test")] / best[m.baseline_loss("test")]
        lines.append(f"{strategy}: best of {int(best['trials'])} trials: {params}")
        lines += aligned([["", "validation", "test"],
                          ["tuned", f"{best[m.best_val]:.4f}", f"{best[m.loss('test')]:.4f}"],
                          [base, f"{best[m.baseline_loss('val')]:.4f}", f"{best[m.baseline_loss('test')]:.4f}"],
                          [ref, f"{best[m.reference_loss('val')]:.4f}", f"{best[m.reference_loss('test')]:.4f}"]],
                         first=26)
        lines.append(f"  skill vs the {m.baseline} on test (1 - {m.label}/{m.label}_{m.baseline}): {skill:+.2%}")
        lines += [f"  {e.replace('_', ' ')} of the tuned model: validation {best[f'val_{e}']:.4f}, "
                  f"test {best[f'test_{e}']:.4f}" for e in m.extras]
    return "\n".join(lines)


def _repetitions_text(summary: pd.DataFrame, m: Metric) -> str:
    reps = summary["repetition"].nunique()
    test, base_test = m.loss("test"), m.baseline_loss("test")
    rows = [["", "validation", "test", "skill"]]
    for strategy, g in summary.groupby("strategy", sort=False):
        rows.append([str(strategy), _pm(g[m.best_val]), _pm(g[test]), f"{1 - g[test].mean() / g[base_test].mean():+.2%}"])
    first = summary.drop_duplicates("repetition")
    rows.append([NAMES[m.baseline], _pm(first[m.baseline_loss('val')]), _pm(first[base_test]), f"{0:+.2%}"])
    rows.append([NAMES[m.reference], _pm(first[m.reference_loss('val')]), _pm(first[m.reference_loss('test')]),
                 f"{1 - first[m.reference_loss('test')].mean() / first[base_test].mean():+.2%}"])
    lines = [f"mean {m.label} over {reps} repetitions (± standard deviation); test = the configuration "
             f"validation chose, scored once", *aligned(rows, first=20)]
    for extra in m.extras:
        means = ", ".join(f"{s} {g[f'test_{extra}'].mean():.4f}" for s, g in summary.groupby("strategy", sort=False))
        lines.append(f"  test {extra.replace('_', ' ')}: {means}")
    return "\n".join(lines)


def trials_so_far(records: list[dict], param_names: list[str], metric: Metric) -> list[str]:
    """Per strategy and repetition of a run still going: trials stored, the best validation loss so far
    and its hyperparameters, as aligned lines."""
    table = trials_table(records, param_names, list(dict.fromkeys(r["strategy"] for r in records)), metric)
    val = metric.loss("val")
    rows = [["strategy", "repetition", "trials", f"best val {metric.label}", "at"]]
    for (strategy, repetition), group in table.groupby(["strategy", "repetition"], sort=False):
        done = group.dropna(subset=[val])
        best = done.sort_values([val, "trial"]).iloc[0] if len(done) else None
        rows.append([str(strategy), str(repetition), str(len(group)),
                     "-" if best is None else f"{best[val]:.4f}",
                     "" if best is None else ", ".join(f"{n}={_fmt(best[n])}" for n in param_names if n in best)])
    return aligned(rows)


def status_line(trials: pd.DataFrame) -> str:
    """``trials: 28 ok, 2 diverged (most common: ...)``: what happened to the trials."""
    if trials.empty:
        return "trials: none"
    counts = trials["status"].value_counts()
    parts = [f"{int(counts.get(status, 0))} {status}" for status in ("ok", "stopped", "diverged", "failed")
             if counts.get(status)]
    line = "trials: " + ", ".join(parts)
    bad = trials.loc[trials["status"].isin(FAILED), "message"].fillna("").replace("", np.nan).dropna()
    if len(bad):
        line += f" (most common failure: {bad.value_counts().index[0]})"
    return line


def aligned(rows: list[list[str]], first: int = 0) -> list[str]:
    """Rows of cells as indented lines in columns as wide as their widest cell (two spaces apart):
    the first column left-aligned (at least ``first`` wide), the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    widths[0] = max(widths[0], first)
    return ["  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                             enumerate(zip(row, widths))).rstrip() for row in rows]


def _pm(values: pd.Series) -> str:
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)
