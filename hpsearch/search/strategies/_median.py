"""Golovin et al.'s median stopping rule (2017, Google Vizier).

Not Optuna's ``MedianPruner``, which compares a trial's intermediate value at a step with the
median of the other trials' values at that step; this rule compares its best value so far with
the median of the completed trials' running averages, as the paper defines it.

Proposals are random (``sampler = "random"``, as random search draws them) or
Optuna's TPE (``sampler = "tpe"``). Every trial reports its validation loss
after each epoch (the backend's epoch channel). As Golovin et al. define the
rule, a trial is stopped at epoch e when its best value so far is strictly worse
than the median, over the *completed* trials that reached epoch e, of their
running averages (the mean of their first e values); stopped trials never count
in the median. As Optuna's ``MedianPruner`` guards it, nothing is stopped before
``n_startup_trials`` trials have completed, nor at an epoch
e <= ``n_warmup_steps``, nor with fewer than ``n_min_trials`` completed trials
at e. A stopped trial keeps its proposed ``epochs``, has ``status = "stopped"``
and the ``epochs_trained`` it got; like a pruned Optuna trial it is not a
candidate for the best configuration. It runs asynchronously (a new trial the
moment one ends): its results depend on timing, by design of the rule.

Options: ``sampler`` ("random"), ``n_startup_trials`` (5), ``n_warmup_steps`` (0),
``n_min_trials`` (1): Optuna's defaults; ``rule``: ``"running-average"`` (the paper's, the
default) or ``"same-step"`` (Optuna's ``MedianPruner``: the median of the completed trials'
values at the same epoch).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hpsearch.search.space import sample_point
from hpsearch.search.strategies._base import Asynchrony, Proposal, Strategy
from hpsearch.search.trial import CONTINUE, STOP, Decision, TrialResult
from hpsearch.sections import number


RULES = ("running-average", "same-step")


NonNegative = number(int, "an integer >= 0", ge=0)


class MedianOptions(Asynchrony):
    """``[strategy.median-stop]``: the ``sampler`` of new trials, how many finish before any stops
    (``n_startup_trials``), epochs never stopped (``n_warmup_steps``), the fewest trials a median
    needs (``n_min_trials``) and the ``rule`` (see the module doc)."""

    sampler: Literal["random", "tpe"] = "random"
    n_startup_trials: NonNegative = 5
    n_warmup_steps: NonNegative = 0
    n_min_trials: NonNegative = 1
    rule: Literal[RULES] = RULES[0]


class MedianStopStrategy(Strategy):
    Options = MedianOptions
    asynchronous = True
    replay_by_ask = False  # the order of results shaped it: a resume tells the finished trials
    needs_epoch_reports = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.startup = int(self.options.get("n_startup_trials", 5))
        self.warmup = int(self.options.get("n_warmup_steps", 0))
        self.min_trials = int(self.options.get("n_min_trials", 1))
        self.same_step = self.options.get("rule", RULES[0]) == "same-step"
        self.tpe = None
        if self.options.get("sampler", "random") == "tpe":
            from hpsearch.search.strategies._optuna import OptunaStrategy

            self.tpe = OptunaStrategy("tpe", self.space, self.seed, {"batch_size": 1}, 1, self.max_trials,
                                      self.fidelity)
        self.curves: list[np.ndarray] = []  # cumulative sums of the completed trials' curves
        self.best: dict[int, float] = {}  # running trial -> best value so far

    def ask(self, trial: int) -> Proposal:
        if self.tpe is not None:
            params = self.tpe.ask(trial)
        else:
            params = sample_point(self.space, self.rng(trial))
        self.best[trial] = np.inf
        return Proposal(params, report_epochs=True)

    def on_epoch(self, trial: int, epoch: int, value: float) -> Decision:
        best = min(self.best.get(trial, np.inf), value)
        self.best[trial] = best
        if epoch <= self.warmup or len(self.curves) < self.startup:
            return CONTINUE
        if self.same_step:  # Optuna's MedianPruner: the completed trials' values at this epoch
            averages = [c[epoch - 1] - (c[epoch - 2] if epoch > 1 else 0.0) for c in self.curves if len(c) >= epoch]
        else:  # Golovin et al.: their running averages over the first ``epoch`` epochs
            averages = [c[epoch - 1] / epoch for c in self.curves if len(c) >= epoch]
        if len(averages) >= self.min_trials and best > float(np.median(averages)):
            return STOP
        return CONTINUE

    def tell(self, result: TrialResult) -> None:
        self.best.pop(result.trial, None)
        curve = np.array([v for v in (result.val_curve or []) if v is not None], dtype=float)
        if result.status == "ok" and len(curve) and np.all(np.isfinite(curve)):  # completed trials only
            self.curves.append(np.cumsum(curve))
        if self.tpe is not None:
            self.tpe.tell(result)
