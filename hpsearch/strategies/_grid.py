"""Grid search over the cartesian product of every dimension's grid points.

Points per dimension: ``grid`` in the dimension's ``[space.*]`` table (a count,
log-spaced on log dimensions, or explicit values); otherwise the strategy option
``points``. The default ``points = "auto"`` takes, with a trial budget of N, the
smallest count k per numeric dimension whose grid has at least N points, so the
budget is spent; with an epoch or time budget it takes 4.

Order: when the budget covers the whole grid, points are visited in
lexicographic order of the sorted dimension names. When it does not, the grid is
visited in a seeded random order (a permutation drawn from the strategy seed),
so that a partial grid is spread over the space instead of piling into one
corner; a warning says how much of the grid the budget covers. A point is never
proposed twice: trial ``i`` is the ``i``-th point of that order.

Epoch curves for free (option ``epoch_curves``, on by default): when ``epochs``
has several grid points, the points that differ only in epochs share one
training run. The point with the most epochs trains (these come first); the
others are answered from its validation curve, which after k epochs is exactly
what training for k epochs gives with the same seed, so they cost no epochs and
share its seed. They are still trials of their own in the tables.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from hpsearch.errors import ConfigError
from hpsearch.strategies._base import WAIT, Proposal, Strategy
from hpsearch.trial import TrialResult


MAX_POINTS = 1_000_000  # a grid is built as a list of points: its size is checked first


class GridStrategy(Strategy):
    option_names = ("points", "epoch_curves")

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
        if self.max_trials is None or self.max_trials < len(self.points):
            order = np.random.default_rng(self.seed).permutation(len(self.points))
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
        """Reorder the points to be run: one trainer per group of points equal but for
        epochs (its most epochs), the trainers first, then the points they answer."""
        chosen = self.points[: self.max_trials] if self.max_trials is not None else self.points
        groups: dict[tuple, list[dict]] = {}
        for point in chosen:
            if "epochs" not in point:
                return
            key = tuple((k, repr(v)) for k, v in point.items() if k != "epochs")
            groups.setdefault(key, []).append(point)
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

    @classmethod
    def check_options(cls, name: str, options: dict) -> str | None:
        problem = super().check_options(name, options)
        points = options.get("points", "auto")
        if problem is None and points != "auto" and not (
                isinstance(points, int) and not isinstance(points, bool) and points >= 1):
            problem = f"points: expected \"auto\" or an integer >= 1, got {points!r}"
        if problem is None and not isinstance(options.get("epoch_curves", True), bool):
            problem = f"epoch_curves: expected true or false, got {options['epoch_curves']!r}"
        return problem
