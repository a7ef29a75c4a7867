"""Random search: every dimension drawn independently (uniform, or log-uniform)."""

from __future__ import annotations

import numpy as np

from hpsearch.search.space import sample_point
from hpsearch.search.strategies._base import Strategy


class RandomStrategy(Strategy):
    """Trial ``i`` draws from its own generator, spawned from the strategy seed and ``i``.

    So ``ask(i)`` depends on nothing but (root seed, strategy, repetition, i): not
    on the order of asks, the number of workers, or a resume.
    """

    def ask(self, trial: int) -> dict:
        rng = np.random.default_rng(
            np.random.SeedSequence(self.seed.entropy, spawn_key=(*self.seed.spawn_key, trial))
        )
        return sample_point(self.space, rng)
