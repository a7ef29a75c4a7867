"""Comparing strategies over many problems: the verdict of a suite.

A block is a (problem, repetition) pair: every strategy ran on the same split
with the same network seeds, so the strategies' results in a block are paired.
Each block has two outcomes per strategy:

* ``test`` (the primary outcome): the held-out test loss (RMSE, or log loss for
  classification) of the configuration the strategy chose in that repetition.
  Validation picks the configuration, so the validation value of the choice is
  biased in favour of strategies that look at more configurations; the test
  split is touched once, for the chosen one.
* ``validation``: the final best validation loss, the value the search selected by.

Per outcome, over the blocks (Demšar 2006):

* ``mean_rank``: rank within each block (1 is best, ties share the mean rank),
  averaged over the blocks.
* ``wins``, ``ties``, ``losses`` against random search: blocks where the
  strategy's loss is lower, equal (within 1e-12 relative), higher.
* Tests against random search run on the per-block relative differences
  ``(loss - random's) / random's``, which have no unit, so that problems of
  different scales (an RMSE of 54 beside one of 0.42) weigh alike and a problem's
  target multiplied by 100 changes no p-value. ``p_value_vs_random``: two-sided
  Wilcoxon signed-rank test of the relative differences against 0;
  ``p_holm_vs_random``: Holm's correction over the strategies compared with random
  (per outcome).
* ``rel_diff_pct_mean``: the mean relative difference in percent (negative: lower
  loss than random); ``rel_diff_pct_ci_low/high``: its 95% bootstrap interval
  (BCa, 9,999 resamples of the blocks).
* ``detectable_diff_pct``: the smallest shift of the observed relative
  differences (centred on 0) at which the Wilcoxon test at the first level of Holm's
  procedure (alpha / m, m the strategies compared with random) rejects with 80%
  probability, estimated by resampling the blocks (400 resamples per shift,
  bisection; the test on a resample, which repeats blocks, takes the normal
  approximation with the tie correction): the difference these blocks could have
  detected, for the test reported. Empty where even n differences of one sign
  cannot reach the level (2 / 2^n >= alpha / m).

``problems.csv`` has one row per (problem, strategy, outcome) with the same
quantities within each problem, Holm's correction over the strategies of that
problem. ``friedman.json`` has ``scipy.stats.friedmanchisquare`` per outcome;
``cd-diagram.png`` is the critical-difference diagram of the test outcome (mean
ranks, strategies joined where the Nemenyi test,
``scikit_posthocs.posthoc_nemenyi_friedman`` at alpha 0.05, cannot tell them
apart), ``cd-diagram-validation.png`` the same for the validation outcome. The
verdicts in words (:func:`verdicts`) are generated from these tables only.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from hpsearch.data.metrics import metric_of

REFERENCE = "random"
ALPHA = 0.05
TIE = 1e-12
POWER = 0.8
OUTCOMES = ("test", "validation")


def blocks_table(summaries: dict[str, pd.DataFrame], order: list[str], outcome: str = "test") -> pd.DataFrame:
    """The loss per block (rows: problem, repetition) and strategy (columns): the chosen
    configuration's test loss (``outcome = "test"``) or its validation loss (``"validation"``)."""
    parts = []
    for problem, summary in summaries.items():
        m = metric_of(summary.columns)
        column = m.loss("test") if outcome == "test" else m.best_val
        wide = summary.pivot(index="repetition", columns="strategy", values=column)
        wide.index = pd.MultiIndex.from_product([[problem], wide.index], names=["problem", "repetition"])
        parts.append(wide)
    table = pd.concat(parts)
    return table[[s for s in order if s in table.columns]].dropna()


def relative_differences(blocks: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Per block and strategy: ``(loss - reference's) / reference's`` (no unit)."""
    return blocks.sub(blocks[reference], axis=0).div(blocks[reference], axis=0)


def suite_table(blocks: pd.DataFrame, reference: str = REFERENCE, outcome: str = "test",
                seed: int = 0) -> pd.DataFrame:
    """One row per strategy; see the module doc for each column."""
    ranks = blocks.rank(axis=1, method="average")
    others = [s for s in blocks.columns if s != reference] if reference in blocks.columns else []
    relative = relative_differences(blocks, reference) if others else None
    rows = []
    for strategy in blocks.columns:
        row = {"outcome": outcome, "strategy": strategy, "blocks": len(blocks),
               "problems": blocks.index.get_level_values(0).nunique(), "mean_rank": float(ranks[strategy].mean())}
        if strategy in others:
            row.update(against(relative[strategy].to_numpy(), len(others), seed))
        rows.append(row)
    return holm(pd.DataFrame(rows, columns=COLUMNS))


COLUMNS = ["outcome", "strategy", "blocks", "problems", "mean_rank", "wins_vs_random", "ties_vs_random",
           "losses_vs_random", "p_value_vs_random", "p_holm_vs_random", "rel_diff_pct_mean", "rel_diff_pct_ci_low",
           "rel_diff_pct_ci_high", "detectable_diff_pct"]


def holm(table: pd.DataFrame) -> pd.DataFrame:
    """Fill ``p_holm_vs_random`` from ``p_value_vs_random`` (Holm over the rows tested)."""
    from statsmodels.stats.multitest import multipletests

    tested = table["p_value_vs_random"].notna()
    if tested.any():
        table.loc[tested, "p_holm_vs_random"] = multipletests(table.loc[tested, "p_value_vs_random"],
                                                              method="holm")[1]
    return table


def signed_rank_p(relative: np.ndarray, method: str = "auto") -> np.ndarray | float:
    """Two-sided Wilcoxon signed-rank p of relative differences against 0 (rows: samples);
    1.0 where every difference is 0. ``method``: scipy's (``auto``: exact for small samples
    without ties; ``approx``: the normal approximation with the tie correction)."""
    relative = np.atleast_2d(relative)
    zero = np.all(relative == 0, axis=1)
    p = np.ones(len(relative))
    if (~zero).any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p[~zero] = stats.wilcoxon(relative[~zero], zero_method="zsplit", axis=1, method=method).pvalue
    return p if len(p) > 1 else float(p[0])


def against(relative: np.ndarray, compared: int, seed: int = 0) -> dict:
    """The columns of one strategy against random, from its per-block relative differences."""
    relative = np.asarray(relative, dtype=float)
    tie = np.abs(relative) <= TIE
    low, high = bootstrap_interval(100 * relative, seed)
    return {"wins_vs_random": int(np.sum((relative < 0) & ~tie)), "ties_vs_random": int(np.sum(tie)),
            "losses_vs_random": int(np.sum((relative > 0) & ~tie)),
            "p_value_vs_random": signed_rank_p(relative), "rel_diff_pct_mean": float(100 * np.mean(relative)),
            "rel_diff_pct_ci_low": low, "rel_diff_pct_ci_high": high,
            "detectable_diff_pct": 100 * detectable_shift(relative, ALPHA / max(compared, 1), seed)}


def detectable_shift(relative: np.ndarray, level: float, seed: int = 0, resamples: int = 400) -> float:
    """The smallest shift d of the centred relative differences at which the signed-rank test
    at ``level`` rejects in at least 80% of resamples of the blocks (see module doc)."""
    n = len(relative)
    if n < 2 or 2 / 2**n >= level:  # even n differences of one sign cannot reach the level
        return np.nan
    centred = relative - relative.mean()
    rng = np.random.default_rng(seed)
    picks = centred[rng.integers(n, size=(resamples, n))]  # the same resamples at every shift

    def power(shift: float) -> float:  # resamples repeat blocks (ties): the normal approximation
        return float(np.mean(signed_rank_p(picks - shift, "approx") < level))

    high = max(np.abs(centred).max(), 1e-6)
    while power(high) < POWER:
        high *= 2
        if high > 1e3:
            return np.nan  # too few blocks to reach the level at any shift
    low = 0.0
    for _ in range(30):
        middle = (low + high) / 2
        low, high = (middle, high) if power(middle) < POWER else (low, middle)
        if high - low <= 1e-4 * high:
            break
    return high


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


def problems_table(blocks_by_outcome: dict[str, pd.DataFrame], reference: str = REFERENCE) -> pd.DataFrame:
    """One row per (problem, strategy, outcome): the suite's columns within one problem,
    Holm's correction over that problem's strategies (per outcome)."""
    parts = []
    for outcome, blocks in blocks_by_outcome.items():
        for problem in blocks.index.get_level_values(0).unique():
            mine = blocks.xs(problem, level=0, drop_level=False)
            parts.append(suite_table(mine, reference, outcome).assign(problem=problem))
    table = pd.concat(parts, ignore_index=True)
    return table[["problem"] + [c for c in COLUMNS if c != "problems"]]


def friedman(blocks: pd.DataFrame, outcome: str = "test") -> dict:
    """The Friedman test over the blocks (needs 3 strategies or more)."""
    what = "test loss of the chosen configuration" if outcome == "test" else "final best validation loss"
    out = {"test": "scipy.stats.friedmanchisquare", "values": f"{what} per (problem, repetition)",
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


def leading_group(ranks: pd.Series, p_values: pd.DataFrame, alpha: float = ALPHA) -> list[str]:
    """The smallest set of best-ranked strategies that the Nemenyi test separates from every
    strategy outside it (each pair p < alpha), or [] when there is none."""
    order = list(ranks.sort_values().index)
    for k in range(1, len(order)):
        inside, outside = order[:k], order[k:]
        if all(p_values.loc[a, b] < alpha for a in inside for b in outside):
            return inside
    return []


# -- the verdict in words -----------------------------------------------------------------------
def _interval(row) -> str:
    return (f"{row.rel_diff_pct_mean:+.2f}% (95% CI {row.rel_diff_pct_ci_low:+.2f}% to "
            f"{row.rel_diff_pct_ci_high:+.2f}%)")


def beats(row, alpha: float = ALPHA) -> int:
    """+1 when the strategy beats random (Holm p < alpha and the interval below 0), -1 when
    random beats it (the interval above 0), 0 when the data cannot tell."""
    if not np.isfinite(row.p_holm_vs_random) or row.p_holm_vs_random >= alpha:
        return 0
    if row.rel_diff_pct_ci_high < 0:
        return 1
    if row.rel_diff_pct_ci_low > 0:
        return -1
    return 0


def verdicts(table: pd.DataFrame, per_problem: pd.DataFrame | None = None, leaders: list[str] | None = None,
             outcome: str = "test", other: pd.DataFrame | None = None, alpha: float = ALPHA) -> list[str]:
    """Each strategy against random search in plain words, from ``table`` (one outcome of
    :func:`suite_table`) and ``per_problem`` (:func:`problems_table`); ``other``: the other
    outcome's table, to say where its verdict differs; ``leaders``: :func:`leading_group`."""
    what = ("test loss of the chosen configuration" if outcome == "test" else "final best validation loss")
    pooled = table["problems"].iloc[0] > 1 if len(table) else False
    lines = []
    for row in table[table["strategy"] != REFERENCE].itertuples():
        if not np.isfinite(row.p_holm_vs_random):
            continue
        record = (f"{row.wins_vs_random:.0f}/{row.ties_vs_random:.0f}/{row.losses_vs_random:.0f} "
                  f"wins/ties/losses in {row.blocks} blocks")
        scope = f"pooled over {row.problems} problems, " if pooled else ""
        verdict = beats(row, alpha)
        if verdict:
            who = f"{row.strategy} beats random" if verdict > 0 else f"random beats {row.strategy}"
            line = (f"{who} ({scope}{what}): {_interval(row)} relative to random, p = {row.p_holm_vs_random:.2g} "
                    f"after Holm's correction; {record}.")
        else:
            line = (f"{row.strategy} vs random ({scope}{what}): the data cannot tell (p = {row.p_holm_vs_random:.2g} "
                    f"after Holm's correction; {_interval(row)}; {record})" +
                    (f"; these blocks could detect a shift of about {row.detectable_diff_pct:.2f}%."
                     if np.isfinite(row.detectable_diff_pct) else "."))
        if per_problem is not None and pooled:
            line += " " + _by_problem(per_problem[(per_problem["strategy"] == row.strategy)
                                                  & (per_problem["outcome"] == outcome)], verdict, alpha)
        if other is not None:
            twin = other[other["strategy"] == row.strategy]
            if len(twin) and beats(twin.iloc[0], alpha) != verdict:
                o = twin.iloc[0]
                said = {1: "beats random", -1: "loses to random", 0: "cannot be told from random"}[beats(o, alpha)]
                line += (f" On the {o['outcome']} outcome it {said} ({o['rel_diff_pct_mean']:+.2f}%, "
                         f"Holm p = {o['p_holm_vs_random']:.2g}).")
        lines.append(line)
    if leaders is not None:
        lines.append(f"Leading group ({what}, Nemenyi at alpha {alpha:g}): {', '.join(leaders)}, separated from "
                     f"every other strategy." if leaders else
                     f"No group of strategies is separated from all the others by the Nemenyi test ({what}, "
                     f"alpha {alpha:g}).")
    return lines


def _by_problem(rows: pd.DataFrame, pooled_verdict: int, alpha: float) -> str:
    """Which problems agree with a pooled verdict, by their own Holm-corrected tests."""
    said = {1: [], -1: [], 0: []}
    for row in rows.itertuples():
        said[beats(row, alpha)].append(str(row.problem))
    parts = []
    if said[1]:
        parts.append(f"beats random on {', '.join(said[1])}")
    if said[-1]:
        parts.append(f"loses to random on {', '.join(said[-1])}")
    if said[0]:
        parts.append(f"cannot be told from random on {', '.join(said[0])}")
    disagree = [p for v in (1, -1, 0) if v != pooled_verdict for p in said[v]]
    head = "Within problems (Holm over strategies per problem) it " + "; ".join(parts) + "."
    return head + (f" The pooled verdict does not hold on {', '.join(disagree)}." if disagree and pooled_verdict
                   else "")


def paper_table(table: pd.DataFrame) -> tuple[list, str]:
    """suite.tex: per outcome, each strategy's mean rank, wins/ties/losses against random search,
    mean relative difference with its interval, and p; the other columns are in suite.csv."""
    sections = []
    for outcome in OUTCOMES:
        rows = table[table["outcome"] == outcome]
        if not len(rows):
            continue
        shown = pd.DataFrame({"Strategy": rows["strategy"].astype(str), "Mean rank": [f"{v:.2f}" for v in rows["mean_rank"]]})
        other = rows["strategy"] != REFERENCE
        shown["Wins, ties, losses"] = [f"{w:.0f}/{t:.0f}/{l:.0f}" if o else "" for w, t, l, o in
                                     zip(rows["wins_vs_random"], rows["ties_vs_random"], rows["losses_vs_random"], other)]
        shown["Difference (%)"] = [f"{v:+.2f}" if o else "" for v, o in zip(rows["rel_diff_pct_mean"], other)]
        shown["95% interval (%)"] = [f"[{a:+.2f}, {b:+.2f}]" if o and pd.notna(a) else "" for a, b, o in
                                     zip(rows["rel_diff_pct_ci_low"], rows["rel_diff_pct_ci_high"], other)]
        shown["p (Holm)"] = [f"{v:.2g}" if o and pd.notna(v) else "" for v, o in zip(rows["p_holm_vs_random"], other)]
        sections.append((f"{outcome} outcome" + (" (primary)" if outcome == "test" else ""), shown))
    problems, blocks = int(table["problems"].max()), int(table["blocks"].max())
    caption = (f"Strategies against random search over {blocks} block{'s' if blocks != 1 else ''} (problem, "
               f"repetition) of {problems} problem{'s' if problems != 1 else ''}; test outcome: the test loss of each "
               f"repetition's chosen configuration; validation: the best validation loss. Mean rank among the "
               f"strategies (1 is best). Difference: mean relative difference of the loss to random search's in the "
               f"same block (negative is better), with its 95% bootstrap (BCa) interval. p: two-sided Wilcoxon "
               f"signed-rank test of the differences, Holm-corrected within each outcome.")
    return sections, caption


def write_suite(blocks_by_outcome: dict[str, pd.DataFrame], run_dir: Path, title: str,
                figures: bool = True) -> pd.DataFrame:
    """suite.csv/.md/.tex (both outcomes, the verdicts under the markdown table), problems.csv,
    friedman.json, cd-diagram.png (test) and cd-diagram-validation.png."""
    from hpsearch.files import write_atomic
    from hpsearch.results import export

    tables = {o: suite_table(b, outcome=o) for o, b in blocks_by_outcome.items()}
    table = pd.concat(tables.values(), ignore_index=True)
    per_problem = problems_table(blocks_by_outcome)
    test = blocks_by_outcome["test"]
    caption = (f"{len(test)} blocks (problem, repetition) over {table['problems'].iloc[0]} problems. Outcome test: "
               f"the test loss of each repetition's chosen configuration (primary); validation: the final best "
               f"validation loss. p: two-sided Wilcoxon signed-rank test of the per-block relative differences "
               f"to random search, Holm-corrected per outcome; interval: 95% bootstrap (BCa) of the mean "
               f"relative difference; detectable: the shift the test detects with 80% power.")
    export.write_all_formats(table, run_dir / "suite", caption, paper_table(table))
    from hpsearch.results.report import write_csv

    write_csv(per_problem, run_dir / "problems.csv")
    leaders = {}
    for outcome, blocks in blocks_by_outcome.items():
        if blocks.shape[1] >= 2 and len(blocks) >= 2:
            ranks, p = blocks.rank(axis=1, method="average").mean(), nemenyi(blocks)
            leaders[outcome] = leading_group(ranks, p)
            if not figures:
                continue
            from hpsearch.results import plots

            name = "cd-diagram.png" if outcome == "test" else f"cd-diagram-{outcome}.png"
            plots.cd_diagram(ranks, p, critical_difference(blocks.shape[1], len(blocks)), run_dir / name,
                             f"{title} ({outcome} outcome)")
    lines = verdicts(tables["test"], per_problem, leaders.get("test"), "test", tables.get("validation"))
    if lines:
        text = (run_dir / "suite.md").read_text(encoding="utf-8")
        write_atomic(run_dir / "suite.md", text + "\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    write_atomic(run_dir / "friedman.json",
                 json.dumps({o: friedman(b, o) for o, b in blocks_by_outcome.items()}, indent=2) + "\n")
    return table


def summary_block(run_dir: Path) -> str:
    """A suite's verdict as a markdown section (README's): the test outcome's table, best mean
    rank first, Friedman's test, and the verdicts in words exactly as suite.md says them."""
    from hpsearch.execution.runfolder import RunFolder

    folder = RunFolder(run_dir)
    table = folder.table("suite")
    friedman_json = folder.json("friedman.json")
    lines = [line for line in folder.text("suite.md").splitlines() if line.startswith("- ")]
    test = table[table["outcome"] == "test"].sort_values("mean_rank")
    rows = ["| strategy | mean rank | wins/ties/losses vs random | difference to random | 95% interval | p (Holm) "
            "| detectable shift |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in test.itertuples():
        if r.strategy == REFERENCE:
            rows.append(f"| {r.strategy} | {r.mean_rank:.2f} | | | | | |")
            continue
        rows.append(f"| {r.strategy} | {r.mean_rank:.2f} | {r.wins_vs_random:.0f}/{r.ties_vs_random:.0f}/"
                    f"{r.losses_vs_random:.0f} | {r.rel_diff_pct_mean:+.2f}% | {r.rel_diff_pct_ci_low:+.2f}% to "
                    f"{r.rel_diff_pct_ci_high:+.2f}% | {r.p_holm_vs_random:.2g} | {r.detectable_diff_pct:.2f}% |")
    out = ["\n".join(rows), ""]
    for outcome in OUTCOMES:
        f = friedman_json.get(outcome, {})
        if f.get("statistic") is not None:
            out.append(f"Friedman's test, {outcome} outcome, over {f['blocks']} blocks: chi-squared "
                       f"{f['statistic']:.1f}, p = {f['p_value']:.2g}.")
    return "\n".join(out) + "\n\n" + "\n".join(lines) + "\n"
