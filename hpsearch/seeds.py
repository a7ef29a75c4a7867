"""Seeds: no global random state anywhere; everything from the experiment's root seed
through :class:`numpy.random.SeedSequence`.

* data split of repetition r: ``spawn_key=(SPLIT, r)``;
* network initialisation and shuffling of configuration c in repetition r:
  ``spawn_key=(TRIAL, r, c)``; the same for every strategy, so strategies are
  compared on paired seeds (the ``seed`` column of ``trials.csv``). A
  configuration is a trial unless a multi-fidelity strategy numbers them
  (``config``): all trials of a configuration share its seed;
* proposals of strategy s in repetition r: ``spawn_key=(crc32(s), r)``, and for
  random search trial i draws from ``spawn_key=(crc32(s), r, i)``.
"""

from __future__ import annotations

import zlib

import numpy as np

SPLIT, TRIAL = 1, 2


def strategy_key(name: str) -> int:
    """A stable number for a strategy name, used in seed derivation."""
    return zlib.crc32(name.encode())


def trial_seed(root: int, repetition: int, config: int) -> int:
    """Network seed of a configuration: paired across strategies."""
    return int(np.random.SeedSequence(root, spawn_key=(TRIAL, repetition, config)).generate_state(1)[0])


def split_seed(root: int, repetition: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(root, spawn_key=(SPLIT, repetition))


def strategy_seed(root: int, name: str, repetition: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(root, spawn_key=(strategy_key(name), repetition))
