"""Population-based training (Jaderberg et al. 2017; Ray Tune's PopulationBasedTraining).

A population of ``population_size`` configurations trains in generations of
``interval`` epochs. After each generation the members are ranked by validation
loss; each of the bottom ``quantile`` copies the network state of a member of
the top ``quantile`` (exploit) and perturbs the hyperparameters that may change
during training (``learning_rate``, ``batch_size``: multiplied by 0.8 or 1.2 and
kept inside the space, or resampled with ``resample_probability``); the others
carry on with their own state. Width, depth and every other hyperparameter are
inherited, not perturbed. A trial is one member's generation: it continues the
state of the trial named in the ``parent`` column from ``start_epoch``.

Inside the space, like every strategy: a network trains at most the space's upper
bound of the fidelity (``space.epochs.high``; 81 when it is not searched), so a
population lives ``bound / interval`` generations and its last one ends exactly at
the bound (``interval`` must divide it). A budget larger than one population's
``population_size x bound`` epochs trains a new population (round), as Hyperband
runs bracket after bracket; member m of round r is configuration
``r x population_size + m`` (its first network's seed). Generations are
synchronous and every draw comes from (seed, generation, member): a run is
identical for any number of workers and after a resume. The budget counts
epochs trained (``interval`` per trial).

Options: ``population_size`` (8), ``interval`` (the divisor of the bound nearest the
low end of ``space.epochs``, or 5 when that divides it), ``quantile`` (0.25),
``resample_probability`` (0.25).
"""

from __future__ import annotations

import math

import numpy as np

from hpsearch.search.space import fidelity_range, sample_point, searched
from hpsearch.search.strategies._base import WAIT, Proposal, Strategy
from hpsearch.search.trial import TrialResult
from hpsearch.sections import Section, number

MUTABLE = ("learning_rate", "batch_size")  # what may change while a network trains


def bound_and_interval(space, fidelity: str, options: dict) -> tuple[int, int]:
    """The fidelity's upper bound and the generation length (see module doc)."""
    low, bound = fidelity_range(space, fidelity)
    if "interval" in options:
        return bound, int(options["interval"])
    low = low if searched(space, fidelity) else 5
    divisors = [d for d in range(1, bound + 1) if bound % d == 0]
    return bound, min(divisors, key=lambda d: (abs(d - low), d))


#: the most members a population may have (each is a network in memory)
MAX_POPULATION = 10_000


Members = number(int, f"an integer from 2 to {MAX_POPULATION:,}", ge=2, le=MAX_POPULATION)
Interval = number(int, "an integer >= 1", ge=1)
Quantile = number(float, "a number in (0, 0.5]", gt=0, le=0.5)
Probability = number(float, "a number from 0 to 1", ge=0, le=1)


class PBTOptions(Section):
    """``[strategy.pbt]``: members per population, epochs per generation (``interval``; default: a
    divisor of the fidelity's bound near its low end), the share exploited (``quantile``) and the
    chance a perturbed hyperparameter is drawn anew (``resample_probability``)."""

    population_size: Members = 8
    interval: Interval | None = None
    quantile: Quantile = 0.25
    resample_probability: Probability = 0.25


class PBTStrategy(Strategy):
    Options = PBTOptions
    schedules_fidelity = True
    not_replayable = ("a table holds curves trained from scratch, and PBT's exploited members go on with "
                      "the weights they inherit; run it live")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.population = int(self.options.get("population_size", 8))
        self.bound, self.interval = bound_and_interval(self.space, self.fidelity, self.options)
        self.generations = self.bound // self.interval  # per population (round)
        self.quantile = float(self.options.get("quantile", 0.25))
        self.resample = float(self.options.get("resample_probability", 0.25))
        self.searched = tuple(d for d in self.space if d.name != self.fidelity)
        self.generation = -1
        self.members: list[dict] = []  # current hyperparameters per member
        self.trial_of: dict[tuple[int, int], int] = {}  # (generation, member) -> trial
        self.values: dict[int, float] = {}  # member -> value in the current generation
        self.queue: list[Proposal] = []
        self.running: dict[int, int] = {}  # trial -> member
        self.best: tuple[float, int] | None = None  # (value, trial): its state is kept for the test

    def _rng(self, generation: int, member: int) -> np.random.Generator:
        return self.rng(generation, member)

    def ask(self, trial: int):
        if not self.queue:
            if self.running:
                return WAIT  # the generation is training
            self._next_generation()
        proposal = self.queue.pop(0)
        member = proposal.config % self.population
        self.trial_of[(self.generation, member)] = trial
        self.running[trial] = member
        return proposal

    def tell(self, result: TrialResult) -> None:
        member = self.running.pop(result.trial, None)
        if member is not None:
            self.values[member] = math.inf if result.value is None else result.value
        if result.value is not None and (self.best is None or (result.value, result.trial) < self.best):
            self.best = (result.value, result.trial)

    def test_proposal(self, best: TrialResult) -> Proposal:
        """The population's own network: the chosen trial's saved state, scored as it is
        (its hyperparameters changed while it trained: training them again from scratch
        would score another network)."""
        return Proposal(dict(best.params), best.config, parent=best.trial,
                        start_epoch=int(best.params[self.fidelity]))

    def _next_generation(self) -> None:
        self.generation += 1
        g = self.generation
        round_, step = divmod(g, self.generations)  # step: the generation within its population
        epochs = (step + 1) * self.interval  # the last step ends exactly at the bound
        parents = list(range(self.population))
        if step == 0:  # a new population
            self.members = [sample_point(self.searched, self._rng(g, m)) for m in range(self.population)]
        else:
            ranked = sorted(range(self.population), key=lambda m: (self.values.get(m, math.inf), m))
            cut = max(1, int(round(self.quantile * self.population)))
            top, bottom = ranked[:cut], ranked[-cut:]
            for member in bottom:
                rng = self._rng(g, member)
                donor = top[int(rng.integers(len(top)))]
                parents[member] = donor
                self.members[member] = self._explore(dict(self.members[donor]), rng)
        self.values = {}
        self.queue = [Proposal({**self.members[m], self.fidelity: epochs}, config=round_ * self.population + m,
                               parent=None if step == 0 else self.trial_of[(g - 1, parents[m])],
                               start_epoch=step * self.interval, keep_state=True) for m in range(self.population)]

    def _explore(self, params: dict, rng: np.random.Generator) -> dict:
        """Perturb the mutable hyperparameters, inside the space."""
        for dim in self.searched:
            if dim.name not in MUTABLE or dim.kind == "categorical":
                continue
            if rng.random() < self.resample:
                value = dim.sample(rng)
            else:
                value = params[dim.name] * (0.8 if rng.random() < 0.5 else 1.2)
                value = min(max(value, dim.low), dim.high)
            params[dim.name] = int(round(value)) if dim.kind == "int" else float(value)
        return params

    def states_needed(self) -> set[int]:
        """The states of the generation that the next one continues."""
        g = self.generation if not self.queue and not self.running else self.generation - 1
        needed = {t for (gen, _), t in self.trial_of.items() if gen == g}
        if self.best is not None:
            needed.add(self.best[1])
        return needed | {p.parent for p in self.queue if p.parent is not None}

    @classmethod
    def check_space(cls, name: str, options: dict, space, fidelity: str) -> str | None:
        bound, interval = bound_and_interval(space, fidelity, options)
        if bound % interval:
            divisors = ", ".join(str(d) for d in range(1, bound + 1) if bound % d == 0)
            return (f"interval: {interval} does not divide the space's bound of {fidelity} ({bound}), so the "
                    f"last generation would train past it; choose one of {divisors}")
        return None
