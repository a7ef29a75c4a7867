"""Search strategies behind one ask/tell protocol."""

from __future__ import annotations

import numpy as np

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
    import difflib

    close = difflib.get_close_matches(name, list(BUILT_IN), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (f"unknown strategy '{name}'; {hint}known: {', '.join(BUILT_IN)}, "
            f"or optuna:<SamplerName> such as optuna:QMCSampler")


def check_strategy_options(name: str, options: dict, space=None, fidelity: str = "epochs") -> str | None:
    problem = _class_for(name).check_options(name, options)
    if problem is None and space is not None:
        problem = _class_for(name).check_space(name, options, space, fidelity)
    return problem


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
