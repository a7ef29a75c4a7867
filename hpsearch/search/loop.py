"""The search loop, as plain functions over (searches, backend, session).

Scheduling works in *waves*. A wave gathers every trial the strategies can
propose now (all of random and grid search's trials at once, a batch of an
adaptive strategy, a rung of Hyperband), runs them on the backend, stores each
result the moment it arrives, and tells the strategies in trial order when the
wave is over. What a strategy proposes therefore never depends on timing or on
the number of workers. Asynchronous strategies (ASHA) are the exception, by
design: they run after the others, and are asked for a new trial the moment
one ends.

The loop knows strategies only through their protocol (``ask``, ``tell``,
``on_epoch``, ``states_needed``, ``batch_size``, ``asynchronous``,
``replay_by_ask``) and backends only through theirs.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Callable, Protocol

from hpsearch.errors import RunError
from hpsearch.models.checkpoints import Checkpoints
from hpsearch.models.estimators import NETWORK
from hpsearch.search.budget import Meter, Search
from hpsearch.search.strategies import WAIT, Proposal
from hpsearch.search.trial import STOP, TrialResult, TrialSpec, now
from hpsearch.seeds import trial_seed

Task = tuple[Search, int, Proposal]


class Backend(Protocol):
    """What the loop needs of a backend (:mod:`hpsearch.execution.backends` implements it)."""

    workers: int
    in_flight: int

    def share(self, data: dict) -> None: ...

    def submit(self, call: Callable, specs: list[TrialSpec]) -> None: ...

    def next_completed(self) -> list[TrialResult]: ...


class Store(Protocol):
    """Where finished trials go, durably (:class:`hpsearch.execution.store.TrialStore`)."""

    def append(self, record: dict) -> None: ...


#: specs and the number of workers -> worker calls: (what runs them, specs)
Grouping = Callable[[list[TrialSpec], int], list[tuple[Callable, list[TrialSpec]]]]


def _nothing(search: Search, result: TrialResult) -> None:
    pass


@dataclass
class Session:
    """What running a trial needs, beside the strategy and the backend."""

    store: Store
    meter: Meter
    objective: Callable[[TrialSpec, object], TrialResult]  # (spec, dataset) -> result, on a worker
    checkpoints: Checkpoints
    root_seed: int
    model: dict
    max_failures: int | None = None
    estimator: str = NETWORK
    task: str = "regression"
    on_result: Callable[[Search, TrialResult], None] = _nothing
    failures: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)  # strategy calls, one at a time
    data: Callable[[str], object] | None = None  # data key -> its data set, shared when first needed
    shared: set = field(default_factory=set)
    clock: Callable[[], str] = now  # the time a result is stored at (a replay's is simulated)
    group: Grouping | None = None  # worker calls of several specs (populations); None: each spec alone

    def submit(self, backend: Backend, specs: list[TrialSpec], objective: Callable | None = None) -> None:
        """Send a task (to ``objective``, default the session's), sharing its data set
        with the workers first if it is new."""
        key = specs[0].data
        if key not in self.shared:
            if self.data is not None:
                backend.share({key: self.data(key)})
            self.shared.add(key)
        backend.submit(objective or self.objective, specs)

    def spec(self, search: Search, trial: int, proposal: Proposal, with_test: bool = False) -> TrialSpec:
        config = trial if proposal.config is None else proposal.config
        states = not with_test
        return TrialSpec(
            search.name, search.repetition, trial, config, dict(proposal.params),
            trial_seed(self.root_seed, search.repetition, config), search.data, self.model,
            start_epoch=proposal.start_epoch,
            load_state=self.checkpoints.path(search.name, search.repetition, proposal.parent),
            save_state=self.checkpoints.path(search.name, search.repetition, trial)
            if states and proposal.keep_state else None,
            report_epochs=proposal.report_epochs and states, with_test=with_test, estimator=self.estimator,
            task=self.task, time_limit=None if with_test else self.meter.time_left(search),
            parent=proposal.parent)

    def accept(self, search: Search, result: TrialResult) -> None:
        """Store a finished trial (durably, first), then count it."""
        proposal = search.asked[result.trial]
        result.finished_at = self.clock()
        result.started_at = result.started_at or result.finished_at  # a trial answered without training
        self.store.append(result.to_record())
        search.epochs_spent += self.meter.cost(proposal, result) - self.meter.cost(proposal)
        search.add(result)
        self.failures += result.status == "failed"
        self.on_result(search, result)
        if self.max_failures is not None and self.failures > self.max_failures:
            raise RunError(f"{self.failures} trials failed, more than max_failures = "
                           f"{self.max_failures}; last: {result.message or result.status}")


def replay(session: Session, searches: list[Search], records: list[dict], say=None) -> int:
    """Resume: give the searches what earlier runs of this folder finished; how many.

    Records of no search of this config, or beyond a trial budget, are ignored
    and ``say`` is told how many (a config changed with --force, a tampered store).
    """
    by_key = {(s.name, s.repetition): s for s in searches}
    count, foreign, beyond = 0, 0, 0
    for record in sorted(records, key=lambda r: (r["repetition"], r["trial"])):
        search = by_key.get((record["strategy"], record["repetition"]))
        if search is None:
            foreign += 1
            continue
        if session.meter.kind == "trials" and not 0 <= record["trial"] < session.meter.amount:
            beyond += 1
            continue
        if record["trial"] in search.finished:
            continue
        result = TrialResult.from_record(record)
        search.add(result)
        count += 1
        session.failures += result.status == "failed"
        if not search.strategy.replay_by_ask:  # the others hear it when they ask again
            search.strategy.tell(result)
    if say is not None and foreign:
        say(f"{foreign} stored trials belong to no strategy and repetition of this config; ignored")
    if say is not None and beyond:
        say(f"{beyond} stored trials lie outside the trial budget ({session.meter.amount:g}); ignored")
    return count


def epoch_handler(session: Session, searches: list[Search]):
    """What the backend's epoch channel calls: True when the strategy says stop."""
    by_key = {(s.name, s.repetition): s for s in searches}

    def handle(key: tuple, epoch: int, value: float) -> bool:
        strategy, repetition, trial = key
        with session.lock:
            return by_key[(strategy, repetition)].strategy.on_epoch(trial, epoch, value) is STOP

    return handle


def next_trial(session: Session, search: Search) -> tuple[int, Proposal, TrialResult | None] | None:
    """Ask the search for its next trial (or, resuming, take the finished one):
    (trial, proposal, finished result or None), or None when it has nothing now."""
    trial = search.next_trial
    done = search.finished.get(trial)
    if done is not None and not search.strategy.replay_by_ask:  # told in replay()
        proposal = Proposal(done.params, done.config, start_epoch=done.start_epoch)
    else:
        with session.lock:
            answer = search.strategy.ask(trial)
        if answer is WAIT:
            return None
        if answer is None:
            search.exhausted = True
            return None
        proposal = answer if isinstance(answer, Proposal) else Proposal(answer)
    search.asked[trial] = proposal
    if done is None and proposal.answer is not None:  # answered by the strategy: no training
        session.accept(search, TrialResult.from_spec(session.spec(search, trial, proposal), **proposal.answer))
        done = search.finished[trial]
    search.epochs_spent += session.meter.cost(proposal, done)
    search.next_trial += 1
    return trial, proposal, done


def ask_wave(session: Session, search: Search, workers: int) -> tuple[list[Task], list[Task]]:
    """The trials this search can start now, and finished ones it asked for again.

    A resumed search asks again for the trials an earlier run finished, in the
    same order, so that its state is what it was (``Strategy.replay_by_ask``).
    """
    if search.exhausted or any(t not in search.finished for t in search.asked):
        return [], []
    limit = session.meter.wave_limit(search.strategy, workers)
    to_run, replayed = [], []
    while (limit is None or len(to_run) < limit) and session.meter.left(search):
        step = next_trial(session, search)
        if step is None:
            break
        trial, proposal, done = step
        (to_run if done is None else replayed).append((search, trial, proposal))
    if not to_run and not replayed and not session.meter.left(search):
        search.exhausted = True
    return to_run, replayed


def tell(session: Session, search: Search, trial: int) -> None:
    with session.lock:
        search.strategy.tell(search.finished[trial])


def run_tasks(session: Session, backend: Backend, tasks: list[Task]) -> None:
    """Run trials to the end, in populations where they can train together, the
    longest work first (the wave ends sooner; results depend on neither), storing
    each result as it arrives."""
    by_key = {(s.name, s.repetition): s for s, _, _ in tasks}
    specs = [session.spec(search, trial, proposal) for search, trial, proposal in tasks]
    calls = ([(session.objective, [spec]) for spec in specs] if session.group is None
             else session.group(specs, backend.workers))
    for call, group in calls:
        session.submit(backend, group, call)
    while backend.in_flight:
        for result in backend.next_completed():
            session.accept(by_key[(result.strategy, result.repetition)], result)


def run_waves(session: Session, searches: list[Search], backend: Backend) -> None:
    """Run the synchronous searches to their budgets, wave after wave."""
    while True:
        to_run, replayed = [], []
        for search in searches:
            run, again = ask_wave(session, search, backend.workers)
            to_run += run
            replayed += [t for t in again if t[0].strategy.replay_by_ask]
        if not to_run and not replayed:
            return
        run_tasks(session, backend, to_run)
        for search, trial, _ in sorted(to_run + replayed, key=lambda t: (t[0].repetition, t[1])):
            tell(session, search, trial)
        for search in {id(t[0]): t[0] for t in to_run + replayed}.values():
            session.checkpoints.release(search.name, search.repetition, search.asked,
                                        search.strategy.states_needed())


def _ask_one(session: Session, search: Search) -> Task | None:
    """The next trial of an asynchronous search, or None (wait, exhausted, budget spent)."""
    while not search.exhausted and session.meter.left(search):
        step = next_trial(session, search)
        if step is None:
            return None
        trial, proposal, done = step
        if done is None:
            return search, trial, proposal
    return None


def run_asynchronous(session: Session, searches: list[Search], backend: Backend) -> None:
    """Keep every worker busy: a new trial is asked for the moment one ends (ASHA).

    What is proposed then depends on which trial ended first.
    """
    by_key = {(s.name, s.repetition): s for s in searches}
    idle = list(searches)
    while True:
        while backend.in_flight < backend.workers and idle:
            task = _ask_one(session, idle[0])
            if task is None:
                idle.pop(0)
                continue
            search, trial, proposal = task
            session.submit(backend, [session.spec(search, trial, proposal)])
            idle.append(idle.pop(0))  # round robin over the searches
        if not backend.in_flight:
            return
        for result in backend.next_completed():
            search = by_key[(result.strategy, result.repetition)]
            session.accept(search, result)
            tell(session, search, result.trial)
            if search not in idle:
                idle.append(search)


def score_tests(session: Session, searches: list[Search], backend: Backend) -> dict[tuple[str, int], TrialResult]:
    """Touch the test split once per search: retrain its chosen configuration (same
    seed, from scratch) and score it on test."""
    by_key = {}
    for search in searches:
        if search.best is not None:
            best = search.best
            with session.lock:
                proposal = search.strategy.test_proposal(best)
            state = session.checkpoints.path(search.name, search.repetition, proposal.parent)
            if state is not None and not os.path.exists(state):  # a finished run's states are gone
                proposal = Proposal(dict(best.params), best.config)
            spec = session.spec(search, best.trial, proposal, with_test=True)
            session.submit(backend, [spec])
    while backend.in_flight:
        for result in backend.next_completed():
            by_key[(result.strategy, result.repetition)] = result
    return by_key
