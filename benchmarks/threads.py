"""A boosting run's wall time against its trials' summed seconds: as installed, and with every
thread pool limited by hand (``OMP_NUM_THREADS=1`` and friends, the set-up users were told to
use before workers limited their pools themselves). Equal walls and seconds mean the workers'
own limits hold; the old fault showed as summed seconds far above the wall's share.

    cd benchmarks; python threads.py [--trials 16] [--repeats 3]

16 HistGradientBoosting trials on 2 workers, the earthquake catalog's extended features when
the data folder has the catalog (``HPSEARCH_DATA``), else a synthetic catalog of 23,000 events.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from _common import median, report, synthetic_cache

CONFIG = """name = "threads"
seed = 3
n_jobs = 2
strategies = ["random"]
[budget]
trials = {trials}
[data]
features = "extended"
[model]
estimator = "sklearn.ensemble.HistGradientBoostingRegressor"
early_stopping = false
[space.max_iter]
type = "int"
low = 50
high = 200
[space.learning_rate]
type = "float"
low = 0.01
high = 0.5
log = true
"""
LIMITS = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def one(config: Path, env: dict) -> tuple[float, float]:
    out = Path(tempfile.mkdtemp(prefix="hpsearch-threads-"))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hpsearch", "run", str(config), "--out", str(out / "run"), "--quiet",
                    "--figures", "none"], check=True, env=env, capture_output=True)
    wall = time.perf_counter() - start
    return wall, float(pd.read_csv(out / "run" / "trials.csv")["seconds"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = Path(os.environ.get("HPSEARCH_DATA", Path.home() / "hpsearch_data"))
    source = "earthquake catalog"
    if not (data / "catalog.csv").is_file():
        synthetic_cache(23_000)
        source = "synthetic catalog (23,000 events)"
    config = Path(tempfile.mkdtemp()) / "threads.toml"
    config.write_text(CONFIG.format(trials=args.trials))
    base = {k: v for k, v in os.environ.items() if k not in LIMITS}
    rows = {"as installed": [], "OMP_NUM_THREADS=1 by hand": []}
    for _ in range(args.repeats):  # interleaved: the machine's load falls on both alike
        rows["as installed"].append(one(config, base))
        rows["OMP_NUM_THREADS=1 by hand"].append(one(config, {**base, **LIMITS}))
    table = pd.DataFrame([{"setup": name, "trials": args.trials, "workers": 2, "data": source,
                           "wall_s": median(w for w, _ in runs), "trial_seconds_sum": median(s for _, s in runs),
                           "repeats": args.repeats} for name, runs in rows.items()])
    table["wall_vs_by_hand"] = table["wall_s"] / table["wall_s"].iloc[1]
    report("threads", table, "a boosting run's wall and summed trial seconds, as installed and limited by hand")


if __name__ == "__main__":
    main()
