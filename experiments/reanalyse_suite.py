"""Write a suite's tables across problems again from its summary.csv, without training anything.

    python experiments/reanalyse_suite.py results/reference/suite

For a suite run by an earlier version whose analysis changed (the verdicts, the units): reads
RUN/config.toml (name, problems, [verdict] rope) and RUN/summary.csv (one row per problem,
strategy and repetition; a ``unit`` column where repetitions share a recorded seed), and writes
suite.csv/.md/.tex, problems.csv, friedman.json and the critical-difference diagrams as the
suite itself would.
"""

import sys
from pathlib import Path

import pandas as pd

from hpsearch.config import load
from hpsearch.results import suite as suites


def main(run_dir: str) -> None:
    run = Path(run_dir)
    suite = load(run / "config.toml", suites=True, read_only=True)
    summary = pd.read_csv(run / "summary.csv")
    order = list(suite.problems[0][1].strategies)
    summaries = {name: summary[summary["problem"] == name].drop(columns="problem").dropna(axis=1, how="all")
                 for name, _ in suite.problems}  # each problem with its own metric's columns only
    blocks = {outcome: suites.blocks_table(summaries, order, outcome) for outcome in suites.OUTCOMES}
    problems = len(summaries)
    suites.write_suite(blocks, run, f"{suite.name}: {problems} problem{'s' if problems > 1 else ''}", True,
                       suite.problems[0][1].rope)
    print((run / "suite.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main(sys.argv[1])
