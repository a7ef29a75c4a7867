"""One evaluation contract: ``objective(spec, dataset) -> TrialResult``.

An objective is a pure, module-level function (so that any worker process can
import it): it fits, scores and returns; it never writes results. Around it, on
the worker, :func:`run_trials` does what every objective needs and none should
write: timing, turning an exception into a failed trial, one BLAS thread per
process, and the epoch reports. An objective reports the validation value of
each epoch with :func:`report_epoch`, which returns True when the strategy says
stop (it is a no-op outside a trial that reports epochs).

:func:`train_and_score` is the objective of the NumPy network, :func:`fit_and_score`
that of any scikit-learn regressor; :func:`evaluate` (the default) picks one.
"""

from __future__ import annotations

import contextvars
import os
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from hpsearch import estimators
from hpsearch.checkpoints import load_state, save_state
from hpsearch.features import Dataset
from hpsearch.metrics import classification_scores, rmse
from hpsearch.network import NumpyMLPClassifier, NumpyMLPRegressor
from hpsearch.trial import TrialResult, TrialSpec, now

Objective = Callable[[TrialSpec, Dataset], TrialResult]

_reporter: contextvars.ContextVar = contextvars.ContextVar("hpsearch_epoch_reporter", default=None)
_BLAS_LIMITED = False


def report_epoch(epoch: int, value: float) -> bool:
    """Report the validation value after ``epoch`` (1-based); True means stop now."""
    reporter = _reporter.get()
    return False if reporter is None else bool(reporter(epoch, value))


def train_and_score(spec: TrialSpec, dataset: Dataset) -> TrialResult:
    """Train the NumPy network (``spec.estimator``: the regressor or the classifier)
    with ``spec.model`` and ``spec.params`` on the training split; score it.

    Continues from ``spec.load_state`` when given (a promotion in multi-fidelity
    search: bit-identical to training straight through, so only the new epochs
    are paid for) and saves the final state to ``spec.save_state``. A trial the
    strategy stops after epoch k counts as a trial of k epochs
    (``params["epochs"]`` becomes k).
    """
    result = TrialResult.from_spec(spec)
    needed, memory = _memory_needed(spec, dataset), _machine_memory()
    if needed > MEMORY_SHARE * memory:
        result.status, result.message = "failed", (
            f"the network needs about {needed / 2**30:.1f} GiB, more than {MEMORY_SHARE:.0%} of this "
            f"machine's {memory / 2**30:.1f} GiB; not trained")
        return result
    network = NumpyMLPClassifier if spec.task == "classification" else NumpyMLPRegressor
    net = network(**{**spec.model, **spec.params}, random_state=spec.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.load_state is not None:
            net.set_state(load_state(spec.load_state))
            before = net.n_iter_
            net.continue_fit(dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val,
                             epochs=net.epochs, on_epoch=report_epoch)
        else:
            before = 0
            net.fit(dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val, on_epoch=report_epoch)
    if net.status_ == "stopped" and net.n_iter_ < net.epochs:
        result.params["epochs"] = net.n_iter_
        result.message = f"pruned after epoch {net.n_iter_} (the strategy stopped it)"
    if spec.save_state is not None:
        save_state(net.get_state(), spec.save_state)
    result.epochs_trained = net.n_iter_ - before
    result.val_curve = [float(v) for v in net.validation_curve_]
    if net.status_ == "diverged":
        result.status = "diverged"
        result.message = f"non-finite loss in epoch {net.n_iter_ + 1}"
        return result
    return score(net, spec, dataset, result)


MEMORY_SHARE = 0.5  # a trial may use at most this share of the machine's memory


def _machine_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**40


def _memory_needed(spec: TrialSpec, dataset: Dataset) -> float:
    """Bytes a network trial allocates, estimated before allocating: weights (with
    their gradients and the copy kept against divergence) and the activations of a
    batch and of the validation split."""
    params = {"hidden_width": 32, "n_hidden_layers": 1, "batch_size": None, **spec.model, **spec.params}
    width, layers = float(params["hidden_width"]), float(params["n_hidden_layers"])
    features, rows = float(dataset.X_train.shape[1]), float(dataset.X_train.shape[0])
    batch = rows if params["batch_size"] in (None, "full") else min(float(params["batch_size"]), rows)
    weights = features * width + (layers - 1) * width * width + width * 10
    activations = (batch * 3 + max(rows, float(dataset.X_val.shape[0]))) * width * layers
    return 8.0 * (4 * weights + activations)


def fit_and_score(spec: TrialSpec, dataset: Dataset) -> TrialResult:
    """Fit any scikit-learn regressor or classifier ``spec.estimator`` with
    ``spec.model`` and ``spec.params`` on the training split; score it.

    With a fidelity (``max_iter`` or ``n_estimators``, see
    :mod:`hpsearch.estimators`) the estimator is fitted with ``warm_start`` and
    can continue from ``spec.load_state`` up to the new count: a warm start.
    """
    result = TrialResult.from_spec(spec)
    cls = estimators.resolve(spec.estimator)
    fidelity = estimators.fidelity(cls)
    params = {**spec.model, **spec.params}
    if fidelity is not None:
        params["warm_start"] = True  # the same as a cold fit for a fresh estimator
    if spec.load_state is not None:
        model = estimators.load_estimator(spec.load_state, cls.__module__)
        model.set_params(**params)
        if estimators.counts_per_fit(cls, fidelity):  # max_iter counts one call to fit: the rest
            model.set_params(**{fidelity: params[fidelity] - spec.start_epoch})
    else:
        model = estimators.make(spec.estimator, params, spec.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(dataset.X_train, dataset.y_train)
    if spec.load_state is not None and fidelity is not None:
        model.set_params(**{fidelity: params[fidelity]})
    if spec.save_state is not None:
        estimators.save_estimator(model, spec.save_state)
    result.epochs_trained = (params[fidelity] - spec.start_epoch) if fidelity is not None else 0
    return score(model, spec, dataset, result)


def score(model, spec: TrialSpec, dataset: Dataset, result: TrialResult) -> TrialResult:
    """The fitted ``model``'s losses on train and validation (and test when asked),
    named by the problem's metric; non-finite predictions make the trial diverged."""
    splits = ["train", "val"] + (["test"] if spec.with_test else [])
    for split in splits:
        X, y = getattr(dataset, f"X_{split}"), np.asarray(getattr(dataset, f"y_{split}"))
        if spec.task == "classification":
            proba = model.predict_proba(X)
            if not np.all(np.isfinite(proba)):
                result.status, result.message = "diverged", f"non-finite probabilities on {split}"
                return result
            scores = classification_scores(proba, y, np.asarray(model.classes_))
            loss = scores.pop("log_loss")
            if split != "train":
                result.scores.update({f"{split}_{k}": v for k, v in scores.items()})
        elif split == "val" and result.val_curve:  # the network's own last epoch: no second pass
            loss = result.val_curve[-1]
        else:
            prediction = model.predict(X)
            if not np.all(np.isfinite(prediction)):
                result.status, result.message = "diverged", f"non-finite predictions on {split}"
                return result
            loss = rmse(prediction, y)
        setattr(result, f"{split}_loss", loss)
    if result.val_curve:  # the classifier's curve is the log loss too: kept exactly as trained
        result.val_loss = result.val_curve[-1]
    return result


def evaluate(spec: TrialSpec, dataset: Dataset) -> TrialResult:
    """The default objective: the network's own, or any scikit-learn estimator's."""
    if estimators.is_network(spec.estimator):
        return train_and_score(spec, dataset)
    return fit_and_score(spec, dataset)


def run_trials(objective: Objective, specs: list[TrialSpec], dataset: Dataset,
               channel=None) -> list[TrialResult]:
    """The worker-side runner: each spec through ``objective``, timed, never raising.

    ``channel`` (from the backend) carries epoch reports of the specs that ask
    for them to the driver, and its answer back.
    """
    _one_blas_thread()
    return [_run_one(objective, spec, dataset, channel) for spec in specs]


def _run_one(objective: Objective, spec: TrialSpec, dataset: Dataset, channel) -> TrialResult:
    started_at = now()
    start = time.perf_counter()
    out_of_time = []

    def reporter(epoch, value):
        if spec.time_limit is not None and time.perf_counter() - start > spec.time_limit:
            out_of_time.append(epoch)
            return True
        if spec.report_epochs and channel is not None:
            return channel.report(spec.key, epoch, value)
        return False

    token = _reporter.set(reporter if spec.time_limit is not None or spec.report_epochs else None)
    try:
        result = objective(spec, dataset)
        if not isinstance(result, TrialResult):
            raise TypeError(f"the objective returned {type(result).__name__}, expected a TrialResult")
    except Exception as exc:  # recorded, never fatal: the search goes on
        result = TrialResult.from_spec(spec, status="failed", message=failure_message(exc))
    finally:
        _reporter.reset(token)
    result.seconds = time.perf_counter() - start
    result.started_at = started_at
    if out_of_time:
        result.message = f"stopped by the seconds budget after epoch {out_of_time[0]}"
    return result


def _one_blas_thread() -> None:
    """Trials run side by side in processes: one BLAS thread each avoids oversubscription."""
    global _BLAS_LIMITED
    if not _BLAS_LIMITED:
        threadpool_limits(limits=1)
        _BLAS_LIMITED = True


def failure_message(exc: BaseException) -> str:
    """``Type: message (file:line)`` of where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"
