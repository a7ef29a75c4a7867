"""An experiment file's shape, declared from the sections each part owns (:class:`ExperimentFile`,
:class:`SuiteFile`, and their JSON Schema), and an experiment and a suite as a run reads them:
validated, frozen, every default resolved (:mod:`hpsearch.config` composes one from the other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tomli_w
from pydantic import Field

from hpsearch.data.source import DataConfig, DataSection
from hpsearch.errors import ConfigError
from hpsearch.execution import user_objective
from hpsearch.execution.backends import BackendKeys
from hpsearch.execution.table import TableSection
from hpsearch.execution.worker import WorkerSetup
from hpsearch.models import estimators
from hpsearch.models.estimators import NETWORK
from hpsearch.models.section import DEFAULT_MODEL, ModelSection
from hpsearch.results.verdict import ROPE, VerdictSection
from hpsearch.results.writer import OutputSection
from hpsearch.search import strategies as strategy_rules
from hpsearch.search.budget import Budget, BudgetSection
from hpsearch.search.space import Dimension, DimensionSection
from hpsearch.sections import Section, schema_of

DEFAULT_SPACE = {"epochs": {"type": "int", "low": 5, "high": 100},
                 "hidden_width": {"type": "int", "low": 2, "high": 64, "log": True},
                 "learning_rate": {"type": "float", "low": 1e-3, "high": 1.0, "log": True}}
Space = dict[str, DimensionSection]
Strategies = dict[str, dict[str, Any]]


class Named(Section):
    name: str | None = Field(None, description="names the run folder under results/ (default: the file's name)")
    description: str = ""
    seed: int = Field(0, ge=0, description="the root seed: every split, network and strategy seed derives from it")


class Shared(strategy_rules.SearchKeys, BackendKeys, Named):  # fields in the order: Named's first
    """The keys an experiment and a suite share (a suite's hold for every problem)."""

    budget: BudgetSection = Field(BudgetSection(trials=20), description="per strategy and repetition")
    strategy: Strategies = Field({}, description="options per strategy, [strategy.NAME]")
    output: OutputSection = OutputSection()
    verdict: VerdictSection = VerdictSection()


class ExperimentFile(Shared):
    """An experiment file: one problem (its data, model and space) under every strategy."""

    data: DataSection = DataSection()
    model: ModelSection = ModelSection()
    space: Space = Field(DEFAULT_SPACE, validate_default=True, description="the hyperparameters searched, [space.NAME]")
    table: TableSection | str = TableSection()


TOP_KEYS = tuple(ExperimentFile.model_fields)


class Problem(Section):
    """``[problems.NAME]`` of a suite: its own data, model and space, and optionally budget and options."""

    description: str = ""
    data: DataSection = DataSection()
    model: ModelSection = ModelSection()
    space: Space = Field(DEFAULT_SPACE, validate_default=True)
    budget: BudgetSection | None = None
    strategy: Strategies = {}
    table: TableSection | str = TableSection()


class SuiteFile(Shared):
    """A suite: the shared keys, and one ``[problems.NAME]`` table per problem."""

    problems: dict[str, Problem] = Field(min_length=1)


def schema() -> dict:
    """The JSON Schema (Draft 2020-12) of an experiment or suite file, from the declarations."""
    out = schema_of(ExperimentFile | SuiteFile)
    options = {name: schema_of(cls) for name, cls in strategy_rules.options_schema().items()}
    for model in ("ExperimentFile", "SuiteFile", "Problem"):
        out["$defs"][model]["properties"]["strategy"] = {
            "type": "object", "description": "options per strategy; optuna:<Sampler> takes the sampler's arguments",
            "properties": {n: {k: v for k, v in s.items() if k != "$schema"} for n, s in options.items()},
            "additionalProperties": {"type": "object"}}
    return out


@dataclass(frozen=True)
class Experiment:
    """A validated, frozen experiment."""

    name: str
    seed: int = 0
    n_jobs: int = 1
    backend: str = "loky"
    scheduler: str | None = None
    strategies: tuple[str, ...] = ("random",)
    repetitions: int = 1  # the repetitions, or the most of them when until
    until: str | None = None  # "decided": repetitions in waves until every comparison is decided
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
    rope: float = ROPE  # [verdict] rope: the region of practical equivalence (relative)
    verdict: dict = field(default_factory=dict)  # [verdict], every key (alpha, reference, sequential, clip)
    threads: int = 1  # [model] threads: per thread pool (BLAS, OpenMP) per worker
    code_path: str | None = None  # [model] path: the folder of the config's own code (absolute)

    @property
    def worker_setup(self) -> WorkerSetup:
        """How the run's worker processes start (threads per pool, the config's code folder)."""
        return WorkerSetup(self.threads, (self.code_path,) if self.code_path and not self.read_only else ())

    def space_fidelity_name(self) -> str:
        """The name of the iteration count the estimator trains, from the config alone (nothing imported)."""
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
        prefix = user_objective.PREFIX
        return self.estimator[len(prefix):] if self.estimator.startswith(prefix) else None

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

    def to_dict(self) -> dict:
        """The resolved config as TOML-ready data (every default written out; TOML has no null)."""
        model = {"threads": self.threads, **({"path": self.code_path} if self.code_path else {}),
                 **({"packages": list(self.packages)} if self.packages else {}),
                 **({"estimator": self.estimator} if self.estimator != NETWORK and not self.user_objective else {}),
                 **{k: ("full" if k == "batch_size" and v is None else v) for k, v in self.model.items()}}
        out = {"name": self.name, **({"description": self.description} if self.description else {}),
               "seed": self.seed, "n_jobs": self.n_jobs, "backend": self.backend,
               **({"scheduler": self.scheduler} if self.scheduler else {}),
               "strategies": list(self.strategies),
               "repetitions": {"max": self.repetitions, "until": self.until} if self.until else self.repetitions,
               **({"max_failures": self.max_failures} if self.max_failures is not None else {}),
               **({"population": self.population} if self.population is not None else {}),
               "budget": {self.budget.kind: self.budget.amount}, "data": self.data.to_dict(), "model": model,
               "space": {dim.name: dim.to_dict() for dim in self.space},
               **({"strategy": {k: dict(v) for k, v in self.strategy_options.items()}} if self.strategy_options else {}),
               "output": {"figures": list(self.figures) or "none"}, "verdict": {**self.verdict, "rope": self.rope}}
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
    """Several problems compared under the same strategies, repetitions and seed: a config with
    ``[problems.NAME]`` tables (each its own data, model, space and, optionally, budget, strategy
    options and description)."""

    name: str
    problems: tuple[tuple[str, Experiment], ...]
    raw: dict
    source: str = "<config>"

    def to_dict(self) -> dict:
        return {**{k: v for k, v in self.raw.items() if k != "problems"},
                "problems": {name: {k: v for k, v in exp.to_dict().items() if k in Problem.model_fields}
                             for name, exp in self.problems}}

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())
