"""Which loop runs which search, and asynchronous searches on a virtual clock.

Synchronous strategies run in waves (:func:`hpsearch.search.loop.run_waves`). Asynchronous ones
(ASHA, median stopping) and those that stop trials on their epoch reports (TPE + pruner) run on
a *virtual clock* by default (``[strategy.NAME] clock = "epochs"``), which makes them identical
for any ``n_jobs``, on any backend, and after a resume:

* each search has its own ``W`` virtual workers (``[strategy.NAME] workers``, default the
  config's ``n_jobs``): a trial starts when one of them is free, at that worker's virtual time;
  an epoch costs 1, so the k-th epoch a trial trains ends at ``start + k``;
* a trial is trained in a real process as soon as it starts virtually, to the end of the epochs
  it was asked for, never stopped live ("trained ahead"); its epoch reports reach the strategy's
  ``on_epoch`` in virtual-time order (ties: earlier trial first), and a trial the strategy stops
  at epoch e ends there: its result is cut at e and counts ``e - start_epoch`` epochs (the real
  epochs trained beyond e show in ``trials.csv`` as ``epochs - start_epoch - epochs_trained``);
* results reach the strategy (``tell``) and the store in virtual-time order: a result that
  arrives early in real time waits for its virtual turn. A search only waits for trials it has
  already started, so nothing can deadlock, with ``--n-jobs 1`` and ``W > 1`` alike: the real
  processes train whatever the virtual schedules of all searches allow, many searches at once.

``clock = "wall"`` keeps true asynchrony (:func:`hpsearch.search.loop.run_asynchronous`): a
search asks for a trial the moment a real worker is free, and results depend on timing.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import time
from dataclasses import dataclass, field

from hpsearch.search.budget import Search
from hpsearch.search.loop import Backend, Session, next_trial, run_asynchronous, run_waves, tell
from hpsearch.search.strategies import Proposal
from hpsearch.search.trial import STOP, TrialResult

CLOCKS = ("epochs", "wall")


def clock_of(search: Search) -> str | None:
    """The clock a search runs on: "epochs" (virtual), "wall", or None (waves, no clock)."""
    strategy = search.strategy
    if not (strategy.asynchronous or strategy.needs_epoch_reports):
        return None
    return strategy.options.get("clock", "epochs")


def workers_of(search: Search) -> int:
    """The trials one search keeps in flight (its virtual workers)."""
    return int(search.strategy.options.get("workers") or 1)


def run_searches(session: Session, searches: list[Search], backend: Backend) -> float:
    """Every search to its budget, the wall time in seconds: the synchronous ones in waves (and
    strategies that stop trials live on the wall clock), then those on the virtual clock, then
    the asynchronous ones on the wall clock."""
    start = time.perf_counter()
    clocks = {id(s): clock_of(s) for s in searches}
    run_waves(session, [s for s in searches if not s.strategy.asynchronous and clocks[id(s)] != "epochs"],
              backend)
    virtual = [s for s in searches if clocks[id(s)] == "epochs"]
    if virtual:
        Schedule(session, virtual, backend).run()
    wall = [s for s in searches if s.strategy.asynchronous and clocks[id(s)] == "wall"]
    if wall:
        run_asynchronous(session, wall, backend)
    return time.perf_counter() - start


@dataclass(order=True)
class _Event:
    time: float
    trial: int
    epoch: int  # the epoch that ends then


@dataclass
class _Trial:
    proposal: Proposal
    worker: int
    start: float
    end_epoch: int  # the epoch it was asked to train to
    reports: bool  # its epochs reach on_epoch
    result: TrialResult | None = None  # the real result (trained ahead), once it has arrived
    stored: bool = False  # finished by an earlier run of this folder: only told again


@dataclass
class _Virtual:
    """One search's virtual workers and events."""

    search: Search
    free: list = field(default_factory=list)  # heap of (time the worker is free, worker)
    events: list = field(default_factory=list)  # heap of _Event
    running: dict = field(default_factory=dict)  # trial -> _Trial
    now: float = 0.0


class Schedule:
    """Searches on the virtual clock (module doc), sharing the real ``backend``."""

    def __init__(self, session: Session, searches: list[Search], backend: Backend):
        self.session, self.backend = session, backend
        self.searches = {(s.name, s.repetition): _Virtual(s, [(0.0, w) for w in range(workers_of(s))])
                         for s in searches}

    def run(self) -> None:
        while True:
            moved = [self._advance(v) for v in self.searches.values()]
            if any(moved):
                continue
            if not self.backend.in_flight:
                return
            for result in self.backend.next_completed():  # real time: wait for a trial to finish
                virtual = self.searches[(result.strategy, result.repetition)]
                virtual.running[result.trial].result = result

    def _advance(self, v: _Virtual) -> bool:
        """Start what the free virtual workers can, then handle the events whose trials are in;
        whether anything happened."""
        moved = self._start(v)
        while v.events:
            event = v.events[0]
            trial = v.running[event.trial]
            if trial.result is None:  # trained, but not back yet: its turn waits
                return moved
            heapq.heappop(v.events)
            v.now, moved = event.time, True
            if self._epoch(v, event, trial):
                self._start(v)  # a worker is free at v.now: its next trial may come before later events
        return moved

    def _start(self, v: _Virtual) -> bool:
        search, session, started = v.search, self.session, False
        while v.free and v.free[0][0] <= v.now and not search.exhausted and session.meter.left(search):
            step = next_trial(session, search)
            if step is None:
                break
            number, proposal, done = step
            _, worker = heapq.heappop(v.free)
            end = session.meter.epochs_of({**session.model, **proposal.params})
            reports = proposal.report_epochs and search.strategy.needs_epoch_reports
            trial = _Trial(proposal, worker, v.now, max(end, proposal.start_epoch), reports, done, done is not None)
            v.running[number] = trial
            if done is None:
                spec = dataclasses.replace(session.spec(search, number, proposal), report_epochs=False)
                session.submit(self.backend, [spec])
            first = proposal.start_epoch + 1 if reports else trial.end_epoch
            cost = 0 if proposal.answer is not None else first - proposal.start_epoch
            heapq.heappush(v.events, _Event(v.now + max(cost, 0), number, first))
            started = True
        return started

    def _epoch(self, v: _Virtual, event: _Event, trial: _Trial) -> bool:
        """Epoch ``event.epoch`` of a trial ends: its report, then its end; whether the trial ended."""
        result = trial.result
        if trial.reports and event.epoch < trial.end_epoch:
            value = _value(result, event.epoch, trial.proposal.start_epoch, trial.end_epoch)
            if value is not None:
                with self.session.lock:
                    stop = v.search.strategy.on_epoch(event.trial, event.epoch, value) is STOP
                if not stop:
                    heapq.heappush(v.events, _Event(event.time + 1, event.trial, event.epoch + 1))
                    return False
                if not trial.stored:
                    result = _cut(result, event.epoch, trial.end_epoch)
        self._finish(v, event, trial, result)
        return True

    def _finish(self, v: _Virtual, event: _Event, trial: _Trial, result: TrialResult) -> None:
        del v.running[event.trial]
        heapq.heappush(v.free, (event.time, trial.worker))
        if not trial.stored:
            result.virtual_start, result.virtual_end = trial.start, event.time
            self.session.accept(v.search, result)
        tell(self.session, v.search, event.trial)


def _value(result: TrialResult, epoch: int, start_epoch: int, end: int) -> float | None:
    """The validation value of ``epoch`` in a result's curve: a whole curve from epoch 1 (the
    network's, your function's) or, shorter, from the trial's start (a table's)."""
    curve = result.val_curve or []
    index = epoch - 1 if len(curve) >= end or start_epoch == 0 else epoch - start_epoch - 1
    if 0 <= index < len(curve) and curve[index] is not None and not math.isnan(curve[index]):
        return float(curve[index])
    return None


def _cut(result: TrialResult, epoch: int, end: int) -> TrialResult:
    """A result trained ahead to ``end``, as if stopped after ``epoch``."""
    curve = result.val_curve or []
    kept = curve[:epoch] if len(curve) >= end else curve[:epoch - result.start_epoch]
    return dataclasses.replace(
        result, val_curve=list(kept), val_loss=float(kept[-1]), train_loss=math.nan,
        epochs_trained=epoch - result.start_epoch, status="stopped", scores={},
        message=f"stopped after epoch {epoch} of {end} (the strategy stopped it, in virtual time)")
