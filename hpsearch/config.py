"""Experiment configs: read TOML, compose the sections each part declares, resolve the rules
between sections, write the resolved config back.

Each section is declared where it is used (see :mod:`hpsearch.sections`); this module only
composes them and checks what ties two sections together: the task against the estimator, the
space and fixed parameters against the estimator's class, strategies against its fidelity and
the budget, replays against their table. Every error is a :class:`~hpsearch.errors.ConfigError`
naming the file, the key, the bad value and what is allowed, for example::

    experiments/x.toml: space.epochs: low (50) must be <= high (10)
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.data.source import CLASSIFICATION_SETS, DataConfig
from hpsearch.errors import ConfigError
from hpsearch.execution import user_objective
from hpsearch.execution.backends import SCHEDULER_BACKEND
from hpsearch.execution.table import TableSection, replayed
from hpsearch.execution.worker import extended_path
from hpsearch.experiment import TOP_KEYS, Experiment, ExperimentFile, Suite, SuiteFile, schema
from hpsearch.models import estimators
from hpsearch.models.estimators import NETWORK
from hpsearch.models.section import DEFAULT_MODEL, check_fidelity_bound, check_fixed, match_task
from hpsearch.search import strategies as strategy_rules
from hpsearch.search.budget import Budget
from hpsearch.search.space import Dimension, DimensionSection, check_values
from hpsearch.sections import LIMITS, Invalid, Section, check, show

__all__ = ["Budget", "DataConfig", "Experiment", "LIMITS", "Suite", "TOP_KEYS", "load", "parse", "parse_any", "schema",
           "with_overrides"]
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


def with_overrides(config: Experiment | Suite, *, trials=None, n_jobs=None, backend=None, scheduler=None,
                   seed=None, repetitions=None, strategies=None, features=None, allow_packages=None,
                   figures=None, until_decided=False) -> Experiment | Suite:
    """Command-line overrides, validated like the file's own values; a suite's apply to every
    problem. A ``scheduler`` without a ``backend`` implies the backend that has schedulers;
    ``until_decided``: repetitions until decided, ``repetitions`` (else the config's) the most."""
    backend = SCHEDULER_BACKEND if scheduler is not None and backend is None else backend
    keys = dict(trials=trials, n_jobs=n_jobs, scheduler=scheduler, seed=seed, backend=backend,
                repetitions=repetitions, strategies=strategies, figures=figures)
    if isinstance(config, Suite):
        if features is not None:
            raise ConfigError("command line: --features is for one problem; a suite names its data per problem")
        problems = tuple((name, with_overrides(exp, allow_packages=allow_packages, until_decided=until_decided,
                                               **keys)) for name, exp in config.problems)
        raw = overridden(config.raw, **keys)
        most = config.raw.get("repetitions", 1)
        if until_decided or isinstance(most, dict):
            raw["repetitions"] = {"max": repetitions or (most["max"] if isinstance(most, dict) else most),
                                  "until": "decided"}
        return Suite(config.name, problems, raw, config.source)
    raw = overridden(config.to_dict(), **keys)
    if until_decided or config.until:  # --repetitions is then the most
        raw["repetitions"] = {"max": repetitions or config.repetitions, "until": "decided"}
    if features is not None:
        raw["data"]["features"] = features
    try:
        return parse(raw, config.source, allow=config.allow + tuple(allow_packages or ()), read_only=config.read_only)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(f"{config.source}:", "command line:", 1)) from None


def overridden(raw: dict, trials=None, figures=None, strategies=None, **keys) -> dict:
    """``raw`` with the command line's values; options of strategies left out are kept out, not refused."""
    raw = {**raw, **{k: v for k, v in keys.items() if v is not None}}
    if trials is not None:
        raw["budget"] = {"trials": trials}
    if figures is not None:
        raw["output"] = {"figures": figures}
    if strategies is not None:
        raw["strategies"] = strategies
        raw["strategy"] = {k: v for k, v in raw.get("strategy", {}).items() if k in strategies}
    return raw


def parse_suite(raw: dict, source: str = "<config>", allow=(), read_only: bool = False) -> Suite:
    """A config with ``[problems.NAME]`` tables as a :class:`Suite`; each problem an :class:`Experiment`
    named NAME, sharing the top-level keys."""
    problems = raw.get("problems")
    if not isinstance(problems, dict) or not problems:
        raise _error(source, "problems", "give one [problems.NAME] table per problem, each with its data, model and space")
    for problem in problems:
        if not NAME.fullmatch(str(problem)):
            raise _error(source, f"problems.{problem}", "a problem name is 1 to 100 letters, digits and . _ - + "
                                                        "(it names the folder problems/NAME)")
    _checked(SuiteFile, raw, source)
    shared = {k: v for k, v in raw.items() if k not in ("problems", "name", "description")}
    parsed = []
    for problem, table in problems.items():
        merged = {**shared, **table, "name": problem}
        if isinstance(shared.get("strategy"), dict) and isinstance(table.get("strategy"), dict):
            merged["strategy"] = {**shared["strategy"], **table["strategy"]}
        try:
            parsed.append((problem, parse(merged, source, allow, read_only)))
        except ConfigError as exc:
            where, _, rest = str(exc).partition(": ")
            if rest.split(": ", 1)[0].split(".")[0] in table:
                raise ConfigError(f"{where}: problems.{problem}.{rest}") from None
            raise
    name = raw.get("name", Path(source).stem if source.endswith(".toml") else "suite")
    return Suite(name, tuple(parsed), raw, source)


def parse_any(raw: dict, source: str = "<config>", allow=(), read_only: bool = False) -> Experiment | Suite:
    """A :class:`Suite` when the config has ``[problems]`` tables, else an :class:`Experiment`."""
    if isinstance(raw, dict) and "problems" in raw:
        return parse_suite(raw, source, allow, read_only)
    return parse(raw, source, allow, read_only)


def load(path: str | Path, suites: bool = False, allow=(), read_only: bool = False) -> Experiment | Suite:
    """Read and validate an experiment file (a suite too when ``suites``). ``allow``: packages an
    estimator may come from besides those the config names. ``read_only``: the config of a run
    folder, read to show its results: its estimator is neither imported nor checked."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; expected TOML") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read; a config is a few levels of tables") from None
    if not raw:
        raise ConfigError(f"{path}: the config is empty; see experiments/quickstart.toml for an example")
    if "problems" in raw and not suites:
        raise ConfigError(f"{path}: a suite ([problems] tables); run it with `hpsearch run`, or load its "
                          f"problems' run folders (problems/NAME)")
    return parse_any(raw, str(path), allow, read_only)


def resolved_as_written(source: str):
    """A run folder's config as this version resolves it, to compare with the config run now: a
    folder written before a default was written out still resumes."""
    return lambda raw: parse_any(raw, source, read_only=True).to_dict()


def read_run_config(path: str | Path) -> Experiment:
    """The config of a run folder, for readers: nothing it names is imported."""
    return load(path, suites=False, read_only=True)


def _error(source: str, key: str, message: str) -> ConfigError:
    key = key if key.isprintable() else repr(key)  # a key may hold a newline: keep one line
    key = key if len(key) <= 100 else key[:97] + "..."
    message = " ".join(message.split())
    return ConfigError(f"{source}: {key}: {message if len(message) <= 600 else message[:597] + '...'}"
                       if key else f"{source}: {message}")


def _checked(cls: type[Section], raw: Any, source: str) -> Section:
    try:
        return check(cls, raw)
    except Invalid as exc:
        raise _error(source, exc.key or "top level", exc.message) from None


def _section(cls: type[Section], raw: Any, key: str) -> Section:
    try:
        return check(cls, raw)
    except Invalid as exc:
        raise Invalid(f"{key}.{exc.key}" if exc.key else key, exc.message) from None


def _plain(value: Any) -> Any:
    """NumPy scalars as Python's, tuples as lists: what TOML would give."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def parse(raw: dict, source: str = "<config>", allow=(), read_only: bool = False) -> Experiment:
    """Validate a config given as data (what TOML gives) into an :class:`Experiment`
    (``allow`` and ``read_only``: see :func:`load`)."""
    try:
        return _compose(_plain(raw), source, tuple(allow), read_only)
    except Invalid as exc:
        raise _error(source, exc.key, exc.message) from None


def _compose(raw: dict, source: str, allow: tuple, read_only: bool) -> Experiment:
    folder = Path(source).resolve().parent if source.endswith(".toml") else Path.cwd()
    if not isinstance(raw, dict):
        raise Invalid("top level", f"expected a table, got {show(raw)}")
    table = _section(TableSection, raw["table"], "table") if "table" in raw else TableSection()
    table_dict = table.resolved(folder, raw.get("n_jobs", 1))
    raw = replayed(raw, table_dict["path"]) if "path" in table_dict else raw
    file: ExperimentFile = check(ExperimentFile, raw)
    name = file.name if file.name is not None else Path(source).stem if source.endswith(".toml") else "experiment"
    if not NAME.fullmatch(name) or ".." in name:
        raise Invalid("name", f"expected a name of 1 to 100 letters, digits and . _ - + (it names the run "
                      f"folder under results/), got {show(name)}")
    for strategy in file.strategies if "path" in table_dict else ():
        if strategy_rules.not_replayable(strategy):
            raise Invalid("strategies", f"{strategy} cannot be replayed from a table: "
                          f"{strategy_rules.not_replayable(strategy)}")
    problem = estimators.check_package_names(list(allow))
    if problem:
        raise Invalid("model.packages", problem)
    section, packages = file.model, tuple(file.model.packages)
    code_path = section.code_folder(folder, must_exist=not read_only)
    estimator, cls = section.estimator, None
    if section.objective is not None:  # the user's own training function: no estimator
        try:
            if not read_only:  # a run folder's config names it as text only
                user_objective.check_path(section.objective, packages + allow)
        except ConfigError as exc:
            raise Invalid("model.objective", str(exc).split(": ", 1)[-1]) from None
        estimator = user_objective.PREFIX + section.objective
    elif not read_only:  # a run folder's config is read as text: its estimator is only a name
        try:
            with extended_path([code_path] if code_path else []):
                cls = estimators.resolve(estimator, packages + allow)
        except estimators.EstimatorError as exc:
            raise Invalid("model.estimator", str(exc)) from None
    if "space" not in raw and estimator != NETWORK and section.objective is None:
        raise Invalid("space", f"give the parameters of {estimator.rsplit('.', 1)[-1]} to search, e.g. [space.alpha]")
    data = file.data.config(folder)
    data = match_task(data, cls, estimator, CLASSIFICATION_SETS) if cls is not None else data
    space = _space(file.space, cls)
    fixed = {k: v for k, v in (raw["model"] if "model" in raw else DEFAULT_MODEL).items()
             if k not in ("estimator", "packages", "threads", "path")}
    fixed = {k: v for k, v in fixed.items() if "model" in raw or k not in {d.name for d in space}}
    model = check_fixed(cls, fixed, {d.name for d in space})
    if cls is not None:
        strategy_rules.check_fidelity(cls, file.strategies, file.budget.budget.kind)
        check_fidelity_bound(cls, space, model)
    return Experiment(name=name, seed=file.seed, n_jobs=file.n_jobs, backend=file.backend, scheduler=file.scheduler,
                      strategies=tuple(file.strategies), repetitions=file.most_repetitions, until=file.until,
                      max_failures=file.max_failures, population=file.population, budget=file.budget.budget,
                      data=data, model=model, estimator=estimator, space=space,
                      strategy_options=_options(file.strategy, file.strategies, space, cls,
                                                table_dict.get("workers", file.n_jobs)), source=source,
                      packages=packages, allow=allow, read_only=read_only, figures=file.output.formats,
                      description=file.description, table=table_dict, threads=section.threads,
                      code_path=code_path, rope=file.verdict.rope, verdict=file.verdict.given())


def _space(declared: dict[str, DimensionSection], cls: type | None) -> tuple[Dimension, ...]:
    """The space's dimensions in name order, their names and values checked against ``cls``."""
    if not declared:
        raise Invalid("space", "the search space is empty; give at least one dimension")
    names = estimators.param_names(cls) if cls is not None else list(declared)
    for name in declared:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            raise Invalid(f"space.{name}", f"unknown key; {f'did you mean {close[0]!r}?' if close else 'allowed: ' + ', '.join(names)}")
    space = tuple(declared[name].dimension(name) for name in sorted(declared))
    if cls is not None:
        check_values(space, cls)
    return space


def _options(given: dict, strategies: list[str], space: tuple, cls: type | None, n_jobs: int) -> dict:
    """``[strategy.NAME]`` of every strategy run, checked by the strategy, its defaults filled in; the
    workers of a search default to the config's own n_jobs (part of the experiment, not of the machine)."""
    for name in given:
        if name not in strategies:
            close = difflib.get_close_matches(name, strategies, n=1)
            raise Invalid(f"strategy.{name}", f"unknown key; {f'did you mean {close[0]!r}?' if close else 'allowed: ' + ', '.join(strategies)}")
    options = {}
    fidelity = (estimators.fidelity(cls) if cls is not None else None) or "epochs"
    for name in strategies:  # every strategy, with its options or none: a sampler may need some
        problem = strategy_rules.check_strategy_options(name, given.get(name, {}), space, fidelity)
        if problem:
            raise Invalid(f"strategy.{name}" if name in given else "strategies", problem)
        filled = strategy_rules.filled_options(name, given.get(name, {}), n_jobs if n_jobs > 0 else os.cpu_count())
        if filled:
            options[name] = filled
    return options
