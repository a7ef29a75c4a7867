"""ASHA: asynchronous successive halving over epochs.

The rungs are those of Hyperband's most exploratory bracket (``min_epochs``,
``min_epochs * eta``, ..., ``max_epochs``). Whenever a worker is free, ASHA
promotes a configuration if one is in the top 1/eta of its rung's results so
far and not promoted yet (highest rung first); otherwise it starts a new
configuration at the lowest rung. No worker ever waits for a rung to fill: the
engine runs ASHA asynchronously, asking as soon as a trial ends, so its results
depend on timing and are not reproducible run to run (by design of the method).
A promoted configuration continues from its saved state, as in Hyperband.

Options: ``min_epochs``, ``max_epochs`` (default: the range of ``space.epochs``), ``eta`` (3).
"""

from __future__ import annotations

import math

from hpsearch.search.strategies._base import Asynchrony, Proposal
from hpsearch.search.strategies._hyperband import MultiFidelityBase, MultiFidelityOptions
from hpsearch.search.trial import TrialResult


class ASHAOptions(MultiFidelityOptions, Asynchrony):
    """``[strategy.asha]``: the rungs, the search's workers and its clock."""


class ASHAStrategy(MultiFidelityBase):
    Options = ASHAOptions
    asynchronous = True
    replay_by_ask = False  # the order of tells shaped it: a resume tells the finished trials

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.results: list[dict[int, float]] = [{} for _ in self.levels]  # rung -> config -> value
        self.promoted: list[set[int]] = [set() for _ in self.levels]
        self.job: dict[int, tuple[int, int]] = {}  # trial -> (config, rung)

    def ask(self, trial: int) -> Proposal:
        for rung in range(len(self.levels) - 2, -1, -1):
            done = self.results[rung]
            top = sorted(done, key=lambda c: (done[c], c))[: len(done) // self.eta]
            ready = [c for c in top if c not in self.promoted[rung] and not math.isinf(done[c])]
            if ready:
                config = ready[0]
                self.promoted[rung].add(config)
                return self._start(trial, config, rung + 1)
        return self._start(trial, self.new_config(), 0)

    def _start(self, trial: int, config: int, rung: int) -> Proposal:
        epochs = self.levels[rung]
        proposal = self.proposal(config, epochs, keep=rung < len(self.levels) - 1)
        self.trial_of[(config, epochs)] = trial
        self.job[trial] = (config, rung)
        return proposal

    def tell(self, result: TrialResult) -> None:
        trial, params, value = result.trial, result.params, result.value
        if trial not in self.job:  # finished in an earlier run (resume): rebuild what it says
            config = result.config
            self.configs[config] = {k: v for k, v in params.items() if k != self.fidelity}
            self.next_config = max(self.next_config, config + 1)
            rung = self.levels.index(params[self.fidelity]) if params.get(self.fidelity) in self.levels else 0
            self.job[trial] = (config, rung)
            self.trial_of[(config, self.levels[rung])] = trial
        config, rung = self.job.pop(trial)
        self.results[rung][config] = math.inf if value is None else value

    def states_needed(self) -> set[int]:
        """Every result below the top rung may still be promoted later (the states
        of an asynchronous run are removed when it completes)."""
        return {self.trial_of[(c, self.levels[r])] for r in range(len(self.levels) - 1)
                for c in self.results[r] if c not in self.promoted[r]
                and (c, self.levels[r]) in self.trial_of}
