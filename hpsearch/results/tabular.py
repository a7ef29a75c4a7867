"""How far a suite replayed from tables agrees with the same suite run live (``hpsearch table check``).

Per problem and outcome: the Spearman correlation of the strategies' mean ranks, and the
per-problem verdicts against random search (the ``verdict`` column both suites wrote by the one
rule of :mod:`hpsearch.results.verdict`) compared, random search against itself left out:
``decided_same`` (both decided, the same verdict), ``decided_opposite`` (better against worse),
``decided_differ`` (both decided, otherwise different: equivalent against better or worse),
``one_sided`` (one decided, the other cannot tell), ``neither`` (both cannot tell; no agreement
is claimed for these), and Cohen's kappa of the verdicts.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hpsearch.errors import RunError
from hpsearch.execution.runfolder import RunFolder

DECIDED = ("better", "worse", "equivalent")


def agreement_table(replayed: Path, live: Path) -> pd.DataFrame:
    """One row per (problem, outcome) both suites have (see the module doc)."""
    from scipy import stats
    from sklearn.metrics import cohen_kappa_score

    a, b = RunFolder(replayed).table("problems"), RunFolder(live).table("problems")
    for folder, table in ((replayed, a), (live, b)):
        if "verdict" not in table.columns:
            raise RunError(f"{folder}: problems.csv has no verdict column (written by an earlier hpsearch); "
                           f"run the suite again to compare it")
    rows = []
    for (problem, outcome), mine in a.groupby(["problem", "outcome"], sort=False):
        theirs = b[(b["problem"] == problem) & (b["outcome"] == outcome)]
        both = mine.merge(theirs, on="strategy", suffixes=("_replay", "_live"))
        if len(both) < 2:
            continue
        rho = stats.spearmanr(both["mean_rank_replay"], both["mean_rank_live"]).statistic
        pairs = [(x, y) for x, y in zip(both["verdict_replay"], both["verdict_live"])
                 if isinstance(x, str) and isinstance(y, str)]  # random against itself has none
        decided = [(x in DECIDED, y in DECIDED) for x, y in pairs]
        rows.append({"problem": problem, "outcome": outcome, "strategies": len(both),
                     "blocks_replay": int(mine["blocks"].max()), "blocks_live": int(theirs["blocks"].max()),
                     "spearman_mean_ranks": float(rho), "compared": len(pairs),
                     "decided_same": sum(x == y and d[0] for (x, y), d in zip(pairs, decided)),
                     "decided_opposite": sum({x, y} == {"better", "worse"} for x, y in pairs),
                     "decided_differ": sum(d[0] and d[1] and x != y and {x, y} != {"better", "worse"}
                                           for (x, y), d in zip(pairs, decided)),
                     "one_sided": sum(d[0] != d[1] for d in decided),
                     "neither": sum(not d[0] and not d[1] for d in decided),
                     "kappa": float(cohen_kappa_score([x for x, _ in pairs], [y for _, y in pairs]))
                     if len({*[x for x, _ in pairs], *[y for _, y in pairs]}) > 1 else float("nan")})
    if not rows:
        raise RunError(f"{replayed} and {live} share no problem and outcome (their problems.csv)")
    return pd.DataFrame(rows)


def agreement(replayed: Path, live: Path) -> str:
    """:func:`agreement_table` as markdown, with what it means in one line."""
    table = agreement_table(replayed, live)
    worst = table.loc[table["spearman_mean_ranks"].idxmin()]
    total = {k: int(table[k].sum()) for k in ("compared", "decided_same", "decided_opposite", "decided_differ",
                                               "one_sided", "neither")}
    words = (f"Mean ranks: Spearman's rho {table['spearman_mean_ranks'].min():.2f} at worst ({worst['problem']}, "
             f"{worst['outcome']}), {table['spearman_mean_ranks'].median():.2f} median. Per-problem verdicts "
             f"against random search ({total['compared']} compared, random left out): {total['decided_same']} "
             f"decided the same, {total['decided_opposite']} opposite, {total['decided_differ']} decided "
             f"differently, {total['one_sided']} decided by one suite only, {total['neither']} undecided by both "
             f"(not counted as agreement); Cohen's kappa {table['kappa'].median():.2f} median.")
    return table.to_markdown(index=False, floatfmt=".3f") + "\n\n" + words
