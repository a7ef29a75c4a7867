"""Run an experiment into a run folder: set up or resume, search, write the tables."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from hpsearch import report
from hpsearch.config import Experiment
from hpsearch.engine import Engine
from hpsearch.errors import RunError

# Keys that may change between a run and its resume: they do not change results.
RESUMABLE_CHANGES = ("n_jobs", "backend", "scheduler")


@dataclass
class RunOutput:
    run_dir: Path
    trials: pd.DataFrame
    summary: pd.DataFrame
    text: str
    resumed_trials: int


def default_run_dir(exp: Experiment) -> Path:
    return Path("results") / f"{exp.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def check_run_dir(exp: Experiment, run_dir: Path, force: bool) -> bool:
    """True when ``run_dir`` holds an earlier run of this experiment (resume).

    A folder holding a different config is refused, unless ``force``.
    """
    config_path = run_dir / "config.toml"
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"--out {run_dir} is a file; give a folder for the run")
    if not config_path.is_file():
        if run_dir.exists() and any(run_dir.iterdir()):
            raise RunError(f"{run_dir} exists and is not an hpsearch run folder; choose another --out")
        return False
    old = tomllib.loads(config_path.read_text())
    new = exp.to_dict()
    changed = sorted(k for k in set(old) | set(new)
                     if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k))
    if changed and not force:
        raise RunError(
            f"{run_dir} holds a run of a different config (changed: {', '.join(changed)}); "
            f"choose a new --out, or pass --force to continue it with the new config")
    return True


def run_experiment(exp: Experiment, run_dir: Path | None = None, progress: bool = True,
                   force: bool = False, objective=None) -> RunOutput:
    """Run (or resume) ``exp`` in ``run_dir`` and write its tables there.

    ``objective`` replaces :func:`hpsearch.objective.train_and_score` (same
    signature, module-level so that workers can import it).
    """
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(exp)
    check_run_dir(exp, run_dir, force)
    engine = Engine(exp, run_dir, progress=progress, **({"objective": objective} if objective else {}))
    engine.prepare()  # reads the catalog: fails before anything is written if there is none
    with engine.backend():  # reaches the cluster, if any: fails before anything is written too
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.toml").write_text(exp.to_toml())
        resumed = sum(len(s.finished) for s in engine.searches)
        complete = False
        try:
            engine.run()
            complete = True
        finally:  # also on Ctrl-C or too many failures: tables of what finished
            output = write_tables(engine, run_dir, resumed)
            engine.cleanup(complete)
    return output


def write_tables(engine: Engine, run_dir: Path, resumed: int) -> RunOutput:
    exp = engine.exp
    names = [d.name for d in exp.space]
    # The store is the truth: a Ctrl-C can land between storing a trial and counting it.
    known = {(s.name, s.repetition) for s in engine.searches}
    records = list({(r["strategy"], r["repetition"], r["trial"]): r for r in reversed(engine.store.read())
                    if (r["strategy"], r["repetition"]) in known}.values())
    trials = report.trials_table(records, names, list(exp.strategies))
    report.write_csv(trials, run_dir / "trials.csv")
    summary = report.summary_table(trials, engine.tests, engine.baselines, names, list(exp.strategies))
    if not summary.empty:
        report.write_csv(summary, run_dir / "summary.csv")
    meta = {"catalog": engine.catalog_meta, "cleaning": engine.cleaning.lines(),
            "features": exp.data.features, "n_features": engine.n_features}
    (run_dir / "run.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    text = report.results_text(summary, names) if not summary.empty else "no trial finished"
    if not summary.empty:
        write_comparison(trials, summary, exp, run_dir)
    return RunOutput(run_dir, trials, summary, text, resumed)


def write_comparison(trials: pd.DataFrame, summary: pd.DataFrame, exp: Experiment, run_dir: Path) -> None:
    """comparison.csv/.md/.tex, anytime curves (CSV + PNG), hyperparameter plots."""
    from hpsearch import comparison, export, plots

    table = comparison.comparison_table(trials, summary, list(exp.strategies))
    export.write_all_formats(table, run_dir / "comparison", export.caption_for(table))
    baselines = summary.groupby("repetition")["baseline_mean_val_rmse"].first()
    curves = comparison.progress_curves(trials, baselines)
    title = f"{exp.name}: {exp.data.features} features, {summary['repetition'].nunique()} repetition(s)"
    for x in ("trials", "seconds", "epochs"):
        curve = comparison.anytime_table(curves, x)
        report.write_csv(curve, run_dir / f"curve_{x}.csv")
        plots.anytime_plot(curve, x, run_dir / f"curve_{x}.png", title, list(exp.strategies))
    ratio = trials.assign(val_ratio=trials["val_rmse"] / trials["repetition"].map(baselines))
    plots.hyperparameter_plots(ratio, exp.space, run_dir / "hyperparameters.png", title, list(exp.strategies))
