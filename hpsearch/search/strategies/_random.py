"""Random search: every dimension drawn independently (uniform, or log-uniform)."""

from __future__ import annotations

from hpsearch.search.space import sample_point
from hpsearch.search.strategies._base import Strategy


class RandomStrategy(Strategy):
    """Trial ``i`` draws from its own generator, spawned from the strategy seed and ``i``.

    So ``ask(i)`` depends on nothing but (root seed, strategy, repetition, i): not
    on the order of asks, the number of workers, or a resume.
    """

    def ask(self, trial: int) -> dict:
        rng = self.rng(trial)
        return sample_point(self.space, rng)
