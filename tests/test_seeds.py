"""Seeds derive from the root seed only: paired across strategies, distinct elsewhere."""

import numpy as np

from hpsearch.seeds import split_seed, strategy_key, strategy_seed, trial_seed


def test_trial_seeds_are_distinct_per_repetition_config_and_root():
    seeds = {trial_seed(5, r, c) for r in range(3) for c in range(50)}
    assert len(seeds) == 150
    assert trial_seed(5, 0, 3) != trial_seed(6, 0, 3)


def test_split_and_strategy_seeds_differ_by_what_they_name():
    a = np.random.default_rng(split_seed(1, 0)).random()
    assert a != np.random.default_rng(split_seed(1, 1)).random()
    assert strategy_key("random") != strategy_key("grid")
    x = np.random.default_rng(strategy_seed(1, "random", 0)).random()
    assert x != np.random.default_rng(strategy_seed(1, "grid", 0)).random()
