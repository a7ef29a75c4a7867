"""Budgets, and the state of one search: a strategy in one repetition.

A budget is counted per search, in trials, in epochs trained (compute-fair: a
strategy that prefers many epochs spends more) or in seconds of training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydantic import Field, field_validator, model_validator

from hpsearch.sections import LIMITS, Section, invalid
from hpsearch.search.strategies import Proposal, Strategy
from hpsearch.search.trial import TrialResult

KINDS = ("trials", "epochs", "seconds")


@dataclass(frozen=True)
class Budget:
    """Per strategy and repetition: stop after this many trials, epochs or seconds."""

    kind: str = "trials"
    amount: float = 20


class BudgetSection(Section):
    """``[budget]``: exactly one of ``trials``, ``epochs`` (iterations of the estimator's fidelity,
    summed over a search's trials) or ``seconds`` (of training), per strategy and repetition."""

    trials: int | None = Field(None, ge=1, le=LIMITS["trials"], description="trials per search")
    epochs: int | None = Field(None, ge=1, le=LIMITS["epochs"], description="epochs trained per search")
    seconds: float | None = Field(None, gt=0, le=LIMITS["seconds"], allow_inf_nan=False,
                                  description="seconds of training per search")

    @field_validator("trials", "epochs", "seconds", mode="before")
    @classmethod
    def _within_limits(cls, value, info):
        if isinstance(value, int) and not isinstance(value, bool) and value < 1 and info.field_name != "seconds":
            raise invalid("", f"must be >= 1, got {value}")
        if isinstance(value, float) and not math.isfinite(value):
            raise invalid("", f"expected a finite number, got {value}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not 0 < value <= LIMITS[info.field_name]:
            raise invalid("", f"must be > 0 and at most {LIMITS[info.field_name]:,}, got {value}")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> "BudgetSection":
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise invalid("", f"give exactly one of {', '.join(KINDS)}, got {given or 'none'}")
        return self

    @property
    def budget(self) -> Budget:
        kind = next(k for k in KINDS if getattr(self, k) is not None)
        return Budget(kind, getattr(self, kind))


@dataclass
class Search:
    """One strategy in one repetition, and its bookkeeping."""

    strategy: Strategy
    repetition: int
    data: str
    finished: dict[int, TrialResult] = field(default_factory=dict)
    asked: dict[int, Proposal] = field(default_factory=dict)
    next_trial: int = 0
    exhausted: bool = False
    epochs_spent: int = 0
    seconds_used: float = 0.0
    best: TrialResult | None = None

    @property
    def name(self) -> str:
        return self.strategy.name

    def add(self, result: TrialResult) -> None:
        """A finished trial; the best one is kept up to date (ties: lowest trial number)."""
        self.finished[result.trial] = result
        self.seconds_used += result.seconds
        if result.value is not None and (
                self.best is None or (result.value, result.trial) < (self.best.value, self.best.trial)):
            self.best = result


MAX_WAVE = 1000


class Meter:
    """Counts what searches spend against ``budget``.

    An epoch budget counts iterations of the estimator's ``fidelity`` (epochs of
    the network); ``default_epochs`` is the count of a trial whose parameters do
    not set it.
    """

    def __init__(self, budget: Budget, default_epochs: int, fidelity: str = "epochs"):
        self.kind = budget.kind
        self.amount = budget.amount
        self.default_epochs = default_epochs
        self.fidelity = fidelity

    def epochs_of(self, params: dict) -> int:
        return int(params.get(self.fidelity, self.default_epochs))

    def cost(self, proposal: Proposal, result: TrialResult | None = None) -> int:
        """Epochs a trial counts: what it will train when asked; once finished, what it
        did train (a pruned or diverged trial trains less), at least 1 so that failing
        trials still spend budget; a trial the strategy answered itself costs nothing."""
        if proposal.answer is not None:
            return 0
        if result is not None:
            return max(int(result.epochs_trained or 0), 1)
        return self.epochs_of(proposal.params) - proposal.start_epoch

    def left(self, search: Search) -> bool:
        if self.kind == "trials":
            return search.next_trial < self.amount
        if self.kind == "epochs":
            return search.epochs_spent < self.amount
        return search.seconds_used < self.amount

    def time_left(self, search: Search) -> float | None:
        """Seconds of training a trial of ``search`` may take (a seconds budget), or None."""
        return max(self.amount - search.seconds_used, 0.0) if self.kind == "seconds" else None

    def wave_limit(self, strategy: Strategy, workers: int) -> int:
        """Trials to ask at once: the strategy's batch; a time budget is checked
        between waves of one trial per worker; otherwise at most MAX_WAVE, so a huge
        budget costs nothing up front (the proposals do not depend on it)."""
        if strategy.batch_size is None and self.kind == "seconds":
            return workers
        return strategy.batch_size or max(MAX_WAVE, workers)

    def expected_trials(self, searches: list[Search]) -> int | None:
        """Trials the searches will run in all, when the budget says (for a progress bar)."""
        if self.kind != "trials":
            return None
        return int(sum(min(self.amount, s.strategy.size if s.strategy.size is not None else self.amount)
                       for s in searches))
