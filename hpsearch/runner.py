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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hpsearch.config import Experiment
from hpsearch.data.metrics import metric_of
from hpsearch.data.prepared import Problem, data_key, prepare_problem, repetition_of
from hpsearch.errors import DataError
from hpsearch.execution.backends import make_backend
from hpsearch.execution.objective import Objective, evaluate, populations
from hpsearch.execution.runfolder import RunFolder
from hpsearch.models import estimators
from hpsearch.results import report
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


@dataclass
class RunOutput:
    run_dir: Path
    trials: pd.DataFrame
    summary: pd.DataFrame
    text: str
    resumed_trials: int
    seconds: float = float("nan")  # wall time of the search itself (nan if it did not end)


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
                    _say(str(w.message))
            searches.append(Search(strategy, r, data_key(r)))
    return searches


def worker_count(exp: Experiment) -> int:
    """Workers: n_jobs, capped at this machine's cores (more processes than cores only
    slow each other down); -1 means every core."""
    cores = os.cpu_count() or 1
    if exp.n_jobs > cores and exp.scheduler is None:
        _say(f"n_jobs = {exp.n_jobs} is more than this machine's {cores} cores; using {cores}")
        return cores
    return exp.n_jobs if exp.n_jobs > 0 else cores


def _say(message: str) -> None:
    """A warning on stderr, one line, beside the progress bar."""
    tqdm.write(f"warning: {message}", file=sys.stderr)


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
        _say(damage)
    resumed = replay(session, searches, records, _say)
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


def write_tables(exp: Experiment, problem: Problem, searches: list[Search], tests: dict, run_dir: Path,
                 resumed: int, seconds: float) -> RunOutput:
    names = [d.name for d in exp.space]
    # The store is the truth: a Ctrl-C can land between storing a trial and counting it.
    known = {(s.name, s.repetition) for s in searches}
    limit = exp.budget.amount if exp.budget.kind == "trials" else float("inf")
    records = [r for r in RunFolder(run_dir).records()
               if (r["strategy"], r["repetition"]) in known and 0 <= r["trial"] < limit]
    trials = report.trials_table(records, names, list(exp.strategies), problem.metric)
    report.write_csv(trials, run_dir / "trials.csv")
    baselines = {int(r): problem.baselines(int(r)) for r in trials["repetition"].unique()}
    summary = report.summary_table(trials, tests, baselines, names, list(exp.strategies), problem.metric)
    if not summary.empty:
        report.write_csv(summary, run_dir / "summary.csv")
    meta = {"catalog": problem.meta, "task": problem.task, "cleaning": problem.cleaning.lines(),
            "features": exp.data.features, "n_features": problem.n_features}
    RunFolder(run_dir).write_json(RunFolder.RUN, meta)
    text = report.results_text(summary, names) if not summary.empty else "no trial finished"
    text += "\n" + report.status_line(trials)
    if not summary.empty:
        write_comparison(trials, summary, exp, run_dir)
    from hpsearch.results.html import html_report

    RunFolder(run_dir).write_text("report.html", html_report(run_dir, exp))
    return RunOutput(run_dir, trials, summary, text, resumed, seconds)


def write_comparison(trials: pd.DataFrame, summary: pd.DataFrame, exp: Experiment, run_dir: Path) -> None:
    """comparison.csv/.md/.tex, anytime curves (CSV + PNG), hyperparameter plots."""
    from hpsearch.results import comparison, export

    targets = comparison.targets_table(trials, summary)
    table = comparison.comparison_table(trials, summary, list(exp.strategies), targets)
    export.write_all_formats(table, run_dir / "comparison", export.caption_for(table, exp.data.target_name))
    report.write_csv(targets, run_dir / "targets.csv")
    if exp.budget.kind == "trials" and len(table) > 1:  # compute-fair? say when it is not
        spent = table.set_index("strategy")["epochs_trained_mean"]
        if spent.max() > 1.1 * spent.min() > 0:
            _say(f"{exp.name}: a trial budget is not compute-fair here: epochs trained per repetition range from "
                 f"{spent.min():,.0f} ({spent.idxmin()}) to {spent.max():,.0f} ({spent.idxmax()}); "
                 f"budget epochs for a fair comparison")
    m = metric_of(summary.columns)
    baselines = summary.groupby("repetition")[m.baseline_loss("val")].first()
    curves = comparison.progress_curves(trials, baselines)
    features = exp.data.features if isinstance(exp.data.features, str) else "selected"
    source = f"{features} features" if exp.data.dataset == "earthquake" else (exp.data.target_name)
    reps = summary["repetition"].nunique()
    title = f"{exp.name}: {source}, {reps} repetition{'s' if reps > 1 else ''}"
    if not (trials["status"] == "ok").any():
        _say("no trial succeeded: the figures are skipped")
        return
    xs = ("trials", "seconds", "epochs") if trials["epochs_trained"].sum() > 0 else ("trials", "seconds")
    anytime = {x: comparison.anytime_table(curves, x) for x in xs}
    for x, curve in anytime.items():
        report.write_csv(curve, run_dir / f"curve_{x}.csv")
    profile = comparison.data_profile(targets)
    report.write_csv(profile, run_dir / "ecdf.csv")
    if not exp.figures:  # figures = "none": the tables only, and matplotlib is never imported
        return
    from hpsearch.results import plots

    with plots.formats(exp.figures):
        label = plots.ratio_label(m)
        fidelity = exp.fidelity_name
        for x, curve in anytime.items():
            plots.anytime_plot(curve, x, run_dir / f"curve_{x}.png", title, list(exp.strategies), label, fidelity)
        plots.ecdf_plot(profile, targets["cost_unit"].iloc[0], run_dir / "ecdf.png", title, list(exp.strategies))
        ratio = trials.assign(val_ratio=trials[m.loss("val")] / trials["repetition"].map(baselines))
        plots.hyperparameter_plots(ratio, exp.space, run_dir / "hyperparameters.png", title,
                                   list(exp.strategies), label)


@dataclass
class SuiteOutput:
    run_dir: Path
    trials: pd.DataFrame
    summary: pd.DataFrame
    text: str
    resumed_trials: int
    seconds: float
    problems: dict  # problem name -> its RunOutput


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


def write_suite_tables(suite, outputs: dict, run_dir: Path) -> SuiteOutput:
    figures = suite.problems[0][1].figures
    if figures:
        from hpsearch.results import plots

        with plots.formats(figures):
            return _suite_tables(suite, outputs, run_dir, figures)
    return _suite_tables(suite, outputs, run_dir, figures)


def _suite_tables(suite, outputs: dict, run_dir: Path, figures) -> SuiteOutput:
    from hpsearch.results import comparison
    from hpsearch.results import suite as suites

    trials = pd.concat([o.trials.assign(problem=name) for name, o in outputs.items()], ignore_index=True)
    summary = pd.concat([o.summary.assign(problem=name) for name, o in outputs.items() if not o.summary.empty],
                        ignore_index=True)
    for table in (trials, summary):
        if "problem" in table:
            table.insert(0, "problem", table.pop("problem"))
    report.write_csv(trials, run_dir / "trials.csv")
    order = list(suite.problems[0][1].strategies)
    lines = [f"{name}: {o.text.splitlines()[0] if o.text else ''}" for name, o in outputs.items()]
    if not summary.empty:
        report.write_csv(summary, run_dir / "summary.csv")
        summaries = {n: o.summary for n, o in outputs.items() if not o.summary.empty}
        blocks = {outcome: suites.blocks_table(summaries, order, outcome) for outcome in suites.OUTCOMES}
        if len(blocks["test"]):
            problems = len(summaries)
            suites.write_suite(blocks, run_dir, f"{suite.name}: {problems} problem{'s' if problems > 1 else ''}",
                               bool(figures))
            lines = [(run_dir / "suite.md").read_text(encoding="utf-8")]
        targets = [pd.read_csv(o.run_dir / "targets.csv").assign(problem=name) for name, o in outputs.items()
                   if (o.run_dir / "targets.csv").is_file()]
        if targets and len({t["cost_unit"].iloc[0] for t in targets if len(t)}) == 1:
            targets = pd.concat(targets, ignore_index=True)
            profile = comparison.data_profile(targets)
            report.write_csv(profile, run_dir / "ecdf.csv")
            if figures:
                from hpsearch.results import plots

                plots.ecdf_plot(profile, targets["cost_unit"].iloc[0], run_dir / "ecdf.png",
                                f"{suite.name}: all problems", order)
    text = "\n".join(lines)
    return SuiteOutput(run_dir, trials, summary, text, sum(o.resumed_trials for o in outputs.values()),
                       sum(o.seconds for o in outputs.values()), outputs)
