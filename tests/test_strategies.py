"""Strategies: grid coverage, Optuna samplers, budgets, reproducibility claims."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import ALL_STRATEGIES, SPACE, experiment, train_fresh, without_timing

from hpsearch.config import parse
from hpsearch.errors import ConfigError
from hpsearch.runner import run_experiment
from hpsearch.search.strategies import make_strategy

PARAMS = ["epochs", "hidden_width", "learning_rate"]


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


@pytest.mark.slow
def test_grid_with_two_workers_never_repeats_a_point(small_catalog, tmp_path):
    out = run_experiment(experiment(strategies=["grid"], n_jobs=2, repetitions=2, budget={"trials": 20}),
                         tmp_path / "g", progress=False)
    assert len(out.trials) == 40
    for _, group in out.trials.groupby("repetition"):
        assert not group.duplicated(subset=PARAMS).any()


@pytest.mark.slow
def test_tpe_same_batch_size_same_trials_for_one_and_two_workers(small_catalog, tmp_path):
    options = {"tpe": {"batch_size": 2, "n_startup_trials": 3}}
    one = run_experiment(experiment(strategies=["tpe"], strategy=options), tmp_path / "1", progress=False)
    two = run_experiment(experiment(strategies=["tpe"], strategy=options, n_jobs=2), tmp_path / "2",
                         progress=False)
    pd.testing.assert_frame_equal(without_timing(one.trials), without_timing(two.trials))


@pytest.mark.slow
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


@pytest.mark.slow
def test_epoch_budget_is_compute_fair_and_worker_independent(small_catalog, tmp_path):
    exp = experiment(strategies=["random", "grid"], budget={"epochs": 40})
    one = run_experiment(exp, tmp_path / "1", progress=False)
    two = run_experiment(experiment(strategies=["random", "grid"], budget={"epochs": 40}, n_jobs=2),
                         tmp_path / "2", progress=False)
    pd.testing.assert_frame_equal(without_timing(one.trials), without_timing(two.trials))
    for _, group in one.trials.groupby("strategy"):
        spent = group["epochs"].cumsum().to_numpy()
        assert spent[-1] >= 40 and (len(spent) == 1 or spent[-2] < 40)


@pytest.mark.slow
def test_seconds_budget_stops(small_catalog, tmp_path):
    for n_jobs in (1, 2):  # waves of one trial per worker, the budget checked between them
        out = run_experiment(experiment(budget={"seconds": 0.05}, n_jobs=n_jobs), tmp_path / f"s{n_jobs}",
                             progress=False)
        seconds = out.trials["seconds"].to_numpy()
        assert seconds.sum() >= 0.05  # spent
        assert seconds[:-n_jobs].sum() < 0.05  # and stopped at the first wave that spent it


@pytest.mark.slow
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
        assert fresh.val_loss == row["val_rmse"]  # exactly what training for that many epochs gives


def test_tpe_refuses_the_pruner_options_that_only_tpe_hyperband_takes():
    with pytest.raises(ConfigError, match="TPESampler has no option 'min_epochs'"):
        parse({"strategies": ["tpe"], "space": SPACE, "strategy": {"tpe": {"min_epochs": 3}}}, "t.toml")
    parse({"strategies": ["tpe-hyperband"], "space": SPACE, "strategy": {"tpe-hyperband": {"min_epochs": 3}}}, "t.toml")


# -- scripted ask/tell, no training ------------------------------------------------------
def told(trial, params, value, config=None, curve=None, status="ok"):
    """A finished trial as a strategy hears it."""
    from hpsearch.search.trial import TrialResult

    return TrialResult("s", 0, trial, trial if config is None else config, 0, dict(params),
                       val_loss=np.nan if value is None else value, status=status,
                       val_curve=list(curve or []))


MF = parse({"space": {"epochs": {"type": "int", "low": 2, "high": 18},
                      "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True}}}, "t").space


def test_random_answers_depend_only_on_the_trial_number():
    space = parse({"space": SPACE}, "t").space
    a = make_strategy("random", space, np.random.SeedSequence(3))
    b = make_strategy("random", space, np.random.SeedSequence(3))
    forwards = [a.ask(i) for i in range(5)]
    backwards = [b.ask(i) for i in reversed(range(5))][::-1]
    assert forwards == backwards
    assert len({p["learning_rate"] for p in forwards}) == 5


def test_hyperband_promotes_the_best_third_from_their_saved_states():
    from hpsearch.search.strategies import WAIT

    hb = make_strategy("hyperband", MF, np.random.SeedSequence(0), {"brackets": 1})
    first = [hb.ask(t) for t in range(9)]
    assert hb.ask(9) is WAIT  # the rung is running
    assert [p.params["epochs"] for p in first] == [2] * 9 and all(p.keep_state for p in first)
    assert [p.config for p in first] == list(range(9)) and all(p.parent is None for p in first)
    values = [0.5, 0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.6, 0.4]  # best: configs 1, 5, 3
    for t, p in enumerate(first):
        hb.tell(told(t, p.params, values[t], config=p.config))
    assert hb.states_needed() == {1, 3, 5}
    second = [hb.ask(t) for t in range(9, 12)]
    assert hb.ask(12) is WAIT
    assert [p.config for p in second] == [1, 5, 3]
    assert all(p.params["epochs"] == 6 and p.start_epoch == 2 and p.keep_state for p in second)
    assert [p.parent for p in second] == [1, 5, 3]  # the trials that trained them to 2 epochs
    for t, p, v in zip(range(9, 12), second, [0.3, 0.05, None]):  # config 3 fails at 6 epochs
        hb.tell(told(t, p.params, v, config=p.config, status="ok" if v is not None else "failed"))
    last = hb.ask(12)
    assert last.config == 5 and last.params["epochs"] == 18 and last.parent == 10
    assert not last.keep_state and last.start_epoch == 6


def test_asha_promotes_as_soon_as_a_rung_has_eta_results():
    asha = make_strategy("asha", MF, np.random.SeedSequence(0))
    asked = [asha.ask(t) for t in range(3)]
    assert [p.params["epochs"] for p in asked] == [2, 2, 2]
    asha.tell(told(0, asked[0].params, 0.4, config=asked[0].config))
    asha.tell(told(1, asked[1].params, 0.2, config=asked[1].config))
    assert asha.ask(3).params["epochs"] == 2  # two results: top third is empty
    asha.tell(told(2, asked[2].params, 0.3, config=asked[2].config))
    promoted = asha.ask(4)
    assert promoted.config == asked[1].config and promoted.params["epochs"] == 6
    assert promoted.parent == 1 and promoted.start_epoch == 2
    assert asha.ask(5).params["epochs"] == 2  # promoted once only


def test_grid_answers_shorter_epochs_from_the_trainer_curve():
    from hpsearch.search.strategies import WAIT

    space = parse({"space": {"epochs": {"type": "int", "low": 2, "high": 12, "grid": [3, 12]},
                             "learning_rate": {"type": "float", "low": 0.1, "high": 0.2, "grid": [0.1]}}},
                  "t").space
    grid = make_strategy("grid", space, np.random.SeedSequence(0), max_trials=2)
    trainer = grid.ask(0)
    assert trainer == {"epochs": 12, "learning_rate": 0.1}
    assert grid.ask(1) is WAIT
    grid.tell(told(0, trainer, 0.25, curve=[0.5 - 0.01 * k for k in range(12)]))
    answered = grid.ask(1)
    assert answered.params["epochs"] == 3 and answered.config == 0
    assert answered.answer["val_loss"] == pytest.approx(0.48) and len(answered.answer["val_curve"]) == 3
    assert grid.ask(2) is None and grid.size == 2


def test_grid_answer_of_a_diverged_trainer_is_not_a_value():
    space = parse({"space": {"epochs": {"type": "int", "low": 2, "high": 12, "grid": [3, 12]}}}, "t").space
    grid = make_strategy("grid", space, np.random.SeedSequence(0), max_trials=2)
    grid.tell(told(0, grid.ask(0), None, curve=[0.5], status="diverged"))
    answer = grid.ask(1).answer
    assert answer["status"] == "diverged" and "has no epoch 3" in answer["message"]


def _distance_after_startup(name, options, trials=60, tail=20):
    """Median distance in decades from the best learning rate (0.05) of the last
    ``tail`` proposals on a problem whose value is that distance squared."""
    space = parse({"space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 10.0, "log": True}}},
                  "t").space
    strategy = make_strategy(name, space, np.random.SeedSequence(1), options)
    rates = []
    for t in range(trials):
        params = strategy.ask(t)
        rates.append(params["learning_rate"])
        strategy.tell(told(t, params, (np.log10(params["learning_rate"]) - np.log10(0.05)) ** 2))
    return float(np.median(np.abs(np.log10(rates[-tail:]) - np.log10(0.05))))


def test_tpe_concentrates_its_proposals_after_the_startup_trials():
    tpe = _distance_after_startup("tpe", {"n_startup_trials": 10})
    random = _distance_after_startup("random", None)
    print(f"median distance from the optimum, decades: tpe {tpe:.3f}, random {random:.3f}")
    assert random > 0.7  # uniform over 5 decades around an optimum 1.3 decades from the top
    assert tpe < 0.3 * random


def test_qmc_scramble_option_reaches_the_sampler():
    space = parse({"space": SPACE}, "t").space

    def second(seed, scramble):  # Optuna draws the first trial independently, at random
        s = make_strategy("optuna:QMCSampler", space, np.random.SeedSequence(seed), {"scramble": scramble})
        s.ask(0)
        return s.ask(1)

    assert second(1, False) == second(2, False)  # unscrambled Sobol: the seed does not matter
    assert second(1, True) != second(2, True)


def test_tpe_hyperband_stops_trials_that_fall_behind_through_on_epoch():
    from hpsearch.search.trial import STOP

    strategy = make_strategy("tpe-hyperband", MF, np.random.SeedSequence(0),
                             {"n_startup_trials": 2, "batch_size": 1})
    decisions = {}
    for t in range(12):
        proposal = strategy.ask(t)
        assert proposal.report_epochs and proposal.params["epochs"] == 18
        curve = []
        for epoch in range(1, 19):
            curve.append(1.0 + t - 0.01 * epoch)  # every later trial is worse
            if strategy.on_epoch(t, epoch, curve[-1]) is STOP:
                decisions[t] = epoch
                break
        stopped = len(curve) < 18
        strategy.tell(told(t, proposal.params, None if stopped else curve[-1], curve=curve,
                           status="stopped" if stopped else "ok"))
    early = {t: e for t, e in decisions.items() if e < 18}  # a stop after the last epoch changes nothing
    assert 0 not in decisions and len(early) >= 5
    states = [tr.state.name for tr in strategy.study.trials]
    assert states.count("PRUNED") == len(early)


def test_a_grid_too_large_is_refused_before_it_is_built():
    space = parse({"space": {"learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "grid": 2000},
                             "init_scale": {"type": "float", "low": 0.1, "high": 2.0, "grid": 2000}}}, "t").space
    with pytest.raises(ConfigError, match="the grid has 4,000,000 points, more than the limit of 1,000,000"):
        make_strategy("grid", space, np.random.SeedSequence(0), max_trials=10)


# -- BOHB, PBT, median stopping ----------------------------------------------------------
MF3 = parse({"space": {"epochs": {"type": "int", "low": 2, "high": 18},
                       "learning_rate": {"type": "float", "low": 0.001, "high": 1.0, "log": True},
                       "batch_size": {"type": "int", "low": 16, "high": 256, "log": True}}}, "t").space


def _drive(strategy, value, trials=60):
    """Ask and tell like the loop's waves, with value(params) as the result; the proposals."""
    from hpsearch.search.strategies import WAIT

    asked, t = [], 0
    while t < trials:
        wave = []
        while True:
            p = strategy.ask(t)
            if p is WAIT or p is None:
                break
            wave.append((t, p))
            t += 1
        if not wave:
            break
        for trial, p in wave:
            strategy.tell(told(trial, p.params, value(p.params), config=p.config))
        asked += wave
    return asked


def test_bohb_proposes_from_its_model_once_a_budget_has_enough_points():
    def value(params):  # small learning rates are good
        return abs(np.log10(params["learning_rate"]) + 2.5)

    bohb = make_strategy("bohb", MF3, np.random.SeedSequence(0), {"min_points_in_model": 5, "random_fraction": 0.0})
    asked = _drive(bohb, value)
    first_bracket = {p.config for _, p in asked if p.config < 9}
    assert not (first_bracket & bohb.from_model)  # nothing to model before results
    assert bohb.from_model  # later brackets come from the model
    modelled = [bohb.configs[c]["learning_rate"] for c in bohb.from_model]
    randoms = [bohb.configs[c]["learning_rate"] for c in bohb.configs if c not in bohb.from_model]
    assert np.median(np.abs(np.log10(modelled) + 2.5)) < np.median(np.abs(np.log10(randoms) + 2.5))
    again = make_strategy("bohb", MF3, np.random.SeedSequence(0), {"min_points_in_model": 5, "random_fraction": 0.0})
    assert [(t, p.params) for t, p in _drive(again, value)] == [(t, p.params) for t, p in asked]
    hyperband = make_strategy("bohb", MF3, np.random.SeedSequence(0), {"random_fraction": 1.0})
    _drive(hyperband, value)
    assert not hyperband.from_model


def test_pbt_exploits_the_top_quantile_and_explores_inside_the_space():
    pbt = make_strategy("pbt", MF3, np.random.SeedSequence(0), {"population_size": 8, "interval": 3})
    asked = _drive(pbt, lambda p: p["learning_rate"], trials=32)  # small learning rates rank first
    by_trial = {t: p for t, p in asked}
    assert [p.params["epochs"] for _, p in asked[:8]] == [3] * 8 and all(p.parent is None for _, p in asked[:8])
    second = asked[8:16]
    assert all(p.start_epoch == 3 and p.params["epochs"] == 6 and p.keep_state for _, p in second)
    first_values = {p.config: p.params["learning_rate"] for _, p in asked[:8]}
    top = sorted(first_values, key=first_values.get)[:2]
    bottom = sorted(first_values, key=first_values.get)[-2:]
    for _, p in second:
        parent = by_trial[p.parent]
        if p.config in bottom:  # copied a top member's network, perturbed what may change
            assert parent.config in top
            for name in ("learning_rate", "batch_size"):
                dim = next(d for d in MF3 if d.name == name)
                assert dim.low <= p.params[name] <= dim.high
        else:
            assert parent.config == p.config and p.params == {**parent.params, "epochs": 6}
    assert pbt.states_needed() == {t for t, p in asked[24:32]} | {pbt.best[1]}  # and the best, for the test


def test_median_stop_stops_a_worse_trial_and_lets_a_better_one_run():
    from hpsearch.search.trial import CONTINUE, STOP

    rule = make_strategy("median-stop", MF3, np.random.SeedSequence(0), {"n_warmup_steps": 2, "n_startup_trials": 3})
    assert rule.ask(0).report_epochs
    rule.tell(told(0, rule.ask(0).params, 0.5, curve=[0.5] * 10))
    rule.ask(1)
    assert rule.on_epoch(1, 5, 9.0) is CONTINUE  # one completed trial: fewer than n_startup_trials
    stopped = told(1, rule.ask(1).params, 0.1, curve=[0.1] * 3)
    stopped.status = "stopped"
    rule.tell(stopped)  # a stopped trial never counts in the median
    for t in (2, 3):  # three completed trials whose curves average 0.5 at every epoch
        rule.tell(told(t, rule.ask(t).params, 0.5, curve=[0.5] * 10))
    rule.ask(4)
    rule.ask(5)
    assert rule.on_epoch(4, 2, 0.9) is CONTINUE  # within the warm-up epochs
    assert rule.on_epoch(4, 3, 0.8) is STOP  # best 0.8 > median 0.5 (0.1 would be the median with the stopped)
    assert rule.on_epoch(5, 3, 0.4) is CONTINUE
    assert rule.on_epoch(5, 11, 0.9) is CONTINUE  # no completed trial reached epoch 11
    tpe = make_strategy("median-stop", MF3, np.random.SeedSequence(0), {"sampler": "tpe"})
    assert set(tpe.ask(0).params) == {"epochs", "learning_rate", "batch_size"}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["bohb", "pbt"])
def test_bohb_and_pbt_are_identical_for_one_and_two_workers(small_catalog, tmp_path, strategy):
    exp = dict(strategies=[strategy], space=MF_SPACE_PBT, budget={"epochs": 120}, model={},
               strategy={strategy: {"population_size": 4, "interval": 3} if strategy == "pbt"
                         else {"min_points_in_model": 3}})
    one = run_experiment(experiment(**exp), tmp_path / "1", progress=False)
    two = run_experiment(experiment(**exp, n_jobs=2), tmp_path / "2", progress=False)
    pd.testing.assert_frame_equal(without_timing(one.trials), without_timing(two.trials))
    t = one.trials
    assert t["epochs_trained"].sum() >= 120 and (t["status"] == "ok").all()
    if strategy == "pbt":
        later = t[t["start_epoch"] > 0]
        assert len(later) and later["parent"].notna().all() and (later["epochs_trained"] == 3).all()


@pytest.mark.slow
def test_median_stop_runs_and_stops_trials_early(small_catalog, tmp_path):
    out = run_experiment(experiment(strategies=["median-stop"], space=MF_SPACE_PBT, n_jobs=2, budget={"epochs": 300},
                                    model={},
                                    strategy={"median-stop": {"n_startup_trials": 2}}),
                         tmp_path / "m", progress=False)
    t = out.trials
    stopped = t[t["status"] == "stopped"]
    assert len(stopped) and stopped["message"].str.startswith("stopped after epoch").all()
    assert (stopped["epochs_trained"] < stopped["epochs"]).all()  # the proposal kept, the epochs it got
    assert t["status"].isin(("ok", "stopped")).all()


MF_SPACE_PBT = {"epochs": {"type": "int", "low": 3, "high": 18},
                "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
                "batch_size": {"type": "int", "low": 16, "high": 128, "log": True}}


def test_pbt_scores_the_populations_own_network_on_test(small_catalog, tmp_path, monkeypatch):
    """The chosen PBT trial's saved state is scored as it is (no training): its validation
    loss on the test run equals the trial's own, which retraining from scratch would not give."""
    import hpsearch.runner as runner

    scored = {}
    original = runner.score_tests

    def recording(*args, **kwargs):
        scored.update(original(*args, **kwargs))
        return scored

    monkeypatch.setattr(runner, "score_tests", recording)
    out = run_experiment(experiment(strategies=["pbt"], space=MF_SPACE_PBT, model={}, budget={"epochs": 60},
                                    strategy={"pbt": {"population_size": 4, "interval": 3}}),
                         tmp_path / "p", progress=False)
    best = out.trials.sort_values(["val_rmse", "trial"]).iloc[0]
    test = scored[("pbt", 0)]
    assert test.trial == best["trial"] and test.epochs_trained == 0 and test.start_epoch == best["epochs"]
    assert test.val_loss == best["val_rmse"] and np.isfinite(test.test_loss)
    assert out.summary["test_rmse"].iloc[0] == test.test_loss


INSIDE = {"epochs": {"type": "int", "low": 2, "high": 12},
          "hidden_width": {"type": "int", "low": 2, "high": 8},
          "learning_rate": {"type": "float", "low": 0.05, "high": 0.5, "log": True}}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_no_strategy_trains_past_the_spaces_bound(small_catalog, tmp_path, strategy):
    """An epoch budget far above what one configuration may train: every trial of every
    strategy stays inside the space (epochs, and start_epoch + epochs_trained)."""
    out = run_experiment(experiment(strategies=[strategy], space=INSIDE, budget={"epochs": 400},
                                    model={"batch_size": 128}), tmp_path / strategy, progress=False)
    t = out.trials
    assert len(t) and t["epochs"].max() <= 12
    assert (t["start_epoch"] + t["epochs_trained"]).max() <= 12
    assert strategy == "grid" or t["epochs_trained"].sum() >= 400 * 0.9  # the grid may be smaller


def test_a_pbt_interval_that_does_not_divide_the_bound_is_refused():
    with pytest.raises(ConfigError, match="strategy.pbt: interval: 5 does not divide the space's bound of epochs "
                                          r"\(12\).*choose one of 1, 2, 3, 4, 6, 12"):
        experiment(strategies=["pbt"], space=INSIDE, strategy={"pbt": {"interval": 5}})
    pbt = make_strategy("pbt", experiment(space=INSIDE).space, np.random.SeedSequence(0))
    assert (pbt.bound, pbt.interval, pbt.generations) == (12, 2, 6)  # the divisor nearest the low end


def test_grid_under_a_small_epoch_budget_spreads_over_every_dimension(small_catalog, tmp_path):
    space = {**INSIDE, "epochs": {"type": "int", "low": 2, "high": 12, "grid": 4}}
    out = run_experiment(experiment(strategies=["grid"], space=space, budget={"epochs": 150}, repetitions=3,
                                    model={"batch_size": 128}, strategy={"grid": {"points": 4}}),
                         tmp_path / "g", progress=False)
    t = out.trials
    assert t["epochs"].nunique() > 1  # not every (width, rate) pair at the most epochs first
    firsts = [tuple(t[t["repetition"] == r].sort_values("trial").head(6)["epochs"]) for r in range(3)]
    assert len(set(firsts)) > 1  # each repetition its own order
    read = t[t["message"].fillna("").str.startswith("read from the epoch curve")]
    assert (read["epochs_trained"] == 0).all()


def test_the_space_filling_order_is_maximin():
    from hpsearch.search.strategies import space_filling_order

    order = space_filling_order([[0, 1, 2], [0, 1, 2]], np.random.default_rng(0))
    assert sorted(order) == list(range(9))
    xy = np.array([(i // 3, i % 3) for i in range(9)], dtype=float)
    far = ((xy - xy[order[0]]) ** 2).sum(axis=1)
    assert far[order[1]] == far.max()  # the farthest point from the first comes next


def test_bohb_splits_and_samples_as_the_paper_does():
    """10 observations in 2 dimensions: N_min = 3, the good set has max(3, ceil(1.5)) = 3 points,
    the bad set max(3, 7) = 7; proposals spread around the good points, not copies of the best."""
    space = parse({"space": {"epochs": {"type": "int", "low": 1, "high": 9},
                             "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
                             "hidden_width": {"type": "int", "low": 2, "high": 64}}}, "t.toml").space
    bohb = make_strategy("bohb", space, np.random.SeedSequence(1))
    assert (bohb.min_points, bohb.bandwidth_factor, bohb.min_bandwidth, bohb.num_samples) == (3, 3.0, 1e-3, 64)
    rng = np.random.default_rng(0)
    observations = [(rng.random(2), float(v)) for v in range(10)]
    good, bad = bohb.split(observations)
    assert len(good) == 3 and len(bad) == 7
    assert sorted(tuple(p) for p in good) == sorted(tuple(observations[i][0]) for i in range(3))
    best = observations[0][0]
    proposals = np.array([bohb.sample_model(observations, np.random.default_rng(s)) for s in range(20)])
    assert np.abs(proposals - best).max(axis=1).min() > 0.01  # no proposal is the incumbent x (1 +- 0.003)
    assert len({tuple(np.round(p, 6)) for p in proposals}) == 20
    assert bohb.split(observations[:4])[0].shape[0] == 3  # N_min + 1 results: no model yet (needs N_min + 2)


def test_median_stop_uses_the_median_of_running_averages_on_skewed_curves():
    """Golovin et al.'s rule on curves where the median, the mean, the last values and the best values disagree:
    running averages at epoch 2 of 0.1, 0.2 and 0.9 (median 0.2, mean 0.4; last values 0.0, 0.3, 0.9, median 0.3)."""
    from hpsearch.search.trial import CONTINUE, STOP

    rule = make_strategy("median-stop", MF3, np.random.SeedSequence(0), {"n_startup_trials": 3})
    for t, curve in enumerate(([0.2, 0.0], [0.1, 0.3], [0.9, 0.9])):
        rule.tell(told(t, rule.ask(t).params, min(curve), curve=curve))
    for t in (3, 4, 5):
        rule.ask(t)
    assert rule.on_epoch(3, 2, 0.3) is STOP  # 0.3 > median 0.2 (the mean, 0.4, or the last values' 0.3: go on)
    assert rule.on_epoch(4, 2, 0.19) is CONTINUE  # under the median
    assert rule.on_epoch(5, 1, 0.45) is STOP  # epoch 1: averages 0.2, 0.1, 0.9, median 0.2


@pytest.mark.parametrize("resample", [0.0, 1.0])
def test_pbt_perturbs_an_exploited_members_values_by_the_factors(resample):
    """After an exploit the member's learning rate and batch size are the donor's x0.8 or x1.2 (inside the space,
    integers rounded), or, resampled, fresh draws; never the donor's value unchanged (both factors apply)."""
    pbt = make_strategy("pbt", MF3, np.random.SeedSequence(1), {"population_size": 8, "interval": 3,
                                                                "resample_probability": resample})
    asked = _drive(pbt, lambda p: p["learning_rate"], trials=8 * 6)
    by_trial = {t: p for t, p in asked}
    factors = []
    for t, p in asked[8:]:
        donor = by_trial[p.parent]
        if donor.config == p.config:
            continue  # carried on with its own values
        for dim in (d for d in MF3 if d.name in ("learning_rate", "batch_size")):
            mine, theirs = p.params[dim.name], donor.params[dim.name]
            assert dim.low <= mine <= dim.high
            if resample:
                continue
            expected = [min(max(theirs * f, dim.low), dim.high) for f in (0.8, 1.2)]
            if dim.kind == "int":
                expected = [int(round(v)) for v in expected]
            assert mine == pytest.approx(expected[0]) or mine == pytest.approx(expected[1]), (dim.name, mine, theirs)
            if dim.low < theirs * 0.8 and theirs * 1.2 < dim.high and dim.kind != "int":
                factors.append(round(mine / theirs, 9))
    if resample:
        exploited = [p for t, p in asked[8:] if by_trial[p.parent].config != p.config]
        assert exploited and all(p.params["learning_rate"] != by_trial[p.parent].params["learning_rate"]
                                 for p in exploited)  # fresh draws
    else:
        assert set(factors) == {0.8, 1.2}  # both factors, never 1


def test_bohb_by_default_models_a_third_of_its_draws_and_stays_inside_the_space():
    """Default options (random_fraction 1/3): after enough results most configurations come from the model, and
    every value it draws lies inside the space (the kernel density is sampled in [0, 1] and mapped back)."""
    bohb = make_strategy("bohb", MF3, np.random.SeedSequence(2), {"min_points_in_model": 5})
    asked = _drive(bohb, lambda p: abs(np.log10(p["learning_rate"]) + 2.5), trials=150)
    later = [c for c in bohb.configs if c >= 9]
    modelled = [c for c in later if c in bohb.from_model]
    assert 0.45 < len(modelled) / len(later) < 0.9
    for _, p in asked:
        for dim in MF3:
            assert dim.low <= p.params[dim.name] <= dim.high


def test_bohb_option_bounds_are_inclusive_and_wide():
    exp = experiment(strategies=["bohb"], space=dict(MF_SPACE_PBT), model={},
                     strategy={"bohb": {"random_fraction": 1.0, "min_points_in_model": 1000, "bandwidth_factor": 1e6}})
    assert exp.strategy_options["bohb"]["min_points_in_model"] == 1000
    with pytest.raises(ConfigError, match="random_fraction"):
        experiment(strategies=["bohb"], space=dict(MF_SPACE_PBT), model={}, strategy={"bohb": {"random_fraction": 1.5}})


def test_bohb_encodes_the_space_into_the_unit_cube_and_back():
    """Bounds map to 0 and 1 (log dimensions in log space), the middle to 0.5, and decoding inverts encoding."""
    bohb = make_strategy("bohb", MF3, np.random.SeedSequence(0))
    low = {d.name: d.low for d in bohb.searched}
    high = {d.name: d.high for d in bohb.searched}
    middle = {"learning_rate": np.sqrt(0.001 * 1.0), "batch_size": 64}  # the geometric middles (log dimensions)
    np.testing.assert_allclose(bohb._encode(low), 0.0, atol=1e-12)
    np.testing.assert_allclose(bohb._encode(high), 1.0, atol=1e-12)
    np.testing.assert_allclose(bohb._encode(middle), 0.5, atol=1e-12)
    names = [d.name for d in bohb.searched]
    point = np.array([0.25 if n == "learning_rate" else 0.75 for n in names])
    again = bohb._encode(bohb._decode(point))
    assert again[names.index("learning_rate")] == pytest.approx(0.25, abs=1e-12)  # floats come back exactly
    beyond = np.array([-0.5 if n == "learning_rate" else 1.5 for n in names])
    clipped = bohb._decode(beyond)  # clipped to the space
    assert clipped["batch_size"] == 256 and clipped["learning_rate"] == pytest.approx(0.001, rel=1e-12)
    clipped = bohb._decode(1 - beyond)  # and the other way: a float beyond its high end is its high end
    assert clipped["batch_size"] == 16 and clipped["learning_rate"] == pytest.approx(1.0, rel=1e-12)


def test_median_stop_offers_optunas_same_step_rule():
    """rule = "same-step": the median of the completed trials' values at that epoch (Optuna's MedianPruner), where
    the default compares running averages: curves 0.9 then 0.1 average 0.5 at epoch 2 but end at 0.1."""
    from hpsearch.search.trial import CONTINUE, STOP

    rules = {}
    for rule in ("running-average", "same-step"):
        strategy = make_strategy("median-stop", MF3, np.random.SeedSequence(0), {"n_startup_trials": 3, "rule": rule})
        for t in range(3):
            strategy.tell(told(t, strategy.ask(t).params, 0.1, curve=[0.9, 0.1]))
        strategy.ask(3)
        rules[rule] = strategy.on_epoch(3, 2, 0.3)
    assert rules == {"running-average": CONTINUE, "same-step": STOP}
    with pytest.raises(ConfigError, match="rule: expected one of 'running-average', 'same-step'"):
        experiment(strategies=["median-stop"], space=dict(MF_SPACE_PBT), model={}, strategy={"median-stop": {"rule": "x"}})


def test_bohb_with_a_model_of_one_point_proposes_inside_the_space():
    """min_points_in_model = 1: a kernel density of a single point has no spread to estimate (its bandwidth
    starts at zero, then the minimum), and every proposal is still a finite point of the space."""
    bohb = make_strategy("bohb", MF3, np.random.SeedSequence(4), {"min_points_in_model": 1, "random_fraction": 0.0})
    asked = _drive(bohb, lambda p: p["learning_rate"], trials=60)
    assert bohb.from_model
    for _, p in asked:
        for dim in MF3:
            assert np.isfinite(p.params[dim.name]) and dim.low <= p.params[dim.name] <= dim.high


def test_grid_points_up_to_the_limit_are_accepted():
    from hpsearch.search.strategies._grid import MAX_POINTS

    assert make_strategy("grid", MF3, np.random.SeedSequence(0)).check_options("grid", {"points": MAX_POINTS}) is None
    assert "points" in make_strategy("grid", MF3, np.random.SeedSequence(0)).check_options("grid", {"points": MAX_POINTS + 1})


def test_bohb_models_a_categorical_of_one_choice():
    """A categorical with a single choice (a fixed value written as a dimension): its kernel has no other choice to
    spread to, and the model still proposes."""
    space = parse({"space": {"epochs": {"type": "int", "low": 2, "high": 18},
                             "activation": {"type": "categorical", "choices": ["relu"]},
                             "learning_rate": {"type": "float", "low": 0.001, "high": 1.0, "log": True}}}, "t").space
    bohb = make_strategy("bohb", space, np.random.SeedSequence(1), {"min_points_in_model": 3, "random_fraction": 0.0})
    asked = _drive(bohb, lambda p: p["learning_rate"], trials=60)
    assert bohb.from_model and all(p.params["activation"] == "relu" for _, p in asked)
