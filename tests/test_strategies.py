"""Strategies: grid coverage, Optuna samplers, budgets, reproducibility claims."""

import warnings

import numpy as np
import pandas as pd
import pytest

from hpsearch.config import parse
from hpsearch.errors import ConfigError
from hpsearch.run import run_experiment
from hpsearch.space import Dimension
from hpsearch.strategies import make_strategy

from conftest import train_fresh
from test_engine import SPACE, experiment, without_timing

PARAMS = ["epochs", "hidden_width", "learning_rate"]


def test_grid_points_per_dimension():
    assert Dimension("e", "int", low=1, high=100, log=True).grid_points(3) == [1, 10, 100]
    assert Dimension("lr", "float", low=0.0, high=1.0).grid_points(3) == [0.0, 0.5, 1.0]
    assert Dimension("w", "int", low=1, high=3).grid_points(10) == [1, 2, 3]  # no repeats
    assert Dimension("w", "int", low=1, high=9, grid=(2, 4)).grid_points(10) == [2, 4]
    assert Dimension("a", "categorical", choices=("relu", "tanh")).grid_points(5) == ["relu", "tanh"]


def test_grid_subset_is_seeded_and_warns():
    space = parse({"space": SPACE}, "t").space
    seed = np.random.SeedSequence(1)
    with pytest.warns(UserWarning, match="grid has 27 points and the budget is 12 trials"):
        a = make_strategy("grid", space, seed, n_jobs=1, max_trials=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = make_strategy("grid", space, np.random.SeedSequence(1), max_trials=12)
        c = make_strategy("grid", space, np.random.SeedSequence(2), max_trials=12)
    first = a.points[:12]  # the points it will run, trainers first (epoch curves)
    assert first == b.points[:12]
    assert first != c.points[:12]
    assert len({tuple(p.values()) for p in first}) == 12


def test_grid_with_two_workers_never_repeats_a_point(small_catalog, tmp_path):
    out = run_experiment(experiment(strategies=["grid"], n_jobs=2, repetitions=2, budget={"trials": 20}),
                         tmp_path / "g", progress=False)
    assert len(out.trials) == 40
    for _, group in out.trials.groupby("repetition"):
        assert not group.duplicated(subset=PARAMS).any()


def test_tpe_same_batch_size_same_trials_for_one_and_two_workers(small_catalog, tmp_path):
    options = {"tpe": {"batch_size": 2, "n_startup_trials": 3}}
    one = run_experiment(experiment(strategies=["tpe"], strategy=options), tmp_path / "1", progress=False)
    two = run_experiment(experiment(strategies=["tpe"], strategy=options, n_jobs=2), tmp_path / "2",
                         progress=False)
    pd.testing.assert_frame_equal(without_timing(one.trials), without_timing(two.trials))


def test_tpe_default_batch_is_reproducible_for_a_given_n_jobs(small_catalog, tmp_path):
    exp = experiment(strategies=["tpe"], strategy={"tpe": {"n_startup_trials": 2}}, n_jobs=2)
    a = run_experiment(exp, tmp_path / "a", progress=False)
    b = run_experiment(exp, tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(without_timing(a.trials), without_timing(b.trials))
    # and the sampler really adapts: after the start-up trials it is not random search
    r = run_experiment(experiment(strategies=["random"], n_jobs=2), tmp_path / "r", progress=False)
    assert not a.trials[PARAMS].equals(r.trials[PARAMS])


def test_any_optuna_sampler_by_name_with_options(small_catalog, tmp_path):
    exp = experiment(strategies=["optuna:QMCSampler"], strategy={"optuna:QMCSampler": {"scramble": True}})
    out = run_experiment(exp, tmp_path / "q", progress=False)
    assert len(out.trials) == 8 and set(out.trials["strategy"]) == {"optuna:QMCSampler"}


@pytest.mark.parametrize("raw, match", [
    ({"strategies": ["optuna:NoSuchSampler"]}, "unknown Optuna sampler 'NoSuchSampler'"),
    ({"strategies": ["tpe"], "strategy": {"tpe": {"n_startup": 3}}}, "TPESampler has no option 'n_startup'"),
    ({"strategies": ["grid"], "strategy": {"grid": {"points": 0}}}, "points: expected"),
    ({"strategies": ["random"], "strategy": {"tpe": {}}}, "strategy.tpe: unknown key"),
])
def test_bad_strategy_settings(raw, match):
    with pytest.raises(ConfigError, match=match):
        parse({"space": SPACE, **raw}, "t.toml")


def test_epoch_budget_is_compute_fair_and_worker_independent(small_catalog, tmp_path):
    exp = experiment(strategies=["random", "grid"], budget={"epochs": 40})
    one = run_experiment(exp, tmp_path / "1", progress=False)
    two = run_experiment(experiment(strategies=["random", "grid"], budget={"epochs": 40}, n_jobs=2),
                         tmp_path / "2", progress=False)
    pd.testing.assert_frame_equal(without_timing(one.trials), without_timing(two.trials))
    for _, group in one.trials.groupby("strategy"):
        spent = group["epochs"].cumsum().to_numpy()
        assert spent[-1] >= 40 and (len(spent) == 1 or spent[-2] < 40)


def test_seconds_budget_stops(small_catalog, tmp_path):
    out = run_experiment(experiment(budget={"seconds": 0.05}), tmp_path / "s", progress=False)
    assert 1 <= len(out.trials) < 200
    assert out.trials["seconds"].iloc[:-1].sum() < 0.05


def test_grid_reads_shorter_epochs_from_the_curve_of_the_longest(small_catalog, tmp_path):
    space = {"epochs": {"type": "int", "low": 2, "high": 12, "grid": [3, 7, 12]},
             "learning_rate": {"type": "float", "low": 0.05, "high": 0.5, "log": True, "grid": 2}}
    one = run_experiment(experiment(strategies=["grid"], space=space, budget={"trials": 6}), tmp_path / "1",
                         progress=False)
    two = run_experiment(experiment(strategies=["grid"], space=space, budget={"trials": 6}, n_jobs=2),
                         tmp_path / "2", progress=False)
    pd.testing.assert_frame_equal(without_timing(one.trials), without_timing(two.trials))
    t = one.trials
    trained, answered = t[t["epochs_trained"] > 0], t[t["epochs_trained"] == 0]
    assert len(trained) == 2 and (trained["epochs"] == 12).all()
    assert len(answered) == 4 and answered["message"].str.contains("epoch curve").all()
    assert t["epochs_trained"].sum() == 24
    for _, row in answered.iterrows():
        fresh = train_fresh({"epochs": int(row["epochs"]), "learning_rate": row["learning_rate"]},
                            int(row["seed"]), {"batch_size": 64})
        assert fresh.val_rmse == row["val_rmse"]  # exactly what training for that many epochs gives


def test_tpe_refuses_the_pruner_options_that_only_tpe_hyperband_takes():
    with pytest.raises(ConfigError, match="TPESampler has no option 'min_epochs'"):
        parse({"strategies": ["tpe"], "space": SPACE, "strategy": {"tpe": {"min_epochs": 3}}}, "t.toml")
    parse({"strategies": ["tpe-hyperband"], "space": SPACE, "strategy": {"tpe-hyperband": {"min_epochs": 3}}}, "t.toml")
