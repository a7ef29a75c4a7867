"""The protocol every search strategy speaks: ``ask``, ``tell``, ``on_epoch``.

A strategy never trains and never reads files. It proposes parameters
(``ask``), hears every finished trial's whole record (``tell``, a
:class:`~hpsearch.search.trial.TrialResult`) and, for the trials it asked to report
epochs, each epoch's validation value while they train (``on_epoch``, answering
continue or stop). Trials are numbered 0, 1, 2, ... within one strategy and
repetition; a strategy must give the same answer to ``ask(i)`` whatever the
number of workers, so that random and grid results do not depend on ``n_jobs``.
The loop reads only what this protocol declares.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from hpsearch.search.space import Dimension
from typing import Literal

from pydantic import Field

from hpsearch.sections import Invalid, Section, check, number
from hpsearch.search.trial import CONTINUE, Decision, TrialResult


Workers = number(int, "an integer >= 1", ge=1)


class Asynchrony(Section):
    """The options of a strategy whose trials end at different times (asynchronous ones, and
    those that stop trials on their epoch reports): ``workers``, the trials one search keeps in
    flight (default: the config file's n_jobs), and the ``clock`` its decisions follow: "epochs"
    (virtual workers in virtual time: the same trials for any n_jobs) or "wall" (real time:
    true asynchrony, results depend on timing). See :mod:`hpsearch.search.schedule`."""

    workers: Workers | None = Field(None, description="trials one search keeps in flight (default: n_jobs)")
    clock: Literal["epochs", "wall"] = Field("epochs", description="epochs: virtual, reproducible; wall: real time")


@dataclass(frozen=True)
class Proposal:
    """What ``ask`` may return instead of a plain dict of parameters.

    Attributes
    ----------
    params : dict
        The hyperparameters; ``epochs`` is the total to train to.
    config : int or None
        The configuration's number, which picks its network seed (paired across
        strategies); None means the trial number.
    parent : int or None
        A trial of the same configuration whose saved state this one continues
        (multi-fidelity: a promotion), or None to train from scratch.
    start_epoch : int
        Epochs the parent trained: this trial trains ``epochs - start_epoch``.
    keep_state : bool
        Save the network state at the end, for a later promotion.
    report_epochs : bool
        The worker reports each epoch's validation value to ``on_epoch``, which
        may stop the trial.
    answer : dict or None
        The strategy answers this trial itself, without training: the result's
        values (``val_loss``, ``val_curve``, ``status``, ``message``). It costs
        no epochs.
    """

    params: dict
    config: int | None = None
    parent: int | None = None
    start_epoch: int = 0
    keep_state: bool = False
    report_epochs: bool = False
    answer: dict | None = None


class _Wait:
    def __repr__(self) -> str:
        return "WAIT"


#: ``ask`` returns WAIT when it can propose nothing before more results are told.
WAIT = _Wait()


class Strategy(ABC):
    """Base class of search strategies.

    Parameters
    ----------
    name : str
        As the config names it (``random``, ``grid``, ``tpe``, ``optuna:QMCSampler``).
    space : tuple of Dimension
        The search space.
    seed : numpy.random.SeedSequence
        Derived from (root seed, strategy, repetition); the only randomness allowed.
    options : dict
        The config's ``[strategy.<name>]`` table.
    n_jobs : int
        Workers, for strategies that ask in batches.
    max_trials : int or None
        The trial budget when the budget is counted in trials.
    fidelity : str
        The estimator's iteration count (``epochs`` for the network, ``max_iter``
        or ``n_estimators`` for a scikit-learn estimator with warm start), which
        multi-fidelity strategies schedule.

    Attributes
    ----------
    batch_size : int or None
        None: proposals do not depend on results, so the engine may ask for all
        trials at once. k: the engine asks at most k trials, then waits for all of
        them to be told before asking again (reproducible adaptive search).
    """

    batch_size: int | None = None
    #: keys accepted in the ``[strategy.<name>]`` table
    #: the options of ``[strategy.NAME]``, declared (none by default)
    Options: type[Section] = Section
    #: on resume, the engine replays finished trials by asking for them again, in
    #: order, and telling their results (True), or only by telling them (False)
    replay_by_ask: bool = True
    #: run trials as workers free up, without waves (results then depend on timing)
    asynchronous: bool = False
    #: schedules the fidelity (the estimator must have one)
    schedules_fidelity: bool = False
    #: needs the validation value of every epoch while trials train (the network reports it)
    needs_epoch_reports: bool = False
    #: why a tabular replay would run another algorithm than this one (None: it replays as it runs)
    not_replayable: str | None = None

    def __init__(self, name: str, space: tuple[Dimension, ...], seed: np.random.SeedSequence,
                 options: dict | None = None, n_jobs: int = 1, max_trials: int | None = None,
                 fidelity: str = "epochs"):
        self.name = name
        self.fidelity = fidelity
        self.space = tuple(sorted(space, key=lambda d: d.name))
        self.seed = seed
        self.options = self.filled(options or {})
        self.n_jobs = n_jobs
        self.max_trials = max_trials

    def rng(self, *key: int) -> np.random.Generator:
        """A generator of its own for ``key`` (a trial, a bracket, a generation and member...),
        spawned from the strategy's seed: what it draws never depends on what else was drawn."""
        return np.random.default_rng(np.random.SeedSequence(self.seed.entropy, spawn_key=(*self.seed.spawn_key, *key)))

    @abstractmethod
    def ask(self, trial: int) -> dict | Proposal | _Wait | None:
        """Parameters for trial number ``trial``; None when nothing is left to try,
        WAIT when nothing can be proposed until more results are told."""

    def tell(self, result: TrialResult) -> None:
        """A finished trial, the whole record (``result.value`` is None when it failed
        or diverged). A resume also tells trials that an earlier run asked for."""

    def on_epoch(self, trial: int, epoch: int, value: float) -> Decision:
        """The validation value of trial ``trial`` after ``epoch`` epochs, while it
        trains (only trials proposed with ``report_epochs``): CONTINUE or STOP."""
        return CONTINUE

    def states_needed(self) -> set[int]:
        """Trials whose saved network state may still be continued."""
        return set()

    def test_proposal(self, best: TrialResult) -> Proposal:
        """How to score the chosen trial on the test split: by default its configuration
        trained again from scratch with its seed; a strategy whose networks were trained
        under a schedule (PBT) names the trial whose saved state to score instead."""
        return Proposal(dict(best.params), best.config)

    @property
    def size(self) -> int | None:
        """How many trials it can propose at most (None: no limit of its own)."""
        return None

    @classmethod
    def check_space(cls, name: str, options: dict, space: tuple[Dimension, ...], fidelity: str) -> str | None:
        """A one-line problem with the options given the space, or None (called once the space is known)."""
        return None

    @classmethod
    def filled(cls, options: dict) -> dict:
        """The options with the defaults of those not given (declared in :attr:`Options`)."""
        return {**cls.Options.model_construct().given(), **options}

    @classmethod
    def check_options(cls, name: str, options: dict) -> str | None:
        """A one-line problem with the options, or None when they are fine."""
        try:
            check(cls.Options, options)
        except Invalid as exc:
            if exc.message.startswith("unknown key"):
                return f"unknown option '{exc.key}' for strategy '{name}'{exc.message[len('unknown key'):]}"
            return str(exc)
        return None
