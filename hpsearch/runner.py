"""Run an experiment into a run folder: assemble the parts, resume, search, write the tables.

The parts: the problem (data and baselines, :mod:`hpsearch.results.evaluation`), one
search per (strategy, repetition) (:mod:`hpsearch.search.budget`), the store, the
backend, and the loop (:mod:`hpsearch.search.loop`) that runs them.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import threading
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hpsearch.config import LIMITS, Experiment, resolved_as_written
from hpsearch.execution.table import MAX_LEVELS
from hpsearch.data.fetch import ensure_catalog
from hpsearch.data.prepared import data_key, prepare_problem, repetition_of
from hpsearch.errors import ConfigError, DataError
from hpsearch.execution.backends import make_backend
from hpsearch.execution.objective import Objective, evaluate, populations
from hpsearch.execution.runfolder import RUN_NAMES, RunFolder
from hpsearch.execution.user_objective import UserObjective
from hpsearch.models import estimators
from hpsearch.results import sequential
from hpsearch.results.writer import QUIET, RunOutput, say, write_tables
from hpsearch.search.budget import Meter, Search
from hpsearch.search.loop import Session, epoch_handler, replay, score_tests
from hpsearch.search.schedule import clock_of, run_searches, workers_of
from hpsearch.search.strategies import make_strategy, schedules_fidelity
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
            search = Search(strategy, r, data_key(r))
            if clock_of(search) == "epochs":  # resumed by asking again: the virtual order is the same
                strategy.replay_by_ask = True
            if r == 0:
                for w in caught:
                    say(str(w.message))
                if clock_of(search) is not None:
                    say(f"{name}: {workers_of(search)} workers per search, " + (
                        "on a virtual clock (an epoch costs 1): the same trials for any n_jobs"
                        if clock_of(search) == "epochs" else "on the wall clock: results depend on timing"))
            searches.append(search)
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
                   force: bool = False, objective: Objective | None = None, known_tests: dict | None = None) -> RunOutput:
    """Run (or resume) ``exp`` in ``run_dir`` and write its tables there.

    ``objective`` replaces :func:`hpsearch.execution.objective.evaluate` (the same
    contract, ``objective(spec, dataset) -> TrialResult``, module-level so that
    workers can import it). ``known_tests``: test scorings of finished searches kept from an
    earlier call (a suite's waves), used instead of scoring again, and added to.
    """
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(exp)
    quiet = QUIET.set(not progress)  # notices follow the progress bar: --quiet silences both
    try:  # the lock first: a refused run creates, changes and deletes nothing
        with RunFolder(run_dir).locked():
            return _run_locked(exp, run_dir, progress, force, objective, known_tests)
    finally:
        QUIET.reset(quiet)


def _run_locked(exp: Experiment, run_dir: Path, progress: bool, force: bool, objective: Objective,
                known_tests: dict | None = None) -> RunOutput:
    folder = RunFolder(run_dir)
    folder.resumes(exp.to_dict(), force, resolved_as_written(exp.source))
    if objective is None and exp.user_objective is not None:  # [model] objective = "pkg.module:train"
        objective = UserObjective(path=exp.user_objective, fidelity=exp.fidelity_name)
        objective.check_import(exp.worker_setup.paths, exp.source)  # here, before any trial: one line
    if isinstance(objective, UserObjective) and any(schedules_fidelity(s) for s in exp.strategies):
        say(f"{exp.name}: your objective " + ("takes a state: promoted and exploited trials continue from the state "
            "their parent reported" if objective.continues() else "has no state parameter: a promoted configuration "
            "trains again from scratch and its epochs are counted (README: From Python, continuing your training)"))
    objective = objective or evaluate
    problem = problem_of(exp, progress)  # reads the data: fails before anything is written if it is unusable
    if exp.replays and exp.repetitions > problem.table.seeds:
        say(f"{exp.name}: {exp.repetitions} repetitions replay {problem.table.seeds} recorded seeds: the analysis "
            f"averages the repetitions of each seed into one independent unit ({problem.table.seeds} units)")
    estimator = estimator_for(exp, problem.task)
    workers = exp.table["workers"] if exp.replays else worker_count(exp)
    searches = make_searches(exp, workers)
    store = folder.replay_store() if exp.replays else folder.store
    session = Session(store, meter(exp), objective, folder.checkpoints(), exp.seed, exp.model,
                      exp.max_failures, estimator=estimator, task=problem.task,
                      group=None if exp.replays else
                      lambda specs, workers: populations(objective, specs, exp.population, workers),
                      data=lambda key: problem.dataset(repetition_of(key)))
    records = store.read()
    for damage in store.damaged:
        say(damage, always=True)
    resumed = replay(session, searches, records, lambda message: say(message, always=True))
    folder.claim(*RUN_NAMES)  # listed before they are written; a user's file of these names is refused
    # reaches the cluster, if any: fails before anything is written too
    with backend_for(exp, workers, run_dir, problem, objective) as backend:
        if exp.figures:  # matplotlib (0.3 s) imported while the workers train, not after them
            threading.Thread(target=importlib.import_module, args=("hpsearch.results.plots",), daemon=True).start()
        session.clock = backend.clock
        folder.write_text(folder.CONFIG, exp.to_toml())
        folder.write_manifest()
        complete, tests, seconds = False, {}, float("nan")
        session.on_result = _Progress(exp, searches, session.meter, progress, problem.metric.loss("val"))
        try:
            with backend.channel(epoch_handler(session, searches)):
                if exp.until == "decided":
                    seconds, tests = run_until_decided(session, searches, backend, exp, problem)
                else:
                    seconds = run_searches(session, searches, backend)
                    known = known_tests if known_tests is not None else {}
                    tests = {(s.name, s.repetition): known[(s.name, s.repetition)] for s in searches
                             if (s.name, s.repetition) in known}  # a test scoring is deterministic: once is enough
                    tests.update(score_tests(session, [s for s in searches if (s.name, s.repetition) not in tests],
                                             backend))
                    known.update(tests)
            complete = True
        finally:  # also on Ctrl-C or too many failures: tables of what finished
            session.on_result.bar.close()
            store.close()
            output = write_tables(exp, problem, searches, tests, run_dir, resumed, seconds)
            if complete:  # saved states go once the run is complete (an interrupted run resumes from them)
                folder.remove_states()
            folder.write_manifest()
    return output


def run_until_decided(session: Session, searches: list[Search], backend, exp: Experiment, problem):
    """Repetitions in waves (one repetition of every strategy, its test scored) until every
    comparison with the reference strategy is decided or the cap is reached; the wall seconds and
    the test results. The decisions are a function of the stored trials: a resumed run reaches the
    same ones at the same repetition (:mod:`hpsearch.results.sequential`)."""
    start, tests = time.perf_counter(), {}
    cap = min(exp.repetitions, problem.table.seeds) if exp.replays else exp.repetitions  # independent units
    verdict = {**exp.verdict, "rope": exp.rope}
    found: dict = {}
    for r in range(cap):
        wave = [s for s in searches if s.repetition == r]
        run_searches(session, wave, backend)
        tests.update(score_tests(session, wave, backend))
        found = sequential.decisions(pd.DataFrame(
            [{"strategy": s, "repetition": rep, "loss": t.test_loss} for (s, rep), t in tests.items()],
            columns=["strategy", "repetition", "loss"]), verdict)
        if found and all(d.decided for d in found.values()):
            break
    say_decided(exp.name, found, verdict, r + 1, cap)
    return time.perf_counter() - start, tests


def say_decided(name: str, found: dict, verdict: dict, r: int, cap: int) -> None:
    said = ", ".join(f"{s} {d.decision}" + (f" at {d.decided_at}" if d.decided else "") for s, d in found.items())
    say(f"{name}: " + (f"every comparison with {verdict.get('reference', 'random')} decided after {r} repetitions"
                       if found and all(d.decided for d in found.values())
                       else f"stopped at the cap of {cap} repetitions") + f" ({said})")


def problem_of(exp: Experiment, progress: bool = False):
    """The run's problem: its data prepared (the earthquake catalog fetched first where the
    data folder has none, unless offline), or a recorded table's (a replay)."""
    if exp.replays:
        from hpsearch.execution.tabular import Table, TableProblem

        return TableProblem(Table.load(exp.table["path"]))
    if exp.data.dataset == "earthquake":
        ensure_catalog(progress)
    return prepare_problem(exp.data, exp.seed)


def backend_for(exp: Experiment, workers: int, run_dir: Path, problem, objective=None):
    """The backend of ``exp``: a replay's simulated workers, or the configured one."""
    if exp.replays:
        from hpsearch.execution.tabular import TableBackend

        return TableBackend(problem.table, workers)
    return make_backend(exp.backend, workers, run_dir, exp.scheduler, exp.worker_setup,
                        isolate=exp.user_objective is not None or isinstance(objective, UserObjective))


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


# -- tabular benchmarks ---------------------------------------------------------------------------
def record_table(exp: Experiment, out: Path, seeds: int | None = None, levels: int | None = None,
                 progress: bool = True, force: bool = False) -> Path:
    """Record ``exp``'s problem as a table in ``out`` (see :mod:`hpsearch.execution.tabular`):
    every point of the grid of its space's levels (``[table] levels``, else ``levels``, else 8
    per numeric dimension; the fidelity is not gridded), ``seeds`` seeds (``[table] seeds``, else
    5), each trained once to the fidelity's bound. The recording is a run of grid search in
    ``out/record``: durable and resumable like any run."""
    import dataclasses
    import itertools

    from hpsearch.execution.table import ARRAYS, HEADER, grid_levels
    from hpsearch.search.budget import Budget
    from hpsearch.search.space import Dimension, fidelity_range
    from hpsearch.search.strategies import filled_options

    if exp.replays:
        raise ConfigError(f"{exp.source}: table.path: this config replays a table; record the config it was "
                          f"recorded from")
    if not estimators.is_network(exp.estimator) or exp.user_objective is not None:
        raise ConfigError(f"{exp.source}: model: a table records the NumPy network's curves epoch by epoch; "
                          f"{exp.estimator.rsplit('.', 1)[-1]} has none")
    fidelity = exp.fidelity_name
    bound = fidelity_range(exp.space, fidelity)[1]
    seeds = seeds or exp.table.get("seeds", 5)
    if not 1 <= seeds <= LIMITS["repetitions"]:
        raise ConfigError(f"{exp.source}: table.seeds: 1 to {LIMITS['repetitions']} seeds, got {seeds}")
    given = exp.table.get("levels", {})
    if isinstance(given, int):  # a count for every numeric dimension
        given, levels = {}, levels or given
    for name, level in {**given, "(default)": levels or 8}.items():
        count = len(level) if isinstance(level, (list, tuple)) else level
        if not 1 <= count <= MAX_LEVELS:
            raise ConfigError(f"{exp.source}: table.levels.{name}: 1 to {MAX_LEVELS} levels, got {count:,}")
    chosen = grid_levels(exp.space, fidelity, given, levels or 8)
    size = math.prod(len(v) for v in chosen.values()) * seeds
    if size > LIMITS["trials"]:
        raise ConfigError(f"{exp.source}: table.levels: the grid has {size:,} curves (points x seeds); "
                          f"at most {LIMITS['trials']:,}: fewer levels or seeds")
    names = sorted(chosen)
    points = [dict(zip(names, values)) for values in itertools.product(*(chosen[n] for n in names))]
    space = tuple(Dimension(d.name, d.kind, d.low, d.high, d.log, d.choices, grid=tuple(chosen[d.name]))
                  for d in exp.space if d.name in chosen)
    recording = dataclasses.replace(
        exp, name=f"{exp.name}-record", strategies=("grid",), repetitions=seeds, space=space,
        budget=Budget("trials", len(points)), model={**exp.model, fidelity: bound},
        strategy_options={"grid": filled_options("grid", {})},
        figures=(), table={}, max_failures=None)
    out = Path(out)
    with RunFolder(out).locked():  # the table folder: hpsearch writes only the names it claimed there
        RunFolder(out).claim("record", HEADER, ARRAYS)
        return _record(recording, exp, out, progress, force, points, chosen, fidelity, bound, seeds)


def _record(recording, exp, out, progress, force, points, chosen, fidelity, bound, seeds) -> Path:
    import dataclasses
    import json as _json

    from hpsearch import __version__
    from hpsearch.execution.table import FORMAT, CurveRecorder, write_table
    from hpsearch.machine import machine

    run_experiment(recording, out / "record", progress, force, objective=CurveRecorder())
    problem = prepare_problem(exp.data, exp.seed)
    header = {
        "format": FORMAT, "name": exp.name, "config": {k: v for k, v in exp.to_dict().items() if k != "table"},
        "space": {d.name: d.to_dict() for d in exp.space}, "levels": chosen, "fidelity": fidelity,
        "bound": bound, "seeds": seeds, "task": problem.task, "n_features": problem.n_features,
        "baselines": [dataclasses.asdict(problem.baselines(s)) for s in range(seeds)],
        "meta": _json.loads(_json.dumps(problem.meta, default=str)), "cleaning": problem.cleaning.lines(),
        "machine": machine(), "hpsearch": __version__, "recorded": datetime.now().isoformat(timespec="seconds"),
    }
    write_table(out, header, RunFolder(out / "record").records(), points, seeds, bound)
    return out
