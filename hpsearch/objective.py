"""One trial: train the network with given parameters and score it.

:func:`train_and_score` is a pure, module-level function so that joblib can send
it to any worker process; it never writes results (the engine does).
"""

from __future__ import annotations

import functools
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from hpsearch.features import Dataset
from hpsearch.network import NumpyMLPRegressor, _rmse

_BLAS_LIMITED = False


@dataclass
class TrialResult:
    """What a worker sends back for one trial."""

    strategy: str
    repetition: int
    trial: int
    seed: int
    params: dict
    status: str = "ok"  # ok | diverged | failed
    train_rmse: float = float("nan")
    val_rmse: float = float("nan")
    test_rmse: float = float("nan")
    epochs_trained: int = 0
    seconds: float = 0.0
    message: str = ""
    val_curve: list[float] = field(default_factory=list)

    def to_record(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=4)
def load_dataset(folder: str) -> Dataset:
    """Each worker process reads a prepared split once, memory-mapped."""
    return Dataset.load(Path(folder))


def _one_blas_thread() -> None:
    """Trials run side by side in processes: one BLAS thread each avoids oversubscription."""
    global _BLAS_LIMITED
    if not _BLAS_LIMITED:
        threadpool_limits(limits=1)
        _BLAS_LIMITED = True


def train_and_score(key: tuple[str, int, int], params: dict, data: str | Dataset, seed: int,
                    model: dict, with_test: bool = False) -> TrialResult:
    """Train ``NumpyMLPRegressor(**model, **params)`` on the training split; score it.

    Parameters
    ----------
    key : (strategy, repetition, trial)
        Identifies the trial in the result.
    params : dict
        The searched hyperparameters.
    data : str or Dataset
        A prepared split, or the folder it was saved to.
    seed : int
        Seeds the initial weights and the shuffling.
    model : dict
        Fixed network parameters from the config.
    with_test : bool
        Also score the test split. The engine asks for it once per search, for
        the configuration that validation chose.
    """
    strategy, repetition, trial = key
    result = TrialResult(strategy, repetition, trial, seed, dict(params))
    start = time.perf_counter()
    try:
        _one_blas_thread()
        dataset = load_dataset(data) if isinstance(data, str) else data
        net = NumpyMLPRegressor(**{**model, **params}, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.fit(dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val)
        result.epochs_trained = net.n_iter_
        result.val_curve = [float(v) for v in net.validation_curve_]
        if net.status_ == "diverged":
            result.status = "diverged"
            result.message = f"non-finite loss in epoch {net.n_iter_ + 1}"
        else:
            result.train_rmse = _rmse(net.predict(dataset.X_train), np.asarray(dataset.y_train))
            result.val_rmse = result.val_curve[-1]
            if with_test:
                result.test_rmse = _rmse(net.predict(dataset.X_test), np.asarray(dataset.y_test))
    except Exception as exc:  # recorded, never fatal: the search goes on
        result.status = "failed"
        last = traceback.extract_tb(exc.__traceback__)[-1]
        result.message = f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"
    result.seconds = time.perf_counter() - start
    return result
