"""Cost per trial of the durable trial store, against Optuna's own storages.

Each store writes the same finished trial (3 parameters, value, a 100-epoch
validation curve) N times, durably, one trial at a time as a search does:

* hpsearch's ``TrialStore``: one JSON line, flush + fsync;
* Optuna ``JournalStorage`` with ``JournalFileBackend`` (``study.add_trial``);
* Optuna ``RDBStorage`` on SQLite (``study.add_trial``).

Usage: python benchmarks/store.py [--trials 200] [--repeats 5]
Prints a table and writes benchmarks/results/store.csv (medians of the repeats).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
from _common import report

from hpsearch.execution.store import TrialStore

optuna.logging.set_verbosity(optuna.logging.WARNING)
PARAMS = {"epochs": 100, "hidden_width": 32, "learning_rate": 0.1}
CURVE = [0.43 - i * 1e-5 for i in range(100)]
DISTRIBUTIONS = {
    "epochs": optuna.distributions.IntDistribution(5, 200),
    "hidden_width": optuna.distributions.IntDistribution(2, 128, log=True),
    "learning_rate": optuna.distributions.FloatDistribution(1e-3, 3.0, log=True),
}


def record(i: int) -> dict:
    return {"strategy": "random", "repetition": 0, "trial": i, "seed": 12345, "params": PARAMS,
            "status": "ok", "train_rmse": 0.42, "val_rmse": 0.43, "test_rmse": None,
            "epochs_trained": 100, "seconds": 1.0, "message": "", "val_curve": CURVE,
            "finished_at": float(i)}


def time_jsonl(folder: Path, n: int) -> float:
    store = TrialStore(folder)
    start = time.perf_counter()
    for i in range(n):
        store.append(record(i))
    store.close()
    return (time.perf_counter() - start) / n


def _time_optuna(storage, n: int) -> float:
    study = optuna.create_study(storage=storage, study_name="bench")
    start = time.perf_counter()
    for i in range(n):
        study.add_trial(optuna.trial.create_trial(
            params=PARAMS, distributions=DISTRIBUTIONS, value=0.43,
            intermediate_values={e + 1: v for e, v in enumerate(CURVE)}, user_attrs={"seed": 12345}))
    return (time.perf_counter() - start) / n


def time_journal(folder: Path, n: int) -> float:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return _time_optuna(JournalStorage(JournalFileBackend(str(folder / "journal.log"))), n)


def time_sqlite(folder: Path, n: int) -> float:
    return _time_optuna(optuna.storages.RDBStorage(f"sqlite:///{folder / 'db.sqlite3'}"), n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    stores = {"hpsearch TrialStore (JSON lines + fsync)": time_jsonl,
              "optuna JournalStorage (file)": time_journal,
              "optuna RDBStorage (SQLite)": time_sqlite}
    rows = []
    for name, bench in stores.items():
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(dir=".") as tmp:
                runs.append(bench(Path(tmp), args.trials) * 1000)
        rows.append({"store": name, "ms_per_trial_median": statistics.median(runs),
                     "ms_per_trial_min": min(runs), "ms_per_trial_max": max(runs)})
    table = pd.DataFrame(rows)
    ours = table["ms_per_trial_median"].iloc[0]
    table["ratio_to_hpsearch"] = table["ms_per_trial_median"] / ours
    table["trials"], table["repeats"] = args.trials, args.repeats
    report("store", table)


if __name__ == "__main__":
    main()
