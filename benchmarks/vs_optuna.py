"""hpsearch's workers vs Optuna's own loop, the same objective and configurations.

The same fixed list of configurations (hidden width 32, fixed epochs, 24
learning rates) trained by the same function on the same data:

* Optuna: ``study.enqueue_trial`` for each, then ``study.optimize(objective,
  n_trials, n_jobs=2)`` (Optuna's parallelism: threads in one process);
* hpsearch: grid search over the same explicit list, 2 joblib worker processes.

Trials per second, medians of the repeats, at batch sizes 32, 256 and full.
Python-level work holds the GIL, so Optuna's threads cannot run it in parallel;
at full batch NumPy releases the GIL in its large array operations.

Usage: python benchmarks/vs_optuna.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from threadpoolctl import threadpool_limits

from _common import median, report, synthetic_cache
from hpsearch.catalog import load_catalog
from hpsearch.config import parse
from hpsearch.features import prepare
from hpsearch.objective import train_and_score
from hpsearch.runner import run_experiment
from hpsearch.seeds import split_seed
from hpsearch.trial import TrialSpec

RATES = [float(r) for r in np.geomspace(0.01, 0.1, 24)]


def optuna_run(data, epochs: int, batch: int | None) -> float:
    model = {"hidden_width": 32, "epochs": epochs, "batch_size": batch}

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("learning_rate", 0.01, 0.1, log=True)
        spec = TrialSpec("optuna", 0, trial.number, trial.number, {"learning_rate": lr}, trial.number,
                         "rep0", model)
        return train_and_score(spec, data).val_rmse

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    for rate in RATES:
        study.enqueue_trial({"learning_rate": rate})
    start = time.perf_counter()
    study.optimize(objective, n_trials=len(RATES), n_jobs=2)
    return len(RATES) / (time.perf_counter() - start)


def hpsearch_run(epochs: int, batch: int | None) -> float:
    exp = parse({"name": "bench", "n_jobs": 2, "strategies": ["grid"], "budget": {"trials": len(RATES)},
                 "model": {"hidden_width": 32, "epochs": epochs, "batch_size": batch},
                 "space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True,
                                             "grid": RATES}}}, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        return len(RATES) / run_experiment(exp, Path(tmp) / "run", progress=False).seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    threadpool_limits(1)  # as in the workers: one BLAS thread per trial
    synthetic_cache(26_715)
    table, _, _ = load_catalog()
    data = prepare(table, "challenge", "random", (0.7, 0.15, 0.15), split_seed(0, 0))
    hpsearch_run(1, 256)  # start the worker pool once, as a long search would
    rows = []
    for batch, epochs in ((32, 3), (256, 12), (None, 60)):
        ours = [hpsearch_run(epochs, batch) for _ in range(args.repeats)]
        theirs = [optuna_run(data, epochs, batch) for _ in range(args.repeats)]
        rows.append({"batch_size": batch or "full", "epochs": epochs,
                     "hpsearch_trials_per_second": median(ours),
                     "optuna_trials_per_second": median(theirs),
                     "ratio": median(ours) / median(theirs)})
    report("vs_optuna", pd.DataFrame(rows))


if __name__ == "__main__":
    main()
