"""Where trials run: in this process, in joblib's loky worker processes, or on a Dask cluster.

Every backend has the same small interface, and nothing outside this module
knows which one runs:

* ``share(datasets)``: the prepared data sets, sent to the workers once (loky:
  saved to the run folder and memory-mapped by each worker; Dask: scattered to
  every worker in one call);
* ``submit(objective, specs)``: one task, a list of trial specs that share a
  data set, run by :func:`hpsearch.execution.objective.run_trials` on a worker;
* ``next_completed()``: the results of a task that finished, as they come;
* ``channel(handler)``: while open, workers send the epoch reports of the trials
  that ask for it to ``handler(key, epoch, value) -> stop?`` in this process and
  wait for its answer (a socket served by a thread here: loky and Dask alike);
* worker deaths are reported as such: a trial whose worker process died (killed,
  out of memory) comes back as a failed result saying so. loky: the trials that
  were running when the pool broke (each writes a marker file while it runs) run
  again, each alone in a process of its own, the others as usual; one that kills
  its process again is the culprit. Dask: the scheduler reruns the tasks of a
  lost worker elsewhere, and reports ``KilledWorker`` for a task that killed
  several.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import re
import shutil
import time
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterator, Literal

from pydantic import Field, field_validator, model_validator

from hpsearch.data.dataset import Dataset
from hpsearch.errors import RunError
from hpsearch.execution.channel import ChannelServer, Handler, SocketChannel, DirectChannel
from hpsearch.execution.worker import Objective, WorkerSetup, run_trials
from hpsearch.models.checkpoints import trial_name
from hpsearch.search.trial import TrialResult, TrialSpec, now
from hpsearch.sections import LIMITS, Section, invalid, show

BACKENDS = ("loky", "dask")
DEFAULT_BACKEND = "loky"
SCHEDULER_BACKEND = "dask"  # the backend a scheduler address is for
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler
INSTALL_DASK = "pip install 'hpsearch[dask]'"
DATA_FOLDER = "_data"
RUNNING_FOLDER = "_running"
DIED = "the worker process died running this trial"
SCHEDULER = re.compile(r"(tcp|tls)://[A-Za-z0-9.\-]+(:\d{1,5})|(tcp|tls)://\[[0-9A-Fa-f:.]+\](:\d{1,5})")
Backend_ = Literal["loky", "dask"]


class BackendKeys(Section):
    """The top-level keys of the machine that runs the trials: ``n_jobs`` worker processes (-1:
    every core), the ``backend`` and, for Dask, the ``scheduler`` of a running cluster."""

    n_jobs: int = Field(1, ge=-1, le=LIMITS["n_jobs"], description="worker processes (-1: every core)")
    backend: Backend_ = DEFAULT_BACKEND
    scheduler: str | None = Field(None, pattern=SCHEDULER.pattern,
                                  description="a running Dask scheduler, tcp://HOST:PORT or tls://HOST:PORT")

    @field_validator("n_jobs", mode="before")
    @classmethod
    def _n_jobs(cls, value):
        if isinstance(value, int) and not isinstance(value, bool) and (
                value == 0 or value < -1 or value > LIMITS["n_jobs"]):
            raise invalid("", f"must be 1 to {LIMITS['n_jobs']}, or -1 for all cores, got {value}")
        return value

    @field_validator("scheduler", mode="before")
    @classmethod
    def _address(cls, value):
        if value is not None and (not isinstance(value, str) or not SCHEDULER.fullmatch(value)):
            raise invalid("", f"expected tcp://HOST:PORT or tls://HOST:PORT, such as 'tcp://host:8786', "
                          f"got {show(value)}")
        return value

    @model_validator(mode="after")
    def _scheduler_is_for_dask(self) -> "BackendKeys":
        if self.scheduler is not None and self.backend != SCHEDULER_BACKEND:
            raise invalid("scheduler", f"is used by the {SCHEDULER_BACKEND} backend only; "
                          f"add backend = \"{SCHEDULER_BACKEND}\"")
        return self


def died(spec: TrialSpec, how: str) -> TrialResult:
    return TrialResult.from_spec(spec, status="failed", message=f"{DIED}, {how}")


class Backend(ABC):
    """Runs tasks (lists of trial specs) and hands back their results as they finish."""

    #: tasks that may run at the same time
    workers: int = 1
    #: the time now, as results are stamped (ISO-8601 UTC); a simulation has its own
    clock = staticmethod(now)

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release workers and files."""

    @abstractmethod
    def share(self, datasets: dict[str, Dataset]) -> None:
        """Make ``datasets`` (by key, ``TrialSpec.data``) available to every worker, once."""

    @abstractmethod
    def submit(self, objective: Objective, specs: list[TrialSpec]) -> None:
        """Start one task: ``specs`` (one data set) run in order by one worker."""

    @abstractmethod
    def next_completed(self) -> list[TrialResult]:
        """Wait for a task to finish; its results (worker deaths as failed results)."""

    @property
    @abstractmethod
    def in_flight(self) -> int:
        """Tasks submitted and not yet handed back."""

    @contextlib.contextmanager
    def channel(self, handler: Handler) -> Iterator[None]:
        """Epoch reports from workers reach ``handler`` while this is open."""
        server = ChannelServer(handler, self._channel_host())
        self._channel = server.address
        try:
            yield
        finally:
            self._channel = None
            server.close()

    _channel: "SocketChannel | None" = None

    def _channel_host(self) -> str:
        return "127.0.0.1"


# -- in this process ---------------------------------------------------------------
class InProcessBackend(Backend):
    """One worker: tasks run in this process, one when its result is asked for, so that each
    finished task is stored before the next starts (Ctrl-C lands in a trial and loses no
    finished one)."""

    def __init__(self, setup: WorkerSetup = WorkerSetup()):
        self._data: dict[str, Dataset] = {}
        self._queue: list[tuple[Objective, list[TrialSpec]]] = []
        self.setup = WorkerSetup(setup.threads, setup.paths, driver=True)

    def share(self, datasets):
        self._data.update(datasets)

    def submit(self, objective, specs):
        self._queue.append((objective, specs))

    def next_completed(self):
        objective, specs = self._queue.pop(0)
        return run_trials(objective, specs, self._data[specs[0].data], self._channel, self.setup)

    @property
    def in_flight(self):
        return len(self._queue)

    @contextlib.contextmanager
    def channel(self, handler):
        self._channel = DirectChannel(handler)
        try:
            yield
        finally:
            self._channel = None


# -- loky worker processes ------------------------------------------------------------
_WATCHED: list[int] = []


def watch_parent(parent: int, every: float = 1.0) -> None:
    """In a worker: end this process soon after ``parent`` (the run) dies, even by
    kill -9, instead of idling on as an orphan. Once per process."""
    if _WATCHED:
        return
    _WATCHED.append(parent)

    def watch():
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="hpsearch-watch-parent").start()


def _loky_task(objective, specs, folder, markers, channel, parent=None, setup=WorkerSetup()):
    """A task in a loky worker: a marker file per trial while it runs (see module doc)."""
    if parent is not None:
        watch_parent(parent)
    paths = [Path(markers, trial_name(*spec.key)) for spec in specs]
    Path(markers).mkdir(parents=True, exist_ok=True)
    for path in paths:
        path.touch()
    results = run_trials(objective, specs, load_dataset(folder), channel, setup)
    for path in paths:
        path.unlink(missing_ok=True)
    return results


def load_dataset(folder: str) -> Dataset:
    """Each worker process reads a prepared split once, memory-mapped.

    The cache key includes the file's modification time, so a folder written
    again (a run with a changed config, ``--force``) is never served stale.
    """
    return _load_dataset(folder, os.stat(Path(folder, "X_train.npy")).st_mtime_ns)


@functools.lru_cache(maxsize=64)  # one split per repetition: keep them all
def _load_dataset(folder: str, version: int) -> Dataset:
    return Dataset.load(Path(folder))


class LokyBackend(Backend):
    """``workers`` loky processes (joblib's reusable pool), data memory-mapped from ``work_dir``."""

    def __init__(self, workers: int, work_dir: Path, setup: WorkerSetup = WorkerSetup()):
        self.workers = workers
        self.setup = setup
        self._safe_path: tuple[str | None, bool] = (None, False)  # PYTHONSAFEPATH before __enter__, entered
        self.work_dir = Path(work_dir)
        self.markers = str(self.work_dir / RUNNING_FOLDER)
        self._folders: dict[str, str] = {}
        self._futures: dict[concurrent.futures.Future, tuple[Objective, list[TrialSpec], bool]] = {}
        self._alone: list = []  # one-process executors of trials run alone

    def __enter__(self):
        shutil.rmtree(self.markers, ignore_errors=True)  # the run claimed _running/ and _data/ first
        # the helper processes loky and multiprocessing start from here (resource trackers, run
        # with -c) must not put the working folder on sys.path either: set while the run lasts
        self._safe_path = os.environ.get("PYTHONSAFEPATH"), True
        os.environ["PYTHONSAFEPATH"] = "1"
        return self

    def close(self):
        """Stop what still runs (an interrupted run: its workers end before the run folder's
        lock is released), then delete the shared data and markers."""
        if any(not future.done() for future in self._futures):
            for future in self._futures:
                future.cancel()
            self._pool().shutdown(wait=True, kill_workers=True)
            for executor in self._alone:
                executor.shutdown(wait=True, kill_workers=True)
        self._futures.clear()
        for folder in (DATA_FOLDER, RUNNING_FOLDER):
            shutil.rmtree(self.work_dir / folder, ignore_errors=True)
        before, entered = self._safe_path
        if entered and before is None:
            os.environ.pop("PYTHONSAFEPATH", None)
        elif entered:
            os.environ["PYTHONSAFEPATH"] = before

    def share(self, datasets):
        for key, dataset in datasets.items():
            self._folders[key] = str(dataset.save(self.work_dir / DATA_FOLDER / key))

    def _pool(self):
        from joblib.externals.loky import get_reusable_executor

        # a broken pool (a worker died), or one started with another environment, is replaced here
        return get_reusable_executor(max_workers=self.workers, reuse="auto", env=self.setup.environment())

    def _start(self, objective, specs, alone: bool) -> None:
        args = (objective, specs, self._folders[specs[0].data], self.markers, self._channel, os.getpid(), self.setup)
        if alone:
            from joblib.externals.loky import ProcessPoolExecutor

            executor = ProcessPoolExecutor(max_workers=1, env=self.setup.environment())
            self._alone.append(executor)
            future = executor.submit(_loky_task, *args)
            future.add_done_callback(lambda _: executor.shutdown(wait=False))
        else:
            future = self._pool().submit(_loky_task, *args)
        self._futures[future] = (objective, specs, alone)

    def submit(self, objective, specs):
        self._start(objective, specs, alone=False)

    @property
    def in_flight(self):
        return len(self._futures)

    def next_completed(self):
        while True:
            done, _ = concurrent.futures.wait(self._futures, return_when=concurrent.futures.FIRST_COMPLETED)
            future = next(iter(done))
            objective, specs, alone = self._futures.pop(future)
            try:
                return future.result()
            except concurrent.futures.BrokenExecutor:
                if alone:
                    return [died(spec, "twice (killed, or out of memory?)") for spec in specs]
                self._recover(objective, specs)

    def _recover(self, objective, specs: list[TrialSpec]) -> None:
        """The pool broke: run what was running alone, everything else again as usual."""
        lost = [(objective, specs)]
        for future, (other_objective, other, alone) in list(self._futures.items()):
            if not alone and (not future.done() or future.exception() is not None):
                lost.append((other_objective, other))
                del self._futures[future]
        running = set(os.listdir(self.markers)) if os.path.isdir(self.markers) else set()
        suspects = [any(trial_name(*spec.key) in running for spec in task) for _, task in lost]
        shutil.rmtree(self.markers, ignore_errors=True)
        if not any(suspects):  # cannot tell which: isolate them all (bounded, rare)
            suspects = [True] * len(lost)
        for (task_objective, task), alone in zip(lost, suspects):
            for part in ([[spec] for spec in task] if alone else [task]):  # a population: each trial alone
                self._start(task_objective, part, alone=alone)


# -- Dask ---------------------------------------------------------------------------
def _distributed():
    try:
        import distributed
    except ImportError:
        raise RunError(f"the Dask backend needs dask.distributed, which is not installed: "
                       f"{INSTALL_DASK}") from None
    return distributed


class DaskBackend(Backend):
    """Tasks on a Dask cluster at ``scheduler``, or on a local cluster of ``workers`` processes.

    The driver (this process) keeps the store and the strategies, so adaptive
    strategies and resume work as on one machine.
    """

    def __init__(self, scheduler: str | None, workers: int, timeout: float | None = None,
                 setup: WorkerSetup = WorkerSetup()):
        self.scheduler = scheduler
        self.workers = workers
        self.setup = setup
        self.timeout = timeout
        self._stack = contextlib.ExitStack()
        self._data: dict = {}
        self._futures: dict = {}

    def __enter__(self):
        distributed = _distributed()
        try:
            self.client = self._stack.enter_context(self._connect(distributed))
        except BaseException:
            self._stack.close()
            raise
        if self.scheduler:
            self.workers = max(1, sum(w.get("nthreads", 1) for w in
                                      self.client.scheduler_info()["workers"].values()))
        return self

    def _connect(self, distributed):
        if self.scheduler:
            try:
                return distributed.Client(self.scheduler, timeout=self.timeout or CONNECT_TIMEOUT,
                                          set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise RunError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}; start one "
                               f"with `dask scheduler` (and `dask worker {self.scheduler}`), or check "
                               f"the address") from None
        cluster = self._stack.enter_context(distributed.LocalCluster(
            n_workers=self.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, death_timeout=10, env=self.setup.environment()))  # workers end when the run (scheduler) is gone
        return distributed.Client(cluster, set_as_default=False)

    def close(self):
        self._stack.close()

    def share(self, datasets):
        keys = list(datasets)
        futures = self.client.scatter([datasets[k] for k in keys], broadcast=True)
        self._data.update(zip(keys, futures))

    def submit(self, objective, specs):
        future = self.client.submit(run_trials, objective, specs, self._data[specs[0].data],
                                    self._channel, self.setup, pure=False)
        self._futures[future] = specs

    @property
    def in_flight(self):
        return len(self._futures)

    def next_completed(self):
        from distributed import wait
        from distributed.scheduler import KilledWorker

        with self.client.as_current():
            done = wait(list(self._futures), return_when="FIRST_COMPLETED").done
        future = next(iter(done))
        specs = self._futures.pop(future)
        try:
            return future.result()
        except KilledWorker:
            return [died(spec, "on several Dask workers (KilledWorker)") for spec in specs]

    def _channel_host(self) -> str:
        if not self.scheduler:
            return "127.0.0.1"
        from distributed.utils import get_ip

        host = self.scheduler.split("://")[-1].rsplit(":", 1)[0]
        return get_ip(host)


def imports_objectives_by_name(name: str) -> bool:
    """Whether the backend's workers may be other machines, which import an objective by its
    module and name (so no lambda or closure): Dask."""
    return name == "dask"


def make_backend(name: str, workers: int, work_dir: Path, scheduler: str | None = None,
                 setup: WorkerSetup = WorkerSetup(), isolate: bool = False) -> Backend:
    """The backend ``name`` (``loky`` or ``dask``); loky with one worker runs in this process,
    unless ``isolate`` (the user's own code: a ``sys.exit`` or a crash there ends a worker, never
    the run)."""
    if name == "dask":
        return DaskBackend(scheduler, workers, setup=setup)
    if workers == 1 and not isolate:
        return InProcessBackend(setup)
    return LokyBackend(workers, work_dir, setup)
