"""Tabular benchmarks, replayed under simulated time (the table: :mod:`hpsearch.execution.table`).

Replay (:class:`TableBackend`) answers a trial from the table instead of training
it: the proposal is snapped to the nearest recorded point (a log-scaled dimension in
log space, a categorical exactly), its seed is seed index ``repetition % S`` (whose
split the recording used), its curve is read up to the proposed fidelity (a
continuation reads on from ``start_epoch``: in a table a continued configuration is
the recorded one, so a PBT exploit that changes hyperparameters reads the new
point's curve from there, an approximation), and its cost is the recorded seconds.
Trials run on N *simulated* workers: a trial starts when a simulated worker is
free, every epoch ends at its recorded time, epoch reports reach the strategy in
simulated time order, and results in simulated finishing order; so a replayed run is
the same for any real ``n_jobs``, asynchronous strategies included.
"""

from __future__ import annotations

import contextlib
import heapq
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from hpsearch.data.metrics import metric_for
from hpsearch.execution.backends import Backend
from hpsearch.search.trial import TrialResult, TrialSpec

from hpsearch.execution.table import EPOCH_ZERO, Table


# -- replay in simulated time -------------------------------------------------------------------
@dataclass(order=True)
class _Event:
    time: float
    order: int
    trial: "_Running" = field(compare=False)


@dataclass
class _Running:
    spec: TrialSpec
    worker: int
    started: float
    point: int
    seed: int
    end: int  # the epoch it trains to
    epoch: int  # epochs done
    clock: float  # when its last epoch ended


class TableBackend(Backend):
    """Trials answered from a :class:`Table` on ``workers`` simulated workers (module doc).

    A wave's trials are queued in the order they are submitted and start as simulated
    workers free up; epoch reports and results come in simulated time order (ties:
    submission order). Nothing runs in another process, so the real ``n_jobs`` does not
    matter."""

    def __init__(self, table: Table, workers: int):
        self.table = table
        self.workers = workers
        self.now = 0.0  # simulated seconds since the run started
        self._queue: list[TrialSpec] = []
        self._events: list[_Event] = []
        self._free = list(range(workers))
        self._order = 0
        self._handler = None
        self._failed: dict[tuple, str] = {}  # trials the table cannot answer, and why
        self._limited: dict[tuple, int] = {}  # trials a seconds budget stops: the epochs they asked for

    def share(self, datasets):
        pass  # nothing is trained

    def submit(self, objective, specs):
        self._queue += list(specs)

    @property
    def in_flight(self) -> int:
        return len(self._queue) + len(self._events)

    @contextlib.contextmanager
    def channel(self, handler):
        self._handler = handler
        try:
            yield
        finally:
            self._handler = None

    def clock(self) -> str:
        """The simulated time now, as a result's timestamps are written (ISO-8601 UTC)."""
        return (EPOCH_ZERO + timedelta(seconds=self.now)).isoformat(timespec="microseconds")

    def next_completed(self) -> list[TrialResult]:
        while True:
            self._start_queued()
            event = heapq.heappop(self._events)
            self.now = event.time
            trial = event.trial
            if trial.point < 0:  # the table cannot answer it: failed, on no worker
                return [self._result(trial, stopped=False)]
            trial.epoch += 1
            trial.clock = event.time
            stop = False
            if trial.spec.report_epochs and self._handler is not None:
                stop = bool(self._handler(trial.spec.key, trial.epoch, self._value(trial, trial.epoch)))
            if stop or trial.epoch >= trial.end:
                self._free.append(trial.worker)
                self._free.sort()
                return [self._result(trial, stopped=stop and trial.epoch < trial.end)]
            self._push(trial)

    def _start_queued(self) -> None:
        while self._queue and self._free:
            spec = self._queue.pop(0)
            worker = self._free.pop(0)
            params = {**spec.model, **spec.params}
            try:
                point = self.table.snap(spec.params)
                end = int(params[self.table.fidelity])
            except (ValueError, KeyError, TypeError) as exc:
                self._free.insert(0, worker)
                self._push_failed(spec, f"not in the table: {exc}")
                continue
            if not spec.start_epoch < end <= self.table.bound:
                self._free.insert(0, worker)
                self._push_failed(spec, f"{self.table.fidelity} = {end} is outside the recorded 1..{self.table.bound}")
                continue
            seed = spec.repetition % self.table.seeds
            if spec.time_limit is not None:  # a seconds budget: stop after the epoch that passes it, as live
                spent = np.cumsum(np.nan_to_num(self.table.seconds[point, seed, spec.start_epoch:end]))
                over = np.flatnonzero(spent > spec.time_limit)
                if len(over):
                    self._limited[spec.key] = end
                    end = spec.start_epoch + int(over[0]) + 1
            trial = _Running(spec, worker, self.now, point, seed, end, spec.start_epoch, self.now)
            if not spec.report_epochs:  # one event at the end: nothing listens to its epochs
                seconds = float(self._seconds(trial)[spec.start_epoch:end].sum())
                trial.epoch = end - 1
                self._order += 1
                heapq.heappush(self._events, _Event(self.now + seconds, self._order, trial))
            else:
                self._push(trial)

    def _push(self, trial: _Running) -> None:
        self._order += 1
        heapq.heappush(self._events, _Event(trial.clock + self._seconds(trial)[trial.epoch], self._order, trial))

    def _push_failed(self, spec: TrialSpec, message: str) -> None:
        trial = _Running(spec, -1, self.now, -1, 0, 0, 0, self.now)
        self._order += 1
        self._failed[spec.key] = message
        heapq.heappush(self._events, _Event(self.now, self._order, trial))

    def _seconds(self, trial: _Running) -> np.ndarray:
        return np.nan_to_num(self.table.seconds[trial.point, trial.seed])  # after a divergence: none

    def _value(self, trial: _Running, epoch: int) -> float:
        return float(self.table.val[trial.point, trial.seed, epoch - 1])

    def _result(self, trial: _Running, stopped: bool) -> TrialResult:
        spec = trial.spec
        failed = self._failed.pop(spec.key, None)
        result = TrialResult.from_spec(spec, started_at=(EPOCH_ZERO + timedelta(seconds=trial.started)).isoformat(
            timespec="microseconds"))
        if failed is not None or trial.point < 0:
            result.status, result.message = "failed", failed or "not in the table"
            return result
        p, s, done = trial.point, trial.seed, trial.epoch
        result.seed = int(self.table.seed[p, s])  # the network seed of the recorded curve
        result.val_curve = [float(v) for v in self.table.val[p, s, spec.start_epoch:done]]
        result.epochs_trained = done - spec.start_epoch
        result.seconds = float(np.nansum(self.table.seconds[p, s, spec.start_epoch:done]))
        result.val_loss = float(self.table.val[p, s, done - 1])
        if spec.with_test:
            result.test_loss = float(self.table.test[p, s, done - 1])
        if not np.isfinite(result.val_loss):
            result.status, result.message = "diverged", f"non-finite loss by epoch {done} (recorded)"
        elif stopped:
            result.status = "stopped"
            result.message = f"stopped after epoch {done} of {trial.end} (the strategy stopped it)"
        elif spec.key in self._limited:
            result.status = "stopped"
            result.message = (f"stopped by the seconds budget after epoch {done} of {self._limited.pop(spec.key)} "
                              f"(simulated seconds)")
        return result


@dataclass
class TableProblem:
    """A table's problem, as a run needs it (:class:`hpsearch.data.prepared.Problem`'s
    interface): repetition r uses seed index r % S, whose split's baselines the header holds."""

    table: Table

    @property
    def task(self) -> str:
        return self.table.header["task"]

    @property
    def metric(self):
        return metric_for(self.task)

    @property
    def meta(self) -> dict:
        return {**self.table.header.get("meta", {}), "table": str(self.table.folder)}

    @property
    def cleaning(self):
        return _Lines(self.table.header.get("cleaning", []))

    @property
    def n_features(self) -> int:
        return int(self.table.header.get("n_features", 0))

    def dataset(self, repetition: int):
        return None

    def unit(self, repetition: int) -> int:
        """The independent unit of a repetition: the recorded seed it replays (r % S)."""
        return repetition % self.table.seeds

    def baselines(self, repetition: int):
        from hpsearch.data.prepared import Baselines

        return Baselines(**self.table.header["baselines"][repetition % self.table.seeds])


@dataclass
class _Lines:
    notes: list

    def lines(self) -> list:
        return list(self.notes)
