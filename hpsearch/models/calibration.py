"""Where population training pays on this machine: measured once, cached in the data folder.

Stacking networks into one computation saves the per-step call overhead and costs nothing
elsewhere only while a step is small: above some batch size the elementwise work dominates
and a population is no faster than its networks one by one (slower on CPUs whose NumPy has
fewer vectorised kernels). Where that crossover lies depends on the CPU, so it is measured:
a population of 8 small networks against the same 8 trained one at a time, for 2 epochs at
batch sizes 32 to 256 (about half a second), the best of 3 interleaved repeats each. The
default population applies up to the largest batch size at which it was at least
:data:`MARGIN` times faster (and at every smaller one). The result is kept in
``calibration.json`` in the data folder, per machine (CPU, NumPy SIMD level, NumPy version).
"""

from __future__ import annotations

import functools
import json
import time
import warnings
from pathlib import Path

import numpy as np

BATCHES = (32, 64, 128, 256)
MARGIN = 1.3  # faster by this much at least: the small networks measured here gain more than a whole run does
FILE = "calibration.json"


STEP_VERSION = 2  # of the network's training step: a change to it (bump this) is measured again


def machine_key() -> str:
    """What the crossover depends on: the CPU, NumPy's version and its SIMD level, and the
    network's training step (:data:`STEP_VERSION`)."""
    from hpsearch.machine import cpu_name, simd_level

    return f"{cpu_name()}; NumPy {np.__version__} SIMD {simd_level()}; step {STEP_VERSION}"


def population_max_batch(folder: Path | None = None) -> int:
    """The largest batch size at which the default population pays on this machine (0: none),
    from ``folder/calibration.json`` (default: the data folder), measured and written there when
    this machine has no entry yet."""
    if folder is None:
        from hpsearch.data.catalog import data_dir

        folder = data_dir()
    return _max_batch(Path(folder))


@functools.lru_cache(maxsize=None)
def _max_batch(folder: Path) -> int:
    path, key = folder / FILE, machine_key()
    try:
        cached = json.loads(path.read_text(encoding="utf-8")) if path.is_file() and not path.is_symlink() else {}
    except (OSError, ValueError, UnicodeDecodeError):
        cached = {}
    entry = cached.get(key) if isinstance(cached, dict) else None
    if isinstance(entry, dict) and entry.get("max_batch") in (0, *BATCHES):
        return int(entry["max_batch"])
    speedups = measure()
    max_batch = 0
    for batch in BATCHES:
        if speedups[batch] < MARGIN:
            break
        max_batch = batch
    try:
        from hpsearch.files import write_atomic

        cached = cached if isinstance(cached, dict) else {}
        cached[key] = {"max_batch": max_batch, "speedups": {str(b): round(v, 3) for b, v in speedups.items()},
                       "measured": time.strftime("%Y-%m-%d")}
        write_atomic(path, json.dumps(cached, indent=1) + "\n")
    except OSError:  # a read-only data folder: measured again next time
        pass
    return max_batch


def measure(rows: int = 2048, members: int = 8, width: int = 32, epochs: int = 2, repeats: int = 3) -> dict:
    """Seconds alone / seconds together, per batch size (see the module doc)."""
    from hpsearch.models.network import NetworkRegressor, train_epochs
    from hpsearch.models.population import train_population

    rng = np.random.default_rng(0)
    X = rng.random((rows, 4))
    y = X @ rng.random(4) + 0.1 * rng.standard_normal(rows)

    def nets(batch):
        out = [NetworkRegressor(hidden_width=width, epochs=epochs, batch_size=batch, learning_rate=0.1,
                                 random_state=i) for i in range(members)]
        data = [net.start_training(X, y) for net in out][0]
        return out, data

    best = {batch: [np.inf, np.inf] for batch in BATCHES}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            for batch in BATCHES:
                alone, data = nets(batch)
                start = time.perf_counter()
                for net in alone:
                    train_epochs(net, *data[:2], None, None, epochs)
                best[batch][0] = min(best[batch][0], time.perf_counter() - start)
                together, data = nets(batch)
                start = time.perf_counter()
                train_population(together, *data[:2])
                best[batch][1] = min(best[batch][1], time.perf_counter() - start)
    return {batch: alone / together for batch, (alone, together) in best.items()}


def forget() -> None:
    """Forget what this process has read or measured: the next call reads the file again."""
    _max_batch.cache_clear()
