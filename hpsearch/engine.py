"""The search loop: strategies ask, joblib workers train, results are stored.

Seeds (no global random state anywhere), all from the experiment's root seed
through :class:`numpy.random.SeedSequence`:

* data split of repetition r: ``spawn_key=(SPLIT, r)``;
* network initialisation and shuffling of trial i in repetition r:
  ``spawn_key=(TRIAL, r, i)``; the same for every strategy, so strategies are
  compared on paired seeds (the ``seed`` column of ``trials.csv``); a
  multi-fidelity strategy numbers configurations instead (``config``), and all
  trials of a configuration share its seed;
* proposals of strategy s in repetition r: ``spawn_key=(crc32(s), r)``, and for
  random search trial i draws from ``spawn_key=(crc32(s), r, i)``.

Scheduling: the engine works in *waves*. A wave gathers every trial the
strategies can propose now (all of random and grid search's trials at once, a
batch of an adaptive strategy), runs them on the joblib workers, stores each
result the moment it arrives, and tells the strategies in trial order when the
wave is over. What a strategy proposes therefore never depends on timing or on
the number of workers. Asynchronous strategies (ASHA) are the exception, by
design: they run after the others, on the backend's executor, and are asked
for a new trial the moment one ends.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from tqdm.auto import tqdm

from hpsearch import backends
from hpsearch.catalog import load_catalog
from hpsearch.config import Experiment
from hpsearch.errors import RunError
from hpsearch.features import Dataset, prepare
from hpsearch.objective import TrialResult, marker_name, run_trial, train_and_score
from hpsearch.store import TrialStore
from hpsearch.strategies import WAIT, Proposal, Strategy, make_strategy, strategy_key

SPLIT, TRIAL = 1, 2
DATA_FOLDER = "_data"
RUNNING_FOLDER = "_running"
STATES_FOLDER = "_states"
OPTUNA_FOLDER = "_optuna"


class _InProcessExecutor(concurrent.futures.Executor):
    """One worker: run each task at once, in this process (as joblib does for n_jobs=1)."""

    def submit(self, fn, *args, **kwargs):
        future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def proposal_of(record: dict) -> Proposal:
    """The proposal a stored trial was run from (records before multi-fidelity have no config)."""
    return Proposal(record["params"], record.get("config"), start_epoch=record.get("start_epoch", 0))


def trial_seed(root: int, repetition: int, trial: int) -> int:
    """Network seed of a trial: paired across strategies (see module doc)."""
    return int(np.random.SeedSequence(root, spawn_key=(TRIAL, repetition, trial)).generate_state(1)[0])


def split_seed(root: int, repetition: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(root, spawn_key=(SPLIT, repetition))


def strategy_seed(root: int, name: str, repetition: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(root, spawn_key=(strategy_key(name), repetition))


@dataclass
class Search:
    """One strategy in one repetition, and its bookkeeping."""

    strategy: Strategy
    repetition: int
    data: str
    finished: dict[int, dict] = field(default_factory=dict)
    asked: dict[int, dict] = field(default_factory=dict)
    next_trial: int = 0
    exhausted: bool = False
    epochs_asked: int = 0
    seconds_used: float = 0.0

    @property
    def name(self) -> str:
        return self.strategy.name

    best: dict | None = None

    def add(self, record: dict) -> None:
        """A finished trial; the best one is kept up to date (ties: lowest trial number)."""
        self.finished[record["trial"]] = record
        self.seconds_used += record["seconds"]
        if record["status"] == "ok" and record["val_rmse"] is not None and (
                self.best is None
                or (record["val_rmse"], record["trial"]) < (self.best["val_rmse"], self.best["trial"])):
            self.best = record


@dataclass
class Baselines:
    """Reference predictors on one repetition's split."""

    mean_val_rmse: float
    mean_test_rmse: float
    linear_val_rmse: float
    linear_test_rmse: float


def baselines(data: Dataset) -> Baselines:
    """Predict-the-mean and ordinary least squares, fit on the training split."""
    from sklearn.linear_model import LinearRegression

    def rmse(prediction, target):
        return float(np.sqrt(np.mean((prediction - target) ** 2)))

    mean = float(np.mean(data.y_train))
    linear = LinearRegression().fit(data.X_train, data.y_train)
    return Baselines(rmse(mean, data.y_val), rmse(mean, data.y_test),
                     rmse(linear.predict(data.X_val), data.y_val),
                     rmse(linear.predict(data.X_test), data.y_test))


class Engine:
    """Runs one experiment into one run folder (resuming what is there)."""

    def __init__(self, experiment: Experiment, run_dir: Path, progress: bool = True,
                 objective=train_and_score):
        self.exp = experiment
        self.objective = objective
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.store = TrialStore(self.run_dir)
        self.baselines: dict[int, Baselines] = {}
        self.searches: list[Search] = []
        self.tests: dict[tuple[str, int], dict] = {}
        self.n_jobs = experiment.n_jobs if experiment.n_jobs > 0 else (os.cpu_count() or 1)
        self.started = time.perf_counter()
        self.previous_wall = 0.0

    # -- set-up ------------------------------------------------------------------
    def prepare(self) -> None:
        table, self.cleaning, self.catalog_meta = load_catalog(self.exp.data.event_types)
        max_trials = self.exp.budget.amount if self.exp.budget.kind == "trials" else None
        for r in range(self.exp.repetitions):
            dataset = prepare(table, self.exp.data.features, self.exp.data.split,
                              self.exp.data.fractions, split_seed(self.exp.seed, r))
            # loky workers memory-map the split from disk; Dask workers get it scattered
            data = dataset if self.exp.backend == "dask" else str(
                dataset.save(self.run_dir / DATA_FOLDER / f"rep{r}"))
            self.baselines[r] = baselines(dataset)
            for name in self.exp.strategies:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    strategy = make_strategy(name, self.exp.space, strategy_seed(self.exp.seed, name, r),
                                             self.exp.strategy_options.get(name), self.n_jobs, max_trials)
                if r == 0:
                    for w in caught:
                        tqdm.write(f"warning: {w.message}")
                if hasattr(strategy, "storage_dir"):  # Optuna with a pruner: a study workers can open
                    strategy.storage_dir = self.run_dir / OPTUNA_FOLDER
                self.searches.append(Search(strategy, r, data))
        self.n_features = dataset.X_train.shape[1]
        self._replay(self.store.read())

    def _replay(self, records: list[dict]) -> None:
        """Resume: give the strategies what earlier runs of this folder finished."""
        by_key = {(s.name, s.repetition): s for s in self.searches}
        for record in sorted(records, key=lambda r: (r["repetition"], r["trial"])):
            search = by_key.get((record["strategy"], record["repetition"]))
            if search is None or record["trial"] in search.finished:
                continue
            search.add(record)
            self.previous_wall = max(self.previous_wall, record.get("finished_at") or 0.0)
            if not search.strategy.replay_by_ask:  # the others hear it when they ask again
                value = record["val_rmse"] if record["status"] == "ok" else None
                search.strategy.tell(record["trial"], record["params"], value, record["status"],
                                     config=record.get("config"))

    # -- budget ------------------------------------------------------------------
    def _epochs_of(self, params: dict) -> int:
        return int(params.get("epochs", self.exp.model.get("epochs", 100)))

    def _cost(self, proposal: Proposal, record: dict | None = None) -> int:
        """Epochs a trial counts against an epoch budget: what it will train when
        asked; once finished, what it did train (a pruned or diverged trial trains
        less), at least 1 so that failing trials still spend budget; a trial answered
        from another's epoch curve costs nothing."""
        if proposal.answered_by is not None:
            return 0
        if record is not None:
            return max(int(record.get("epochs_trained") or 0), 1)
        return self._epochs_of(proposal.params) - proposal.start_epoch

    def _budget_left(self, search: Search) -> bool:
        kind, amount = self.exp.budget.kind, self.exp.budget.amount
        if kind == "trials":
            return search.next_trial < amount
        if kind == "epochs":
            return search.epochs_asked < amount
        return search.seconds_used < amount

    def _ask_wave(self, search: Search) -> tuple[list, list]:
        """The trials this search can start now, and finished ones it asked for again.

        Returns (to_run, replayed), lists of (search, trial, Proposal). A resumed
        search asks again for the trials an earlier run finished, in the same
        order, so that its state is what it was (see ``Strategy.replay_by_ask``).
        """
        if search.exhausted or any(t not in search.finished for t in search.asked):
            return [], []
        limit = search.strategy.batch_size
        if limit is None and self.exp.budget.kind == "seconds":
            limit = self.n_jobs  # a time budget is checked between small waves
        to_run, replayed = [], []
        while (limit is None or len(to_run) < limit) and self._budget_left(search):
            step = self._next(search)
            if step is None:
                break
            trial, proposal, done = step
            (to_run if done is None else replayed).append((search, trial, proposal))
        if not to_run and not replayed and not self._budget_left(search):
            search.exhausted = True
        return to_run, replayed

    # -- running -----------------------------------------------------------------
    def _calls(self, tasks: list, with_test: bool = False):
        # Longest first: the wave ends sooner; results do not depend on the order.
        tasks = sorted(tasks, key=lambda t: -(self._epochs_of(t[2].params) - t[2].start_epoch)
                       * t[2].params.get("hidden_width", 1))
        markers = str(self.run_dir / RUNNING_FOLDER)
        for search, trial, proposal in tasks:
            config = trial if proposal.config is None else proposal.config
            checkpoint = (None, None) if with_test else (
                self._state_path(search, proposal.parent), self._state_path(search, trial)
                if proposal.keep_state else None)
            yield joblib.delayed(run_trial)(
                self.objective, (search.name, search.repetition, trial), proposal.params, search.data,
                trial_seed(self.exp.seed, search.repetition, config), self.exp.model, with_test,
                markers, checkpoint, None if with_test else proposal.pruning)

    def _state_path(self, search: Search, trial: int | None) -> str | None:
        if trial is None:
            return None
        folder = self.run_dir / STATES_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder / f"{marker_name(search.name, search.repetition, trial)}.npz")

    def _release_states(self, search: Search) -> None:
        """Delete the saved states that the strategy will not continue any more.

        Only trials it has asked for in this process count: during a resume the
        states of trials it has not asked for again yet are still to be used.
        """
        folder = self.run_dir / STATES_FOLDER
        if not folder.is_dir():
            return
        needed = search.strategy.states_needed()
        prefix = marker_name(search.name, search.repetition, 0).rsplit("-", 1)[0] + "-"
        for path in folder.glob(f"{prefix}*.npz"):
            number = path.stem.rsplit("-", 1)[1]
            if not number.isdigit():  # a temporary file left by a crash while saving
                path.unlink(missing_ok=True)
                continue
            trial = int(number)
            if trial in search.asked and trial not in needed:
                path.unlink(missing_ok=True)

    def _parallel(self, n_jobs: int | None = None) -> joblib.Parallel:
        # A new Parallel per wave: after a worker died, a reused one can hand back
        # results of the aborted call. The worker processes themselves are reused.
        if self.exp.backend == "dask":
            n_jobs = -1  # every worker of the cluster
        return joblib.Parallel(n_jobs=n_jobs or self.n_jobs, return_as="generator_unordered")

    @contextlib.contextmanager
    def backend(self):
        """Where :meth:`run` sends trials; enter it after :meth:`prepare`.

        loky: whatever ``joblib.parallel_config`` says (loky unless the caller
        chose); dask: a client of the cluster, every repetition's data
        scattered to every worker once.
        """
        if self.exp.backend != "dask":
            yield
            return
        with backends.dask_client(self.exp.scheduler, self.n_jobs) as client:
            self._client = client
            scatter = list({id(s.data): s.data for s in self.searches}.values())
            with backends.dask_context(client, scatter):
                yield

    def run(self) -> None:
        """Run every search to its budget; results go to the store as they come."""
        done = sum(len(s.finished) for s in self.searches)
        self._bar = tqdm(total=self._expected_trials(), initial=done, disable=not self.progress,
                         unit="trial", desc=self.exp.name, dynamic_ncols=True)
        self._failures = sum(1 for s in self.searches for r in s.finished.values()
                             if r["status"] == "failed")
        shutil.rmtree(self.run_dir / RUNNING_FOLDER, ignore_errors=True)
        try:
            self._search()
        finally:
            self._bar.close()
            self.store.close()

    def _search(self) -> None:
        start = time.perf_counter()
        waves = [s for s in self.searches if not s.strategy.asynchronous]
        while True:
            to_run, replayed = [], []
            for search in waves:
                run, again = self._ask_wave(search)
                to_run += run
                replayed += [t for t in again if t[0].strategy.replay_by_ask]
            if not to_run and not replayed:
                break
            if to_run:
                self._run_wave(to_run)
            for search, trial, proposal in sorted(to_run + replayed, key=lambda t: (t[0].repetition, t[1])):
                record = search.finished[trial]
                value = record["val_rmse"] if record["status"] == "ok" else None
                search.strategy.tell(trial, proposal.params, value, record["status"])
            for search in {id(t[0]): t[0] for t in to_run + replayed}.values():
                self._release_states(search)
        asynchronous = [s for s in self.searches if s.strategy.asynchronous]
        if asynchronous:
            self._run_asynchronous(asynchronous)
        self.search_seconds = time.perf_counter() - start  # wall time of the search itself
        self._score_tests()

    def _run_wave(self, tasks: list) -> None:
        """Run a wave to the end, surviving worker processes that die."""
        by_key = {(s.name, s.repetition): s for s, _, _ in tasks}
        pending = list(tasks)
        while pending:
            try:
                with self._parallel() as parallel:
                    for result in parallel(self._calls(pending)):
                        self._accept(by_key[(result.strategy, result.repetition)], result)
                pending = []
            except backends.worker_death_errors():
                pending = self._after_worker_death(pending)

    def _after_worker_death(self, pending: list) -> list:
        """A worker process died (killed, out of memory): find the trial that killed it.

        The trials that were running (their marker files are left) run again, one
        at a time in a worker of their own, with the same seed. One that kills its
        worker again is recorded as failed; the others carry on as usual.
        """
        remaining = [t for t in pending if t[1] not in t[0].finished]
        running_dir = self.run_dir / RUNNING_FOLDER
        running = {p.name for p in running_dir.iterdir()} if running_dir.is_dir() else set()
        suspects = [t for t in remaining if marker_name(t[0].name, t[0].repetition, t[1]) in running]
        if not suspects:  # cannot tell which: isolate them all (bounded, rare)
            suspects = remaining
        shutil.rmtree(running_dir, ignore_errors=True)
        for search, trial, proposal in suspects:
            try:
                with self._parallel(n_jobs=2) as alone:  # n_jobs=1 would run it in this process
                    for result in alone(self._calls([(search, trial, proposal)])):
                        self._accept(search, result)
            except backends.worker_death_errors():
                config = trial if proposal.config is None else proposal.config
                dead = TrialResult(search.name, search.repetition, trial,
                                   trial_seed(self.exp.seed, search.repetition, config), dict(proposal.params),
                                   status="failed", message="the worker process died running this "
                                   "trial, twice (killed, or out of memory?)")
                self._accept(search, dead)
        return [t for t in remaining if t[1] not in t[0].finished]

    def _answer(self, search: Search, trial: int, proposal: Proposal) -> TrialResult:
        """A trial read from the validation curve of a finished trial of the same configuration."""
        source = search.finished[proposal.answered_by]
        epochs = self._epochs_of(proposal.params)
        curve = source.get("val_curve") or []
        result = TrialResult(search.name, search.repetition, trial, source["seed"], dict(proposal.params),
                             message=f"read from the epoch curve of trial {proposal.answered_by}")
        if len(curve) >= epochs and curve[epochs - 1] is not None:
            result.val_rmse = float(curve[epochs - 1])
            result.val_curve = curve[:epochs]
        else:
            result.status = source["status"] if source["status"] != "ok" else "failed"
            result.message = f"trial {proposal.answered_by} ({source['status']}) has no epoch {epochs}"
        return result

    def _next(self, search: Search) -> tuple[int, Proposal, dict | None] | None:
        """Ask the search for its next trial (or, resuming, take the finished one):
        (trial, proposal, finished record or None), or None when it has nothing now."""
        trial = search.next_trial
        done = search.finished.get(trial)
        if done is not None and not search.strategy.replay_by_ask:  # told in _replay
            proposal = proposal_of(done)
        else:
            answer = search.strategy.ask(trial)
            if answer is WAIT:
                return None
            if answer is None:
                search.exhausted = True
                return None
            proposal = answer if isinstance(answer, Proposal) else Proposal(answer)
        search.asked[trial] = proposal
        if done is None and proposal.answered_by is not None:
            self._accept(search, self._answer(search, trial, proposal))  # no training
            done = search.finished[trial]
        search.epochs_asked += self._cost(proposal, done)
        search.next_trial += 1
        return trial, proposal, done

    def _ask_one(self, search: Search) -> tuple | None:
        """The next trial of an asynchronous search, or None (wait, exhausted, budget spent)."""
        while not search.exhausted and self._budget_left(search):
            step = self._next(search)
            if step is None:
                return None
            trial, proposal, done = step
            if done is None:
                return search, trial, proposal
        return None

    def _run_asynchronous(self, searches: list[Search]) -> None:
        """Keep every worker busy: a new trial is asked for the moment one ends (ASHA).

        Uses the executor of the backend (loky's reusable pool, or the Dask
        client's); what is proposed then depends on which trial ended first.
        """
        executor = self._executor()
        if self.exp.backend == "dask":  # the executor sends arguments with every task: scatter once
            shared = {}
            for search in searches:
                key = id(search.data)
                if key not in shared:
                    shared[key] = self._client.scatter(search.data, broadcast=True)
                search.data = shared[key]
        in_flight: dict = {}
        idle = list(searches)
        while True:
            while len(in_flight) < self.n_jobs and idle:
                search = idle[0]
                task = self._ask_one(search)
                if task is None:
                    idle.pop(0)
                    continue
                func, args, kwargs = next(self._calls([task]))
                in_flight[executor.submit(func, *args, **kwargs)] = task
                idle.append(idle.pop(0))  # round robin over the searches
            if not in_flight:
                return
            done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                search, trial, proposal = in_flight.pop(future)
                try:
                    result = future.result()
                except backends.worker_death_errors():
                    lost = [(search, trial, proposal)] + list(in_flight.values())
                    in_flight.clear()
                    self._run_wave(self._after_worker_death(lost))  # suspects alone, the rest after
                    executor = self._executor()
                    idle = list(searches)
                    for s, t, _ in lost:
                        self._tell_one(s, t)
                    break
                self._accept(search, result)
                self._tell_one(search, trial)
                if search not in idle:
                    idle.append(search)

    def _tell_one(self, search: Search, trial: int) -> None:
        record = search.finished[trial]
        value = record["val_rmse"] if record["status"] == "ok" else None
        search.strategy.tell(trial, record["params"], value, record["status"])

    def _executor(self):
        if self.exp.backend == "dask":
            return self._client.get_executor()
        if self.n_jobs == 1:
            return _InProcessExecutor()
        from joblib.executor import get_memmapping_executor

        # the very pool joblib.Parallel uses, so the workers are shared, not doubled
        return get_memmapping_executor(self.n_jobs)

    def _accept(self, search: Search, result: TrialResult) -> None:
        """Store a finished trial (durably, first), then count it."""
        proposal = search.asked[result.trial]
        record = self._record(result, proposal)
        self.store.append(record)
        search.epochs_asked += self._cost(proposal, record) - self._cost(proposal)
        search.add(record)
        self._failures += result.status == "failed"
        self._bar.update(1)
        self._bar.set_postfix_str(self._best_line(), refresh=False)
        if self.exp.max_failures is not None and self._failures > self.exp.max_failures:
            raise RunError(f"{self._failures} trials failed, more than max_failures = "
                           f"{self.exp.max_failures}; last: {result.message or result.status}")

    def _record(self, result: TrialResult, proposal: Proposal) -> dict:
        record = result.to_record()
        record["config"] = result.trial if proposal.config is None else proposal.config
        record["start_epoch"] = proposal.start_epoch
        record["finished_at"] = self.previous_wall + time.perf_counter() - self.started
        return record

    def _score_tests(self) -> None:
        """Touch the test split once per search: retrain its chosen configuration."""
        tasks = [(s, s.best["trial"], proposal_of(s.best)) for s in self.searches if s.best]
        with self._parallel() as parallel:
            for result in parallel(self._calls(tasks, with_test=True)):
                self.tests[(result.strategy, result.repetition)] = result.to_record()

    def _expected_trials(self) -> int | None:
        if self.exp.budget.kind != "trials":
            return None
        per = [self.exp.budget.amount] * len(self.searches)
        for i, search in enumerate(self.searches):
            points = getattr(search.strategy, "points", None)
            if points is not None:
                per[i] = min(per[i], len(points))
        return int(sum(per))

    def _best_line(self) -> str:
        best: dict[str, float] = {}
        for search in self.searches:
            b = search.best
            if b is not None:
                best[search.name] = min(best.get(search.name, np.inf), b["val_rmse"])
        return " ".join(f"{name}={value:.4f}" for name, value in best.items())

    def cleanup(self, complete: bool = True) -> None:
        """Remove the working folders; saved network states only once the run is complete
        (an interrupted run resumes from them)."""
        for folder in (DATA_FOLDER, RUNNING_FOLDER) + ((STATES_FOLDER, OPTUNA_FOLDER) if complete else ()):
            shutil.rmtree(self.run_dir / folder, ignore_errors=True)
