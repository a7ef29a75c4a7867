"""hpsearch's workers vs Optuna's, the same objective and the same 24 configurations.

The same fixed list of configurations (hidden width 32, fixed epochs, 24
learning rates, the same seeds) trained by the same function
(``hpsearch.execution.objective.train_and_score``) on the same data, two workers each:

* Optuna with processes, as its documentation recommends for CPU-bound
  objectives: a study on a shared ``JournalStorage`` file
  (``JournalFileBackend``), the 24 configurations enqueued, then two worker
  processes each ``optuna.load_study(...)`` and ``study.optimize(objective,
  n_trials=12)``. The two processes are started (and have imported everything
  and read the data) before the clock starts, as hpsearch's pool is.
* Optuna with threads: ``study.optimize(objective, n_trials=24, n_jobs=2)``
  (its built-in parallelism; Python-level work holds the GIL).
* hpsearch: grid search over the same explicit list, 2 worker processes, its
  default population training (``population = 1`` is reported beside it).

Trials per second (24 / wall time), medians of the repeats, which are
interleaved (each repeat runs every contender once), at batch sizes 32 and 256.

Usage: python benchmarks/vs_optuna.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from _common import median, report, synthetic_cache
from threadpoolctl import threadpool_limits

from hpsearch.config import parse
from hpsearch.data.catalog import load_catalog
from hpsearch.data.features import prepare
from hpsearch.execution.objective import train_and_score
from hpsearch.runner import run_experiment
from hpsearch.search.trial import TrialSpec
from hpsearch.seeds import split_seed, trial_seed

RATES = [float(r) for r in np.geomspace(0.01, 0.1, 24)]
CASES = ((32, 3), (256, 12))
_DATA = None


def _load_data():
    table, _, _ = load_catalog()
    return prepare(table, "challenge", "random", (0.7, 0.15, 0.15), split_seed(0, 0))


def _objective(model: dict):
    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("learning_rate", 0.01, 0.1, log=True)
        config = RATES.index(lr)  # the same seed as hpsearch gives this configuration
        spec = TrialSpec("optuna", 0, trial.number, config, {"learning_rate": lr}, trial_seed(0, 0, config),
                         "rep0", model)
        return train_and_score(spec, _DATA).val_loss
    return objective


def _worker_start() -> None:
    global _DATA
    threadpool_limits(1)  # as in hpsearch's workers: one BLAS thread per process
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _DATA = _load_data()


def _worker_optimize(journal: str, model: dict, n_trials: int) -> None:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    optuna.load_study(study_name="bench", storage=storage).optimize(_objective(model), n_trials=n_trials)


def optuna_processes(pool, epochs: int, batch: int) -> float:
    model = {"hidden_width": 32, "epochs": epochs, "batch_size": batch}
    with tempfile.TemporaryDirectory() as tmp:
        journal = str(Path(tmp) / "journal.log")
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
        study = optuna.create_study(study_name="bench", storage=storage)
        for rate in RATES:
            study.enqueue_trial({"learning_rate": rate})
        start = time.perf_counter()
        pool.starmap(_worker_optimize, [(journal, model, len(RATES) // 2)] * 2)
        wall = time.perf_counter() - start
        assert len(study.trials) == len(RATES), len(study.trials)
    return len(RATES) / wall


def optuna_threads(epochs: int, batch: int) -> float:
    study = optuna.create_study()
    for rate in RATES:
        study.enqueue_trial({"learning_rate": rate})
    start = time.perf_counter()
    study.optimize(_objective({"hidden_width": 32, "epochs": epochs, "batch_size": batch}),
                   n_trials=len(RATES), n_jobs=2)
    return len(RATES) / (time.perf_counter() - start)


def hpsearch_run(epochs: int, batch: int, population: int | None = None) -> float:
    raw = {"name": "bench", "n_jobs": 2, "strategies": ["grid"], "budget": {"trials": len(RATES)},
           "model": {"hidden_width": 32, "epochs": epochs, "batch_size": batch},
           "space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True, "grid": RATES}}}
    if population is not None:
        raw["population"] = population
    with tempfile.TemporaryDirectory() as tmp:
        return len(RATES) / run_experiment(parse(raw, "bench"), Path(tmp) / "run", progress=False).seconds


def main() -> None:
    global _DATA
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    threadpool_limits(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not (Path(os.environ.get("HPSEARCH_DATA", "")) / "catalog.csv").is_file():
        synthetic_cache(26_715)
    _DATA = _load_data()
    hpsearch_run(1, 256)  # start hpsearch's worker pool once, as a long search would
    rows = []
    with multiprocessing.get_context("fork").Pool(2, initializer=_worker_start) as pool:
        pool.starmap(time.sleep, [(0.1,)] * 2)  # both Optuna workers started and initialised
        for batch, epochs in CASES:
            runs = {"hpsearch": [], "hpsearch_population_1": [], "optuna_processes": [], "optuna_threads": []}
            for _ in range(args.repeats):  # interleaved: every contender once per repeat
                runs["hpsearch"].append(hpsearch_run(epochs, batch))
                runs["optuna_processes"].append(optuna_processes(pool, epochs, batch))
                runs["hpsearch_population_1"].append(hpsearch_run(epochs, batch, population=1))
                runs["optuna_threads"].append(optuna_threads(epochs, batch))
            row = {"batch_size": batch, "epochs": epochs}
            row.update({f"{name}_trials_per_second": median(values) for name, values in runs.items()})
            row["ratio_vs_optuna_processes"] = median(runs["hpsearch"]) / median(runs["optuna_processes"])
            row["ratio_vs_optuna_threads"] = median(runs["hpsearch"]) / median(runs["optuna_threads"])
            row["ratio_population_1_vs_optuna_processes"] = (median(runs["hpsearch_population_1"])
                                                             / median(runs["optuna_processes"]))
            rows.append(row)
    report("vs_optuna", pd.DataFrame(rows))


if __name__ == "__main__":
    main()
