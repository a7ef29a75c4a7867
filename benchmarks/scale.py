"""10,000 tiny trials: does the per-trial cost stay flat, and how much memory?

Random search of 10,000 one-epoch trials of a width-2 network on a small
synthetic catalog (about 1 ms of training each), 2 workers, every trial stored
durably as usual. The cost of a trial is read from the store's ``finished_at``
times: the wall time per trial over trials 1-1,000 against trials
9,001-10,000 (in order of finishing). Peak memory: the main process's maximum
resident set (where results accumulate), read from the kernel.

Usage: python benchmarks/scale.py [--trials 10000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _common import report, synthetic_cache

from hpsearch.config import parse
from hpsearch.runner import run_experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    args = parser.parse_args()
    synthetic_cache(2_000)
    exp = parse({"name": "scale", "n_jobs": 2, "budget": {"trials": args.trials},
                 "model": {"epochs": 1, "hidden_width": 2, "batch_size": None},
                 "space": {"learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True}}},
                "scale")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        out = run_experiment(exp, Path(tmp) / "run", progress=False)
        stamps = pd.to_datetime(out.trials["finished_at"], utc=True)
        finished = np.sort((stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy())
        store_mb = (Path(tmp) / "run" / "trials.jsonl").stat().st_size / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    window = min(1000, args.trials // 10)
    first = (finished[window - 1] - finished[0]) / (window - 1) * 1000
    last = (finished[-1] - finished[-window]) / (window - 1) * 1000
    table = pd.DataFrame([{
        "trials": len(out.trials), "ok": int((out.trials["status"] == "ok").sum()),
        "ms_per_trial_first_1000": first, "ms_per_trial_last_1000": last,
        "last_vs_first": last / first, "mean_training_ms": out.trials["seconds"].mean() * 1000,
        "peak_rss_mb_main_process": peak, "rss_mb_before_run": rss_before, "store_mb": store_mb,
    }])
    report("scale", table, f"\nwall time per trial, trials 1-{window}: {first:.2f} ms; last {window}: "
                           f"{last:.2f} ms ({last / first:.2f}x); peak memory of the main process "
                           f"{peak:.0f} MB ({rss_before:.0f} MB before the run).")


if __name__ == "__main__":
    main()
