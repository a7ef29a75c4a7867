"""Two workers against one, measured against what the machine itself gives at that moment.

The quickstart search (random search, epochs 5-100, hidden width 2-64, learning
rate 0.001-1; 96 trials by default) runs with ``n_jobs = 1`` and ``n_jobs = 2``.
Beside it, a plain ``multiprocessing`` pool (fork, started before the clock,
data already loaded) with 1 and 2 processes does the same training: the same
trials, in the same worker calls (the same populations, see
``hpsearch.execution.objective.populations``), through the same function, longest first.
The pool's speed-up of 2 processes over 1 is this machine's ceiling for that
work at that moment (a shared machine gives anywhere from 1.15x to 2x); the
figure that matters is hpsearch's speed-up divided by it. Repeats are
interleaved (pool 1, hpsearch 1, pool 2, hpsearch 2, ...), medians. The same is
measured with ``population = 1`` (one trial per worker call).

Also: the per-trial overhead of the engine for ~10 ms trials, and the cold start
of a worker pool (once per process).

Uses the catalog in the data cache (HPSEARCH_DATA) when there is one, else a
synthetic catalog of the real one's size.

Usage: python benchmarks/scaling.py [--repeats 3] [--trials 96]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
import tomllib
from pathlib import Path

import pandas as pd
from _common import median, report, synthetic_cache
from threadpoolctl import threadpool_limits

from hpsearch.config import parse
from hpsearch.data.prepared import prepare_problem
from hpsearch.execution.objective import populations, train_and_score
from hpsearch.execution.worker import run_trials
from hpsearch.runner import run_experiment
from hpsearch.search.trial import TrialSpec

QUICKSTART = Path(__file__).resolve().parents[1] / "experiments" / "quickstart.toml"
_DATA = None


def experiment(trials: int, n_jobs: int, population: int | None, **model):
    raw = tomllib.loads(QUICKSTART.read_text())
    raw.update(n_jobs=n_jobs, budget={"trials": trials})
    raw["model"].update(model)
    if population is not None:
        raw["population"] = population
    return parse(raw, "bench")


def search(exp) -> tuple[float, pd.DataFrame]:
    with tempfile.TemporaryDirectory() as tmp:
        out = run_experiment(exp, Path(tmp) / "run", progress=False)
    return out.seconds, out.trials


def _start(exp) -> None:
    global _DATA
    threadpool_limits(1)
    _DATA = prepare_problem(exp.data, exp.seed).dataset(0)


def _train(task) -> int:
    objective, specs = task
    return len(run_trials(objective, specs, _DATA))


def pool_run(pool, groups: list) -> float:
    start = time.perf_counter()
    for _ in pool.imap_unordered(_train, groups, chunksize=1):
        pass
    return time.perf_counter() - start


def specs_of(exp, trials: pd.DataFrame) -> list[TrialSpec]:
    names = [d.name for d in exp.space]
    return [TrialSpec(row.strategy, int(row.repetition), int(row.trial), int(row.config),
                      {name: getattr(row, name) for name in names}, int(row.seed), "rep0", exp.model)
            for row in trials.itertuples()]


def ceiling(trials: int, repeats: int, population: int | None) -> dict:
    one, two = experiment(trials, 1, population), experiment(trials, 2, population)
    _, table = search(one)  # the trials both sides train
    table["epochs"] = table["epochs"].astype(int)
    table["hidden_width"] = table["hidden_width"].astype(int)
    specs = specs_of(one, table)
    groups = {n: populations(train_and_score, specs, population, n) for n in (1, 2)}
    times = {"pool_1": [], "pool_2": [], "hpsearch_1": [], "hpsearch_2": []}
    context = multiprocessing.get_context("fork")
    with context.Pool(1, _start, (one,)) as pool1, context.Pool(2, _start, (one,)) as pool2:
        pool1.map(time.sleep, [0.1]), pool2.map(time.sleep, [0.1] * 2)  # started, data loaded
        for _ in range(repeats):
            times["pool_1"].append(pool_run(pool1, groups[1]))
            times["hpsearch_1"].append(search(one)[0])
            times["pool_2"].append(pool_run(pool2, groups[2]))
            times["hpsearch_2"].append(search(two)[0])
    hp = median(times["hpsearch_1"]) / median(times["hpsearch_2"])
    machine = median(times["pool_1"]) / median(times["pool_2"])
    return {"case": f"quickstart, {trials} trials, population = {population or 'default'}",
            "hpsearch_1_worker_seconds": median(times["hpsearch_1"]),
            "hpsearch_2_workers_seconds": median(times["hpsearch_2"]),
            "pool_1_process_seconds": median(times["pool_1"]),
            "pool_2_processes_seconds": median(times["pool_2"]),
            "hpsearch_speedup_2_vs_1": hp, "machine_speedup_2_vs_1": machine,
            "share_of_machine_speedup": hp / machine, "repeats": repeats}


def overhead(repeats: int) -> dict:
    """Per-trial engine overhead for ~10 ms trials (2 epochs of a width-8 network)."""
    raw = {"name": "bench", "seed": 0, "n_jobs": 2, "budget": {"trials": 400}, "population": 1,
           "model": {"epochs": 2, "hidden_width": 8, "batch_size": 256},
           "space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True}}}
    runs = []
    for _ in range(repeats):
        wall, table = search(parse(raw, "bench"))
        runs.append(((wall * 2 - table["seconds"].sum()) / len(table) * 1000, table["seconds"].mean()))
    return {"case": "~10 ms trials, 2 workers, population = 1",
            "overhead_ms_per_trial": median([r[0] for r in runs]),
            "mean_trial_seconds": median([r[1] for r in runs]), "repeats": repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=96)
    args = parser.parse_args()
    if not (Path(os.environ.get("HPSEARCH_DATA", "")) / "catalog.csv").is_file():
        synthetic_cache(23_412)
    start = time.perf_counter()
    search(experiment(2, 2, None))  # a cold pool: workers start and import hpsearch
    cold = time.perf_counter() - start
    rows = [ceiling(args.trials, args.repeats, None), ceiling(args.trials, args.repeats, 1),
            overhead(args.repeats)]
    table = pd.DataFrame(rows)
    table["cold_pool_start_seconds"] = cold
    first = table.iloc[0]
    report("scaling", table, f"\n2 workers vs 1: hpsearch {first.hpsearch_speedup_2_vs_1:.2f}x, the machine "
                             f"(plain pool, same work) {first.machine_speedup_2_vs_1:.2f}x: "
                             f"{first.share_of_machine_speedup:.2f} of the machine's speed-up.")


if __name__ == "__main__":
    main()
