"""What a run writes once its trials are in: trials.csv, summary.csv, run.json,
comparison.csv/.md/.tex, targets, anytime curves, data profiles, figures and the HTML
report (a suite: the same across problems, and the verdict). From what is in memory
and the store; ``exp`` is the run's config (:class:`hpsearch.config.Experiment`).
"""

from __future__ import annotations

import contextvars
import sys
from dataclasses import dataclass
from typing import Literal
from pathlib import Path

import pandas as pd
from pydantic import Field, field_validator

from hpsearch.data.metrics import metric_of
from hpsearch.data.prepared import Problem
from hpsearch.execution.runfolder import RunFolder
from hpsearch.results import report
from hpsearch.search.budget import Search
from hpsearch.sections import Section, invalid, show


QUIET = contextvars.ContextVar("quiet", default=False)


def say(message: str, always: bool = False) -> None:
    """A notice of a run, once, one line on standard output (beside a progress bar when there is
    one), silenced by ``--quiet`` (``progress=False``) unless ``always`` (what a store lost or
    ignored): standard error carries errors only."""
    if QUIET.get() and not always:
        return
    from tqdm.auto import tqdm

    tqdm.write(f"note: {message}", file=sys.stdout)


@dataclass
class RunOutput:
    run_dir: Path
    trials: pd.DataFrame
    summary: pd.DataFrame
    text: str
    resumed_trials: int
    seconds: float = float("nan")  # wall time of the search itself (nan if it did not end)


@dataclass
class SuiteOutput:
    run_dir: Path
    trials: pd.DataFrame
    summary: pd.DataFrame
    text: str
    resumed_trials: int
    seconds: float
    problems: dict  # problem name -> its RunOutput


def write_tables(exp, problem: Problem, searches: list[Search], tests: dict, run_dir: Path,
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
    if not summary.empty:  # the independent unit: repetitions replaying one recorded seed share theirs
        summary.insert(2, "unit", [problem.unit(int(r)) for r in summary["repetition"]])
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


def write_comparison(trials: pd.DataFrame, summary: pd.DataFrame, exp, run_dir: Path) -> None:
    """comparison.csv/.md/.tex, anytime curves (CSV + PNG), hyperparameter plots."""
    from hpsearch.results import comparison, export

    targets = comparison.targets_table(trials, summary)
    table = comparison.comparison_table(trials, summary, list(exp.strategies), targets, exp.rope)
    if exp.until == "decided":  # repetitions until decided: each comparison's decision and when
        table, lines = with_decisions(table, summary, exp, run_dir)
    target = exp.data.target_name
    export.write_all_formats(table, run_dir / "comparison", export.caption_for(table, target),
                             export.paper_table(table, export.caption_for(table, target, paper=True)))
    if exp.until == "decided":
        _append(run_dir / "comparison.md", lines)
    report.write_csv(targets, run_dir / "targets.csv")
    if exp.budget.kind == "trials" and len(table) > 1:  # compute-fair? say when it is not
        spent = table.set_index("strategy")["epochs_trained_mean"]
        if spent.max() > 1.1 * spent.min() > 0:
            say(f"{exp.name}: a trial budget is not compute-fair here: epochs trained per repetition range from "
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
        say("no trial succeeded: the figures are skipped")
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


def write_suite_tables(suite, outputs: dict, run_dir: Path, decided: dict | None = None) -> SuiteOutput:
    """The tables across problems; ``decided``: a suite run until decided, its sequential decisions
    (suite.csv's ``decision`` and ``decided_at`` on the test outcome, and sequential.csv)."""
    figures = suite.problems[0][1].figures
    if figures:
        from hpsearch.results import plots

        with plots.formats(figures):
            output = _suite_tables(suite, outputs, run_dir, figures)
    else:
        output = _suite_tables(suite, outputs, run_dir, figures)
    if decided is not None and (run_dir / "suite.csv").is_file():
        table = pd.read_csv(run_dir / "suite.csv")
        test = table["outcome"] == "test"
        table["decision"] = [decided[s].decision if t and s in decided else "" for s, t in zip(table["strategy"], test)]
        table["decided_at"] = [decided[s].decided_at if t and s in decided and decided[s].decided else None
                               for s, t in zip(table["strategy"], test)]
        report.write_csv(table, run_dir / "suite.csv")
        first = suite.problems[0][1]
        ran = int(output.summary["repetition"].nunique()) if not output.summary.empty else 0
        lines = write_sequential(decided, {**first.verdict, "rope": first.rope}, ran, first.repetitions,
                                 first.figures, run_dir, suite.name)
        _append(run_dir / "suite.md", lines)
    return output


def _append(path: Path, lines: list[str]) -> None:
    """The sequential decisions after a table's own text (suite.md, comparison.md)."""
    if path.is_file():
        text = path.read_text(encoding="utf-8").rstrip("\n")
        RunFolder(path.parent).write_text(path.name, text + "\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")


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
                               bool(figures), suite.problems[0][1].rope)
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


FIGURE_FORMATS = ("png", "pdf")


class OutputSection(Section):
    """``[output]``: the formats of the figures, png and pdf, or "none" (tables only)."""

    figures: list[Literal[FIGURE_FORMATS]] | Literal["none"] = Field(["png"], description="png, pdf, or none")

    @field_validator("figures", mode="before")
    @classmethod
    def _formats(cls, value):
        if value == "none" or value == []:
            return "none"
        if isinstance(value, str):
            value = [f.strip() for f in value.split(",")]
        if (not isinstance(value, list) or not value or any(f not in FIGURE_FORMATS for f in value)
                or len(set(value)) != len(value)):
            raise invalid("", f"expected a list of {' and '.join(FIGURE_FORMATS)}, or \"none\", got {show(value)}")
        return value

    @property
    def formats(self) -> tuple[str, ...]:
        return () if self.figures == "none" else tuple(self.figures)


def with_decisions(table: pd.DataFrame, summary: pd.DataFrame, exp, run_dir: Path) -> tuple[pd.DataFrame, list]:
    """comparison.csv's ``decision`` and ``decided_at`` (:mod:`hpsearch.results.sequential`), and
    ``sequential.csv``: every comparison's interval after each repetition."""
    from hpsearch.results import sequential

    verdict = {**exp.verdict, "rope": exp.rope}
    found = sequential.decisions(outcomes_of(summary), verdict)
    lines = write_sequential(found, verdict, int(summary["repetition"].nunique()), exp.repetitions, exp.figures,
                             run_dir, exp.name)
    table = table.copy()
    table["decision"] = [found[s].decision if s in found else "" for s in table["strategy"]]
    table["decided_at"] = [found[s].decided_at if s in found and found[s].decided else None for s in table["strategy"]]
    return table, lines


def write_sequential(found: dict, verdict: dict, ran: int, cap: int, figures, run_dir: Path, name: str) -> list[str]:
    """sequential.csv (every comparison's interval after each repetition), sequential.md (what it
    says) and, with figures, sequential.png: the intervals against the repetitions."""
    from hpsearch.results import sequential

    paths = sequential.paths_table(found)
    report.write_csv(paths, run_dir / "sequential.csv")
    lines = sequential.sentences(found, verdict, ran, cap)
    RunFolder(run_dir).write_text("sequential.md", "\n\n".join(lines) + "\n")
    if figures and len(paths):
        from hpsearch.results import plots

        with plots.formats(figures):
            plots.sequential_plot(paths, verdict["rope"], run_dir / "sequential.png",
                                  f"{name}: anytime-valid intervals against the repetitions")
    return lines


def outcomes_of(summary: pd.DataFrame) -> pd.DataFrame:
    """strategy, repetition and the primary outcome (the test loss of the chosen configuration)."""
    test = metric_of(summary.columns).loss("test")
    return summary[["strategy", "repetition", test]].rename(columns={test: "loss"})
