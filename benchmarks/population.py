"""Population training against one trial at a time: the quickstart search, 64 trials, one worker.

Random search over the quickstart space (epochs 5-100, hidden width 2-64 log,
learning rate 0.001-1 log) on the challenge features, ``n_jobs = 1``, with the
default population against ``population = 1``, at batch 32 and batch 256;
repeats interleaved (A B A B ...), medians. Also checks that both give the same
trials (largest relative difference of val_rmse, the same best trial).

Uses the catalog in the data cache (HPSEARCH_DATA) when there is one, else a
synthetic catalog of the real one's size.

Usage: python benchmarks/population.py [--repeats 3] [--trials 64]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
from _common import median, report, synthetic_cache

from hpsearch.config import parse
from hpsearch.data.catalog import data_dir
from hpsearch.runner import run_experiment

QUICKSTART = Path(__file__).resolve().parents[1] / "experiments" / "quickstart.toml"


def search(trials: int, batch: int, population: int | None) -> tuple[float, pd.DataFrame]:
    raw = tomllib.loads(QUICKSTART.read_text())
    raw.update(n_jobs=1, budget={"trials": trials})
    raw["model"]["batch_size"] = batch
    if population is not None:
        raw["population"] = population
    with tempfile.TemporaryDirectory() as tmp:
        out = run_experiment(parse(raw, "bench"), Path(tmp) / "run", progress=False)
    return out.seconds, out.trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=64)
    args = parser.parse_args()
    real = (Path(os.environ["HPSEARCH_DATA"]) if "HPSEARCH_DATA" in os.environ else data_dir()) / "catalog.csv"
    data = "real catalog" if real.is_file() else "synthetic catalog"
    if not real.is_file():
        synthetic_cache(23_412)
    rows = []
    for batch in (32, 128, 256):
        alone, together, forced = [], [], []
        for _ in range(args.repeats):
            wall_alone, trials_alone = search(args.trials, batch, 1)
            wall_together, trials_together = search(args.trials, batch, None)
            wall_forced, _ = search(args.trials, batch, 32)
            alone.append(wall_alone)
            together.append(wall_together)
            forced.append(wall_forced)
        a, b = trials_alone["val_rmse"].to_numpy(), trials_together["val_rmse"].to_numpy()
        rows.append({"batch_size": batch, "trials": args.trials, "data": data,
                     "population_1_trials_per_second": args.trials / median(alone),
                     "default_trials_per_second": args.trials / median(together),
                     "speedup": median(alone) / median(together),
                     "population_32_trials_per_second": args.trials / median(forced),
                     "population_32_speedup": median(alone) / median(forced),
                     "max_relative_difference_val_rmse": float(np.nanmax(np.abs(a - b) / np.abs(a))),
                     "same_best_trial": bool(np.nanargmin(a) == np.nanargmin(b))})
    table = pd.DataFrame(rows)
    report("population", table, "\ntrials per second of the search (wall time of the search, medians of "
                                f"{args.repeats} interleaved repeats), default population vs population = 1, and populations of up to 32 at every batch size (the crossover)")


if __name__ == "__main__":
    main()
