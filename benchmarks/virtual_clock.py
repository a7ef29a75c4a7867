"""The cost of determinism: ASHA on the virtual clock (the same trials for any n_jobs) against
true asynchrony on the wall clock, on the quickstart space, 2 worker processes.

    cd benchmarks; python virtual_clock.py [--repetitions 20] [--repeats 3] [--epochs 300]

For each clock, a run of ``--repetitions`` ASHA searches (each with 2 workers of its own, a
budget of ``--epochs`` epochs), and one search alone: the wall time of the search  and the workers' utilisation, the trials' summed training seconds over
(wall x 2 processes). Medians of ``--repeats`` runs, the clocks interleaved. The earthquake
catalog when the data folder has it (``HPSEARCH_DATA``), else a synthetic one of 23,000 events.
Writes benchmarks/results/virtual_clock.csv, and virtual_clock_stops.csv: for median stopping
and TPE + pruner, the epochs the budget counts (to each stop) against those trained ahead.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import tomllib
from pathlib import Path

import pandas as pd

from _common import median, report, synthetic_cache
from hpsearch.config import parse
from hpsearch.runner import run_experiment

CONFIG = """name = "virtual-clock"
seed = 5
n_jobs = 2
strategies = ["asha"]
repetitions = {repetitions}
[budget]
epochs = {epochs}
[strategy.asha]
clock = "{clock}"
[model]
batch_size = 256
[space.epochs]
type = "int"
low = 5
high = 100
[space.hidden_width]
type = "int"
low = 2
high = 64
log = true
[space.learning_rate]
type = "float"
low = 0.001
high = 1.0
log = true
[output]
figures = "none"
"""


def one(clock: str, repetitions: int, epochs: int) -> dict:
    """One run in this process: the search's wall seconds (what ``run_searches`` measures)."""
    folder = Path(tempfile.mkdtemp(prefix="hpsearch-clock-"))
    exp = parse(tomllib.loads(CONFIG.format(clock=clock, repetitions=repetitions, epochs=epochs)), "<benchmark>")
    out = run_experiment(exp, folder / "run", progress=False)
    return {"wall_s": out.seconds, "trained_s": float(out.trials["seconds"].sum()), "trials": len(out.trials)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=300)
    args = parser.parse_args()
    if not (Path(os.environ.get("HPSEARCH_DATA", "datasets")) / "catalog.csv").is_file():
        synthetic_cache(23_000)
    rows = []
    for searches in (args.repetitions, 1):
        runs: dict[str, list[dict]] = {"epochs": [], "wall": []}
        for _ in range(args.repeats):
            for clock in runs:  # interleaved: the machine's load falls on both alike
                runs[clock].append(one(clock, searches, args.epochs))
        for clock, measured in runs.items():
            wall = median([m["wall_s"] for m in measured])
            utilisation = median([m["trained_s"] / (m["wall_s"] * 2) for m in measured])
            rows.append({"searches": searches, "clock": clock, "wall_s": round(wall, 2),
                         "utilisation": round(utilisation, 3), "idle_share": round(1 - utilisation, 3),
                         "trials": measured[0]["trials"], "repeats": args.repeats})
    table = pd.DataFrame(rows)
    for searches, group in table.groupby("searches"):
        ratio = float(group.set_index("clock").loc["epochs", "wall_s"] / group.set_index("clock").loc["wall", "wall_s"])
        table.loc[table["searches"] == searches, "virtual_over_wall"] = round(ratio, 3)
    report("virtual_clock", table, "ASHA, quickstart space, 2 processes")
    report("virtual_clock_stops", beyond(args.repetitions, args.epochs),
           "epochs counted against those trained ahead, strategies that stop trials, epoch clock")


def beyond(repetitions: int, epochs: int) -> pd.DataFrame:
    """What training ahead costs where trials are stopped: the epochs the budget counts (up to
    each stop) against those the real processes trained (to the proposed epochs). The counts
    follow the virtual clock, so they are the same on any machine."""
    rows = []
    for strategy in ("median-stop", "tpe-hyperband"):
        text = CONFIG.format(clock="epochs", repetitions=repetitions, epochs=epochs).replace(
            'strategies = ["asha"]', f'strategies = ["{strategy}"]').replace("[strategy.asha]", f'[strategy.{strategy}]')
        out = run_experiment(parse(tomllib.loads(text), "<benchmark>"), Path(tempfile.mkdtemp()) / "run", progress=False)
        t = out.trials
        trained = int((t["epochs"] - t["start_epoch"]).sum())
        counted = int(t["epochs_trained"].sum())
        rows.append({"strategy": strategy, "searches": repetitions, "trials": len(t),
                     "stopped": int((t["status"] == "stopped").sum()), "epochs_counted": counted,
                     "epochs_trained": trained, "beyond_share": round(1 - counted / trained, 3)})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
