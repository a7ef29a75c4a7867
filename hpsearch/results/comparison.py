"""Comparing strategies: anytime curves, the comparison table, statistics.

Definitions (the columns of ``comparison.csv``, named here for RMSE; a
classification problem has ``log_loss`` in their place, ``prior`` for the mean
and ``logistic`` for linear, and ``test_accuracy_mean`` and
``test_roc_auc_mean`` beside them):

* ``best_val_rmse_*``: per repetition, the lowest validation RMSE a strategy
  found; mean, standard deviation (ddof=1) and median over repetitions.
* ``test_rmse_mean``: per repetition, the test RMSE of the configuration that
  validation chose (retrained with its seed, scored once on test); the mean.
* ``baseline_rmse``: predicting the training mean, on test, averaged over
  repetitions; ``linear_rmse``: ordinary least squares, likewise.
* ``skill``: ``1 - test_rmse_mean / baseline_rmse``; 0 means no better than the mean.
* target: within 0.5% of the best validation RMSE that any strategy found in
  that repetition. ``trials_to_target``: trials until a strategy's best so far
  reaches it; ``seconds_to_target`` and ``epochs_to_target``: training seconds
  and epochs spent until then (summed over the strategy's trials in proposal
  order, so runs with different worker counts or interleaving compare fairly).
  Averaged over the repetitions where the target was reached; ``reached_target``
  says in how many.
* ``trials_per_second``: trials per second of training time of one worker.
* ``failures``: trials that raised or diverged, over all repetitions.
* ``mean_rank``: rank by best validation RMSE within each repetition (1 is
  best, ties share the mean rank), averaged over repetitions.
* ``success_90``, ``ert_90``: runtime to target as the COCO platform defines it
  (Hansen et al.). In repetition r, ``base`` is the predict-the-mean validation
  RMSE and ``best_any`` the lowest best validation RMSE any strategy found; the
  target of level q is ``base - q * (base - best_any)``. A strategy's runtime is
  the cumulative cost (epochs trained; training seconds for an estimator without
  iterations) in trial order up to and including its first trial at or below
  the target; a repetition that never reaches it is unsuccessful and costs all
  the strategy spent in it. ``success_q`` = successes / repetitions; ``ert_q`` =
  the sum of the costs of all repetitions / successes (infinite without one).
  Every level (0.5, 0.8, 0.9, 0.95, 0.99) is in ``targets.csv``; ``ecdf.csv``
  is the data profile: the share of (repetition, level) pairs reached against
  cost.
* ``p_value_vs_random``: two-sided paired Wilcoxon signed-rank test of the
  relative differences of the best validation RMSE to random search's, per
  independent unit (a repetition; repetitions replaying one recorded seed are one
  unit), exact up to 16 units (:mod:`hpsearch.results.verdict`). With R units the
  smallest possible p-value is 2 / 2^R (0.0625 for 5): few repetitions cannot show
  significance, whatever the difference. ``p_holm_vs_random``: Holm over the
  strategies; ``rel_diff_pct`` and its ``_ci_low/_high``: the relative shift and its
  Holm-consistent interval; ``verdict``: better, worse, equivalent (the interval within
  +-``[verdict] rope``) or cannot tell, the one rule of every hpsearch verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hpsearch.data.metrics import REGRESSION, Metric, metric_of
from hpsearch.results import verdict
from hpsearch.search.trial import FAILED

TARGET_TOLERANCE = 0.005


def columns(m: Metric = REGRESSION) -> list[str]:
    """The columns of ``comparison.csv`` for metric ``m``."""
    return [
        "strategy", "repetitions", f"{m.best_val}_mean", f"{m.best_val}_std", f"{m.best_val}_median",
        f"{m.loss('test')}_mean", f"{m.loss('test')}_std", f"baseline_{m.name}", f"{m.reference}_{m.name}",
        "skill", *[f"test_{e}_mean" for e in m.extras], "trials_mean",
        "trials_to_target", "seconds_to_target", "epochs_to_target", "reached_target",
        "trials_per_second", "epochs_trained_mean", "failures", "mean_rank", "p_value_vs_random",
        "train_seconds_mean", "success_90", "ert_90", "p_holm_vs_random", "rel_diff_pct", "rel_diff_pct_ci_low",
        "rel_diff_pct_ci_high", "verdict",
    ]


COLUMNS = columns()


def progress_curves(trials: pd.DataFrame, baselines: pd.Series | None = None) -> pd.DataFrame:
    """Per strategy and repetition, in proposal order: best so far and cost so far.

    With ``baselines`` (predict-the-mean validation RMSE by repetition), also
    ``ratio_so_far`` = best so far / baseline: 1 is no better than the mean.
    """
    t = trials.sort_values(["strategy", "repetition", "trial"]).copy()
    t["ok_val"] = t[metric_of(trials.columns).loss("val")].where(t["status"] == "ok")
    group = t.groupby(["strategy", "repetition"], sort=False)
    # cummin leaves a failed trial's NaN in place: carry the best so far over it
    t["best_so_far"] = group["ok_val"].cummin()
    t["best_so_far"] = t.groupby(["strategy", "repetition"], sort=False)["best_so_far"].ffill()
    if baselines is not None:
        t["ratio_so_far"] = t["best_so_far"] / t["repetition"].map(baselines)
    t["trials_so_far"] = group.cumcount() + 1
    t["seconds_so_far"] = group["seconds"].cumsum()
    t["epochs_so_far"] = group["epochs_trained"].cumsum()
    keep = ["strategy", "repetition", "trial", "best_so_far", "trials_so_far", "seconds_so_far",
            "epochs_so_far"] + (["ratio_so_far"] if baselines is not None else [])
    out = t[keep].reset_index(drop=True)
    out.attrs["metric"] = metric_of(trials.columns).name
    return out


def _to_target(curves: pd.DataFrame, best: pd.DataFrame, m: Metric) -> pd.DataFrame:
    """Cost until each (strategy, repetition) got within the tolerance of the repetition's best."""
    target = best.groupby("repetition")[m.best_val].min() * (1 + TARGET_TOLERANCE)
    rows = []
    for (strategy, rep), c in curves.groupby(["strategy", "repetition"], sort=False):
        hit = c[c["best_so_far"] <= target.get(rep, -np.inf)]
        first = hit.iloc[0] if len(hit) else None
        rows.append({"strategy": strategy, "repetition": rep,
                     "trials_to_target": np.nan if first is None else first["trials_so_far"],
                     "seconds_to_target": np.nan if first is None else first["seconds_so_far"],
                     "epochs_to_target": np.nan if first is None else first["epochs_so_far"]})
    return pd.DataFrame(rows)


def _verdicts(summary: pd.DataFrame, m: Metric, rope: float) -> dict:
    """Each strategy against random search on the best validation loss, per independent unit
    (repetitions replaying one recorded seed averaged), by :func:`hpsearch.results.verdict.compare`."""
    unit = "unit" if "unit" in summary.columns else "repetition"
    wide = summary.pivot_table(index=unit, columns="strategy", values=m.best_val, aggfunc="mean")
    if "random" not in wide.columns:
        return {}
    relative = wide.sub(wide["random"], axis=0).div(wide["random"], axis=0)
    family = {s: [relative[s].dropna().to_numpy()] for s in wide.columns
              if s != "random" and relative[s].notna().any()}
    return verdict.compare(family, rope=rope) if family else {}


def comparison_table(trials: pd.DataFrame, summary: pd.DataFrame,
                     strategy_order: list[str] | None = None, targets: pd.DataFrame | None = None,
                     rope: float = verdict.ROPE) -> pd.DataFrame:
    """One row per strategy; see the module doc for each column (``targets``: the
    :func:`targets_table` of these trials, when the caller has it already)."""
    order = strategy_order or list(dict.fromkeys(summary["strategy"]))
    m = metric_of(summary.columns)
    test, base_test, ref_test = m.loss("test"), m.baseline_loss("test"), m.reference_loss("test")
    best = summary[["strategy", "repetition", m.best_val, test, base_test, ref_test]
                   + [f"test_{e}" for e in m.extras]]
    wide = best.pivot(index="repetition", columns="strategy", values=m.best_val)
    ranks = wide.rank(axis=1, method="average")
    curves = progress_curves(trials)
    target = _to_target(curves, best, m)
    ert = ert_table(targets_table(trials, summary, curves=curves) if targets is None else targets)
    decided = _verdicts(summary, m, rope)
    rows = []
    for strategy in order:
        mine = best[best["strategy"] == strategy]
        t = trials[trials["strategy"] == strategy]
        reach = target[target["strategy"] == strategy]
        base = float(mine[base_test].mean())
        tested = float(mine[test].mean())
        said = decided.get(strategy, {})
        rows.append({
            "strategy": strategy,
            "repetitions": len(mine),
            f"{m.best_val}_mean": mine[m.best_val].mean(),
            f"{m.best_val}_std": mine[m.best_val].std(ddof=1),
            f"{m.best_val}_median": mine[m.best_val].median(),
            f"{test}_mean": tested,
            f"{test}_std": mine[test].std(ddof=1),
            f"baseline_{m.name}": base,
            f"{m.reference}_{m.name}": float(mine[ref_test].mean()),
            "skill": 1 - tested / base,
            **{f"test_{e}_mean": float(mine[f"test_{e}"].mean()) for e in m.extras},
            "trials_mean": len(t) / max(len(mine), 1),
            "trials_to_target": reach["trials_to_target"].mean(),
            "seconds_to_target": reach["seconds_to_target"].mean(),
            "epochs_to_target": reach["epochs_to_target"].mean(),
            "reached_target": int(reach["trials_to_target"].notna().sum()),
            "trials_per_second": len(t) / t["seconds"].sum() if t["seconds"].sum() > 0 else np.nan,
            "epochs_trained_mean": t["epochs_trained"].sum() / max(len(mine), 1),
            "failures": int(t["status"].isin(FAILED).sum()),
            "mean_rank": ranks[strategy].mean() if strategy in ranks else np.nan,
            "p_value_vs_random": said.get("p_value", np.nan), "p_holm_vs_random": said.get("p_holm", np.nan),
            "rel_diff_pct": said.get("estimate_pct", np.nan), "rel_diff_pct_ci_low": said.get("ci_low_pct", np.nan),
            "rel_diff_pct_ci_high": said.get("ci_high_pct", np.nan), "verdict": said.get("verdict"),
        })
        rows[-1]["train_seconds_mean"] = float(t["seconds"].sum()) / max(len(mine), 1)
        at_90 = ert[(ert["strategy"] == strategy) & (ert["level"] == 0.9)]
        rows[-1]["success_90"] = float(at_90["success"].iloc[0]) if len(at_90) else np.nan
        rows[-1]["ert_90"] = float(at_90["ert"].iloc[0]) if len(at_90) else np.nan
    return pd.DataFrame(rows, columns=columns(m))


LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)


def targets_table(trials: pd.DataFrame, summary: pd.DataFrame, levels=LEVELS,
                  curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (strategy, repetition, level): the target, whether it was reached, the cost
    (see the module doc: COCO's runtime, unsuccessful repetitions cost everything)."""
    m = metric_of(summary.columns)
    base = summary.groupby("repetition")[m.baseline_loss("val")].first()
    best_any = summary.groupby("repetition")[m.best_val].min()
    curves = progress_curves(trials) if curves is None else curves
    cost = "epochs_so_far" if trials["epochs_trained"].sum() > 0 else "seconds_so_far"
    rows = []
    for (strategy, rep), c in curves.groupby(["strategy", "repetition"], sort=False):
        spent = float(c[cost].iloc[-1])
        for q in levels:
            target = base[rep] - q * (base[rep] - best_any[rep])
            hit = c[c["best_so_far"] <= target + 1e-12]
            rows.append({"strategy": strategy, "repetition": rep, "level": q, "target": target,
                         "reached": len(hit) > 0, "cost": float(hit[cost].iloc[0]) if len(hit) else spent,
                         "cost_unit": cost.removesuffix("_so_far")})
    return pd.DataFrame(rows)


def ert_table(targets: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and level: the share of repetitions that reached the target and the
    expected running time (sum of all costs / successes; infinite without one)."""
    rows = []
    for (strategy, level), g in targets.groupby(["strategy", "level"], sort=False):
        successes = int(g["reached"].sum())
        rows.append({"strategy": strategy, "level": level, "success": successes / len(g),
                     "ert": g["cost"].sum() / successes if successes else np.inf})
    return pd.DataFrame(rows)


def data_profile(targets: pd.DataFrame, points: int = 100) -> pd.DataFrame:
    """The share of (repetition, level) pairs each strategy reached within a cost,
    on a log grid of costs (COCO's empirical cumulative distribution of runtimes)."""
    costs = targets.loc[targets["reached"], "cost"]
    low = max(float(costs[costs > 0].min()) if (costs > 0).any() else 1.0, 1e-9)
    high = max(float(targets["cost"].max()), low * 1.01)
    low = min(low / 2, high / 10)  # at least a decade, starting before the first target is reached
    grid = np.geomspace(low, high, points)
    rows = []
    for strategy, g in targets.groupby("strategy", sort=False):
        reached = np.sort(g.loc[g["reached"], "cost"].to_numpy())
        share = np.searchsorted(reached, grid, side="right") / len(g)
        rows.append(pd.DataFrame({"strategy": strategy, "cost": grid, "share": share}))
    return pd.concat(rows, ignore_index=True)


def anytime_curve(curves: pd.DataFrame, x: str, y: str = "best_so_far", points: int = 200,
                  level: float = 0.95, resamples: int = 1000) -> pd.DataFrame:
    """Mean of ``y`` over repetitions against ``x`` with a bootstrap band, as COCO and Syne Tune
    draw anytime curves.

    ``x`` is ``trials_so_far``, ``seconds_so_far`` or ``epochs_so_far``. Each
    repetition's best-so-far is a step function of x, carried forward past its last
    trial; it is read on a common grid (the trial counts themselves for
    ``trials_so_far``). The mean is given only where every repetition has a value
    (from the x at which the last of them has its first successful trial on), so it
    never averages different sets of repetitions and a best-so-far mean cannot rise.
    The band is the percentile bootstrap interval of that mean over repetitions
    (``resamples`` resamples, seeded): it stays inside the data's range. ``n`` is the
    number of repetitions with a value at x.
    """
    rows = []
    rng = np.random.default_rng(0)
    for strategy, group in curves.groupby("strategy", sort=False):
        if x == "trials_so_far":
            grid = np.arange(1, int(group[x].max()) + 1, dtype=float)
        else:
            grid = np.linspace(0, float(group[x].max()), points)[1:]
        columns = []
        for _, c in group.groupby("repetition"):
            idx = np.searchsorted(c[x].to_numpy(), grid, side="right") - 1
            vals = np.where(idx >= 0, c[y].to_numpy()[np.clip(idx, 0, None)], np.nan)
            columns.append(vals)
        values = np.vstack(columns)
        n = np.sum(np.isfinite(values), axis=0)
        complete = n == values.shape[0]
        mean = np.full(len(grid), np.nan)
        low, high = mean.copy(), mean.copy()
        if complete.any():
            full = values[:, complete]
            mean[complete] = full.mean(axis=0)
            if values.shape[0] > 1:
                picks = rng.integers(values.shape[0], size=(resamples, values.shape[0]))
                boot = full[picks].mean(axis=1)
                low[complete] = np.percentile(boot, 100 * (1 - level) / 2, axis=0)
                high[complete] = np.percentile(boot, 100 * (1 + level) / 2, axis=0)
            else:
                low[complete] = high[complete] = mean[complete]
        rows.append(pd.DataFrame({"strategy": strategy, x.removesuffix("_so_far"): grid, "mean": mean,
                                  "low": low, "high": high, "n": n}))
    return pd.concat(rows, ignore_index=True)


def anytime_table(curves: pd.DataFrame, x: str) -> pd.DataFrame:
    """The CSV behind an anytime plot: the loss and loss/baseline, mean and band, by x
    (the loss columns are named ``rmse_*`` for regression, ``log_loss_*`` for classification)."""
    name = curves.attrs.get("metric", "rmse")
    loss = anytime_curve(curves, f"{x}_so_far", "best_so_far")
    ratio = anytime_curve(curves, f"{x}_so_far", "ratio_so_far")
    out = loss.rename(columns={"mean": f"{name}_mean", "low": f"{name}_low", "high": f"{name}_high"})
    for column in ("mean", "low", "high"):
        out.insert(len(out.columns) - 1, f"ratio_{column}", ratio[column].to_numpy())
    return out
