"""Hyperband and ASHA: schedules, continuation from saved state, reproducibility, resume."""

import faults
import pandas as pd
import pytest
from conftest import experiment, train_fresh, without_timing

from hpsearch.config import parse
from hpsearch.errors import ConfigError
from hpsearch.runner import run_experiment
from hpsearch.search.strategies import rung_epochs

MF_SPACE = {"epochs": {"type": "int", "low": 2, "high": 18},
            "hidden_width": {"type": "int", "low": 2, "high": 16, "log": True},
            "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True}}


def mf(strategies, **kw):
    return experiment(strategies=strategies, space=MF_SPACE, budget=kw.pop("budget", {"trials": 30}), **kw)


def test_rungs():
    assert rung_epochs(5, 135, 3) == [5, 15, 45, 135]
    assert rung_epochs(2, 18, 3) == [2, 6, 18]
    assert rung_epochs(10, 10, 3) == [10]


def test_hyperband_schedule_and_continuation(small_catalog, tmp_path):
    out = run_experiment(mf(["hyperband"]), tmp_path / "hb", progress=False)
    t = out.trials
    assert set(t["epochs"]) <= {2, 6, 18}
    # the first bracket: 9 configurations at 2 epochs, the best 3 go on to 6, the best 1 to 18
    first = t[t["config"] < 9]
    assert (first["epochs"] == 2).sum() == 9
    promoted = t[t["start_epoch"] > 0]
    assert len(promoted) > 0
    assert (promoted["epochs_trained"] == promoted["epochs"] - promoted["start_epoch"]).all()
    rung0 = first[first["epochs"] == 2].sort_values(["val_rmse", "config"])
    assert set(first[first["epochs"] == 6]["config"]) == set(rung0["config"].iloc[:3])
    assert not (tmp_path / "hb" / "_states").exists()  # cleaned at the end


@pytest.mark.slow
def test_a_promoted_trial_equals_training_straight_through(small_catalog, tmp_path):
    """The continued trial's score is exactly that of a network trained from scratch."""
    run_experiment(mf(["hyperband"]), tmp_path / "hb", progress=False)
    t = pd.read_csv(tmp_path / "hb" / "trials.csv")
    row = t[t["start_epoch"] > 0].iloc[0]
    params = {"epochs": int(row["epochs"]), "hidden_width": int(row["hidden_width"]),
              "learning_rate": float(row["learning_rate"])}
    fresh = train_fresh(params, int(row["seed"]), {"batch_size": 64})
    assert fresh.val_loss == row["val_rmse"]
    assert fresh.epochs_trained == row["epochs"] > row["epochs_trained"]


@pytest.mark.slow
def test_hyperband_identical_for_one_and_two_workers_and_after_resume(small_catalog, tmp_path):
    one = run_experiment(mf(["hyperband"]), tmp_path / "1", progress=False)
    two = run_experiment(mf(["hyperband"], n_jobs=2), tmp_path / "2", progress=False)
    pd.testing.assert_frame_equal(without_timing(one.trials), without_timing(two.trials))
    # interrupted in trial 14: the states it saved stay for the resume, which ends the same
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(mf(["hyperband"]), part, progress=False, objective=faults.interrupted_at_trial_14)
    assert any((part / "_states").iterdir())
    resumed = run_experiment(mf(["hyperband"], n_jobs=2), part, progress=False)
    assert 0 < resumed.resumed_trials < len(one.trials)
    pd.testing.assert_frame_equal(without_timing(one.trials), without_timing(resumed.trials))


def test_asha_promotes_asynchronously_and_spends_the_budget(small_catalog, tmp_path):
    out = run_experiment(mf(["asha"], n_jobs=2, budget={"epochs": 200}), tmp_path / "a", progress=False)
    t = out.trials
    assert (t["start_epoch"] > 0).any() and set(t["epochs"]) <= {2, 6, 18}
    spent = t.sort_values("trial")["epochs_trained"].cumsum()
    assert spent.iloc[-1] >= 200 and spent.iloc[-2] < 200 + 18
    assert t["trial"].is_unique and (t["status"] == "ok").all()
    assert not (tmp_path / "a" / "_states").exists()


@pytest.mark.slow
def test_multi_fidelity_next_to_random_in_one_comparison(small_catalog, tmp_path):
    run_experiment(mf(["random", "hyperband", "asha"], budget={"epochs": 150}, repetitions=2, output={"figures": "png"}),
                         tmp_path / "c", progress=False)
    table = pd.read_csv(tmp_path / "c" / "comparison.csv")
    assert table["strategy"].tolist() == ["random", "hyperband", "asha"]
    assert {"epochs_trained_mean", "epochs_to_target", "success_90", "ert_90"} <= set(table.columns)
    assert (tmp_path / "c" / "targets.csv").is_file() and (tmp_path / "c" / "ecdf.png").is_file()
    assert (table["epochs_trained_mean"] >= 150).all()


@pytest.mark.parametrize("options, match", [
    ({"eta": 1}, "eta: expected an integer >= 2"),
    ({"min_epochs": 9, "max_epochs": 3}, r"min_epochs \(9\) must be <= max_epochs \(3\)"),
    ({"etta": 3}, "unknown option 'etta'"),
])
def test_bad_multi_fidelity_options(options, match):
    with pytest.raises(ConfigError, match=match):
        parse({"strategies": ["hyperband"], "space": MF_SPACE, "strategy": {"hyperband": options}}, "t.toml")


@pytest.mark.slow
def test_optuna_tpe_with_hyperband_pruner_stops_trials_early(small_catalog, tmp_path):
    out = run_experiment(mf(["tpe-hyperband"], n_jobs=2, budget={"epochs": 300},
                            strategy={"tpe-hyperband": {"n_startup_trials": 4}}), tmp_path / "p",
                         progress=False)
    t = out.trials
    pruned = t[t["status"] == "stopped"]
    assert len(pruned) > 0 and (pruned["epochs_trained"] < pruned["epochs"]).all()  # the proposal is kept
    assert pruned["message"].str.startswith("stopped after epoch").all() and t["status"].isin(("ok", "stopped")).all()
    spent = t["epochs_trained"].sum()
    assert 300 <= spent < 300 + 2 * 18  # the budget counts epochs trained, not epochs asked
    assert not (tmp_path / "p" / "_optuna").exists()


def _waves(strategy, iterations: int = 1) -> list[tuple[int, int]]:
    """(configurations, epochs) of each wave Hyperband asks for, told made-up results in trial order."""
    import numpy as np

    from hpsearch.search.strategies import WAIT
    from hpsearch.search.trial import TrialResult

    waves, trial, rng = [], 0, np.random.default_rng(0)
    while len(waves) < iterations * 100:
        asked = []
        while (proposal := strategy.ask(trial)) is not WAIT:
            asked.append((trial, proposal))
            trial += 1
        epochs = {p.params["epochs"] for _, p in asked}
        assert len(epochs) == 1  # a wave is one rung
        waves.append((len(asked), epochs.pop()))
        for number, proposal in asked:
            strategy.tell(TrialResult("hyperband", 0, number, proposal.config, 0, proposal.params,
                                      val_loss=float(rng.random()), status="ok"))
        if all(b.done for b in strategy.brackets):
            break
    return waves


@pytest.mark.parametrize("low, high, table", [
    # Li et al. (2018), Table 1: R = 81, eta = 3; brackets s = 4..0 as (n_i, r_i) per rung
    (1, 81, [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81), (34, 3), (11, 9), (3, 27), (1, 81), (15, 9), (5, 27),
             (1, 81), (8, 27), (2, 81), (5, 81)]),
    # the reference suite's settings: epochs 5 to 45, eta 3 (9/5/3 configurations, rounded up)
    (5, 45, [(9, 5), (3, 15), (1, 45), (5, 15), (1, 45), (3, 45)]),
])
def test_hyperband_schedule_is_the_papers_table(low, high, table):
    import numpy as np

    from hpsearch.search.strategies import make_strategy

    space = parse({"space": {"epochs": {"type": "int", "low": low, "high": high},
                             "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True}}}, "t").space
    strategy = make_strategy("hyperband", space, np.random.SeedSequence(0), {"eta": 3})
    assert _waves(strategy) == table


def test_hyperband_keeps_a_networks_state_only_where_a_rung_follows():
    import numpy as np

    from hpsearch.search.strategies import WAIT, make_strategy
    from hpsearch.search.trial import TrialResult

    space = parse({"space": {"epochs": {"type": "int", "low": 5, "high": 45},
                             "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True}}}, "t").space
    strategy = make_strategy("hyperband", space, np.random.SeedSequence(0), {"eta": 3})
    kept, trial = [], 0
    while not kept or not all(b.done for b in strategy.brackets):
        asked = []
        while (proposal := strategy.ask(trial)) is not WAIT:
            asked.append((trial, proposal))
            trial += 1
        kept.append({(p.params["epochs"], p.keep_state) for _, p in asked})
        for number, p in asked:
            strategy.tell(TrialResult("hyperband", 0, number, p.config, 0, p.params, val_loss=0.1 * number, status="ok"))
    assert kept == [{(5, True)}, {(15, True)}, {(45, False)}, {(15, True)}, {(45, False)}, {(45, False)}]
