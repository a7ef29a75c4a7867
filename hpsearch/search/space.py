"""Search-space dimensions: sample, grid points, Optuna distributions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from hpsearch.models import estimators
from hpsearch.sections import Invalid, Section, invalid, show

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


class DimensionSection(Section):
    """``[space.NAME]``: ``type`` int or float with ``low``, ``high`` and ``log``, or categorical
    with ``choices``; ``grid``: how grid search covers it (a number of points, or the values)."""

    type: Literal["int", "float", "categorical"]
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    choices: list[Any] | None = Field(None, min_length=1)
    grid: int | list[Any] | None = Field(None, description="points for grid search: a count >= 1, or the values")

    @model_validator(mode="before")
    @classmethod
    def _categorical_by_its_choices(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" not in data:
            if "choices" not in data:
                raise invalid("type", f"missing; expected one of {', '.join(map(repr, KINDS))}")
            data = {**data, "type": "categorical"}
        return data

    @field_validator("low", "high", mode="before")
    @classmethod
    def _bound(cls, value: Any, info: ValidationInfo) -> Any:
        kind = info.data.get("type")
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            raise invalid("", f"expected an integer, got {show(value)}")
        if kind == "float" and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                or not math.isfinite(value)):
            raise invalid("", f"expected a finite number, got {show(value)}")
        return value

    @field_validator("grid", mode="before")
    @classmethod
    def _grid(cls, value: Any) -> Any:
        if not (isinstance(value, list) and value) and not (
                isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise invalid("", f"expected a number of points >= 1 or a list of values, got {show(value)}")
        return value

    @model_validator(mode="after")
    def _rules(self) -> "DimensionSection":
        given = self.model_fields_set
        if self.type == "categorical":
            if self.choices is None:
                raise invalid("choices", "expected a non-empty list, got None (NoneType)")
            for extra in ("low", "high", "log"):
                if extra in given:
                    raise invalid(extra, "not used by a categorical dimension; give choices only")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise invalid("choices", f"a choice is repeated in {self.choices}")
            return self
        for bound in ("low", "high"):
            if getattr(self, bound) is None:
                raise invalid(bound, f"missing; a {self.type} dimension needs low and high")
        if "choices" in given:
            raise invalid("choices", f"not used by a{'n' if self.type == 'int' else ''} {self.type} dimension; "
                          f"give low and high")
        if self.low > self.high:
            raise invalid("", f"low ({self.low}) must be <= high ({self.high})")
        if self.log and self.low <= 0:
            raise invalid("low", f"a log-scale range must start above 0, got {self.low}")
        return self

    def dimension(self, name: str) -> Dimension:
        grid = tuple(self.grid) if isinstance(self.grid, list) else self.grid
        if self.type == "categorical":
            return Dimension(name, self.type, choices=tuple(self.choices), grid=grid)
        return Dimension(name, self.type, low=self.low, high=self.high, log=self.log, grid=grid)


def check_values(space: tuple[Dimension, ...], cls: type) -> None:
    """Refuse, before any trial runs, values of the space the estimator ``cls`` would refuse."""
    for dim in space:
        for value in dim.choices if dim.kind == "categorical" else (dim.low, dim.high):
            problem = estimators.check_values(cls, {dim.name: value})
            if problem:
                raise Invalid(f"space.{dim.name}", f"{problem}; {dim.name} cannot take {value!r}")
