"""Search-space dimensions: sample, grid points, Optuna distributions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("int", "float", "categorical")


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter: ``int`` or ``float`` in [low, high] (optionally log), or categorical.

    ``grid`` is how grid search covers it: a number of points (log-spaced on a
    log dimension) or explicit values; None takes the strategy's default count.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple | None = None
    grid: int | tuple | None = None

    def sample(self, rng: np.random.Generator) -> Any:
        if self.kind == "categorical":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.kind == "float":
            if self.log:
                return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
            return float(rng.uniform(self.low, self.high))
        if self.log:  # log-uniform over [low, high + 1), floored: every integer reachable
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return int(min(max(math.floor(value), self.low), self.high))
        return int(rng.integers(self.low, self.high + 1))

    def grid_points(self, count: int) -> list:
        """Points of this dimension in grid search, sorted, without repeats."""
        if isinstance(self.grid, tuple):
            return list(self.grid)
        if self.kind == "categorical":
            return list(self.choices)
        count = self.grid if isinstance(self.grid, int) else count
        space = np.geomspace if self.log else np.linspace
        points = space(self.low, self.high, count)
        if self.kind == "int":
            return sorted({int(round(p)) for p in points})
        return [float(p) for p in points]

    def to_optuna(self):
        """This dimension as an Optuna distribution."""
        import optuna

        if self.kind == "categorical":
            return optuna.distributions.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)
        return optuna.distributions.FloatDistribution(float(self.low), float(self.high), log=self.log)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"type": self.kind}
        if self.kind == "categorical":
            out["choices"] = list(self.choices)
        else:
            out.update(low=self.low, high=self.high, log=self.log)
        if self.grid is not None:
            out["grid"] = list(self.grid) if isinstance(self.grid, tuple) else self.grid
        return out


def sample_point(space: tuple[Dimension, ...], rng: np.random.Generator) -> dict:
    """One point; dimensions are drawn in name order so the order in the config is irrelevant."""
    return {dim.name: dim.sample(rng) for dim in sorted(space, key=lambda d: d.name)}


#: the range a strategy schedules an unsearched fidelity over (Hyperband's example: 1 to 81)
DEFAULT_FIDELITY_RANGE = (1, 81)


def fidelity_range(space: tuple[Dimension, ...], fidelity: str, options: dict | None = None) -> tuple[int, int]:
    """The (lowest, highest) fidelity a multi-fidelity strategy schedules: the options'
    ``min_epochs``/``max_epochs`` when given, else the searched dimension's bounds (a
    categorical one's smallest and largest choice), else :data:`DEFAULT_FIDELITY_RANGE`."""
    options = options or {}
    dim = next((d for d in space if d.name == fidelity), None)
    if dim is None:
        low, high = DEFAULT_FIDELITY_RANGE
    elif dim.kind == "categorical":
        low, high = min(dim.choices), max(dim.choices)
    else:
        low, high = dim.low, dim.high
    return int(options.get("min_epochs", low)), int(options.get("max_epochs", high))


def searched(space: tuple[Dimension, ...], fidelity: str) -> bool:
    return any(d.name == fidelity for d in space)
