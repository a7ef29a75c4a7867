"""Where population training pays on this machine: measured once, cached in the data folder.

Stacking networks into one computation saves the per-step call overhead and costs nothing
elsewhere only while a step is small: above some batch size the elementwise work dominates
and a population is no faster than its networks one by one (slower on CPUs whose NumPy has
fewer vectorised kernels). Where that crossover lies depends on the CPU, so it is measured:
a population of 8 small networks against the same 8 trained one at a time, for 2 epochs at
batch sizes 32 to 256, in :data:`ROUNDS` interleaved rounds (about a second); each batch
size's speedup is the median over the rounds, so one round slowed by another process does
not decide. The default population applies up to the largest batch size at which it was at
least :data:`MARGIN` times faster (and at every smaller one). The result is kept in
``calibration.json`` in the data folder, per machine (CPU, NumPy SIMD level, NumPy version,
hpsearch version): another machine or version is measured again. ``hpsearch calibrate``
measures again on demand; ``hpsearch data info`` shows the decision.
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


ROUNDS = 5


def machine_key() -> str:
    """What the crossover depends on: the CPU, NumPy's version and its SIMD level, hpsearch's
    version and the network's training step (:data:`STEP_VERSION`)."""
    from hpsearch import __version__
    from hpsearch.machine import cpu_name, simd_level

    return f"{cpu_name()}; NumPy {np.__version__} SIMD {simd_level()}; hpsearch {__version__}; step {STEP_VERSION}"


def population_max_batch(folder: Path | None = None) -> int:
    """The largest batch size at which the default population pays on this machine (0: none),
    from ``folder/calibration.json`` (default: the data folder), measured and written there when
    this machine has no entry yet."""
    return _max_batch(_folder(folder))


def _folder(folder: Path | None) -> Path:
    if folder is None:
        from hpsearch.data.catalog import data_dir

        folder = data_dir()
    return Path(folder)


def _read(path: Path) -> dict:
    try:
        cached = json.loads(path.read_text(encoding="utf-8")) if path.is_file() and not path.is_symlink() else {}
    except (OSError, ValueError, UnicodeDecodeError):
        cached = {}
    return cached if isinstance(cached, dict) else {}


def entry(folder: Path | None = None) -> dict | None:
    """This machine's stored measurement (``max_batch``, ``speedups``, ``measured``), or None."""
    found = _read(_folder(folder) / FILE).get(machine_key())
    return found if isinstance(found, dict) and found.get("max_batch") in (0, *BATCHES) else None


@functools.lru_cache(maxsize=None)
def _max_batch(folder: Path) -> int:
    found = entry(folder)
    return int(found["max_batch"]) if found else int(calibrate(folder)["max_batch"])


def calibrate(folder: Path | None = None) -> dict:
    """Measure this machine's crossover now and store it (``hpsearch calibrate``): the entry written."""
    path = _folder(folder) / FILE
    speedups = measure()
    max_batch = 0
    for batch in BATCHES:
        if speedups[batch] < MARGIN:
            break
        max_batch = batch
    found = {"max_batch": max_batch, "speedups": {str(b): round(v, 3) for b, v in speedups.items()},
             "rounds": ROUNDS, "measured": time.strftime("%Y-%m-%d")}
    try:
        from hpsearch.files import write_atomic

        cached = _read(path)
        cached[machine_key()] = found
        write_atomic(path, json.dumps(cached, indent=1) + "\n")
    except OSError:  # a read-only data folder: measured again next time
        pass
    _max_batch.cache_clear()
    return found


def describe(found: dict | None) -> str:
    """The decision in words, for ``hpsearch data info`` and ``hpsearch calibrate``."""
    if not found:
        return ("population training: not measured on this machine yet (the first run that trains "
                "networks measures it; `hpsearch calibrate` does now)")
    speedups = ", ".join(f"{b}: {float(v):.2f}x" for b, v in found.get("speedups", {}).items())
    where = f"up to batch size {found['max_batch']}" if found["max_batch"] else "at no batch size"
    return (f"population training: {where} (faster by {MARGIN}x or more; median speedups over "
            f"{found.get('rounds', 'the')} rounds: {speedups}; measured {found.get('measured', '?')}; "
            f"`hpsearch calibrate` measures again)")


def measure(rows: int = 2048, members: int = 8, width: int = 32, epochs: int = 2, rounds: int = ROUNDS) -> dict:
    """Seconds alone / seconds together per batch size, the median over ``rounds`` (see the module doc)."""
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

    ratios: dict[int, list[float]] = {batch: [] for batch in BATCHES}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(rounds):
            for batch in BATCHES:
                alone, data = nets(batch)
                start = time.perf_counter()
                for net in alone:
                    train_epochs(net, *data[:2], None, None, epochs)
                seconds_alone = time.perf_counter() - start
                together, data = nets(batch)
                start = time.perf_counter()
                train_population(together, *data[:2])
                ratios[batch].append(seconds_alone / (time.perf_counter() - start))
    return {batch: float(np.median(values)) for batch, values in ratios.items()}


def forget() -> None:
    """Forget what this process has read or measured: the next call reads the file again."""
    _max_batch.cache_clear()
