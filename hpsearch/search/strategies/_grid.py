"""Grid search over the cartesian product of every dimension's grid points.

Points per dimension: ``grid`` in the dimension's ``[space.*]`` table (a count,
log-spaced on log dimensions, or explicit values); otherwise the strategy option
``points``. The default ``points = "auto"`` takes, with a trial budget of N, the
smallest count k per numeric dimension whose grid has at least N points, so the
budget is spent; with an epoch or time budget it takes 4.

Order: when a trial budget covers the whole grid, points are visited in
lexicographic order of the sorted dimension names. Otherwise (a trial budget
smaller than the grid, or a budget in epochs or seconds, which may run out
anywhere) the grid is visited in a space-filling order over every dimension,
epochs included: each next point is the one farthest from the points already
visited (maximin on the grid indices scaled to [0, 1]), ties broken by the
strategy seed, so a partial grid is spread over the space instead of piling
into one corner or one epochs value, and differs between repetitions. (Grids of
more than 5,000 points take a seeded random order.) A warning says how much of
the grid a trial budget covers. A point is never proposed twice: trial ``i`` is
the ``i``-th point of that order.

Epoch curves for free (option ``epoch_curves``, on by default): a point that
differs from an earlier point only in epochs, and asks for no more epochs than
that one trains, is answered from its validation curve, which after k epochs is
exactly what training for k epochs gives with the same seed: it costs no epochs
and shares that point's seed. It is still a trial of its own in the tables. In
lexicographic order (the whole grid covered) the point with the most epochs of
each group trains first, so every other point of the group is read.
"""

from __future__ import annotations

import itertools
import math
import warnings

from typing import Literal

import numpy as np
from pydantic import field_validator

from hpsearch.errors import ConfigError
from hpsearch.search.strategies._base import WAIT, Proposal, Strategy
from hpsearch.search.trial import TrialResult
from hpsearch.sections import Section, invalid, number

MAX_POINTS = 1_000_000  # a grid is built as a list of points: its size is checked first
MAX_MAXIMIN = 5_000  # larger grids take a random order (the maximin order costs n^2)


def space_filling_order(axes: list[list], rng: np.random.Generator) -> np.ndarray:
    """The points of the grid ``itertools.product(*axes)`` in maximin order (see module doc)."""
    shape = [len(axis) for axis in axes]
    n = math.prod(shape)
    if n > MAX_MAXIMIN:
        return rng.permutation(n)
    index = np.array(list(itertools.product(*[range(k) for k in shape])), dtype=float).reshape(n, len(shape))
    coords = index / np.maximum(np.array(shape, dtype=float) - 1, 1)
    key = rng.random(n)
    order = np.empty(n, dtype=np.int64)
    distance = np.full(n, np.inf)
    for k in range(n):
        candidates = np.flatnonzero(distance == distance.max())
        chosen = candidates[np.argmax(key[candidates])]
        order[k] = chosen
        distance = np.minimum(distance, ((coords - coords[chosen]) ** 2).sum(axis=1))
        distance[chosen] = -1.0
    return order


Count = number(int, f"\"auto\" or an integer from 1 to {MAX_POINTS:,}", ge=1, le=MAX_POINTS)


class GridOptions(Section):
    """``[strategy.grid]``: ``points`` per numeric dimension ("auto": as many as the budget allows),
    and whether a trial of more epochs is answered from the curve of the same point (``epoch_curves``)."""

    points: Literal["auto"] | Count = "auto"
    epoch_curves: bool = True

    @field_validator("points", mode="before")
    @classmethod
    def _auto_or_count(cls, value):
        if value != "auto" and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_POINTS):
            raise invalid("", f"expected \"auto\" or an integer from 1 to {MAX_POINTS:,}, got {str(value)[:40]}")
        return value


class GridStrategy(Strategy):
    Options = GridOptions

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        count = self._points_per_dimension()
        axes = [dim.grid_points(count) for dim in self.space]
        size = math.prod(len(axis) for axis in axes)
        if size > MAX_POINTS:
            raise ConfigError(f"strategy.grid: the grid has {size:,} points, more than the limit of "
                              f"{MAX_POINTS:,}; give fewer points per dimension (grid = N or a list)")
        self.points = [dict(zip((d.name for d in self.space), values))
                       for values in itertools.product(*axes)]
        self.covers = self.max_trials is not None and self.max_trials >= len(self.points)
        if not self.covers:
            order = space_filling_order(axes, np.random.default_rng(self.seed))
            self.points = [self.points[i] for i in order]
        if self.max_trials is not None and self.max_trials != len(self.points):
            covered = min(self.max_trials, len(self.points))
            rule = ("a seeded random subset of it" if self.max_trials < len(self.points)
                    else "the whole grid, then stops early")
            warnings.warn(f"grid has {len(self.points)} points and the budget is {self.max_trials} "
                          f"trials: grid search runs {covered}, {rule}", stacklevel=2)
        self.answered_by: dict[int, int] = {}  # trial -> the trial whose curve answers it
        self.told: dict[int, TrialResult] = {}  # the trainers' curves answer the others
        if self.options.get("epoch_curves", True):
            self._share_epoch_curves()

    def _share_epoch_curves(self) -> None:
        if not self.points or "epochs" not in self.points[0]:
            return
        if not self.covers:
            self._read_from_earlier()
            return
        self._trainers_first()

    @staticmethod
    def _group(point: dict) -> tuple:
        return tuple((k, repr(v)) for k, v in point.items() if k != "epochs")

    def _read_from_earlier(self) -> None:
        """In the given order: a point is read from the curve of the first earlier point of its
        group that trains at least as many epochs (and trains itself when there is none)."""
        trained: dict[tuple, list[tuple[int, int]]] = {}  # group -> (trial, epochs) of its trainers
        for trial, point in enumerate(self.points):
            group = trained.setdefault(self._group(point), [])
            source = next((t for t, epochs in group if epochs >= point["epochs"]), None)
            if source is None:
                group.append((trial, point["epochs"]))
            else:
                self.answered_by[trial] = source

    def _trainers_first(self) -> None:
        """Reorder the points to be run: one trainer per group of points equal but for
        epochs (its most epochs), the trainers first, then the points they answer."""
        chosen = self.points[: self.max_trials] if self.max_trials is not None else self.points
        groups: dict[tuple, list[dict]] = {}
        for point in chosen:
            groups.setdefault(self._group(point), []).append(point)
        if all(len(group) == 1 for group in groups.values()):
            return
        trainers, answered = [], []
        for group in groups.values():
            group = sorted(group, key=lambda p: -p["epochs"])
            trainers.append(group[0])
            answered += [(len(trainers) - 1, point) for point in group[1:]]
        self.points = trainers + [point for _, point in answered] + self.points[len(chosen):]
        self.answered_by = {len(trainers) + i: t for i, (t, _) in enumerate(answered)}

    def _points_per_dimension(self) -> int:
        points = self.options.get("points", "auto")
        if points != "auto":
            return int(points)
        if self.max_trials is None:
            return 4
        fixed = math.prod(len(d.grid_points(1)) for d in self.space
                          if d.kind == "categorical" or d.grid is not None)
        free = sum(1 for d in self.space if d.kind != "categorical" and d.grid is None)
        k = 1
        while free and fixed * k**free < self.max_trials and k < 10_000:
            k += 1
        return max(k, 2)

    @property
    def size(self) -> int:
        return len(self.points)

    def ask(self, trial: int) -> dict | Proposal | None:
        if trial >= len(self.points):
            return None
        trainer = self.answered_by.get(trial)
        if trainer is None:
            return dict(self.points[trial])
        if trainer not in self.told:
            return WAIT  # its curve is not there yet
        params = dict(self.points[trial])
        return Proposal(params, config=trainer, answer=self._read_curve(trainer, params["epochs"]))

    def _read_curve(self, trainer: int, epochs: int) -> dict:
        """The result of ``epochs`` epochs, read from the validation curve of ``trainer``."""
        source = self.told[trainer]
        curve = source.val_curve or []
        if len(curve) >= epochs and curve[epochs - 1] is not None:
            return {"val_loss": float(curve[epochs - 1]), "val_curve": list(curve[:epochs]),
                    "message": f"read from the epoch curve of trial {trainer}"}
        return {"status": source.status if source.status != "ok" else "failed",
                "message": f"trial {trainer} ({source.status}) has no epoch {epochs}"}

    def tell(self, result: TrialResult) -> None:
        self.told[result.trial] = result
