"""The Python API: run an experiment, load a run folder, get DataFrames and estimators.

>>> import hpsearch
>>> run = hpsearch.run({"data": {"dataset": "diabetes"},              # doctest: +SKIP
...                     "model": {"estimator": "sklearn.linear_model.Ridge"},
...                     "space": {"alpha": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}},
...                     "budget": {"trials": 20}})
>>> run.best()["val_rmse"], run.best()["baseline_mean_val_rmse"]  # doctest: +SKIP
>>> model = run.best_estimator(fit=True)                              # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from hpsearch.config import Experiment, Suite, parse_any, read_run_config, with_overrides
from hpsearch.config import load as load_config
from hpsearch.data.metrics import metric_of
from hpsearch.errors import ConfigError, HpsearchError, RunError
from hpsearch.execution.runfolder import RunFolder
from hpsearch.models import estimators


def _experiment(config, text: str | None, allow=()) -> Experiment | Suite:
    """A path to a TOML file (a str or a Path is always a path), a dict, an Experiment or a
    Suite; or TOML ``text``."""
    if text is None and isinstance(config, (Experiment, Suite)):
        return with_overrides(config, allow_packages=allow) if allow else config
    if text is None and isinstance(config, (str, Path)):
        return load_config(config, suites=True, allow=allow)
    if text is None and config is None:
        raise ConfigError("give a config: a path to a TOML file, a dict, or text=... (TOML)")
    raw, source = _raw(config, text)
    return parse_any(raw, source, allow)


def run(config=None, *, text: str | None = None, out=None, n_jobs: int | None = None, seed: int | None = None,
        trials: int | None = None, repetitions: int | None = None, strategies: list[str] | None = None,
        backend: str | None = None, scheduler: str | None = None, features: str | None = None,
        quiet: bool = True, force: bool = False, allow_packages: list[str] | None = None,
        figures=None, data=None, target: str | None = None, objective=None) -> "Run | SuiteRun":
    """Run (or resume) an experiment; every keyword overrides the config as the CLI flag of the
    same name does.

    ``config``: a path to a TOML file (a str or a Path), or a dict of the same shape;
    ``text``: TOML text instead.
    ``data``: a table in memory instead of ``[data] path``: a pandas DataFrame with ``target``
    naming the column to predict, or ``(X, y)`` (a DataFrame or an array, and a Series or an
    array). It is cleaned, split and scaled as a file would be; the run folder records its
    fingerprint (shape, columns, dtypes, a hash), so a resume with other data is refused.
    ``objective``: your own training function, ``train(params, data, seed, report)``, instead of
    an estimator (see :mod:`hpsearch.execution.user_objective`); a lambda or a closure works here and with
    loky, and is refused on Dask.
    ``out``: the run folder (default ``results/NAME-DATE-TIME``); an existing one is resumed.
    ``allow_packages``: packages an estimator may be imported from besides scikit-learn and
    hpsearch (as ``[model] packages``; importing a package runs its code).
    An experiment returns a :class:`Run`; a suite (``[problems.NAME]`` tables) a
    :class:`SuiteRun`, whose ``problems[NAME]`` is each problem's Run.
    """
    from hpsearch.execution.user_objective import giving
    from hpsearch.runner import default_run_dir, run_experiment
    from hpsearch.suites import run_suite

    function, allow = objective, tuple(allow_packages or ())
    if function is not None and not callable(function):
        raise ConfigError(f"objective: expected a function, got {type(function).__name__}")
    # this run's config may name the function given here (never imported), and only it
    with giving(function) if function is not None else contextlib.nullcontext(), _python_words():
        if data is not None or function is not None:  # the config rewritten, read from where it is (its folder)
            raw, source = _raw(config, text)
            if data is not None:
                raw = _with_data(raw, data, target)
            if function is not None:
                raw = _with_objective(raw, function)
            exp = parse_any(raw, source, allow)
        else:
            exp = _experiment(config, text, allow)
        exp = with_overrides(
            exp, trials=trials, n_jobs=n_jobs, seed=seed, strategies=strategies, figures=figures, repetitions=repetitions,
            backend=backend, scheduler=scheduler, features=features)
        folder = Path(out) if out is not None else default_run_dir(exp)
        if isinstance(exp, Suite):
            output = run_suite(exp, folder, progress=not quiet, force=force)
            return SuiteRun(output.run_dir)
        if function is not None:
            from hpsearch.execution.backends import imports_objectives_by_name
            from hpsearch.execution.user_objective import UserObjective, is_portable

            if imports_objectives_by_name(exp.backend) and not is_portable(function):
                raise ConfigError(f"objective: {getattr(function, '__qualname__', function)!r} is a lambda, a closure or "
                                  f"defined in __main__: Dask workers import the objective by name; define it at the "
                                  f"top level of a module they can import")
            output = run_experiment(exp, folder, progress=not quiet, force=force,
                                    objective=UserObjective(function=function, fidelity=exp.fidelity_name))
            return Run(output.run_dir)
        output = run_experiment(exp, folder, progress=not quiet, force=force)
        return Run(output.run_dir)


#: the command line's words in messages, as a caller of hpsearch.run says them
_PYTHON_WORDS = (("pass --force", "pass force=True"), ("--force", "force=True"), ("--out", "out=..."),
                 ("--allow-package ", "allow_packages=[...]: "), ("--n-jobs", "n_jobs="))


@contextlib.contextmanager
def _python_words():
    """Errors raised under hpsearch.run speak Python (``force=True``, not ``--force``)."""
    try:
        yield
    except HpsearchError as exc:
        text = str(exc)
        for cli, python in _PYTHON_WORDS:
            text = text.replace(cli, python)
        if text == str(exc):
            raise
        raise type(exc)(text) from None


def _raw(config, text) -> tuple[dict, str]:
    """The config as a dict and the name of its source (a file's path: relative data paths are
    read from its folder)."""
    if isinstance(config, (str, Path)) and text is None:
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        source, text = str(path), path.read_text(encoding="utf-8")
    elif text is None:
        if config is None:
            return {}, "<dict>"
        if not isinstance(config, dict):
            raise ConfigError(f"config: expected a path to a TOML file or a dict (TOML text goes in text=...), "
                              f"got {type(config).__name__}")
        return dict(config), "<dict>"
    elif config is not None:
        raise ConfigError("give either a config (a path or a dict) or text=..., not both")
    elif not isinstance(text, str):
        raise ConfigError(f"text: expected TOML text, got {type(text).__name__}")
    else:
        source = "<toml>"
    try:
        return tomllib.loads(text), source
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to read; a config is a few levels of tables") from None


def _with_objective(raw: dict, function) -> dict:
    """``raw`` with a [model] that names ``function`` as the objective."""
    from hpsearch.execution.user_objective import name_of

    if not callable(function):
        raise ConfigError(f"objective: expected a function, got {type(function).__name__}")
    model = {k: v for k, v in (raw.get("model") or {}).items() if k != "estimator"}
    raw["model"] = {**model, "objective": name_of(function)}
    return raw


def _with_data(raw: dict, data, target) -> dict:
    """``raw`` with a [data] that reads the table given in memory."""
    from hpsearch.data import problems

    if "problems" in raw:
        raise ConfigError("data=...: a suite names its data per problem; give one experiment")
    path, target, _ = problems.in_memory(data, target)
    old = raw.get("data", {}) if isinstance(raw.get("data", {}), dict) else {}
    keep = {k: v for k, v in old.items() if k not in ("path", "dataset", "target")}
    raw["data"] = {**keep, "path": path, "target": target}
    return raw


class SuiteRun:
    """A suite's run folder: ``problems[NAME]`` (each problem's :class:`Run`), ``table`` (the rows
    of suite.csv), ``per_problem`` (problems.csv) and ``verdict`` (the verdicts in words)."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.folder = RunFolder(run_dir)
        folders = sorted((self.run_dir / "problems").glob("*")) if (self.run_dir / "problems").is_dir() else []
        self.problems = {folder.name: Run(folder) for folder in folders if RunFolder(folder).is_run()}

    def __repr__(self) -> str:
        return f"SuiteRun({str(self.run_dir)!r}: {len(self.problems)} problems)"

    @property
    def table(self) -> pd.DataFrame:
        return self.folder.table("suite", missing_ok=True)

    @property
    def per_problem(self) -> pd.DataFrame:
        return self.folder.table("problems", missing_ok=True)

    @property
    def verdict(self) -> list[str]:
        if not self.folder.has("suite.md"):
            return []
        return [line[2:] for line in self.folder.text("suite.md").splitlines() if line.startswith("- ")]


def load(run_dir, allow_packages: list[str] | None = None) -> "Run":
    """A finished or interrupted run folder. Opening it imports nothing; ``allow_packages``: the
    packages :meth:`Run.best_estimator` may import an estimator from besides scikit-learn and
    hpsearch (a run folder's own config grants none: it may come from someone else)."""
    RunFolder(run_dir).require_run()
    return Run(run_dir, allow_packages)


class Run:
    """A run folder as Python objects.

    ``trials``, ``summary`` and ``comparison`` are the rows of ``trials.csv``,
    ``summary.csv`` and ``comparison.csv`` (a run interrupted before it wrote
    its tables has its trials read from the store, and empty others).
    """

    def __init__(self, run_dir, allow_packages: list[str] | None = None):
        self.run_dir = Path(run_dir)
        self.folder = RunFolder(run_dir)
        self.experiment = read_run_config(self.folder / self.folder.CONFIG)
        problem = estimators.check_package_names(list(allow_packages or ()))
        if problem:
            raise ConfigError(f"allow_packages: {problem}")
        self.allow = tuple(allow_packages or ())

    def __repr__(self) -> str:
        return f"Run({str(self.run_dir)!r}: {len(self.trials)} trials)"

    def _table(self, name: str) -> pd.DataFrame:
        return self.folder.table(name, missing_ok=True)

    @property
    def trials(self) -> pd.DataFrame:
        """The rows of trials.csv, or of the store when that is missing or damaged."""
        if self.folder.has("trials.csv"):
            try:
                return self._table("trials")
            except RunError:
                pass
        from hpsearch.results.report import trials_table

        names = [d.name for d in self.experiment.space]
        return trials_table(self.folder.records(), names, list(self.experiment.strategies), self.folder.metric())

    @property
    def summary(self) -> pd.DataFrame:
        return self._table("summary")

    @property
    def comparison(self) -> pd.DataFrame:
        return self._table("comparison")

    def best(self, strategy: str | None = None, repetition: int | None = None) -> dict:
        """The configuration validation chose (among ``strategy``'s and ``repetition``'s,
        or all): its parameters, validation and test RMSE, the baselines beside them."""
        with self.folder.reading("summary.csv"):
            return self._best(strategy, repetition)

    def _best(self, strategy: str | None, repetition: int | None) -> dict:
        m = metric_of(self.summary.columns)
        summary = self.summary.dropna(subset=[m.best_val]) if not self.summary.empty else self.summary
        if strategy is not None:
            summary = summary[summary["strategy"] == strategy]
        if repetition is not None:
            summary = summary[summary["repetition"] == repetition]
        if summary.empty:
            raise RunError(f"{self.run_dir}: no finished trial" + (f" of {strategy}" if strategy else "")
                           + (f" in repetition {repetition}" if repetition is not None else ""))
        row = summary.sort_values([m.best_val, "repetition"], kind="stable").iloc[0]
        out = {"strategy": row["strategy"], "repetition": int(row["repetition"]), "trial": int(row["best_trial"]),
               "params": {d.name: _plain(row[d.name], d.kind) for d in self.experiment.space},
               m.loss("val"): float(row[m.best_val]), m.loss("test"): float(row[m.loss("test")])}
        columns = [m.baseline_loss("val"), m.baseline_loss("test"), m.reference_loss("val"), m.reference_loss("test")]
        for column in columns + [f"{split}_{e}" for e in m.extras for split in ("val", "test")]:
            out[column] = float(row[column])
        return out

    def best_estimator(self, strategy: str | None = None, repetition: int | None = None, fit: bool = False):
        """An estimator with the parameters :meth:`best` chose (among ``strategy``'s and
        ``repetition``'s, or all), and the fixed ones of the config, seeded as its trial was;
        ``fit=True`` fits it on that repetition's training split (from scratch: for PBT, whose
        networks change hyperparameters while they train, this is another network than the
        one scored)."""
        from hpsearch.data.prepared import prepare_problem
        from hpsearch.seeds import trial_seed

        best = self.best(strategy, repetition)
        repetition = best["repetition"]
        trials = self.trials
        row = trials[(trials["strategy"] == best["strategy"]) & (trials["repetition"] == repetition)
                     & (trials["trial"] == best["trial"])].iloc[0]
        exp = self.experiment
        params = {**exp.model, **best["params"]}
        problem = prepare_problem(exp.data, exp.seed)
        path = estimators.for_task(exp.estimator, problem.task)
        try:  # the caller's permission, never the folder's: before anything is made
            estimators.resolve(path, self.allow)
        except estimators.EstimatorError as exc:
            raise ConfigError(f"{self.run_dir}: {str(exc).split(' name it in')[0]} pass "
                              f"hpsearch.load(..., allow_packages=[\"{path.split('.')[0]}\"]) "
                              f"if you trust it") from None
        model = estimators.make(path, params, trial_seed(exp.seed, repetition, int(row["config"])))
        if fit:
            data = problem.dataset(repetition)
            model.fit(data.X_train, data.y_train)
        return model


def _plain(value, kind: str):
    """A value read from a table as the Python type of its dimension."""
    if isinstance(value, np.generic):
        value = value.item()
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value
