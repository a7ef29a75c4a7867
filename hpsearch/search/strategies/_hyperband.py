"""Hyperband: successive halving in several brackets, over epochs.

Epochs are the fidelity, not a searched value: the other dimensions of the space
are drawn at random (each configuration from its own seed, like random search),
and ``epochs`` is set by the schedule. With ``min_epochs`` r, ``max_epochs`` R and
reduction factor eta, there are s_max + 1 = floor(log_eta(R / r)) + 1 brackets;
bracket s starts n_s = ceil((s_max + 1) / (s + 1) * eta^s) configurations at
R * eta^-s epochs and keeps the best 1/eta of each rung for the next, eta times
longer, up to R. A promoted configuration continues from its saved network
state (weights and random generator), so it pays only the new epochs and ends
bit for bit where training straight through would.

Brackets run one after the other, most exploratory first (as in the paper), and
a rung waits for the previous rung of its bracket (synchronous successive
halving): the engine runs each rung as a wave, beside the other searches of the
experiment. When every bracket is done, a new iteration starts with new
configurations, until the budget is spent. Decisions depend only on results, told in trial order: a run
is identical for any number of workers, and after a resume.

Options: ``min_epochs``, ``max_epochs`` (default: the range of ``space.epochs``),
``eta`` (3), ``brackets`` (how many, the most exploratory first; default all).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

from pydantic import model_validator

from hpsearch.search.space import fidelity_range, sample_point, searched
from hpsearch.sections import Section, invalid, number
from hpsearch.search.strategies._base import WAIT, Proposal, Strategy
from hpsearch.search.trial import TrialResult


def rung_epochs(min_epochs: int, max_epochs: int, eta: int) -> list[int]:
    """Epochs of every rung, fewest first, ending exactly at ``max_epochs``."""
    levels = int(math.floor(math.log(max_epochs / min_epochs, eta) + 1e-9))
    return sorted({max(min_epochs, int(round(max_epochs / eta**k))) for k in range(levels + 1)})


@dataclass
class _Bracket:
    rungs: list[int]  # epochs per rung of this bracket
    size: int  # configurations in its first rung
    members: list[int] = field(default_factory=list)  # configuration numbers in the current rung
    rung: int = 0
    jobs: dict[int, int] = field(default_factory=dict)  # trial -> config, current rung
    results: dict[int, float] = field(default_factory=dict)  # config -> value at current rung
    queue: list = field(default_factory=list)  # proposals not asked yet
    started: bool = False  # its configurations are drawn when it starts (BOHB's model sees the others)

    @property
    def done(self) -> bool:
        return self.rung >= len(self.rungs)


AtLeastOne = number(int, "an integer >= 1", ge=1)
Eta = number(int, "an integer >= 2", ge=2)


class MultiFidelityOptions(Section):
    """``[strategy.asha]`` and the rungs of every Hyperband-like strategy: epochs from ``min_epochs``
    to ``max_epochs`` (default: the fidelity's range in the space), growing ``eta``-fold."""

    min_epochs: AtLeastOne | None = None
    max_epochs: AtLeastOne | None = None
    eta: Eta = 3

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_epochs is not None and self.max_epochs is not None and self.min_epochs > self.max_epochs:
            raise invalid("", f"min_epochs ({self.min_epochs}) must be <= max_epochs ({self.max_epochs})")
        return self


class HyperbandOptions(MultiFidelityOptions):
    """``[strategy.hyperband]``: the rungs, and how many ``brackets`` (default: all)."""

    brackets: AtLeastOne | None = None


class MultiFidelityBase(Strategy):
    """What Hyperband and ASHA share: the rungs, configurations and their seeds."""

    Options = HyperbandOptions
    schedules_fidelity = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.min_epochs, self.max_epochs = fidelity_range(self.space, self.fidelity, self.options)
        if not searched(self.space, self.fidelity) and "max_epochs" not in self.options:
            warnings.warn(f"{self.name}: {self.fidelity} is not searched; it schedules {self.fidelity} from "
                          f"{self.min_epochs} to {self.max_epochs} (give [space.{self.fidelity}] or "
                          f"[strategy.{self.name}] min_epochs and max_epochs to choose)")
        self.eta = int(self.options.get("eta", 3))
        self.levels = rung_epochs(self.min_epochs, self.max_epochs, self.eta)
        self.searched = tuple(d for d in self.space if d.name != self.fidelity)
        self.configs: dict[int, dict] = {}
        self.next_config = 0
        self.trial_of: dict[tuple[int, int], int] = {}  # (config, rung epochs) -> trial

    def new_config(self) -> int:
        """The next configuration, drawn from its own seed (independent of order)."""
        number = self.next_config
        self.next_config += 1
        rng = self.rng(number)
        self.configs[number] = sample_point(self.searched, rng)
        return number

    def proposal(self, config: int, epochs: int, keep: bool) -> Proposal:
        below = [e for e in self.levels if e < epochs and (config, e) in self.trial_of]
        parent = self.trial_of[(config, below[-1])] if below else None
        return Proposal({**self.configs[config], self.fidelity: epochs}, config=config, parent=parent,
                        start_epoch=below[-1] if below else 0, keep_state=keep)


class HyperbandStrategy(MultiFidelityBase):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        s_max = len(self.levels) - 1
        count = self.options.get("brackets", s_max + 1)
        self.bracket_shapes = []
        for s in range(s_max, s_max - min(count, s_max + 1), -1):
            n = math.ceil((s_max + 1) / (s + 1) * self.eta**s)
            self.bracket_shapes.append((n, self.levels[s_max - s:]))
        self.brackets: list[_Bracket] = []

    def _new_iteration(self) -> None:
        self.brackets = [_Bracket(rungs, n) for n, rungs in self.bracket_shapes]

    def _start(self, bracket: _Bracket) -> None:
        """Draw the bracket's configurations (in bracket order: the numbering, and so
        each configuration's seed, is the same as drawing them all at once)."""
        bracket.started = True
        bracket.members = [self.new_config() for _ in range(bracket.size)]
        rungs = bracket.rungs
        bracket.queue = [self.proposal(c, rungs[0], len(rungs) > 1) for c in bracket.members]

    def ask(self, trial: int):
        """The next job of the first unfinished bracket: brackets run one after the
        other, most exploratory first, as in the paper (each rung a wave)."""
        if not self.brackets or all(b.done for b in self.brackets):
            self._new_iteration()
        bracket = next(b for b in self.brackets if not b.done)
        if not bracket.started:
            self._start(bracket)
        if not bracket.queue:
            return WAIT  # the rung is running; the next one needs its results
        proposal = bracket.queue.pop(0)
        bracket.jobs[trial] = proposal.config
        self.trial_of[(proposal.config, proposal.params[self.fidelity])] = trial
        return proposal

    def tell(self, result: TrialResult) -> None:
        for bracket in self.brackets:
            if result.trial in bracket.jobs:
                value = result.value
                bracket.results[bracket.jobs.pop(result.trial)] = math.inf if value is None else value
                if not bracket.jobs and not bracket.queue:
                    self._promote(bracket)
                return

    def _promote(self, bracket: _Bracket) -> None:
        """The best 1/eta of the rung go on to the next (ties: lower configuration number)."""
        results = bracket.results
        ranked = sorted(results, key=lambda c: (results[c], c))
        bracket.rung += 1
        bracket.results = {}
        if bracket.done:
            return
        keep = max(1, len(ranked) // self.eta)
        bracket.members = [c for c in ranked[:keep] if not math.isinf(results[c])]  # not the failed
        last = bracket.rung == len(bracket.rungs) - 1
        epochs = bracket.rungs[bracket.rung]
        bracket.queue = [self.proposal(c, epochs, not last) for c in bracket.members]
        if not bracket.queue:  # every configuration failed: nothing to go on with
            bracket.rung = len(bracket.rungs)

    def states_needed(self) -> set[int]:
        """States of configurations that are queued for, or may reach, a next rung."""
        needed = set()
        for bracket in self.brackets:
            for proposal in bracket.queue:
                if proposal.parent is not None:
                    needed.add(proposal.parent)
            if not bracket.done and bracket.rung < len(bracket.rungs) - 1:
                epochs = bracket.rungs[bracket.rung]
                needed |= {self.trial_of[(c, epochs)] for c in bracket.members
                           if (c, epochs) in self.trial_of}
        return needed
