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

A block is an independent unit: repetitions that share a recorded seed (a tabular
replay with more repetitions than its table has seeds) share their split and their
networks' seeds, so they are averaged into one unit before anything is computed; the
``blocks`` columns and ``friedman.json`` count units.

Per outcome, over the units (Demšar 2006):

* ``mean_rank``: rank within each unit (1 is best, ties share the mean rank),
  averaged over the units.
* ``wins``, ``ties``, ``losses`` against random search: units where the
  strategy's loss is lower, equal (within 1e-12 relative), higher.
* Against random search, on the per-unit relative differences
  ``(loss - random's) / random's`` (no unit): ``p_value_vs_random``, the stratified
  Wilcoxon signed-rank test in which every problem weighs the same;
  ``p_holm_vs_random``, Holm's correction over the strategies compared with random
  (per outcome); ``rel_diff_pct`` and ``rel_diff_pct_ci_low/high``, the relative shift
  in percent (negative: lower loss than random) and its Holm-consistent interval;
  ``verdict``: better, worse, equivalent or cannot tell, by the one rule of
  :mod:`hpsearch.results.verdict`; ``survives_leave_one_problem_out``: whether the
  verdict stays the same with any one problem left out.

``problems.csv`` has one row per (problem, strategy, outcome) with the same
quantities within each problem, Holm's correction over every per-problem comparison
of every problem together (per outcome), and the mean difference in the problem's own
metric. ``friedman.json`` has ``scipy.stats.friedmanchisquare`` per outcome;
``cd-diagram.png`` is the critical-difference diagram of the test outcome (mean
ranks, strategies joined where the Nemenyi test,
``scikit_posthocs.posthoc_nemenyi_friedman`` at alpha 0.05, cannot tell them
apart), ``cd-diagram-validation.png`` the same for the validation outcome. The
verdicts in words (:func:`verdicts`) are generated from these tables only, and the
pairs Nemenyi separates are listed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from hpsearch.data.metrics import metric_of
from hpsearch.results import verdict

REFERENCE = "random"
ALPHA = 0.05
TIE = 1e-12
OUTCOMES = ("test", "validation")


def blocks_table(summaries: dict[str, pd.DataFrame], order: list[str], outcome: str = "test") -> pd.DataFrame:
    """The loss per unit (rows: problem, unit) and strategy (columns): the chosen configuration's
    test loss (``outcome = "test"``) or its validation loss (``"validation"``). A unit is what is
    independent: repetitions that share their recorded seed (a replay's ``unit`` column) are
    averaged into one; ``attrs["metrics"]`` names each problem's metric."""
    parts, metrics = [], {}
    for problem, summary in summaries.items():
        m = metric_of(summary.columns)
        metrics[problem] = m.label
        column = m.loss("test") if outcome == "test" else m.best_val
        unit = "unit" if "unit" in summary.columns else "repetition"
        wide = summary.pivot_table(index=unit, columns="strategy", values=column, aggfunc="mean", dropna=False)
        wide.index = pd.MultiIndex.from_product([[problem], wide.index], names=["problem", "unit"])
        parts.append(wide)
    table = pd.concat(parts)
    table = table[[s for s in order if s in table.columns]].dropna()
    table.attrs["metrics"] = metrics
    return table


def relative_differences(blocks: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Per unit and strategy: ``(loss - reference's) / reference's`` (no unit)."""
    return blocks.sub(blocks[reference], axis=0).div(blocks[reference], axis=0)


def _groups(relative: pd.Series) -> list[np.ndarray]:
    """A strategy's relative differences, one array per problem."""
    return [g.to_numpy() for _, g in relative.groupby(level=0, sort=False)]


def suite_table(blocks: pd.DataFrame, reference: str = REFERENCE, outcome: str = "test", rope: float = verdict.ROPE,
                alpha: float = ALPHA) -> pd.DataFrame:
    """One row per strategy, pooled over the problems with equal weights; see the module doc."""
    ranks = blocks.rank(axis=1, method="average")
    others = [s for s in blocks.columns if s != reference] if reference in blocks.columns else []
    relative = relative_differences(blocks, reference) if others else None
    decided = verdict.compare({s: _groups(relative[s]) for s in others}, alpha, rope) if others else {}
    problems = list(blocks.index.get_level_values(0).unique())
    left_out = {}
    for problem in problems if len(problems) > 1 else []:
        rest = relative.drop(index=problem, level=0)
        left_out[problem] = verdict.compare({s: _groups(rest[s]) for s in others}, alpha, rope)
    rows = []
    for strategy in blocks.columns:
        row = {"outcome": outcome, "strategy": strategy, "blocks": len(blocks), "problems": len(problems),
               "mean_rank": float(ranks[strategy].mean())}
        if strategy in decided:
            row.update(_columns(relative[strategy].to_numpy(), decided[strategy]))
            if left_out:
                row["survives_leave_one_problem_out"] = all(
                    d[strategy]["verdict"] == decided[strategy]["verdict"] for d in left_out.values())
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


COLUMNS = ["outcome", "strategy", "blocks", "problems", "mean_rank", "wins_vs_random", "ties_vs_random",
           "losses_vs_random", "p_value_vs_random", "p_holm_vs_random", "rel_diff_pct", "rel_diff_pct_ci_low",
           "rel_diff_pct_ci_high", "verdict", "survives_leave_one_problem_out"]


def _columns(relative: np.ndarray, decided: dict) -> dict:
    """The columns of one comparison with random search: signs, the test and the verdict."""
    tie = np.abs(relative) <= TIE
    return {"wins_vs_random": int(np.sum((relative < 0) & ~tie)), "ties_vs_random": int(np.sum(tie)),
            "losses_vs_random": int(np.sum((relative > 0) & ~tie)), "p_value_vs_random": decided["p_value"],
            "p_holm_vs_random": decided["p_holm"], "rel_diff_pct": decided["estimate_pct"],
            "rel_diff_pct_ci_low": decided["ci_low_pct"], "rel_diff_pct_ci_high": decided["ci_high_pct"],
            "verdict": decided["verdict"]}


def problems_table(blocks_by_outcome: dict[str, pd.DataFrame], reference: str = REFERENCE,
                   rope: float = verdict.ROPE, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per (problem, strategy, outcome): the comparison within that problem, Holm's correction
    over every per-problem comparison of every problem together (one family per outcome); the mean
    difference also in the problem's own metric (``diff_mean``, ``metric``)."""
    rows = []
    for outcome, blocks in blocks_by_outcome.items():
        others = [s for s in blocks.columns if s != reference] if reference in blocks.columns else []
        relative = relative_differences(blocks, reference) if others else None
        problems = list(blocks.index.get_level_values(0).unique())
        family = {(p, s): [relative.loc[p, s].to_numpy()] for p in problems for s in others}
        decided = verdict.compare(family, alpha, rope) if family else {}
        for problem in problems:
            mine = blocks.loc[problem]
            ranks = mine.rank(axis=1, method="average")
            for strategy in blocks.columns:
                row = {"problem": problem, "outcome": outcome, "strategy": strategy, "blocks": len(mine),
                       "mean_rank": float(ranks[strategy].mean()),
                       "metric": blocks.attrs.get("metrics", {}).get(problem, "")}
                if (problem, strategy) in decided:
                    row.update(_columns(relative.loc[problem, strategy].to_numpy(), decided[(problem, strategy)]))
                    row["diff_mean"] = float((mine[strategy] - mine[reference]).mean())
                rows.append(row)
    columns = ["problem"] + [c for c in COLUMNS if c not in ("problems", "survives_leave_one_problem_out")]
    return pd.DataFrame(rows, columns=columns + ["diff_mean", "metric"])


def friedman(blocks: pd.DataFrame, outcome: str = "test") -> dict:
    """The Friedman test over the units (needs 3 strategies or more)."""
    what = "test loss of the chosen configuration" if outcome == "test" else "final best validation loss"
    out = {"test": "scipy.stats.friedmanchisquare", "values": f"{what} per independent unit (problem, seed)",
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
def verdicts(table: pd.DataFrame, per_problem: pd.DataFrame | None = None, outcome: str = "test",
             other: pd.DataFrame | None = None, rope: float = verdict.ROPE) -> list[str]:
    """Each strategy against random search in plain words, from ``table`` (one outcome of
    :func:`suite_table`) and ``per_problem`` (:func:`problems_table`), every word from the
    ``verdict`` column :mod:`hpsearch.results.verdict` wrote; ``other``: the other outcome's table,
    to say where its verdict differs."""
    what = ("test loss of the chosen configuration" if outcome == "test" else "final best validation loss")
    pooled = bool(len(table)) and table["problems"].iloc[0] > 1
    lines = []
    for row in table[table["strategy"] != REFERENCE].itertuples():
        if not isinstance(row.verdict, str):
            continue
        units = f"{row.blocks} independent unit{'s' if row.blocks != 1 else ''}"
        scope = f"pooled over {row.problems} problems with equal weights, {what}" if pooled else what
        line = verdict.sentence(row.strategy, _numbers(row), rope, scope)
        line = line[:-1] + (f"; {row.wins_vs_random:.0f}/{row.ties_vs_random:.0f}/{row.losses_vs_random:.0f} "
                            f"wins/ties/losses in {units}.")
        if pooled and row.survives_leave_one_problem_out is False:
            line += " The verdict changes when one problem is left out."
        if per_problem is not None and pooled:
            line += " " + _by_problem(per_problem[(per_problem["strategy"] == row.strategy)
                                                  & (per_problem["outcome"] == outcome)], row.verdict)
        if other is not None:
            twin = other[other["strategy"] == row.strategy]
            if len(twin) and twin.iloc[0]["verdict"] != row.verdict:
                o = twin.iloc[0]
                line += (f" On the {o['outcome']} outcome: {o['verdict']} ({o['rel_diff_pct']:+.2f}%, "
                         f"Holm p = {o['p_holm_vs_random']:.2g}).")
        lines.append(line)
    return lines


def _numbers(row) -> dict:
    return {"estimate_pct": row.rel_diff_pct, "ci_low_pct": row.rel_diff_pct_ci_low,
            "ci_high_pct": row.rel_diff_pct_ci_high, "p_holm": row.p_holm_vs_random, "verdict": row.verdict}


def _by_problem(rows: pd.DataFrame, pooled_verdict: str) -> str:
    """Which problems agree with a pooled verdict, by their own tests (Holm over every per-problem
    comparison of the suite)."""
    said = {v: [str(r.problem) for r in rows.itertuples() if r.verdict == v] for v in verdict.VERDICTS}
    parts = [f"{v} on {', '.join(problems)}" for v, problems in said.items() if problems]
    disagree = [p for v, problems in said.items() if v != pooled_verdict for p in problems]
    head = "Within problems (Holm over every per-problem comparison): " + "; ".join(parts) + "."
    decided = pooled_verdict != "cannot tell"  # "cannot tell" claims nothing a problem could contradict
    return head + (f" The pooled verdict does not hold on {', '.join(disagree)}." if disagree and decided else "")


def nemenyi_lines(blocks: pd.DataFrame, outcome: str, alpha: float = ALPHA) -> list[str]:
    """The pairs the Nemenyi test separates, and the leading group where there is one."""
    if blocks.shape[1] < 2 or len(blocks) < 2:
        return []
    ranks, p = blocks.rank(axis=1, method="average").mean(), nemenyi(blocks)
    order = list(ranks.sort_values().index)
    pairs = [f"{a} from {b}" for i, a in enumerate(order) for b in order[i + 1:] if p.loc[a, b] < alpha]
    leaders = leading_group(ranks, p, alpha)
    what = "test" if outcome == "test" else "validation"
    lines = [f"Nemenyi ({what} outcome, alpha {alpha:g}, over {len(blocks)} units) separates "
             + (f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''}: {'; '.join(pairs)} (the first ranks better)."
                if pairs else "no pair.")]
    lines.append(f"Leading group: {', '.join(leaders)}, separated from every other strategy." if leaders else
                 "No group of strategies is separated from all the others.")
    return [" ".join(lines)]


def paper_table(table: pd.DataFrame) -> tuple[list, str]:
    """suite.tex: per outcome, each strategy's mean rank, its relative difference to random search
    with the interval, p (Holm) and the verdict; the other columns are in suite.csv."""
    sections = []
    for outcome in OUTCOMES:
        rows = table[table["outcome"] == outcome]
        if not len(rows):
            continue
        shown = pd.DataFrame({"Strategy": rows["strategy"].astype(str), "Mean rank": [f"{v:.2f}" for v in rows["mean_rank"]]})
        other = (rows["strategy"] != REFERENCE).to_numpy()
        shown["Difference (%)"] = [f"{v:+.2f}" if o else "" for v, o in zip(rows["rel_diff_pct"], other)]
        shown["Interval (%)"] = [f"[{a:+.2f}, {b:+.2f}]" if o and pd.notna(a) else "" for a, b, o in
                                 zip(rows["rel_diff_pct_ci_low"], rows["rel_diff_pct_ci_high"], other)]
        shown["p (Holm)"] = [f"{v:.2g}" if o and pd.notna(v) else "" for v, o in zip(rows["p_holm_vs_random"], other)]
        shown["Verdict"] = [str(v) if o else "" for v, o in zip(rows["verdict"], other)]
        sections.append((f"{outcome} outcome" + (" (primary)" if outcome == "test" else ""), shown))
    problems, blocks = int(table["problems"].max()), int(table["blocks"].max())
    caption = (f"Strategies against random search over {blocks} independent unit{'s' if blocks != 1 else ''} "
               f"(problem, seed) of {problems} problem{'s' if problems != 1 else ''}, each problem weighing "
               f"the same; test outcome: the test loss of each unit's chosen configuration; validation: the best "
               f"validation loss. Mean rank among the strategies (1 is best). Difference: the relative shift of "
               f"the loss from random search's (negative is better) and its interval, the shifts a stratified "
               f"Wilcoxon signed-rank test does not reject at the Holm-adjusted level; p: that test, "
               f"Holm-corrected within each outcome. Verdict: equivalent when the interval lies within the region "
               f"of practical equivalence, else better or worse when it excludes 0, else cannot tell.")
    return sections, caption


def write_suite(blocks_by_outcome: dict[str, pd.DataFrame], run_dir: Path, title: str,
                figures: bool = True, rope: float = verdict.ROPE) -> pd.DataFrame:
    """suite.csv/.md/.tex (both outcomes, the verdicts under the markdown table), problems.csv,
    friedman.json, cd-diagram.png (test) and cd-diagram-validation.png."""
    from hpsearch.files import write_atomic
    from hpsearch.results import export

    tables = {o: suite_table(b, outcome=o, rope=rope) for o, b in blocks_by_outcome.items()}
    table = pd.concat(tables.values(), ignore_index=True)
    per_problem = problems_table(blocks_by_outcome, rope=rope)
    test = blocks_by_outcome["test"]
    units = _units_line(test, rope)
    caption = (f"{units} Outcome test: the test loss of each unit's chosen configuration (primary); validation: "
               f"the final best validation loss. Columns: `hpsearch/results/suite.py` and `verdict.py`.")
    export.write_all_formats(table, run_dir / "suite", caption, paper_table(table))
    from hpsearch.results.report import write_csv

    write_csv(per_problem, run_dir / "problems.csv")
    lines = [units]
    for outcome, blocks in blocks_by_outcome.items():
        if figures and blocks.shape[1] >= 2 and len(blocks) >= 2:
            from hpsearch.results import plots

            name = "cd-diagram.png" if outcome == "test" else f"cd-diagram-{outcome}.png"
            plots.cd_diagram(blocks.rank(axis=1, method="average").mean(), nemenyi(blocks),
                             critical_difference(blocks.shape[1], len(blocks)), run_dir / name,
                             f"{title} ({outcome} outcome)")
    lines += verdicts(tables["test"], per_problem, "test", tables.get("validation"), rope)
    lines += nemenyi_lines(test, "test")
    text = (run_dir / "suite.md").read_text(encoding="utf-8")
    write_atomic(run_dir / "suite.md", text + "\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    write_atomic(run_dir / "friedman.json",
                 json.dumps({o: friedman(b, o) for o, b in blocks_by_outcome.items()}, indent=2) + "\n")
    return table


def _units_line(blocks: pd.DataFrame, rope: float) -> str:
    problems = blocks.index.get_level_values(0).nunique()
    return (f"{len(blocks)} independent units (problem, seed) over {problems} problem{'s' if problems != 1 else ''}, "
            f"each problem weighing 1/{problems} of every pooled test; repetitions that share a seed are one "
            f"unit; region of practical equivalence +-{100 * rope:g}%.")


def summary_block(run_dir: Path) -> str:
    """A suite's verdict as a markdown section (README's): the test outcome's table, best mean
    rank first, Friedman's test, and the verdicts in words exactly as suite.md says them."""
    from hpsearch.execution.runfolder import RunFolder

    folder = RunFolder(run_dir)
    table = folder.table("suite")
    friedman_json = folder.json("friedman.json")
    lines = [line for line in folder.text("suite.md").splitlines() if line.startswith("- ")]
    test = table[table["outcome"] == "test"].sort_values("mean_rank")
    rows = ["| strategy | mean rank | wins/ties/losses vs random | shift from random | interval (Holm) | p (Holm) "
            "| verdict |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in test.itertuples():
        if r.strategy == REFERENCE:
            rows.append(f"| {r.strategy} | {r.mean_rank:.2f} | | | | | |")
            continue
        rows.append(f"| {r.strategy} | {r.mean_rank:.2f} | {r.wins_vs_random:.0f}/{r.ties_vs_random:.0f}/"
                    f"{r.losses_vs_random:.0f} | {r.rel_diff_pct:+.2f}% | {r.rel_diff_pct_ci_low:+.2f}% to "
                    f"{r.rel_diff_pct_ci_high:+.2f}% | {r.p_holm_vs_random:.2g} | {r.verdict} |")
    out = ["\n".join(rows), ""]
    for outcome in OUTCOMES:
        f = friedman_json.get(outcome, {})
        if f.get("statistic") is not None:
            out.append(f"Friedman's test, {outcome} outcome, over {f['blocks']} independent units: chi-squared "
                       f"{f['statistic']:.1f}, p = {f['p_value']:.2g}.")
    return "\n".join(out) + "\n\n" + "\n".join(lines) + "\n"
