"""Search-space dimensions: sampling, grids, Optuna distributions."""

import math

import numpy as np
import optuna

from hpsearch.search.space import Dimension, sample_point


def test_grid_points_per_dimension():
    assert Dimension("e", "int", low=1, high=100, log=True).grid_points(3) == [1, 10, 100]
    assert Dimension("lr", "float", low=0.0, high=1.0).grid_points(3) == [0.0, 0.5, 1.0]
    assert Dimension("w", "int", low=1, high=3).grid_points(10) == [1, 2, 3]  # no repeats
    assert Dimension("w", "int", low=1, high=9, grid=(2, 4)).grid_points(10) == [2, 4]
    assert Dimension("a", "categorical", choices=("relu", "tanh")).grid_points(5) == ["relu", "tanh"]


def test_samples_stay_in_range_and_log_dimensions_spread_over_decades():
    rng = np.random.default_rng(0)
    lr = Dimension("lr", "float", low=1e-4, high=1.0, log=True)
    width = Dimension("w", "int", low=2, high=64, log=True)
    rates = np.array([lr.sample(rng) for _ in range(4000)])
    widths = np.array([width.sample(rng) for _ in range(4000)])
    assert rates.min() >= 1e-4 and rates.max() <= 1.0
    assert 0.47 < np.mean(rates < 1e-2) < 0.53  # log-uniform: 2 of the 4 decades
    assert set(widths) == set(range(2, 65))  # every integer reachable
    assert abs(np.mean(np.log(widths)) - (math.log(2) + math.log(65)) / 2) < 0.1


def test_sample_point_does_not_depend_on_the_order_of_the_space():
    a = (Dimension("b", "float", low=0, high=1), Dimension("a", "int", low=1, high=9))
    assert sample_point(a, np.random.default_rng(1)) == sample_point(a[::-1], np.random.default_rng(1))


def test_optuna_distributions_and_dict_round_trip():
    d = Dimension("w", "int", low=2, high=64, log=True, grid=(2, 8))
    assert d.to_optuna() == optuna.distributions.IntDistribution(2, 64, log=True)
    assert d.to_dict() == {"type": "int", "low": 2, "high": 64, "log": True, "grid": [2, 8]}
    c = Dimension("act", "categorical", choices=("relu", "tanh"))
    assert c.to_optuna() == optuna.distributions.CategoricalDistribution(["relu", "tanh"])
