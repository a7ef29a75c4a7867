"""How far a suite replayed from tables agrees with the same suite run live (``hpsearch table check``).

Per problem and outcome: the Spearman correlation of the strategies' mean ranks, and the
per-problem verdicts against random search (Holm p < 0.05, with the sign of the mean
relative difference) compared: the same, one says nothing, or opposite signs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpsearch.errors import RunError
from hpsearch.execution.runfolder import RunFolder

ALPHA = 0.05


def verdict(row) -> int:
    """+1 better than random, -1 worse, 0 the data cannot tell (Holm p >= alpha, or random itself)."""
    p = row["p_holm_vs_random"]
    if not np.isfinite(p) or p >= ALPHA:
        return 0
    return -1 if row["rel_diff_pct_mean"] < 0 else 1


def agreement_table(replayed: Path, live: Path) -> pd.DataFrame:
    """One row per (problem, outcome) both suites have: strategies, Spearman's rho of the mean
    ranks, verdicts that agree, that one suite gives and the other does not, and opposite ones."""
    from scipy import stats

    a, b = RunFolder(replayed).table("problems"), RunFolder(live).table("problems")
    rows = []
    for (problem, outcome), mine in a.groupby(["problem", "outcome"], sort=False):
        theirs = b[(b["problem"] == problem) & (b["outcome"] == outcome)]
        both = mine.merge(theirs, on="strategy", suffixes=("_replay", "_live"))
        if len(both) < 2:
            continue
        rho = stats.spearmanr(both["mean_rank_replay"], both["mean_rank_live"]).statistic
        said = [(verdict({k: r[f"{k}_replay"] for k in ("p_holm_vs_random", "rel_diff_pct_mean")}),
                 verdict({k: r[f"{k}_live"] for k in ("p_holm_vs_random", "rel_diff_pct_mean")}))
                for _, r in both.iterrows()]
        rows.append({"problem": problem, "outcome": outcome, "strategies": len(both),
                     "blocks_replay": int(mine["blocks"].max()), "blocks_live": int(theirs["blocks"].max()),
                     "spearman_mean_ranks": float(rho),
                     "verdicts_same": sum(x == y for x, y in said),
                     "verdicts_one_only": sum((x == 0) != (y == 0) for x, y in said),
                     "verdicts_opposite": sum(x * y < 0 for x, y in said)})
    if not rows:
        raise RunError(f"{replayed} and {live} share no problem and outcome (their problems.csv)")
    return pd.DataFrame(rows)


def agreement(replayed: Path, live: Path) -> str:
    """:func:`agreement_table` as markdown, with what it means in one line."""
    table = agreement_table(replayed, live)
    opposite = int(table["verdicts_opposite"].sum())
    worst = table.loc[table["spearman_mean_ranks"].idxmin()]
    words = (f"Mean ranks: Spearman's rho {table['spearman_mean_ranks'].min():.2f} at worst ({worst['problem']}, "
             f"{worst['outcome']}), {table['spearman_mean_ranks'].median():.2f} median; per-problem verdicts vs "
             f"random (Holm p < {ALPHA}): {int(table['verdicts_same'].sum())} the same, "
             f"{int(table['verdicts_one_only'].sum())} given by one suite only, {opposite} opposite.")
    return table.to_markdown(index=False, floatfmt=".3f") + "\n\n" + words
