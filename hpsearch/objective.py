"""One trial: train the network with given parameters and score it.

:func:`train_and_score` is a pure, module-level function so that joblib can send
it to any worker process; it never writes results (the engine does).
"""

from __future__ import annotations

import functools
import os
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


def load_dataset(folder: str) -> Dataset:
    """Each worker process reads a prepared split once, memory-mapped.

    The cache key includes the file's modification time, so a folder written
    again (a run with a changed config, ``--force``) is never served stale.
    """
    return _load_dataset(folder, os.stat(Path(folder, "X_train.npy")).st_mtime_ns)


@functools.lru_cache(maxsize=64)  # one split per repetition: keep them all
def _load_dataset(folder: str, version: int) -> Dataset:
    return Dataset.load(Path(folder))


def _one_blas_thread() -> None:
    """Trials run side by side in processes: one BLAS thread each avoids oversubscription."""
    global _BLAS_LIMITED
    if not _BLAS_LIMITED:
        threadpool_limits(limits=1)
        _BLAS_LIMITED = True


def train_and_score(key: tuple[str, int, int], params: dict, data: str | Dataset, seed: int,
                    model: dict, with_test: bool = False, markers: str | None = None,
                    checkpoint: tuple[str | None, str | None] = (None, None),
                    pruning: tuple | None = None) -> TrialResult:
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
    markers : str or None
        A folder where a file names this trial while it runs, so that the
        engine knows which trial was running if this worker process dies.
    checkpoint : (load_from, save_to)
        Continue from the network state saved in ``load_from`` (a promotion in
        multi-fidelity search) instead of training from scratch, and/or save
        the final state to ``save_to``. Continuing is bit-identical to
        training straight through, so only the new epochs are paid for.
    pruning : (journal file, study name, trial id) or None
        Report the validation RMSE of every epoch to that Optuna trial and stop
        when its study's pruner says so; the trial then counts as trained for
        the epochs it ran (``params["epochs"]`` becomes that number).
    """
    strategy, repetition, trial = key
    result = TrialResult(strategy, repetition, trial, seed, dict(params))
    marker = Path(markers, marker_name(strategy, repetition, trial)) if markers else None
    if marker is not None:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    start = time.perf_counter()
    try:
        _one_blas_thread()
        dataset = load_dataset(data) if isinstance(data, str) else data
        net = NumpyMLPRegressor(**{**model, **params}, random_state=seed)
        load_from, save_to = checkpoint
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if load_from is not None:
                with np.load(load_from) as saved:
                    net.set_state(dict(saved))
                before = net.n_iter_
                net.continue_fit(dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val,
                                 epochs=net.epochs)
            else:
                before = 0
                net.fit(dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val,
                        on_epoch=None if pruning is None else _pruning_callback(*pruning))
        if net.status_ == "stopped" and net.n_iter_ < net.epochs:  # pruned before the end
            result.params["epochs"] = net.n_iter_
            result.message = f"pruned by Optuna after epoch {net.n_iter_}"
        if save_to is not None:
            _save_state(net, save_to)
        result.epochs_trained = net.n_iter_ - before
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
        result.message = failure_message(exc)
    result.seconds = time.perf_counter() - start
    if marker is not None:
        marker.unlink(missing_ok=True)
    return result


def _pruning_callback(journal: str, study_name: str, trial_id: int, pruner: dict | None = None):
    """Report to an Optuna trial kept in a journal file; True when it should be pruned."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(journal))
    study = optuna.load_study(study_name=study_name, storage=storage,
                              pruner=optuna.pruners.HyperbandPruner(**(pruner or {})))
    trial = optuna.trial.Trial(study, trial_id)

    def report(epoch: int, value: float) -> bool:
        trial.report(value, epoch)
        return trial.should_prune()

    return report


def _save_state(net: NumpyMLPRegressor, path: str) -> None:
    """Write atomically: a state file is either whole or absent."""
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, **net.get_state())
    Path(tmp).replace(path)


def failure_message(exc: BaseException) -> str:
    """``Type: message (file:line)`` of where it was raised."""
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"


def run_trial(objective, key: tuple[str, int, int], params: dict, data, seed: int, model: dict,
              with_test: bool = False, markers: str | None = None,
              checkpoint: tuple[str | None, str | None] = (None, None),
              pruning: tuple | None = None) -> TrialResult:
    """Call ``objective`` as a worker task; whatever it raises becomes a failed trial."""
    try:
        if pruning is not None:
            return objective(key, params, data, seed, model, with_test, markers, checkpoint, pruning)
        if checkpoint == (None, None):  # the plain signature, for objectives that know no checkpoints
            return objective(key, params, data, seed, model, with_test, markers)
        return objective(key, params, data, seed, model, with_test, markers, checkpoint)
    except Exception as exc:
        return TrialResult(*key, seed, dict(params), status="failed", message=failure_message(exc))


def marker_name(strategy: str, repetition: int, trial: int) -> str:
    """File a worker keeps while it trains a trial (see ``markers``)."""
    import zlib

    return f"{zlib.crc32(strategy.encode())}-{repetition}-{trial}"
