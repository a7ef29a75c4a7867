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

import contextlib
import contextvars
import os
import sys
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
#: the thread limit applied, and the number of modules loaded when it was (a newly imported
#: library, scikit-learn's OpenMP runtime say, is limited as soon as it is seen)
_LIMITED: list = [None, -1]
#: the thread pools' environment variables, read by each library when it loads
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker process of a run is set up with: ``threads`` per thread pool (BLAS,
    OpenMP: ``[model] threads``), and ``paths`` (``[model] path``) appended to the end of
    ``sys.path``, after the standard library and site-packages, so nothing there shadows them."""

    threads: int = 1
    paths: tuple[str, ...] = ()
    driver: bool = False  # the trials run in the driver (n_jobs = 1): a Ctrl-C there is the user's

    def environment(self) -> dict[str, str]:
        """The environment a worker interpreter starts with: every pool limited before the first
        import, and ``PYTHONSAFEPATH`` so that the working folder is not put on ``sys.path``
        (a ``numpy.py`` there must not run in the workers)."""
        return {"PYTHONSAFEPATH": "1", **{name: str(self.threads) for name in THREAD_VARIABLES}}

    def apply(self) -> None:
        for path in self.paths:
            if path not in sys.path:
                sys.path.append(path)
        limit_threads(self.threads)


def limit_threads(threads: int | None = None) -> None:
    """Limit every thread pool loaded in this process to ``threads`` (default: the last limit
    set, else 1); cheap when nothing was imported since the last call."""
    threads = threads or _LIMITED[0] or 1
    if _LIMITED[0] != threads or _LIMITED[1] != len(sys.modules):
        threadpool_limits(limits=threads)
        _LIMITED[:] = [threads, len(sys.modules)]


@contextlib.contextmanager
def extended_path(paths):
    """``paths`` appended to the end of ``sys.path`` inside the block (the driver's imports of a
    config's own code: ``[model] path``), removed after it."""
    added = [p for p in dict.fromkeys(paths) if p not in sys.path]
    sys.path.extend(added)
    try:
        yield
    finally:
        for path in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(path)


def report_epoch(epoch: int, value: float) -> bool:
    """Report the validation value after ``epoch`` (1-based); True means stop now."""
    reporter = _reporter.get()
    return False if reporter is None else bool(reporter(epoch, value))


@dataclass(frozen=True)
class Together:
    """A worker call whose specs ``objective`` trains as one population."""

    objective: object  # has population_key, train_together and work (TrainsTogether)


def run_trials(call: Objective | Together, specs: list[TrialSpec], dataset: Dataset,
               channel=None, setup: WorkerSetup = WorkerSetup()) -> list[TrialResult]:
    """The worker-side runner: each spec through the objective, timed, never raising.

    ``channel`` (from the backend) carries epoch reports of the specs that ask
    for them to the driver, and its answer back; ``setup``: the run's threads and paths.
    """
    setup.apply()
    if isinstance(call, Together):
        return _run_together(call.objective, specs, dataset, channel, setup.driver)
    return [_run_one(call, spec, dataset, channel, setup.driver) for spec in specs]


def _run_together(objective, specs: list[TrialSpec], dataset: Dataset, channel, driver: bool) -> list[TrialResult]:
    """A population in one call. Each trial is charged the population's time in
    proportion to its work (``objective.work``). Should the population fail as
    a whole, its trials are trained one by one, so a failure stays in its trial."""
    started_at, start = now(), time.perf_counter()
    try:
        results = objective.train_together(specs, dataset)
    except Exception:
        return [_run_one(objective, spec, dataset, channel, driver) for spec in specs]
    seconds = time.perf_counter() - start
    work = [max(objective.work(spec), 1.0) for spec in specs]
    for result, share in zip(results, work):
        result.seconds = seconds * share / sum(work)
        result.started_at = started_at
    return results


def _run_one(objective: Objective, spec: TrialSpec, dataset: Dataset, channel, driver: bool = True) -> TrialResult:
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
    except BaseException as exc:  # recorded, never fatal: the search goes on
        if isinstance(exc, KeyboardInterrupt) and driver:  # the user's Ctrl-C, in the driver
            raise
        result = TrialResult.from_spec(spec, status="failed", message=failure_message(exc))
    finally:
        _reporter.reset(token)
        if not driver and getattr(objective, "ends_children", False):
            left = end_children()
            if left:
                result = TrialResult.from_spec(spec, status="failed", message=(
                    f"the trial left {left} process{'es' if left > 1 else ''} running; "
                    f"{'they were' if left > 1 else 'it was'} ended (an objective must wait for what it starts)"))
    result.seconds = time.perf_counter() - start
    result.started_at = started_at
    if out_of_time:
        result.message = f"stopped by the seconds budget after epoch {out_of_time[0]}"
    return result


def end_children() -> int:
    """In a worker process: end the processes a trial started and left running (a fork that
    never exits would keep the run from ending); how many there were. Linux only (the
    kernel's list of a process's children), nothing elsewhere."""
    left = set()
    for children in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            left.update(int(pid) for pid in children.read_text().split())
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)
    return len(left)


def failure_message(exc: BaseException) -> str:
    """``Type: message (file:line)`` of where it was raised."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 500 else text[:497] + "..."
    return f"{type(exc).__name__}: {text}{where}"
