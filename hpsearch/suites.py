"""A suite run: every problem in its own run folder, then the tables across problems; a suite
until decided runs its problems in waves (:mod:`hpsearch.results.sequential`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hpsearch.execution.objective import Objective
from hpsearch.execution.runfolder import RUN_NAMES, RunFolder
from hpsearch.config import resolved_as_written
from hpsearch.results import sequential
from hpsearch.results.writer import QUIET, SuiteOutput, outcomes_of, write_suite_tables
from hpsearch.runner import default_run_dir, problem_of, run_experiment, say_decided, worker_count


def run_suite(suite, run_dir: Path | None = None, progress: bool = True, force: bool = False,
              objective: Objective | None = None) -> SuiteOutput:
    """Run (or resume) every problem of ``suite`` (a :class:`hpsearch.config.Suite`) in
    ``run_dir/problems/NAME`` (each a complete run folder), then the tables across
    problems: trials.csv and summary.csv with a ``problem`` column, suite.csv/.md/.tex,
    friedman.json, cd-diagram.png and the data profile over all problems."""
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(suite)
    quiet = QUIET.set(not progress)
    try:
        return _suite_locked(suite, run_dir, progress, force, objective)
    finally:
        QUIET.reset(quiet)


def _suite_locked(suite, run_dir: Path, progress: bool, force: bool, objective) -> SuiteOutput:
    folder = RunFolder(run_dir)
    with folder.locked():
        folder.resumes(suite.to_dict(), force, resolved_as_written(suite.source))
        for name, exp in suite.problems:  # every problem's data, before anything is written
            problem_of(exp, progress)
        folder.claim(*RUN_NAMES)
        folder.write_text(folder.CONFIG, suite.to_toml())
        folder.write_manifest()
        if suite.problems[0][1].until == "decided":
            outputs, found = _problems_until_decided(suite, run_dir, progress, force, objective)
        else:
            outputs, found = _run_problems(suite, run_dir, progress, force, objective), None
        output = write_suite_tables(suite, outputs, run_dir, found)
        folder.write_manifest()
        return output





def _problems_until_decided(suite, run_dir: Path, progress: bool, force: bool, objective) -> tuple[dict, dict]:
    """Waves of one repetition of every strategy on every problem, until every comparison is
    decided on the mean over the problems of each wave's relative differences (each problem 1/P)."""
    first = suite.problems[0][1]
    cap = min(min(exp.repetitions, problem_of(exp).table.seeds) if exp.replays else exp.repetitions
              for _, exp in suite.problems)
    verdict = {**first.verdict, "rope": first.rope}
    found: dict = {}
    stored = [RunFolder(run_dir / "problems" / name).records() if (run_dir / "problems" / name / "trials.jsonl").is_file()
              else [] for name, _ in suite.problems]
    start = max(1, min(cap, max(max((r["repetition"] for r in records), default=-1) + 1 for records in stored)))
    resumed: dict = {}
    known: dict = {name: {} for name, _ in suite.problems}  # each problem's test scorings, across the waves
    for r in range(start, cap + 1):  # a resumed suite starts at the waves it has (a decision at j needs only j)
        waves = _wave(suite, r, figures=False)
        quiet = QUIET.set(True)  # a wave's notes are the run's: said once, not at every wave
        try:
            outputs = _run_problems(waves, run_dir, False, force, objective, known)
        finally:
            QUIET.reset(quiet)
        resumed = resumed or {name: o.resumed_trials for name, o in outputs.items()}
        found = sequential.decisions_over_problems(
            {name: outcomes_of(o.summary) for name, o in outputs.items() if not o.summary.empty}, verdict)
        if found and all(d.decided for d in found.values()):
            break
    if suite.problems[0][1].figures:  # the figures once, of the last wave (drawn at every wave they cost minutes)
        outputs = _run_problems(_wave(suite, r, figures=True), run_dir, False, force, objective, known)
    for name, output in outputs.items():  # what an earlier run of the folder had finished, not the earlier waves
        output.resumed_trials = resumed[name]
    say_decided(suite.name, found, verdict, r, cap)
    return outputs, found


def _wave(suite, repetitions: int, figures: bool):
    """The suite with ``repetitions`` fixed (one wave more than the last), figures or none."""
    return dataclasses.replace(suite, problems=tuple(
        (name, dataclasses.replace(exp, repetitions=repetitions, until=None, figures=exp.figures if figures else ()))
        for name, exp in suite.problems))


def _run_problems(suite, run_dir: Path, progress: bool, force: bool, objective, known: dict | None = None) -> dict:
    """Each problem's run, in turn; a suite of replayed tables runs its problems side by side in
    n_jobs processes instead (each replay is a single process, and its trials do not depend
    on which process runs it)."""
    problems = suite.problems
    processes = min(len(problems), worker_count(problems[0][1]))
    if processes > 1 and objective is None and all(exp.replays for _, exp in problems):
        from joblib.externals.loky import get_reusable_executor

        pool = get_reusable_executor(max_workers=processes, reuse=True)  # the pool the loky backend uses
        futures = {name: pool.submit(run_experiment, exp, run_dir / "problems" / name, False, force)
                   for name, exp in problems}
        try:
            return {name: future.result() for name, future in futures.items()}
        except BaseException:  # Ctrl-C, or a problem that failed: the others end too (their trials are stored)
            pool.shutdown(wait=True, kill_workers=True)
            raise
    return {name: run_experiment(exp, run_dir / "problems" / name, progress, force, objective,
                                 None if known is None else known[name]) for name, exp in problems}
