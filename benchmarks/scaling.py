"""Parallel scaling and engine overhead of hpsearch's search loop.

1. Equal-cost trials of about 1 s (fixed epochs and width, only the learning
   rate searched): trials per second with n_jobs=1 and n_jobs=2, and the
   efficiency = (sum of the trials' training seconds / n_jobs) / search wall time.
2. Tiny trials of about 10 ms: the per-trial overhead in milliseconds,
   (wall time x n_jobs - sum of training seconds) / trials.

Workers are started once (loky reuses them across searches, as one long search
would); the start-up of a cold pool is reported on its own line. Synthetic
catalog of the real one's size (18,700 training rows), medians of the repeats.

Usage: python benchmarks/scaling.py [--repeats 5] [--trials 24]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _common import median, report, synthetic_cache
from hpsearch.config import parse
from hpsearch.network import NumpyMLPRegressor
from hpsearch.runner import run_experiment


def experiment(n_jobs: int, trials: int, epochs: int, batch: int | None, **backend):
    return parse({"name": "bench", "seed": 0, "n_jobs": n_jobs, "budget": {"trials": trials}, **backend,
                  "model": {"epochs": epochs, "hidden_width": 32, "batch_size": batch},
                  "space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True}}},
                 "bench")


def search(n_jobs: int, trials: int, epochs: int, batch: int | None, **backend) -> dict:
    """One search; ``backend`` as in a config (``backend="dask", scheduler=...``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = run_experiment(experiment(n_jobs, trials, epochs, batch, **backend), Path(tmp) / "run",
                             progress=False)
        train, wall = float(out.trials["seconds"].sum()), out.seconds
    return {"wall": wall, "train": train, "trials": trials}


def epochs_for(seconds: float, batch: int | None, rows: int = 18_700) -> int:
    """Epochs that make one trial take about ``seconds`` here."""
    X = np.random.default_rng(0).uniform(size=(rows, 4))
    y = X.sum(axis=1)
    start = time.perf_counter()
    NumpyMLPRegressor(hidden_width=32, epochs=5, batch_size=batch, random_state=0).fit(X, y)
    return max(1, round(seconds / ((time.perf_counter() - start) / 5)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=24)
    args = parser.parse_args()
    synthetic_cache(26_715)  # 70% of it: 18,700 training rows
    long_epochs = epochs_for(1.0, 256)
    short_epochs = epochs_for(0.010, 256)

    start = time.perf_counter()
    search(2, 2, 1, 256)  # a cold pool: workers start and import hpsearch
    cold = time.perf_counter() - start

    rows = []
    for n_jobs in (1, 2):
        runs = [search(n_jobs, args.trials, long_epochs, 256) for _ in range(args.repeats)]
        rows.append({"case": f"~1 s trials, n_jobs={n_jobs}",
                     "trials_per_second": median([r["trials"] / r["wall"] for r in runs]),
                     "mean_trial_seconds": median([r["train"] / r["trials"] for r in runs]),
                     "efficiency": median([r["train"] / n_jobs / r["wall"] for r in runs]),
                     "overhead_ms_per_trial": median([(r["wall"] * n_jobs - r["train"]) / r["trials"] * 1000
                                                      for r in runs])})
    short = [search(2, 400, short_epochs, 256) for _ in range(args.repeats)]
    rows.append({"case": "~10 ms trials, n_jobs=2",
                 "trials_per_second": median([r["trials"] / r["wall"] for r in short]),
                 "mean_trial_seconds": median([r["train"] / r["trials"] for r in short]),
                 "efficiency": median([r["train"] / 2 / r["wall"] for r in short]),
                 "overhead_ms_per_trial": median([(r["wall"] * 2 - r["train"]) / r["trials"] * 1000
                                                  for r in short])})
    table = pd.DataFrame(rows)
    speedup = table.iloc[1]["trials_per_second"] / table.iloc[0]["trials_per_second"]
    table["speedup_2_vs_1_workers"] = speedup
    table["cold_pool_start_seconds"] = cold
    report("scaling", table, f"\nn_jobs=2 vs n_jobs=1: {speedup:.2f}x the trials per second; "
                             f"a cold worker pool took {cold:.2f} s to start (paid once per process).")


if __name__ == "__main__":
    main()
