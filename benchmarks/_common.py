"""Shared by the benchmark scripts: machine facts, a synthetic catalog, result tables."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    import joblib
    import numpy
    import optuna
    import sklearn

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {cpu}, NumPy SIMD {simd_level()}, Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, scikit-learn {sklearn.__version__}, optuna {optuna.__version__}, "
            f"joblib {joblib.__version__}")


def simd_level() -> str:
    """NumPy's SIMD extensions found on this CPU (what ``numpy.show_runtime()`` lists as found)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:
        return "unknown"
    found = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    missing = [f for f in __cpu_dispatch__ if not __cpu_features__.get(f)]
    return "found " + "+".join(found) + ("; not " + "+".join(missing) if missing else "")


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
