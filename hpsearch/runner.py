"""Run an experiment into a run folder: assemble the parts, resume, search, write the tables.

The parts: the problem (data and baselines, :mod:`hpsearch.results.evaluation`), one
search per (strategy, repetition) (:mod:`hpsearch.search.budget`), the store, the
backend, and the loop (:mod:`hpsearch.search.loop`) that runs them.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hpsearch.config import Experiment
from hpsearch.data.prepared import data_key, prepare_problem, repetition_of
from hpsearch.errors import DataError
from hpsearch.execution.backends import make_backend
from hpsearch.execution.objective import Objective, evaluate, populations
from hpsearch.execution.runfolder import RunFolder
from hpsearch.models import estimators
from hpsearch.results.writer import RunOutput, SuiteOutput, say, write_suite_tables, write_tables
from hpsearch.search.budget import Meter, Search
from hpsearch.search.loop import (
    Session,
    epoch_handler,
    replay,
    run_searches,
    score_tests,
)
from hpsearch.search.strategies import make_strategy
from hpsearch.search.trial import TrialResult
from hpsearch.seeds import strategy_seed


def default_run_dir(exp: Experiment) -> Path:
    return Path("results") / f"{exp.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def make_searches(exp: Experiment, workers: int) -> list[Search]:
    """One search per (repetition, strategy); strategy warnings shown once."""
    max_trials = exp.budget.amount if exp.budget.kind == "trials" else None
    fidelity = exp.fidelity_name
    searches = []
    for r in range(exp.repetitions):
        for name in exp.strategies:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                strategy = make_strategy(name, exp.space, strategy_seed(exp.seed, name, r),
                                         exp.strategy_options.get(name), workers, max_trials, fidelity)
            if r == 0:
                for w in caught:
                    say(str(w.message))
            searches.append(Search(strategy, r, data_key(r)))
    return searches


def worker_count(exp: Experiment) -> int:
    """Workers: n_jobs, capped at this machine's cores (more processes than cores only
    slow each other down); -1 means every core."""
    cores = os.cpu_count() or 1
    if exp.n_jobs > cores and exp.scheduler is None:
        say(f"n_jobs = {exp.n_jobs} is more than this machine's {cores} cores; using {cores}")
        return cores
    return exp.n_jobs if exp.n_jobs > 0 else cores



def meter(exp: Experiment) -> Meter:
    """The budget of ``exp``, counting its estimator's iterations (1 per trial without any)."""
    if exp.user_objective is not None:
        return Meter(exp.budget, int(exp.model.get(exp.fidelity_name, 1) or 1), fidelity=exp.fidelity_name)
    cls = exp.estimator_class
    fidelity = estimators.fidelity(cls)
    if fidelity is None:
        return Meter(exp.budget, 1, fidelity="epochs")
    default = exp.model.get(fidelity, estimators.default_of(cls, fidelity))
    return Meter(exp.budget, int(default), fidelity=fidelity)


class _Progress:
    """Trials done, with the best validation loss so far per strategy (the best of
    any repetition). A bar on a terminal; in a log file (stderr not a terminal) a
    line at every tenth of the work, or every minute when the total is unknown."""

    def __init__(self, exp: Experiment, searches: list[Search], meter: Meter, enabled: bool, metric: str):
        self.metric, self.enabled = metric, enabled
        self.bests: dict[str, float] = {}  # per strategy, over repetitions (resumed trials included)
        for s in searches:
            if s.best is not None:
                self.bests[s.name] = min(self.bests.get(s.name, np.inf), s.best.value)
        self.done = sum(len(s.finished) for s in searches)
        self.total = meter.expected_trials(searches)
        self.terminal = sys.stderr.isatty()
        self.name = exp.name
        self.last_line = time.monotonic()
        self.bar = tqdm(total=self.total, initial=self.done, disable=not (enabled and self.terminal),
                        unit="trial", desc=exp.name, dynamic_ncols=True)

    def best(self) -> str:
        return f"best {self.metric} (any repetition): " + " ".join(f"{n}={v:.4f}" for n, v in self.bests.items())

    def __call__(self, search: Search, result: TrialResult) -> None:
        if result.value is not None:
            self.bests[search.name] = min(self.bests.get(search.name, np.inf), result.value)
        self.done += 1
        self.bar.update(1)
        self.bar.set_postfix_str(self.best(), refresh=False)
        if self.enabled and not self.terminal and self._line_due():
            total = f"/{self.total}" if self.total else ""
            print(f"{self.name}: {self.done}{total} trials; {self.best()}", file=sys.stderr, flush=True)

    def _line_due(self) -> bool:
        if self.total:
            step = max(self.total // 10, 1)
            return self.done % step == 0 or self.done == self.total
        if time.monotonic() - self.last_line > 60:
            self.last_line = time.monotonic()
            return True
        return False


def run_experiment(exp: Experiment, run_dir: Path | None = None, progress: bool = True,
                   force: bool = False, objective: Objective | None = None) -> RunOutput:
    """Run (or resume) ``exp`` in ``run_dir`` and write its tables there.

    ``objective`` replaces :func:`hpsearch.execution.objective.evaluate` (the same
    contract, ``objective(spec, dataset) -> TrialResult``, module-level so that
    workers can import it).
    """
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(exp)
    # the lock first: a refused run creates, changes and deletes nothing
    with RunFolder(run_dir).locked():
        return _run_locked(exp, run_dir, progress, force, objective)


def _run_locked(exp: Experiment, run_dir: Path, progress: bool, force: bool, objective: Objective) -> RunOutput:
    folder = RunFolder(run_dir)
    folder.resumes(exp.to_dict(), force)
    if objective is None and exp.user_objective is not None:  # [model] objective = "pkg.module:train"
        from hpsearch.execution.user_objective import UserObjective

        objective = UserObjective(path=exp.user_objective, fidelity=exp.fidelity_name)
    objective = objective or evaluate
    problem = prepare_problem(exp.data, exp.seed)  # reads the data: fails before anything is written if it is unusable
    estimator = estimator_for(exp, problem.task)
    workers = worker_count(exp)
    searches = make_searches(exp, workers)
    store = folder.store
    session = Session(store, meter(exp), objective, folder.checkpoints(), exp.seed, exp.model,
                      exp.max_failures, estimator=estimator, task=problem.task,
                      group=lambda specs, workers: populations(objective, specs, exp.population, workers),
                      data=lambda key: problem.dataset(repetition_of(key)))
    records = store.read()
    for damage in store.damaged:
        say(damage)
    resumed = replay(session, searches, records, say)
    # reaches the cluster, if any: fails before anything is written too
    with make_backend(exp.backend, workers, run_dir, exp.scheduler) as backend:
        folder.write_text(folder.CONFIG, exp.to_toml())
        folder.write_manifest()
        complete, tests, seconds = False, {}, float("nan")
        session.on_result = _Progress(exp, searches, session.meter, progress, problem.metric.loss("val"))
        try:
            with backend.channel(epoch_handler(session, searches)):
                seconds = run_searches(session, searches, backend)
                tests = score_tests(session, searches, backend)
            complete = True
        finally:  # also on Ctrl-C or too many failures: tables of what finished
            session.on_result.bar.close()
            store.close()
            output = write_tables(exp, problem, searches, tests, run_dir, resumed, seconds)
            if complete:  # saved states go once the run is complete (an interrupted run resumes from them)
                folder.remove_states()
            folder.write_manifest()
    return output


def estimator_for(exp: Experiment, task: str) -> str:
    """The estimator of the run: the network as regressor or classifier, as the data
    says; another estimator must be made for the problem's task."""
    if exp.user_objective is not None:
        return exp.estimator
    path = estimators.for_task(exp.estimator, task)
    kind = estimators.task_of(estimators.resolve(path, exp.allowed_packages))
    if kind != task:
        raise DataError(f"{exp.source}: model.estimator: {path.rsplit('.', 1)[-1]} is a {kind} estimator and "
                        f"the data make a {task} problem ({exp.data.target_name}); choose a "
                        f"{'classifier' if task == 'classification' else 'regressor'}, or set data.task")
    return path


def run_suite(suite, run_dir: Path | None = None, progress: bool = True, force: bool = False,
              objective: Objective | None = None) -> SuiteOutput:
    """Run (or resume) every problem of ``suite`` (a :class:`hpsearch.config.Suite`) in
    ``run_dir/problems/NAME`` (each a complete run folder), then the tables across
    problems: trials.csv and summary.csv with a ``problem`` column, suite.csv/.md/.tex,
    friedman.json, cd-diagram.png and the data profile over all problems."""
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(suite)
    folder = RunFolder(run_dir)
    with folder.locked():
        folder.resumes(suite.to_dict(), force)
        for name, exp in suite.problems:  # every problem's data, before anything is written
            prepare_problem(exp.data, exp.seed)
        folder.write_text(folder.CONFIG, suite.to_toml())
        folder.write_manifest()
        outputs = {name: run_experiment(exp, run_dir / "problems" / name, progress, force, objective)
                   for name, exp in suite.problems}
        output = write_suite_tables(suite, outputs, run_dir)
        folder.write_manifest()
        return output


