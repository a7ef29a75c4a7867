"""The cost of the Dask path: loky vs a 2-worker Dask LocalCluster on this machine.

The same searches as scaling.py (equal-cost ~1 s trials, and ~10 ms trials),
2 workers each way: trials per second, and their ratio, and the overhead per
trial ((wall time x workers - training seconds) / trials). The cluster is started once, before the
measurements; each search scatters its data to the workers as a run does.

Usage: python benchmarks/dask_backend.py [--repeats 5] [--trials 24]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import median, report, synthetic_cache
from distributed import LocalCluster

from hpsearch.config import parse
from hpsearch.models.mlp import NumpyMLPRegressor
from hpsearch.runner import run_experiment


def search(n_jobs: int, trials: int, epochs: int, batch: int, **backend) -> dict:
    """Equal-cost trials (width 32, fixed epochs, only the learning rate searched)."""
    exp = parse({"name": "bench", "seed": 0, "n_jobs": n_jobs, "budget": {"trials": trials}, **backend,
                 "model": {"epochs": epochs, "hidden_width": 32, "batch_size": batch},
                 "space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True}}}, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        out = run_experiment(exp, Path(tmp) / "run", progress=False)
    return {"wall": out.seconds, "train": float(out.trials["seconds"].sum()), "trials": trials}


def epochs_for(seconds: float, batch: int, rows: int = 18_700) -> int:
    """Epochs that make one trial take about ``seconds`` here."""
    X = np.random.default_rng(0).uniform(size=(rows, 4))
    start = time.perf_counter()
    NumpyMLPRegressor(hidden_width=32, epochs=5, batch_size=batch, random_state=0).fit(X, X.sum(axis=1))
    return max(1, round(seconds / ((time.perf_counter() - start) / 5)))


def summarise(case: str, runs: list[dict]) -> dict:
    return {"case": case,
            "trials_per_second": median([r["trials"] / r["wall"] for r in runs]),
            "mean_trial_seconds": median([r["train"] / r["trials"] for r in runs]),
            "overhead_ms_per_trial": median([(r["wall"] * 2 - r["train"]) / r["trials"] * 1000 for r in runs])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=24)
    args = parser.parse_args()
    synthetic_cache(26_715)
    long_epochs, short_epochs = epochs_for(1.0, 256), epochs_for(0.010, 256)
    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        dask = {"backend": "dask", "scheduler": cluster.scheduler_address}
        search(2, 2, 1, 256)  # start loky's workers
        search(2, 2, 1, 256, **dask)  # import hpsearch in the Dask workers
        for label, epochs, trials in (("~1 s trials", long_epochs, args.trials),
                                      ("~10 ms trials", short_epochs, 400)):
            loky = [search(2, trials, epochs, 256) for _ in range(args.repeats)]
            on_dask = [search(2, trials, epochs, 256, **dask) for _ in range(args.repeats)]
            rows.append(summarise(f"{label}, loky, 2 processes", loky))
            rows.append(summarise(f"{label}, dask LocalCluster, 2 workers", on_dask))
    table = pd.DataFrame(rows)
    table["trials_per_second_vs_loky"] = [1.0, table.iloc[1]["trials_per_second"] / table.iloc[0]["trials_per_second"],
                                          1.0, table.iloc[3]["trials_per_second"] / table.iloc[2]["trials_per_second"]]
    report("dask_backend", table)


if __name__ == "__main__":
    main()
