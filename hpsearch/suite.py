"""Comparing strategies over many problems: the verdict of a suite.

A block is a (problem, repetition) pair: every strategy ran on the same split
with the same network seeds, so the strategies' results in a block are paired.
The value of a strategy in a block is its final best validation loss (RMSE, or
log loss for classification). Over the blocks (Demšar 2006):

* ``mean_rank``: rank within each block (1 is best, ties share the mean rank),
  averaged over the blocks.
* ``wins``, ``ties``, ``losses`` against random search: blocks where the
  strategy's value is lower, equal (within 1e-12 relative), higher.
* ``p_value_vs_random``: two-sided Wilcoxon signed-rank test of the values
  against random search's over the blocks; ``p_holm_vs_random``: the same with
  Holm's correction over the strategies compared with random.
* ``rel_diff_pct_mean``: the mean over blocks of ``100 * (value - random's) /
  random's`` (negative: lower loss than random); ``rel_diff_pct_ci_low/high``:
  its 95% bootstrap interval (BCa, 9,999 resamples of the blocks).
* ``detectable_diff_pct``: the smallest mean relative difference these blocks
  could detect with 80% power at the Bonferroni level (the first step of Holm):
  ``(z(1 - 0.05 / (2 m)) + z(0.8)) * sd / sqrt(n)``, from the standard deviation
  of the relative differences over the n blocks (a normal approximation of the
  paired test), m the strategies compared with random.
* ``friedman.json``: ``scipy.stats.friedmanchisquare`` on the values (one
  sample per strategy, the blocks in the same order); ``cd-diagram.png``: the
  critical-difference diagram, mean ranks with strategies joined where the
  Nemenyi test (``scikit_posthocs.posthoc_nemenyi_friedman``, alpha 0.05)
  cannot tell them apart.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from hpsearch.comparison import paired_wilcoxon
from hpsearch.metrics import metric_of

REFERENCE = "random"
ALPHA = 0.05
TIE = 1e-12


def blocks_table(summaries: dict[str, pd.DataFrame], order: list[str]) -> pd.DataFrame:
    """The final best validation loss per block (rows: problem, repetition) and strategy (columns)."""
    parts = []
    for problem, summary in summaries.items():
        m = metric_of(summary.columns)
        wide = summary.pivot(index="repetition", columns="strategy", values=m.best_val)
        wide.index = pd.MultiIndex.from_product([[problem], wide.index], names=["problem", "repetition"])
        parts.append(wide)
    table = pd.concat(parts)
    return table[[s for s in order if s in table.columns]].dropna()


def suite_table(blocks: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """One row per strategy; see the module doc for each column."""
    ranks = blocks.rank(axis=1, method="average")
    others = [s for s in blocks.columns if s != reference] if reference in blocks.columns else []
    n = len(blocks)
    rows = []
    for strategy in blocks.columns:
        row = {"strategy": strategy, "blocks": n, "problems": blocks.index.get_level_values(0).nunique(),
               "mean_rank": float(ranks[strategy].mean())}
        if strategy in others:
            row.update(_against(blocks[strategy].to_numpy(), blocks[reference].to_numpy(), len(others)))
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    if others:
        from statsmodels.stats.multitest import multipletests

        tested = table["p_value_vs_random"].notna()
        if tested.any():
            table.loc[tested, "p_holm_vs_random"] = multipletests(table.loc[tested, "p_value_vs_random"],
                                                                  method="holm")[1]
    return table[COLUMNS]


COLUMNS = ["strategy", "blocks", "problems", "mean_rank", "wins_vs_random", "ties_vs_random", "losses_vs_random",
           "p_value_vs_random", "p_holm_vs_random", "rel_diff_pct_mean", "rel_diff_pct_ci_low",
           "rel_diff_pct_ci_high", "detectable_diff_pct"]


def _against(values: np.ndarray, reference: np.ndarray, compared: int) -> dict:
    diff = values - reference
    tie = np.abs(diff) <= TIE * np.abs(reference)
    relative = 100 * diff / reference
    low, high = bootstrap_interval(relative)
    z = stats.norm.ppf(1 - ALPHA / (2 * compared)) + stats.norm.ppf(0.8)
    spread = float(np.std(relative, ddof=1)) if len(relative) > 1 else np.nan
    return {"wins_vs_random": int(np.sum((diff < 0) & ~tie)), "ties_vs_random": int(np.sum(tie)),
            "losses_vs_random": int(np.sum((diff > 0) & ~tie)),
            "p_value_vs_random": paired_wilcoxon(values, reference),
            "rel_diff_pct_mean": float(np.mean(relative)), "rel_diff_pct_ci_low": low,
            "rel_diff_pct_ci_high": high, "detectable_diff_pct": z * spread / np.sqrt(len(relative))}


def bootstrap_interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% BCa bootstrap interval of the mean (percentile where BCa is undefined)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.all(values == values[0]):
        mean = float(np.mean(values)) if len(values) else np.nan
        return mean, mean
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = stats.bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=9999,
                                     method=method, rng=np.random.default_rng(seed))
        low, high = result.confidence_interval
        if np.isfinite(low) and np.isfinite(high):
            return float(low), float(high)
    return np.nan, np.nan


def friedman(blocks: pd.DataFrame) -> dict:
    """The Friedman test over the blocks (needs 3 strategies or more)."""
    out = {"test": "scipy.stats.friedmanchisquare", "values": "final best validation loss per (problem, repetition)",
           "strategies": list(blocks.columns), "blocks": len(blocks), "statistic": None, "p_value": None}
    if blocks.shape[1] >= 3 and len(blocks) >= 2:
        result = stats.friedmanchisquare(*[blocks[s].to_numpy() for s in blocks.columns])
        out["statistic"], out["p_value"] = float(result.statistic), float(result.pvalue)
    else:
        out["note"] = "the Friedman test needs at least 3 strategies and 2 blocks"
    return out


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of mean ranks for k strategies over n blocks."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6 * n)))


def nemenyi(blocks: pd.DataFrame) -> pd.DataFrame:
    """Pairwise Nemenyi p-values after Friedman (strategies x strategies)."""
    import scikit_posthocs

    p = scikit_posthocs.posthoc_nemenyi_friedman(blocks.to_numpy())
    p.index = p.columns = list(blocks.columns)
    return p


def verdicts(table: pd.DataFrame, alpha: float = ALPHA) -> list[str]:
    """Each strategy against random search, in plain words."""
    lines = []
    for row in table[table["strategy"] != REFERENCE].itertuples():
        if not np.isfinite(row.p_holm_vs_random):
            continue
        record = (f"{row.wins_vs_random:.0f}/{row.ties_vs_random:.0f}/{row.losses_vs_random:.0f} "
                  f"wins/ties/losses in {row.blocks} blocks")
        interval = (f"{row.rel_diff_pct_mean:+.2f}% (95% CI {row.rel_diff_pct_ci_low:+.2f}% to "
                    f"{row.rel_diff_pct_ci_high:+.2f}%)")
        if row.p_holm_vs_random < alpha:
            who = f"{row.strategy} beats random" if row.rel_diff_pct_mean < 0 else f"random beats {row.strategy}"
            lines.append(f"{who}: final best validation loss {interval} relative to random, "
                         f"p = {row.p_holm_vs_random:.2g} after Holm's correction; {record}.")
        else:
            lines.append(f"{row.strategy} vs random: the data cannot tell (p = {row.p_holm_vs_random:.2g} after "
                         f"Holm's correction; {interval}; {record}); these blocks could detect a mean "
                         f"difference of about {row.detectable_diff_pct:.2f}%.")
    return lines


def write_suite(blocks: pd.DataFrame, run_dir: Path, title: str) -> pd.DataFrame:
    """suite.csv/.md/.tex (with the verdicts under the markdown table), friedman.json, cd-diagram.png."""
    from hpsearch import export, plots
    from hpsearch.store import write_atomic

    table = suite_table(blocks)
    caption = (f"{len(blocks)} blocks (problem, repetition) over {table['problems'].iloc[0]} problems. "
               f"Values: final best validation loss. p: two-sided Wilcoxon signed-rank over the blocks against "
               f"random search, Holm-corrected; interval: 95% bootstrap (BCa) of the mean relative difference.")
    export.write_all_formats(table, run_dir / "suite", caption)
    lines = verdicts(table)
    if lines:
        text = (run_dir / "suite.md").read_text(encoding="utf-8")
        write_atomic(run_dir / "suite.md", text + "\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    write_atomic(run_dir / "friedman.json", json.dumps(friedman(blocks), indent=2) + "\n")
    if blocks.shape[1] >= 2 and len(blocks) >= 2:
        plots.cd_diagram(blocks.rank(axis=1, method="average").mean(), nemenyi(blocks),
                         critical_difference(blocks.shape[1], len(blocks)), run_dir / "cd-diagram.png", title)
    return table
