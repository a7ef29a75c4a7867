"""The machine a figure was measured on: cores, CPU, NumPy's SIMD level, versions.

A leaf module, like :mod:`hpsearch.errors`: every layer may import it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (Linux), or "unknown CPU"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine() -> str:
    """Cores, CPU, NumPy's SIMD level and the versions a speed figure depends on, in one line."""
    import joblib
    import numpy
    import optuna
    import sklearn

    cpu = cpu_name()
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
