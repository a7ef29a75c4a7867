"""The worker runtime: what runs around every objective, in whichever process the
backend chose.

:func:`run_trials` takes a worker call (an objective and its specs) and does what
every objective needs and none should write: one BLAS thread per process,
timing, turning an exception into a failed trial, and the epoch reports. An
objective reports the validation value of each epoch with :func:`report_epoch`,
which returns True when the strategy says stop (a no-op outside a trial that
reports epochs). A call wrapped in :class:`Together` trains its specs as one
population of an objective that declares it can (see
:class:`hpsearch.execution.objective.TrainsTogether`).
"""

from __future__ import annotations

import contextvars
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from threadpoolctl import threadpool_limits

from hpsearch.data.dataset import Dataset
from hpsearch.search.trial import TrialResult, TrialSpec, now

Objective = Callable[[TrialSpec, Dataset], TrialResult]

_reporter: contextvars.ContextVar = contextvars.ContextVar("hpsearch_epoch_reporter", default=None)
_BLAS_LIMITED = False


def report_epoch(epoch: int, value: float) -> bool:
    """Report the validation value after ``epoch`` (1-based); True means stop now."""
    reporter = _reporter.get()
    return False if reporter is None else bool(reporter(epoch, value))


@dataclass(frozen=True)
class Together:
    """A worker call whose specs ``objective`` trains as one population."""

    objective: object  # has population_key, train_together and work (TrainsTogether)


def run_trials(call: Objective | Together, specs: list[TrialSpec], dataset: Dataset,
               channel=None) -> list[TrialResult]:
    """The worker-side runner: each spec through the objective, timed, never raising.

    ``channel`` (from the backend) carries epoch reports of the specs that ask
    for them to the driver, and its answer back.
    """
    _one_blas_thread()
    if isinstance(call, Together):
        return _run_together(call.objective, specs, dataset, channel)
    return [_run_one(call, spec, dataset, channel) for spec in specs]


def _run_together(objective, specs: list[TrialSpec], dataset: Dataset, channel) -> list[TrialResult]:
    """A population in one call. Each trial is charged the population's time in
    proportion to its work (``objective.work``). Should the population fail as
    a whole, its trials are trained one by one, so a failure stays in its trial."""
    started_at, start = now(), time.perf_counter()
    try:
        results = objective.train_together(specs, dataset)
    except Exception:
        return [_run_one(objective, spec, dataset, channel) for spec in specs]
    seconds = time.perf_counter() - start
    work = [max(objective.work(spec), 1.0) for spec in specs]
    for result, share in zip(results, work):
        result.seconds = seconds * share / sum(work)
        result.started_at = started_at
    return results


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
