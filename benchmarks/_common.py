"""Shared by the benchmark scripts: machine facts, a synthetic catalog, result tables."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from hpsearch.machine import machine, simd_level  # noqa: E402,F401  (the benchmarks' own names)

RESULTS = Path(__file__).resolve().parent / "results"


def synthetic_cache(n_events: int, seed: int = 0) -> Path:
    """A data cache holding a synthetic catalog; sets HPSEARCH_DATA to it."""
    from hpsearch.data.catalog import save_catalog
    from hpsearch.data.synthetic import synthetic_events

    folder = Path(tempfile.mkdtemp(prefix="hpsearch-bench-"))
    save_catalog(synthetic_events(n_events, seed), {"origin": "synthetic", "layout": "tidy"}, folder)
    os.environ["HPSEARCH_DATA"] = str(folder)
    return folder


def median(values) -> float:
    return float(statistics.median(values))


def report(name: str, table: pd.DataFrame, notes: str = "") -> Path:
    """Print the table (markdown) and write benchmarks/results/<name>.csv."""
    table = table.copy()
    table["date"] = time.strftime("%Y-%m-%d")
    table["machine"] = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.csv"
    table.to_csv(path, index=False)
    shown = table.drop(columns=["date", "machine"])
    print(shown.to_markdown(index=False, floatfmt=".3f"))
    if notes:
        print(notes)
    print(f"\n{machine()}, {time.strftime('%Y-%m-%d')}\nwrote {path}")
    return path
