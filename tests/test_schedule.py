"""Asynchronous searches on a virtual clock: the same trials for any n_jobs, each search its own workers."""

import numpy as np
import pandas as pd
import pytest
from conftest import without_timing

import hpsearch
from hpsearch.config import parse

SPACE = {"epochs": {"type": "int", "low": 1, "high": 27},
         "hidden_width": {"type": "int", "low": 2, "high": 16, "log": True},
         "learning_rate": {"type": "float", "low": 0.001, "high": 1.0, "log": True}}


def config(strategies, **extra):
    return {"name": "v", "seed": 1, "n_jobs": 2, "strategies": strategies, "budget": {"epochs": 150},
            "data": {"dataset": "diabetes"}, "model": {"batch_size": 64}, "space": SPACE,
            "output": {"figures": "none"}, **extra}


def overlap(trials: pd.DataFrame) -> int:
    """The most trials of one search in flight at once, in virtual time."""
    events = sorted([(s, 1) for s in trials["virtual_start"]] + [(e, -1) for e in trials["virtual_end"]])
    running = most = 0
    for _, step in events:  # an end at t frees its worker before a start at t
        running += step
        most = max(most, running)
    return most


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["asha", "median-stop", "tpe-hyperband"])
def test_asynchronous_and_pruning_strategies_give_the_same_trials_for_any_n_jobs(tmp_path, strategy):
    one = hpsearch.run(config([strategy]), n_jobs=1, out=tmp_path / "1")  # the machine's, not the file's
    two = hpsearch.run(config([strategy]), out=tmp_path / "2")
    pd.testing.assert_frame_equal(without_timing(one.trials), without_timing(two.trials))
    assert one.trials["virtual_end"].notna().all()


def test_a_search_keeps_its_own_workers_busy_in_virtual_time_and_promotes_in_virtual_order(tmp_path):
    """workers = 4 with one real process: up to 4 trials in flight in virtual time, and no deadlock."""
    run = hpsearch.run(config(["asha"], n_jobs=1, repetitions=2, strategy={"asha": {"workers": 4}}),
                       out=tmp_path / "w4")
    for _, trials in run.trials.groupby("repetition"):
        assert 1 < overlap(trials) <= 4
        assert ((trials["virtual_end"] - trials["virtual_start"]) == trials["epochs_trained"]).all()
        by_trial = trials.set_index("trial")
        promoted = trials[trials["parent"].notna()]
        assert len(promoted)  # a promotion starts once its parent has ended, in virtual time
        assert (promoted["virtual_start"].to_numpy()
                >= by_trial.loc[promoted["parent"].astype(int), "virtual_end"].to_numpy()).all()


def test_a_stopped_trial_ends_and_counts_at_the_epoch_it_was_stopped(tmp_path):
    run = hpsearch.run(config(["median-stop"], strategy={"median-stop": {"n_startup_trials": 3}}),
                       out=tmp_path / "m")
    t = run.trials
    stopped = t[t["status"] == "stopped"]
    assert len(stopped) and (stopped["epochs_trained"] < stopped["epochs"]).all()
    assert ((t["virtual_end"] - t["virtual_start"]) == t["epochs_trained"]).all()
    spent = t["epochs_trained"].sum()
    assert spent >= 150 and spent - t["epochs_trained"].iloc[-1] < 150  # the budget counts only epochs before a stop


def test_workers_and_clock_are_the_experiments_not_the_machines(tmp_path, capsys):
    exp = parse(config(["asha", "random"]), "<dict>")
    assert exp.strategy_options["asha"]["workers"] == 2 and exp.strategy_options["asha"]["clock"] == "epochs"
    assert "workers" not in exp.strategy_options.get("random", {})
    from hpsearch.config import with_overrides

    assert with_overrides(exp, n_jobs=1).strategy_options["asha"]["workers"] == 2  # --n-jobs changes no decision
    wall = hpsearch.run(config(["asha"], strategy={"asha": {"clock": "wall"}}), out=tmp_path / "wall", quiet=False)
    assert wall.trials["virtual_start"].isna().all()
    assert "on the wall clock: results depend on timing" in capsys.readouterr().out
    with pytest.raises(hpsearch.ConfigError, match="clock: expected one of 'epochs', 'wall'"):
        parse(config(["asha"], strategy={"asha": {"clock": "cpu"}}), "<dict>")


def test_optuna_samplers_never_get_hpsearchs_own_keys():
    exp = parse(config(["tpe-hyperband"], strategy={"tpe-hyperband": {"workers": 3, "n_startup_trials": 4}}),
                "<dict>")
    from hpsearch.search.strategies import make_strategy

    strategy = make_strategy("tpe-hyperband", exp.space, np.random.SeedSequence(0),
                             exp.strategy_options["tpe-hyperband"])
    assert strategy.sampler._n_startup_trials == 4  # the sampler got its own option, and not workers or clock


def test_tpe_asks_as_many_trials_at_once_as_the_file_gives_workers():
    from hpsearch.config import with_overrides
    from hpsearch.search.strategies import make_strategy

    exp = parse(config(["tpe"], n_jobs=3), "<dict>")
    assert exp.strategy_options["tpe"] == {"batch_size": 3, "workers": 3}
    for options in (exp.strategy_options["tpe"], with_overrides(exp, n_jobs=1).strategy_options["tpe"]):
        assert make_strategy("tpe", exp.space, np.random.SeedSequence(0), options, n_jobs=1).batch_size == 3
    assert parse(config(["tpe"], strategy={"tpe": {"batch_size": 1}}), "<dict>").strategy_options["tpe"]["batch_size"] == 1


def test_an_epochs_value_is_read_from_a_whole_curve_or_from_one_that_starts_at_the_trial():
    from hpsearch.search.schedule import _cut, _value
    from hpsearch.search.trial import TrialResult

    whole = TrialResult("s", 0, 1, 1, 0, {}, start_epoch=2, val_curve=[0.9, 0.8, 0.7, 0.6, 0.5])  # the network's
    mine = TrialResult("s", 0, 1, 1, 0, {}, start_epoch=2, val_curve=[0.7, 0.6, 0.5])  # a table's, from the start
    assert _value(whole, 3, 2, 5) == _value(mine, 3, 2, 5) == 0.7
    assert _value(whole, 5, 2, 5) == _value(mine, 5, 2, 5) == 0.5
    assert _value(mine, 6, 2, 5) is None
    cut = _cut(whole, 4, 5)
    assert cut.val_curve == [0.9, 0.8, 0.7, 0.6] and cut.val_loss == 0.6 and cut.epochs_trained == 2
    assert cut.status == "stopped" and _cut(mine, 4, 5).val_curve == [0.7, 0.6]
