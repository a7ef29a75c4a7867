"""Search strategies behind one ask/tell protocol."""

from __future__ import annotations

import difflib
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from hpsearch.models import estimators
from hpsearch.search.space import Dimension
from hpsearch.search.strategies._asha import ASHAStrategy
from hpsearch.search.strategies._base import WAIT, Proposal, Strategy
from hpsearch.search.strategies._bohb import BOHBStrategy
from hpsearch.search.strategies._grid import GridStrategy, space_filling_order
from hpsearch.search.strategies._hyperband import HyperbandStrategy, rung_epochs
from hpsearch.search.strategies._median import MedianStopStrategy
from hpsearch.search.strategies._optuna import OptunaPrunedStrategy, OptunaStrategy
from hpsearch.search.strategies._pbt import PBTStrategy
from hpsearch.search.strategies._random import RandomStrategy
from hpsearch.sections import LIMITS, Invalid, Section, check, invalid, show

BUILT_IN = {"random": RandomStrategy, "grid": GridStrategy, "tpe": OptunaStrategy,
            "hyperband": HyperbandStrategy, "asha": ASHAStrategy, "tpe-hyperband": OptunaPrunedStrategy,
            "bohb": BOHBStrategy, "pbt": PBTStrategy, "median-stop": MedianStopStrategy}

__all__ = ["BUILT_IN", "WAIT", "ASHAStrategy", "BOHBStrategy", "MedianStopStrategy", "PBTStrategy", "GridStrategy", "HyperbandStrategy", "OptunaPrunedStrategy", "OptunaStrategy", "Proposal", "RandomStrategy", "Strategy",
           "check_strategy_name", "check_strategy_options", "make_strategy", "needs_epoch_reports",
           "rung_epochs", "schedules_fidelity", "space_filling_order"]


def _class_for(name: str) -> type[Strategy]:
    if name.startswith("optuna:"):
        return OptunaStrategy
    return BUILT_IN[name]


def check_strategy_name(name: str) -> str | None:
    """A one-line problem with a strategy name, or None."""
    if name in BUILT_IN:
        return None
    if name.startswith("optuna:"):
        from hpsearch.search.strategies._optuna import sampler_class

        try:
            sampler_class(name)
        except ValueError as exc:
            return str(exc)
        return None
    close = difflib.get_close_matches(name, list(BUILT_IN), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (f"unknown strategy '{name}'; {hint}known: {', '.join(BUILT_IN)}, "
            f"or optuna:<SamplerName> such as optuna:QMCSampler")


def check_strategy_options(name: str, options: dict, space=None, fidelity: str = "epochs") -> str | None:
    problem = _class_for(name).check_options(name, options)
    if problem is None and space is not None:
        problem = _class_for(name).check_space(name, options, space, fidelity)
    return problem


def filled_options(name: str, options: dict, workers: int | None = None) -> dict:
    """The options of strategy ``name`` as it runs them: the defaults of those not given filled in
    (``workers``: of a strategy that has them, when not given)."""
    cls = _class_for(name)
    filled = cls.filled(options)
    if "workers" in cls.Options.model_fields and filled.get("workers") is None and workers is not None:
        filled["workers"] = int(workers)
    if "batch_size" in cls.Options.model_fields and filled.get("batch_size") is None and "workers" in filled:
        filled["batch_size"] = filled["workers"]  # Optuna asks as many trials at once as the search has workers
    return filled


def schedules_fidelity(name: str) -> bool:
    """Whether the strategy schedules the estimator's iteration count (multi-fidelity)."""
    return _class_for(name).schedules_fidelity


def not_replayable(name: str) -> str | None:
    """Why a tabular replay of the strategy would be another algorithm, or None."""
    return _class_for(name).not_replayable


def needs_epoch_reports(name: str) -> bool:
    """Whether the strategy needs each epoch's validation value while trials train."""
    return _class_for(name).needs_epoch_reports


def make_strategy(name: str, space: tuple[Dimension, ...], seed: np.random.SeedSequence,
                  options: dict | None = None, n_jobs: int = 1,
                  max_trials: int | None = None, fidelity: str = "epochs") -> Strategy:
    """Create the strategy ``name`` (validated names only); ``fidelity`` names the
    estimator's iteration count (``epochs`` for the network)."""
    return _class_for(name)(name, space, seed, options, n_jobs, max_trials, fidelity)


class Repetitions(Section):
    """``repetitions = { max = N, until = "decided" }``: repetitions in waves until every comparison
    with the reference strategy is decided (:mod:`hpsearch.results.sequential`), at most ``max``."""

    max: int = Field(ge=1, le=LIMITS["repetitions"], description="the most repetitions")
    until: Literal["decided"] = "decided"

    @field_validator("max", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        return cls.count(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @staticmethod
    def count(value: int) -> int:
        if value < 1:
            raise invalid("", f"must be >= 1, got {value}")
        if value > LIMITS["repetitions"]:
            raise invalid("", f"at most {LIMITS['repetitions']}, got {value:,}")
        return value


class SearchKeys(Section):
    """The top-level keys of what is searched: the ``strategies`` compared, each run ``repetitions``
    times (paired: repetition r of every strategy shares its split and seeds), how many trials may
    fail before a search stops (``max_failures``, default: none), ``population``."""

    strategies: list[str] = Field(["random"], min_length=1, description="random, grid, tpe, hyperband, asha, "
                                  "tpe-hyperband, bohb, pbt, median-stop, or optuna:<Sampler>")
    repetitions: int | Repetitions = Field(1, description="repetitions of every strategy, or "
                                           "{ max = N, until = \"decided\" }")
    max_failures: int | None = Field(None, ge=0, description="failed trials a search tolerates")
    population: int | None = Field(None, ge=1)

    @field_validator("strategies", mode="before")
    @classmethod
    def _known_names(cls, value: Any) -> Any:
        value = [value] if isinstance(value, str) else list(value) if isinstance(value, tuple) else value
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise invalid("", f"expected a non-empty list of names, got {show(value)}")
        repeated = next((v for i, v in enumerate(value) if v in value[:i]), None)
        if repeated is not None:
            raise invalid("", f"'{repeated}' is named twice")
        for name in value:
            problem = check_strategy_name(name)
            if problem:
                raise invalid("", problem)
        return value

    @field_validator("repetitions", mode="before")
    @classmethod
    def _at_most(cls, value: Any) -> Any:
        if isinstance(value, dict):  # checked here: a union would report the integer's error
            try:
                return check(Repetitions, value)
            except Invalid as exc:
                raise invalid(exc.key, exc.message) from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise invalid("", f"expected an integer or {{ max = N, until = \"decided\" }}, got {show(value)}")
        return Repetitions.count(value)

    @property
    def most_repetitions(self) -> int:
        return self.repetitions if isinstance(self.repetitions, int) else self.repetitions.max

    @property
    def until(self) -> str | None:
        return None if isinstance(self.repetitions, int) else self.repetitions.until


def check_fidelity(cls: type, strategies, budget: str) -> None:
    """Multi-fidelity strategies and epoch budgets need an iteration count of ``cls`` to schedule."""
    fidelity = estimators.fidelity(cls)
    for name in strategies:
        if schedules_fidelity(name) and fidelity is None:
            raise Invalid("strategies", f"'{name}' schedules iterations, and {cls.__name__} has none "
                          f"(no warm_start with max_iter or n_estimators); use random, grid or tpe")
        if needs_epoch_reports(name) and fidelity != "epochs":
            raise Invalid("strategies", f"'{name}' needs an estimator that reports every epoch "
                          f"(hpsearch.NumpyMLPRegressor); {cls.__name__} does not")
    if budget == "epochs" and fidelity is None:
        raise Invalid("budget.epochs", f"{cls.__name__} has no iteration count to spend; "
                      f"give a budget in trials or seconds")


def options_schema() -> dict:
    """``[strategy.NAME]`` of every built-in strategy, for the config's JSON Schema."""
    return {name: strategy.Options for name, strategy in BUILT_IN.items()}
