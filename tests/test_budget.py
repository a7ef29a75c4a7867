"""Budgets: what a trial costs, when a search stops, the best trial kept."""

import numpy as np

from hpsearch.config import Budget, parse
from hpsearch.search.budget import Meter, Search
from hpsearch.search.strategies import Proposal, make_strategy
from hpsearch.search.trial import TrialResult

SPACE = parse({"space": {"epochs": {"type": "int", "low": 2, "high": 12}}}, "t").space


def result(trial, value, epochs=5, status="ok", seconds=1.0):
    return TrialResult("random", 0, trial, trial, 0, {"epochs": epochs}, val_loss=value, status=status,
                       epochs_trained=epochs, seconds=seconds)


def test_costs_in_epochs():
    meter = Meter(Budget("epochs", 20), default_epochs=100)
    assert meter.cost(Proposal({"epochs": 9}, start_epoch=3)) == 6
    assert meter.cost(Proposal({})) == 100  # the network's default
    assert meter.cost(Proposal({"epochs": 9}), result(0, None, epochs=0, status="failed")) == 1
    assert meter.cost(Proposal({"epochs": 9}, answer={"val_rmse": 0.1})) == 0


def test_budget_left_by_kind():
    search = Search(make_strategy("random", SPACE, np.random.SeedSequence(0)), 0, "rep0")
    search.next_trial, search.epochs_spent, search.seconds_used = 3, 20, 0.5
    assert not Meter(Budget("trials", 3), 10).left(search)
    assert not Meter(Budget("epochs", 20), 10).left(search)
    assert Meter(Budget("seconds", 1.0), 10).left(search)
    assert Meter(Budget("seconds", 1.0), 10).wave_limit(search.strategy, 2) == 2
    assert Meter(Budget("trials", 3), 10).wave_limit(search.strategy, 2) == 1000  # MAX_WAVE


def test_expected_trials_is_capped_by_the_grid():
    space = parse({"space": {"epochs": {"type": "int", "low": 2, "high": 12, "grid": [2, 4]}}}, "t").space
    grid = Search(make_strategy("grid", space, np.random.SeedSequence(0), max_trials=10), 0, "rep0")
    random = Search(make_strategy("random", space, np.random.SeedSequence(0)), 0, "rep0")
    assert Meter(Budget("trials", 10), 10).expected_trials([grid, random]) == 12
    assert Meter(Budget("epochs", 10), 10).expected_trials([grid]) is None


def test_the_best_trial_ignores_failures_and_breaks_ties_by_trial_number():
    search = Search(make_strategy("random", SPACE, np.random.SeedSequence(0)), 0, "rep0")
    for r in (result(0, 0.5), result(1, 0.2), result(2, None, status="diverged"), result(3, 0.2)):
        search.add(r)
    assert search.best.trial == 1 and search.seconds_used == 4.0
