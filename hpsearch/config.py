"""Experiment configs: read TOML, validate, resolve defaults, write back.

Every error is a :class:`~hpsearch.errors.ConfigError` whose message names the
file, the key, the bad value and what is allowed, for example::

    experiments/x.toml: space.epochs: low (50) must be <= high (10)
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from hpsearch.data.features import FEATURE_SETS, SPLITS
from hpsearch.data.metrics import TASKS
from hpsearch.errors import ConfigError
from hpsearch.execution.backends import BACKENDS, DEFAULT_BACKEND, SCHEDULER_BACKEND
from hpsearch.execution.worker import WorkerSetup, extended_path
from hpsearch.models import estimators
from hpsearch.models.estimators import NETWORK
from hpsearch.results import verdict
from hpsearch.search.budget import Budget
from hpsearch.search.space import KINDS, Dimension

BUDGET_KINDS = ("trials", "epochs", "seconds")
DEFAULT_SPACE = {
    "epochs": {"type": "int", "low": 5, "high": 100},
    "hidden_width": {"type": "int", "low": 2, "high": 64, "log": True},
    "learning_rate": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
}
DEFAULT_MODEL = {"batch_size": 256}


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from (see ``hpsearch.data.problems``).

    ``dataset``: ``earthquake`` (the catalog; ``features`` is a feature set),
    ``diabetes`` or ``friedman1`` (built in), or ``table`` (a CSV/Parquet file
    at ``path``, predicting ``target``; ``features`` is then a list of columns).
    """

    features: str | tuple[str, ...] | None = "challenge"
    split: str = "random"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    event_types: tuple[str, ...] | None = ("earthquake",)
    dataset: str = "earthquake"
    path: str | None = None
    target: str | None = None
    categorical: tuple[str, ...] | None = None
    time: str | None = None
    n_samples: int = 1000
    noise: float = 1.0
    task: str = "auto"  # regression | classification | auto (from the estimator or the target)
    threshold: float | None = None  # earthquake: classify magnitude >= threshold
    task_from: str = field(default="", compare=False)  # what the task was inferred from, when not data.task

    @property
    def target_name(self) -> str:
        """What is predicted, for captions."""
        if self.dataset == "earthquake":
            return "magnitude" if self.threshold is None else f"magnitude >= {self.threshold:g}"
        return f"the target ({self.target or self.dataset})"

    def to_dict(self) -> dict:
        out: dict[str, Any] = {}
        if self.dataset == "earthquake":
            out["features"] = self.features
        elif self.dataset == "table":
            out.update(path=self.path, target=self.target)
        else:
            out["dataset"] = self.dataset
        if self.dataset != "earthquake":
            for key in ("features", "categorical"):
                if getattr(self, key) is not None:
                    out[key] = list(getattr(self, key))
            if self.time is not None:
                out["time"] = self.time
            if self.dataset == "friedman1":
                out.update(n_samples=self.n_samples, noise=self.noise)
        out.update(split=self.split, fractions=list(self.fractions))
        if self.dataset == "earthquake":
            out["event_types"] = list(self.event_types) if self.event_types else "all"
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.task != "auto":
            out["task"] = self.task
        return out


@dataclass(frozen=True)
class Experiment:
    """A validated, frozen experiment."""

    name: str
    seed: int = 0
    n_jobs: int = 1
    backend: str = DEFAULT_BACKEND
    scheduler: str | None = None
    strategies: tuple[str, ...] = ("random",)
    repetitions: int = 1
    max_failures: int | None = None
    population: int | None = None
    budget: Budget = field(default_factory=Budget)
    data: DataConfig = field(default_factory=DataConfig)
    model: dict = field(default_factory=lambda: dict(DEFAULT_MODEL))
    estimator: str = NETWORK
    space: tuple[Dimension, ...] = ()
    strategy_options: dict = field(default_factory=dict)
    source: str = "<config>"
    figures: tuple[str, ...] = ("png",)  # [output] figures: png, pdf, or none ()
    description: str = ""
    packages: tuple[str, ...] = ()  # [model] packages: where else an estimator may be imported from
    allow: tuple[str, ...] = field(default=(), compare=False)  # --allow-package: the same, not written
    read_only: bool = field(default=False, compare=False)  # read from a run folder: the estimator unchecked
    table: dict = field(default_factory=dict)  # [table]: path (replay) and workers; levels, seeds (record)
    rope: float = verdict.ROPE  # [verdict] rope: the region of practical equivalence (relative)
    threads: int = 1  # [model] threads: per thread pool (BLAS, OpenMP) per worker
    code_path: str | None = None  # [model] path: the folder of the config's own code (absolute)

    @property
    def worker_setup(self) -> WorkerSetup:
        """How the run's worker processes start (threads per pool, the config's code folder)."""
        return WorkerSetup(self.threads, (self.code_path,) if self.code_path and not self.read_only else ())

    def space_fidelity_name(self) -> str:
        """The name of the iteration count the estimator trains (``epochs`` for the network),
        from the config alone (nothing is imported)."""
        if estimators.is_network(self.estimator):
            return "epochs"
        if self.user_objective is not None:
            return str(self.model.get("fidelity", "epochs"))
        names = {d.name for d in self.space} | set(self.model)
        return next((n for n in ("max_iter", "n_estimators") if n in names), "iterations")

    @property
    def allowed_packages(self) -> tuple[str, ...]:
        """Where an estimator may be imported from besides scikit-learn and hpsearch: the packages
        of the config the user runs, and the caller's; a config read from a run folder grants none."""
        return (() if self.read_only else self.packages) + self.allow

    @property
    def user_objective(self) -> str | None:
        """``pkg.module:function`` of a run that trains the user's own function, or None."""
        from hpsearch.execution.user_objective import PREFIX

        return self.estimator[len(PREFIX):] if self.estimator.startswith(PREFIX) else None

    @property
    def fidelity_name(self) -> str:
        """The iteration count multi-fidelity strategies schedule and epoch budgets count."""
        if self.user_objective is not None:
            return str(self.model.get("fidelity", "epochs"))
        return estimators.fidelity(self.estimator_class) or "epochs"

    @property
    def estimator_class(self) -> type:
        """The estimator's class, imported under the config's rules (see :mod:`hpsearch.models.estimators`)."""
        try:
            return estimators.resolve(self.estimator, self.allowed_packages)
        except estimators.EstimatorError as exc:
            raise ConfigError(f"{self.source}: model.estimator: {exc}") from None

    def with_overrides(self, *, trials: int | None = None, n_jobs: int | None = None,
                       backend: str | None = None, scheduler: str | None = None,
                       seed: int | None = None, repetitions: int | None = None,
                       strategies: list[str] | None = None,
                       features: str | None = None, allow_packages=None, figures=None) -> "Experiment":
        """Apply command-line overrides, validated like the file's own values.

        A ``scheduler`` without a ``backend`` implies the backend that has schedulers.
        """
        allow = self.allow + tuple(allow_packages or ())
        raw = self.to_dict()
        if scheduler is not None and backend is None:
            backend = SCHEDULER_BACKEND
        where = "command line"
        if trials is not None:
            raw["budget"] = {"trials": trials}
        for key, value in (("n_jobs", n_jobs), ("backend", backend), ("scheduler", scheduler),
                           ("seed", seed), ("repetitions", repetitions),
                           ("strategies", strategies)):
            if value is not None:
                raw[key] = value
        if features is not None:
            raw["data"]["features"] = features
        if figures is not None:
            raw["output"] = {"figures": figures}
        if strategies is not None:  # options of strategies left out are kept out, not refused
            raw["strategy"] = {k: v for k, v in raw.get("strategy", {}).items() if k in strategies}
        try:
            return parse(raw, self.source, allow=allow, read_only=self.read_only)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(f"{self.source}:", f"{where}:", 1)) from None

    def to_dict(self) -> dict:
        """The resolved config as TOML-ready data (every default written out)."""
        out: dict[str, Any] = {
            "name": self.name, **({"description": self.description} if self.description else {}), "seed": self.seed, "n_jobs": self.n_jobs, "backend": self.backend,
            "strategies": list(self.strategies), "repetitions": self.repetitions,
        }
        if self.scheduler is not None:
            out["scheduler"] = self.scheduler
        if self.max_failures is not None:
            out["max_failures"] = self.max_failures
        if self.population is not None:
            out["population"] = self.population
        if self.rope != verdict.ROPE:
            out["verdict"] = {"rope": self.rope}
        out["budget"] = {self.budget.kind: self.budget.amount}
        out["data"] = self.data.to_dict()
        # TOML has no null: a full batch is written "full"
        out["model"] = {k: ("full" if k == "batch_size" and v is None else v) for k, v in self.model.items()}
        if self.estimator != NETWORK and self.user_objective is None:
            out["model"] = {"estimator": self.estimator, **out["model"]}
        if self.packages:
            out["model"] = {"packages": list(self.packages), **out["model"]}
        if self.code_path is not None:
            out["model"] = {"path": self.code_path, **out["model"]}
        if self.threads != 1:
            out["model"] = {"threads": self.threads, **out["model"]}
        out["space"] = {dim.name: dim.to_dict() for dim in self.space}
        if self.strategy_options:
            out["strategy"] = {k: dict(v) for k, v in self.strategy_options.items()}
        if self.figures != ("png",):
            out["output"] = {"figures": list(self.figures) or "none"}
        if self.table:
            out["table"] = {k: dict(v) if isinstance(v, dict) else v for k, v in self.table.items()}
        return out

    @property
    def replays(self) -> bool:
        """Whether the trials are answered from a recorded table (``[table] path``)."""
        return "path" in self.table

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


@dataclass(frozen=True)
class Suite:
    """Several problems compared under the same strategies, repetitions and seed:
    a config with ``[problems.NAME]`` tables (each its own ``data``, ``model``,
    ``space`` and, optionally, ``budget``, ``strategy`` and ``description``)."""

    name: str
    problems: tuple[tuple[str, Experiment], ...]
    raw: dict
    source: str = "<config>"

    def with_overrides(self, **overrides) -> "Suite":
        """Command-line overrides, applied to every problem (see :meth:`Experiment.with_overrides`)."""
        if overrides.get("features") is not None:
            raise ConfigError("command line: --features is for one problem; a suite names its data per problem")
        overrides.pop("features", None)
        problems = tuple((name, exp.with_overrides(**overrides)) for name, exp in self.problems)
        raw = dict(self.raw)
        for key in ("n_jobs", "backend", "scheduler", "seed", "repetitions", "strategies"):
            if overrides.get(key) is not None:
                raw[key] = overrides[key]
        if overrides.get("figures") is not None:
            raw["output"] = {"figures": overrides["figures"]}
        if overrides.get("trials") is not None:
            raw["budget"] = {"trials": overrides["trials"]}
        return Suite(self.name, problems, raw, self.source)

    def to_dict(self) -> dict:
        return {**{k: v for k, v in self.raw.items() if k != "problems"},
                "problems": {name: {k: v for k, v in exp.to_dict().items() if k in PROBLEM_KEYS}
                             for name, exp in self.problems}}

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


SUITE_KEYS = ("name", "description", "seed", "n_jobs", "backend", "scheduler", "strategies", "repetitions",
              "max_failures", "population", "budget", "strategy", "output", "verdict", "problems")
PROBLEM_KEYS = ("description", "data", "model", "space", "budget", "strategy", "table")


def parse_suite(raw: dict, source: str = "<config>", allow=(), read_only: bool = False) -> Suite:
    """Validate a config with ``[problems.NAME]`` tables into a :class:`Suite`;
    each problem is an :class:`Experiment` named NAME, sharing the top-level keys."""
    c = _Checker(source)
    c.keys(raw, "", SUITE_KEYS)
    problems = raw["problems"]
    if not isinstance(problems, dict) or not problems:
        raise c.fail("problems", "give one [problems.NAME] table per problem, each with its data, model and space")
    name = raw.get("name", Path(source).stem if source.endswith(".toml") else "suite")
    shared = {k: v for k, v in raw.items() if k not in ("problems", "name", "description")}
    parsed = []
    for problem, table in problems.items():
        if not NAME.fullmatch(str(problem)):
            raise c.fail(f"problems.{problem}", "a problem name is 1 to 100 letters, digits and . _ - + "
                                                "(it names the folder problems/NAME)")
        c.keys(table, f"problems.{problem}", PROBLEM_KEYS)
        merged = {**shared, **table, "name": problem}
        if isinstance(shared.get("strategy"), dict) and isinstance(table.get("strategy"), dict):
            merged["strategy"] = {**shared["strategy"], **table["strategy"]}
        try:
            parsed.append((problem, parse(merged, source, allow, read_only)))
        except ConfigError as exc:
            where, _, rest = str(exc).partition(": ")
            key = rest.split(": ", 1)[0].split(".")[0]
            if key in table:
                raise ConfigError(f"{where}: problems.{problem}.{rest}") from None
            raise
    return Suite(name, tuple(parsed), raw, source)


def parse_any(raw: dict, source: str = "<config>", allow=(), read_only: bool = False) -> Experiment | Suite:
    """A :class:`Suite` when the config has ``[problems]`` tables, else an :class:`Experiment`."""
    if isinstance(raw, dict) and "problems" in raw:
        return parse_suite(raw, source, allow, read_only)
    return parse(raw, source, allow, read_only)


# -- reading -------------------------------------------------------------------
def load(path: str | Path, suites: bool = False, allow=(), read_only: bool = False) -> Experiment | Suite:
    """Read and validate an experiment file (a suite too when ``suites``).

    ``allow``: packages an estimator may come from besides those the config names.
    ``read_only``: the config of a run folder, read to show its results: its estimator is
    neither imported nor checked (reading a run folder imports no model).
    """
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


def read_run_config(path: str | Path) -> Experiment:
    """The config of a run folder, for readers: nothing it names is imported."""
    return load(path, suites=False, read_only=True)


class _Checker:
    """Small helpers that raise ConfigError with file and key in the message."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, message: str) -> ConfigError:
        key = key if key.isprintable() else repr(key)  # a key may hold a newline: keep one line
        key = key if len(key) <= 100 else key[:97] + "..."
        message = " ".join(message.split())
        message = message if len(message) <= 600 else message[:597] + "..."
        return ConfigError(f"{self.source}: {key}: {message}")

    def keys(self, table: Any, key: str, allowed: tuple[str, ...] | list[str]) -> dict:
        if not isinstance(table, dict):
            raise self.fail(key or "top level", f"expected a table, got {_show(table)}")
        for name in table:
            if not isinstance(name, str):
                raise self.fail(key or "top level", f"keys are names (strings), got {_show(name)}")
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(allowed)}"
                raise self.fail(_join(key, name), f"unknown key{hint}")
        return table

    def integer(self, value: Any, key: str, minimum: int | None = None) -> int:
        if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
            raise self.fail(key, f"expected an integer, got {_show(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be >= {minimum}, got {value}")
        return int(value)

    def number(self, value: Any, key: str) -> float:
        if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)) or not math.isfinite(value):
            raise self.fail(key, f"expected a finite number, got {_show(value)}")
        return int(value) if isinstance(value, numbers.Integral) else float(value)  # NumPy scalars as Python

    def choice(self, value: Any, key: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(key, f"expected one of {', '.join(map(repr, allowed))}, got {_show(value)}")
        return value

    def string_list(self, value: Any, key: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"expected a non-empty list of names, got {_show(value)}")
        repeated = next((v for i, v in enumerate(value) if v in value[:i]), None)
        if repeated is not None:
            raise self.fail(key, f"'{repeated}' is named twice")
        return value


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _show(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}... ({type(value).__name__})" if len(text) > 60 else f"{text} ({type(value).__name__})"


TOP_KEYS = ("name", "description", "seed", "n_jobs", "backend", "scheduler", "strategies", "repetitions", "verdict",
            "max_failures", "population", "budget", "data", "model", "space", "strategy", "output", "table")
FIGURE_FORMATS = ("png", "pdf")


def parse(raw: dict, source: str = "<config>", allow=(), read_only: bool = False) -> Experiment:
    """Validate a config given as data (what TOML gives) into an :class:`Experiment`
    (``allow`` and ``read_only``: see :func:`load`)."""
    from hpsearch.search import strategies as strategies_module
    from hpsearch.search.strategies import check_strategy_name, check_strategy_options

    c = _Checker(source)
    c.keys(raw, "", TOP_KEYS)
    table_section = _parse_table_section(c, raw.get("table", {}), source, raw.get("n_jobs", 1))
    if "path" in table_section:
        raw = _replayed(c, raw, table_section)
    name = raw.get("name", Path(source).stem if source.endswith(".toml") else "experiment")
    if not isinstance(name, str) or not NAME.fullmatch(name) or ".." in name:
        raise c.fail("name", f"expected a name of 1 to 100 letters, digits and . _ - + (it names the run "
                     f"folder under results/), got {_show(name)}")
    if "description" in raw and not isinstance(raw["description"], str):
        raise c.fail("description", f"expected a string, got {_show(raw['description'])}")
    seed = c.integer(raw.get("seed", 0), "seed", minimum=0)
    n_jobs = c.integer(raw.get("n_jobs", 1), "n_jobs")
    if n_jobs == 0 or n_jobs < -1 or n_jobs > LIMITS["n_jobs"]:
        raise c.fail("n_jobs", f"must be 1 to {LIMITS['n_jobs']}, or -1 for all cores, got {n_jobs}")
    backend = c.choice(raw.get("backend", DEFAULT_BACKEND), "backend", BACKENDS)
    scheduler = raw.get("scheduler")
    if scheduler is not None and (not isinstance(scheduler, str) or not SCHEDULER.fullmatch(scheduler)):
        raise c.fail("scheduler", f"expected tcp://HOST:PORT or tls://HOST:PORT, such as 'tcp://host:8786', "
                     f"got {_show(scheduler)}")
    if scheduler is not None and backend != SCHEDULER_BACKEND:
        raise c.fail("scheduler", "is used by the dask backend only; add backend = \"dask\"")
    repetitions = c.integer(raw.get("repetitions", 1), "repetitions", minimum=1)
    if repetitions > LIMITS["repetitions"]:
        raise c.fail("repetitions", f"at most {LIMITS['repetitions']}, got {repetitions}")
    max_failures = raw.get("max_failures")
    if max_failures is not None:
        max_failures = c.integer(max_failures, "max_failures", minimum=0)
    population = raw.get("population")
    if population is not None:
        population = c.integer(population, "population", minimum=1)
    figures = _parse_figures(c, raw.get("output", {}))

    strategies = c.string_list(raw.get("strategies", ["random"]), "strategies")
    if len(set(strategies)) != len(strategies):
        raise c.fail("strategies", f"a strategy is named twice in {strategies}")
    for strategy in strategies:
        problem = check_strategy_name(strategy)
        if problem:
            raise c.fail("strategies", problem)
        if "path" in table_section and strategies_module.not_replayable(strategy):
            raise c.fail("strategies", f"{strategy} cannot be replayed from a table: "
                         f"{strategies_module.not_replayable(strategy)}")

    budget_raw = c.keys(raw.get("budget", {"trials": 20}), "budget", BUDGET_KINDS)
    if len(budget_raw) != 1:
        raise c.fail("budget", f"give exactly one of {', '.join(BUDGET_KINDS)}, got {sorted(budget_raw) or 'none'}")
    (kind, amount), = budget_raw.items()
    amount = (c.integer(amount, f"budget.{kind}", minimum=1) if kind != "seconds"
              else c.number(amount, f"budget.{kind}"))
    if amount <= 0 or amount > LIMITS[kind]:
        raise c.fail(f"budget.{kind}", f"must be > 0 and at most {LIMITS[kind]:,}, got {amount}")

    data = _parse_data(c, raw.get("data", {}))
    model_raw = raw.get("model", DEFAULT_MODEL)
    estimator = model_raw.get("estimator", NETWORK) if isinstance(model_raw, dict) else NETWORK
    packages = model_raw.get("packages", []) if isinstance(model_raw, dict) else []
    problem = estimators.check_package_names(packages) or estimators.check_package_names(list(allow))
    if problem:
        raise c.fail("model.packages", problem)
    packages = tuple(packages)
    threads, code_path = _parse_own_code(c, model_raw, read_only)
    model_raw = ({k: v for k, v in model_raw.items() if k not in ("threads", "path")}
                 if isinstance(model_raw, dict) else model_raw)
    cls = None
    objective = model_raw.get("objective") if isinstance(model_raw, dict) else None
    if objective is not None:  # the user's own training function: no estimator
        from hpsearch.execution import user_objective

        if "estimator" in model_raw:
            raise c.fail("model.objective", "give either an estimator or an objective, not both")
        try:
            if not read_only:  # a run folder's config names it as text only
                user_objective.check_path(objective, packages + tuple(allow))
        except ConfigError as exc:
            raise c.fail("model.objective", str(exc).split(": ", 1)[-1]) from None
        fidelity = model_raw.get("fidelity", "epochs")
        if not isinstance(fidelity, str) or not fidelity.isidentifier():
            raise c.fail("model.fidelity", f"expected a parameter name such as \"epochs\", got {_show(fidelity)}")
        estimator, read_only_estimator = user_objective.PREFIX + objective, True
    else:
        read_only_estimator = read_only
    if not isinstance(estimator, str):
        raise c.fail("model.estimator", f"expected a dotted path to an estimator class, got {_show(estimator)}")
    try:
        if not read_only_estimator:  # a run folder's config is read as text: its estimator is only a name
            with extended_path([code_path] if code_path else []):
                cls = estimators.resolve(estimator, packages + tuple(allow))
    except estimators.EstimatorError as exc:
        raise c.fail("model.estimator", str(exc)) from None
    if "space" not in raw and estimator != NETWORK and objective is None:
        raise c.fail("space", f"give the parameters of {estimator.rsplit('.', 1)[-1]} to search, e.g. [space.alpha]")
    data = _match_task(c, data, cls, estimator) if cls is not None else data
    space = _parse_space(c, raw.get("space", DEFAULT_SPACE), cls)
    if "model" not in raw:  # the defaults give way to what is searched
        model_raw = {k: v for k, v in model_raw.items() if k not in {d.name for d in space}}
    model = _parse_model(c, model_raw, {d.name for d in space}, cls)
    if cls is not None:
        _check_fidelity(c, cls, strategies, kind)
        _check_fidelity_bound(c, cls, space, model)

    options_raw = c.keys(raw.get("strategy", {}), "strategy", list(strategies))
    options = {}
    for strategy in strategies:  # every strategy, with its options or none: a sampler may need some
        table = options_raw.get(strategy, {})
        c.keys(table, f"strategy.{strategy}", list(table) if isinstance(table, dict) else [])
        problem = check_strategy_options(strategy, table, space,
                                         (estimators.fidelity(cls) if cls is not None else None) or "epochs")
        if problem:
            raise c.fail(f"strategy.{strategy}" if strategy in options_raw else "strategies", problem)
        if strategy in options_raw:
            options[strategy] = table
    return Experiment(name=name, seed=seed, n_jobs=n_jobs, backend=backend, scheduler=scheduler,
                      strategies=tuple(strategies),
                      repetitions=repetitions, max_failures=max_failures, population=population,
                      budget=Budget(kind, amount), data=data, model=model, estimator=estimator, space=space,
                      strategy_options=options, source=source, packages=packages, allow=tuple(allow),
                      read_only=read_only, figures=figures, description=raw.get("description", ""),
                      table=table_section, threads=threads, code_path=code_path,
                      rope=verdict.rope_of(raw.get("verdict", {}), c.fail))


#: the most threads per pool a worker may be given
MAX_THREADS = 256


def _parse_own_code(c: _Checker, raw: Any, read_only: bool) -> tuple[int, str | None]:
    """``[model] threads`` (per thread pool per worker, default 1) and ``[model] path`` (the folder
    of the config's own code, relative to the config; appended to the end of ``sys.path``)."""
    if not isinstance(raw, dict):
        return 1, None
    threads = c.integer(raw.get("threads", 1), "model.threads", minimum=1)
    if threads > MAX_THREADS:
        raise c.fail("model.threads", f"at most {MAX_THREADS} threads per pool, got {threads:,}")
    path = raw.get("path")
    if path is None:
        return threads, None
    if not isinstance(path, str) or not path or "\0" in path or len(path) > 4096:
        raise c.fail("model.path", f"expected the folder of your code, relative to the config, such as \".\", "
                     f"got {_show(path)}")
    folder = Path(c.source).resolve().parent if c.source.endswith(".toml") else Path.cwd()
    resolved = (folder / path).resolve()
    if not read_only and not resolved.is_dir():
        raise c.fail("model.path", f"'{path}' is not a folder (looked for {resolved})")
    return threads, str(resolved)


TABLE_KEYS = ("path", "workers", "levels", "seeds")


def _parse_table_section(c: _Checker, raw: Any, source: str, n_jobs: Any) -> dict:
    """``[table]``: ``path`` (a recorded table: replay it) and ``workers`` (simulated, default
    n_jobs); ``levels`` (per dimension: a count or the values) and ``seeds`` (for recording)."""
    if isinstance(raw, str):
        raw = {"path": raw}
    c.keys(raw, "table", TABLE_KEYS)
    out: dict = {}
    if "path" in raw:
        if not isinstance(raw["path"], str) or not raw["path"] or "\0" in raw["path"]:
            raise c.fail("table.path", f"expected the folder of a recorded table, got {_show(raw['path'])}")
        path = Path(raw["path"])
        if not path.is_absolute() and source.endswith(".toml"):
            path = Path(source).resolve().parent / path
        out["path"] = str(path)
        workers = raw.get("workers", n_jobs if isinstance(n_jobs, int) and n_jobs > 0 else 1)
        out["workers"] = c.integer(workers, "table.workers", minimum=1)
    if "levels" in raw:
        levels = raw["levels"]
        if not isinstance(levels, dict):  # a count for every numeric dimension
            if not isinstance(levels, numbers.Integral) or isinstance(levels, bool):
                raise c.fail("table.levels", f"expected a count such as 8 (every numeric dimension) or a table "
                             f"such as {{ hidden_width = 5, learning_rate = [0.01, 0.1] }}, got {_show(levels)}")
            out["levels"] = _level_count(c, levels, "table.levels")
        else:
            for name, value in levels.items():
                if isinstance(value, list):
                    if not 1 <= len(value) <= MAX_LEVELS or not all(
                            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
                        raise c.fail(f"table.levels.{name}", f"expected 1 to {MAX_LEVELS} finite numbers, "
                                     f"got {_show(value)}")
                else:
                    _level_count(c, value, f"table.levels.{name}")
            out["levels"] = dict(levels)
    if "seeds" in raw:
        out["seeds"] = c.integer(raw["seeds"], "table.seeds", minimum=1)
        if out["seeds"] > LIMITS["repetitions"]:
            raise c.fail("table.seeds", f"at most {LIMITS['repetitions']}, got {out['seeds']:,}")
    return out


#: the most levels a recorded dimension may have
MAX_LEVELS = 1000


def _level_count(c: _Checker, value: Any, key: str) -> int:
    value = c.integer(value, key, minimum=1)
    if value > MAX_LEVELS:
        raise c.fail(key, f"at most {MAX_LEVELS} levels, got {value:,}")
    return value


def _replayed(c: _Checker, raw: dict, table: dict) -> dict:
    """The config of a replayed problem: its data, model and space are the recorded table's."""
    from hpsearch.execution.tabular import Table

    try:
        recorded = Table.load(table["path"])
    except ConfigError as exc:
        raise c.fail("table.path", str(exc)) from None
    config = recorded.header["config"]
    model = config["model"]
    estimator = model.get("estimator", NETWORK)
    if estimator not in (NETWORK, estimators.NETWORK_CLASSIFIER) or "objective" in model:
        shown = str(model.get("objective", estimator))[:80]
        raise c.fail("table.path", f"the table names the model {shown!r}; tables record hpsearch's network "
                     f"only, and a replay imports nothing a table names")
    # the recorded model, described: nothing in a table grants a package
    view = {"data": config["data"], "model": {k: v for k, v in model.items() if k not in ("packages", "path")},
            "space": {d.name: d.to_dict() for d in recorded.space()}}
    for key, value in view.items():
        if key in raw and raw[key] != value:
            raise c.fail(key, f"a replayed problem's {key} is its table's ({table['path']}); leave it out")
    return {**raw, **view}


#: bounds that keep a typo from starting hundreds of processes or years of work (README: Limits)
LIMITS = {"n_jobs": 1024, "repetitions": 1000, "trials": 1_000_000, "epochs": 10**9, "seconds": 10**7}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
SCHEDULER = re.compile(r"(tcp|tls)://[A-Za-z0-9.\-]+(:\d{1,5})|(tcp|tls)://\[[0-9A-Fa-f:.]+\](:\d{1,5})")
CLASSIFICATION_SETS = ("breast_cancer", "wine", "digits", "seed-toy")
DATA_KEYS = ("dataset", "path", "target", "features", "categorical", "time", "split", "fractions",
             "event_types", "n_samples", "noise", "task", "threshold")


def _parse_figures(c: _Checker, raw: Any) -> tuple[str, ...]:
    """``[output] figures``: a list of png and pdf, or "none" (tables only)."""
    c.keys(raw, "output", ("figures",))
    figures = raw.get("figures", ["png"])
    if figures == "none" or figures == []:
        return ()
    if isinstance(figures, str):
        figures = [f.strip() for f in figures.split(",")]
    if (not isinstance(figures, list) or not figures or any(f not in FIGURE_FORMATS for f in figures)
            or len(set(figures)) != len(figures)):
        raise c.fail("output.figures", f"expected a list of {' and '.join(FIGURE_FORMATS)}, or \"none\", "
                     f"got {_show(figures)}")
    return tuple(figures)


def _parse_data(c: _Checker, raw: Any) -> DataConfig:
    c.keys(raw, "data", DATA_KEYS)
    split = c.choice(raw.get("split", "random"), "data.split", SPLITS)
    fractions = raw.get("fractions", [0.7, 0.15, 0.15])
    if (not isinstance(fractions, list) or len(fractions) != 3
            or not all(isinstance(f, numbers.Real) and not isinstance(f, bool) and f > 0 for f in fractions)
            or abs(sum(fractions) - 1) > 1e-9):
        raise c.fail("data.fractions", f"expected three numbers > 0 (train, validation, test) "
                     f"that sum to 1, got {_show(fractions)}")
    fractions = tuple(float(f) for f in fractions)
    task = c.choice(raw.get("task", "auto"), "data.task", ("auto", *TASKS))
    return replace(_parse_source(c, raw, split, fractions), task=task)


def _parse_source(c: _Checker, raw: dict, split: str, fractions: tuple) -> DataConfig:
    from hpsearch.data.problems import BUILT_IN

    if "path" in raw:
        if "dataset" in raw:
            raise c.fail("data.dataset", "give either a dataset or a path, not both")
        return _parse_table(c, raw, split, fractions)
    dataset = c.choice(raw.get("dataset", "earthquake"), "data.dataset", ("earthquake", *BUILT_IN))
    if dataset == "earthquake":
        for key in ("target", "categorical", "time", "n_samples", "noise"):
            if key in raw:
                raise c.fail(f"data.{key}", "is for tables and built-in data sets; the earthquake "
                             "catalog predicts magnitude from a feature set (data.features)")
        threshold = raw.get("threshold")
        if threshold is not None:
            threshold = float(c.number(threshold, "data.threshold"))
            if raw.get("task", "classification") != "classification":
                raise c.fail("data.threshold", "classifies magnitude >= threshold: it needs task = \"classification\"")
        features = c.choice(raw.get("features", "challenge"), "data.features", FEATURE_SETS)
        event_types = raw.get("event_types", ["earthquake"])
        if event_types == "all":
            event_types = None
        else:
            event_types = tuple(t.lower() for t in c.string_list(event_types, "data.event_types"))
        return DataConfig(features, split, fractions, event_types, threshold=threshold,
                          task="classification" if threshold is not None else "auto")
    for key in ("target", "categorical", "time", "event_types", "threshold") + (("n_samples", "noise")
                                                                    if dataset != "friedman1" else ()):
        if key in raw:
            raise c.fail(f"data.{key}", f"is not used by the built-in data set '{dataset}'")
    if split == "temporal":
        raise c.fail("data.split", f"'temporal' needs a time column; '{dataset}' has none")
    features = tuple(c.string_list(raw["features"], "data.features")) if "features" in raw else None
    n_samples = c.integer(raw.get("n_samples", 1000), "data.n_samples", minimum=20)
    noise = c.number(raw.get("noise", 1.0), "data.noise")
    if noise < 0:
        raise c.fail("data.noise", f"must be >= 0, got {noise}")
    return DataConfig(features, split, fractions, None, dataset, n_samples=n_samples, noise=float(noise))


def _parse_table(c: _Checker, raw: dict, split: str, fractions: tuple) -> DataConfig:
    """``[data] path = ...``: a CSV or Parquet file, relative to the config's folder."""
    path = raw["path"]
    if not isinstance(path, str) or not path:
        raise c.fail("data.path", f"expected a file name, got {_show(path)}")
    folder = Path(c.source).parent if Path(c.source).suffix == ".toml" else Path.cwd()
    from hpsearch.data.problems import MEMORY

    if path.startswith(MEMORY):  # a DataFrame given to hpsearch.run(data=...), by its fingerprint
        resolved = Path(path)
    elif "\x00" in path:
        raise c.fail("data.path", f"a file name cannot hold a NUL character, got {_show(path)}")
    else:
        try:
            resolved = (folder / path).resolve()
        except (OSError, RuntimeError) as exc:  # a symbolic link loop
            raise c.fail("data.path", f"cannot follow '{path}' ({str(exc)[:100]})") from None
    if not path.startswith(MEMORY) and resolved.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise c.fail("data.path", f"expected a .csv or .parquet file, got '{path}'")
    target = raw.get("target")
    if not isinstance(target, str) or not target:
        raise c.fail("data.target", f"name the column to predict, got {_show(target)}")
    for key in ("event_types", "n_samples", "noise", "threshold"):
        if key in raw:
            raise c.fail(f"data.{key}", "is not used by a table (data.path)")
    features = tuple(c.string_list(raw["features"], "data.features")) if "features" in raw else None
    categorical = (tuple(c.string_list(raw["categorical"], "data.categorical"))
                   if raw.get("categorical") not in (None, []) else (() if "categorical" in raw else None))
    time = raw.get("time")
    if time is not None and (not isinstance(time, str) or not time):
        raise c.fail("data.time", f"expected a column name, got {_show(time)}")
    if split == "temporal" and time is None:
        raise c.fail("data.split", "'temporal' needs data.time, the column that orders the rows")
    if target in (features or ()):
        raise c.fail("data.features", f"'{target}' is the target; it cannot be a feature too")
    return DataConfig(features, split, fractions, None, "table", path if path.startswith(MEMORY) else str(resolved),
                      target, categorical, time)


def _parse_model(c: _Checker, raw: Any, searched: set[str], cls: type | None) -> dict:
    """The fixed parameters (``cls`` None: a run folder's config, not checked against the class)."""
    c.keys(raw, "model", ["estimator", "packages", *(estimators.param_names(cls) if cls else raw if isinstance(raw, dict) else ())])
    fixed = {k: v for k, v in raw.items() if k not in ("estimator", "packages")}
    for key in fixed:
        if key in searched:
            raise c.fail(f"model.{key}", "is also searched in [space]; fix it in one place only")
    problem = estimators.check_values(cls, fixed) if cls is not None else None
    if problem:
        key = next((k for k in fixed if k in problem), problem.split()[0])
        raise c.fail(f"model.{key}", problem)
    return fixed


def _match_task(c: _Checker, data: DataConfig, cls: type, estimator: str) -> DataConfig:
    """The task from the data, or else from the estimator; the two must agree."""
    kind = estimators.task_of(cls)
    if data.task == "auto" and data.dataset in CLASSIFICATION_SETS:
        data = replace(data, task="classification", task_from=f"the data set {data.dataset}")
    if estimator == NETWORK:  # the network follows the data: regressor or classifier
        return data
    if estimator == estimators.NETWORK_CLASSIFIER:
        if data.task == "regression":
            raise c.fail("model.estimator", "NumpyMLPClassifier on a regression problem; use the default network")
        return replace(data, task="classification", task_from="the estimator, a classifier")
    if data.task == "auto":
        return replace(data, task=kind, task_from=f"the estimator, a {'regressor' if kind == 'regression' else 'classifier'}")
    if data.task != kind:
        raise c.fail("model.estimator", f"{cls.__name__} is a {kind} estimator and the problem is "
                     f"{data.task} (data.task); choose a {'classifier' if data.task == 'classification' else 'regressor'}")
    return data


#: the most iterations (epochs, max_iter, n_estimators) one trial may train, searched or fixed
MAX_FIDELITY = 100_000


def _check_fidelity_bound(c: _Checker, cls: type, space: tuple[Dimension, ...], model: dict) -> None:
    fidelity = estimators.fidelity(cls) or next((n for n in ("max_iter", "n_estimators")
                                                 if n in estimators.param_names(cls)), None)
    if fidelity is None:
        return
    dim = next((d for d in space if d.name == fidelity), None)
    values = [v for v in (dim.choices if dim.kind == "categorical" else (dim.high,))] if dim else []
    where = f"space.{fidelity}" if dim else f"model.{fidelity}"
    if fidelity in model:
        values.append(model[fidelity])
    for value in values:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > MAX_FIDELITY:
            raise c.fail(where, f"at most {MAX_FIDELITY:,} iterations per trial, got {value:,}")


def _check_fidelity(c: _Checker, cls: type, strategies: list[str], budget: str) -> None:
    """Multi-fidelity strategies and epoch budgets need an iteration count to schedule."""
    from hpsearch.search.strategies import needs_epoch_reports, schedules_fidelity

    fidelity = estimators.fidelity(cls)
    for name in strategies:
        if schedules_fidelity(name) and fidelity is None:
            raise c.fail("strategies", f"'{name}' schedules iterations, and {cls.__name__} has none "
                         f"(no warm_start with max_iter or n_estimators); use random, grid or tpe")
        if needs_epoch_reports(name) and fidelity != "epochs":
            raise c.fail("strategies", f"'{name}' needs an estimator that reports every epoch "
                         f"(hpsearch.NumpyMLPRegressor); {cls.__name__} does not")
    if budget == "epochs" and fidelity is None:
        raise c.fail("budget.epochs", f"{cls.__name__} has no iteration count to spend; "
                     f"give a budget in trials or seconds")


def _parse_space(c: _Checker, raw: Any, cls: type | None) -> tuple[Dimension, ...]:
    c.keys(raw, "space", estimators.param_names(cls) if cls is not None else list(raw) if isinstance(raw, dict) else [])
    if not raw:
        raise c.fail("space", "the search space is empty; give at least one dimension")
    dims = []
    for name, spec in sorted(raw.items()):
        key = f"space.{name}"
        c.keys(spec, key, ("type", "low", "high", "log", "choices", "grid"))
        kind = c.choice(spec.get("type", "categorical" if "choices" in spec else None), f"{key}.type", KINDS)
        grid = spec.get("grid")
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise c.fail(f"{key}.choices", f"expected a non-empty list, got {_show(choices)}")
            for extra in ("low", "high", "log"):
                if extra in spec:
                    raise c.fail(f"{key}.{extra}", "not used by a categorical dimension; give choices only")
            if len(set(map(repr, choices))) != len(choices):
                raise c.fail(f"{key}.choices", f"a choice is repeated in {choices}")
            dim = Dimension(name, kind, choices=tuple(choices))
            _check_value_range(c, dim, key, cls)
        else:
            for bound in ("low", "high"):
                if bound not in spec:
                    raise c.fail(f"{key}.{bound}", f"missing; a {kind} dimension needs low and high")
            check = c.integer if kind == "int" else c.number
            low, high = check(spec["low"], f"{key}.low"), check(spec["high"], f"{key}.high")
            log = spec.get("log", False)
            if not isinstance(log, bool):
                raise c.fail(f"{key}.log", f"expected true or false, got {_show(log)}")
            if low > high:
                raise c.fail(key, f"low ({low}) must be <= high ({high})")
            if log and low <= 0:
                raise c.fail(f"{key}.low", f"a log-scale range must start above 0, got {low}")
            dim = Dimension(name, kind, low=low, high=high, log=log)
            _check_value_range(c, dim, key, cls)
        if grid is not None:
            if isinstance(grid, list) and grid:
                grid = tuple(grid)
            elif not (isinstance(grid, int) and not isinstance(grid, bool) and grid >= 1):
                raise c.fail(f"{key}.grid", f"expected a number of points >= 1 or a list of values, got {_show(grid)}")
            dim = replace(dim, grid=grid)
        dims.append(dim)
    return tuple(dims)


def _check_value_range(c: _Checker, dim: Dimension, key: str, cls: type) -> None:
    """Reject values the estimator would refuse, before any trial runs."""
    if cls is None:
        return
    values = dim.choices if dim.kind == "categorical" else (dim.low, dim.high)
    for value in values:
        problem = estimators.check_values(cls, {dim.name: value})
        if problem:
            raise c.fail(key, f"{problem}; {dim.name} cannot take {value!r}")
