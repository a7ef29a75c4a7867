"""Your own training code as the objective."""

import importlib.util
from pathlib import Path

import faults
import numpy as np
import pandas as pd
import pytest

import hpsearch
from hpsearch.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location("own_objective", ROOT / "examples" / "own_objective.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_example_runs_random_and_asha_with_curves_that_match(tmp_path):
    example = _example()
    run = example.main(str(tmp_path / "own"))
    t = run.trials
    assert set(t["strategy"]) == {"random", "asha", "pbt"} and t["status"].isin(("ok", "stopped")).all()
    assert (t.groupby(["strategy", "repetition"])["epochs_trained"].sum() >= 600).all()
    stored = [r for r in hpsearch.load(tmp_path / "own").trials.itertuples()]
    assert len(stored) == len(t)
    from hpsearch.execution.store import TrialStore

    for record in TrialStore(tmp_path / "own").read():  # epochs_trained: what the function reported after its parent
        assert record["epochs_trained"] == len(record["val_curve"]) - record["start_epoch"]
        assert len(record["val_curve"]) <= record["params"]["epochs"]
    assert np.isfinite(run.summary["test_rmse"]).all()
    assert (run.summary["test_rmse"] < run.summary["baseline_mean_test_rmse"]).all()


def test_an_objective_that_raises_fails_its_trials_and_the_run_goes_on(tmp_path):
    def train(params, data, seed, report):
        if params["alpha"] > 0.5:
            raise ValueError(f"alpha {params['alpha']:.2f} is too large for this model")
        return params["alpha"] + 1.0

    run = hpsearch.run({"data": {"dataset": "diabetes"}, "budget": {"trials": 12},
                        "space": {"alpha": {"type": "float", "low": 0.0, "high": 1.0}}},
                       objective=train, out=tmp_path / "r")
    t = run.trials
    failed = t[t["status"] == "failed"]
    assert len(failed) and failed["message"].str.contains("is too large for this model").all()
    assert (t.loc[t["status"] == "ok", "alpha"] <= 0.5).all() and (t["status"] == "ok").any()


def test_an_objective_in_a_config_is_imported_by_path_under_the_rules(tmp_path):
    config = ('[data]\ndataset = "diabetes"\n[budget]\ntrials = 3\n[model]\nobjective = "faults:quadratic"\n'
              '[space.x]\ntype = "float"\nlow = -1.0\nhigh = 1.0\n')
    (tmp_path / "c.toml").write_text(config)
    with pytest.raises(ConfigError, match="model.objective: estimators are imported only from sklearn, hpsearch; to use 'faults'"):
        hpsearch.run(tmp_path / "c.toml", out=tmp_path / "r", figures="none")
    run = hpsearch.run(tmp_path / "c.toml", out=tmp_path / "r", figures="none", allow_packages=["faults"])
    assert len(run.trials) == 3 and (run.trials["status"] == "ok").all()
    np.testing.assert_allclose(run.trials["val_rmse"], run.trials["x"] ** 2)


@pytest.mark.slow
def test_a_lambda_works_in_process_and_with_loky_and_is_refused_on_dask(tmp_path):
    config = {"data": {"dataset": "diabetes"}, "budget": {"trials": 4},
              "space": {"x": {"type": "float", "low": -1.0, "high": 1.0}}}
    one = hpsearch.run(config, objective=lambda p, d, s, r: p["x"] ** 2, out=tmp_path / "one", figures="none")
    two = hpsearch.run({**config, "n_jobs": 2}, objective=lambda p, d, s, r: p["x"] ** 2, out=tmp_path / "two", figures="none")
    pd.testing.assert_series_equal(one.trials["val_rmse"], two.trials["val_rmse"])
    with pytest.raises(ConfigError, match="a lambda, a closure or defined in __main__"):
        hpsearch.run({**config, "backend": "dask"}, objective=lambda p, d, s, r: 0.0, out=tmp_path / "dask", figures="none")


@pytest.mark.slow
def test_a_stopped_objective_and_a_resumed_run(tmp_path):
    """Median stopping stops some trials of a reporting objective (status stopped, epochs_trained
    = the epochs it reported); a run interrupted mid-way resumes to the uninterrupted trials."""
    example = _example()
    config = {**example.CONFIG, "strategies": ["median-stop"], "repetitions": 1, "budget": {"epochs": 300},
              "strategy": {"median-stop": {"n_startup_trials": 3}}}
    run = hpsearch.run(config, objective=example.train, out=tmp_path / "m", figures="none")
    t = run.trials
    stopped = t[t["status"] == "stopped"]
    assert len(stopped) and (stopped["epochs_trained"] < stopped["epochs"]).all()
    from hpsearch.execution.store import TrialStore

    for record in TrialStore(tmp_path / "m").read():
        assert record["epochs_trained"] == len(record["val_curve"])
    whole = hpsearch.run({**example.CONFIG, "strategies": ["random"]}, objective=example.train, out=tmp_path / "w", figures="none")
    cut = faults.interrupting(example.train, 9, tmp_path / "calls")  # Ctrl-C in its 9th call only
    import signal

    # Ctrl-C as at a terminal: a shell starts background jobs (a CI script, say) with SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            hpsearch.run({**example.CONFIG, "strategies": ["random"]}, objective=cut, out=tmp_path / "cut",
                         figures="none")
    finally:
        signal.signal(signal.SIGINT, previous)
    faults.end_loky_workers()  # a worker ended mid-task can leave its pool's queue locked: not this test's subject
    resumed = hpsearch.run({**example.CONFIG, "strategies": ["random"]}, objective=cut, out=tmp_path / "cut", figures="none")
    columns = ["repetition", "trial", "epochs", "learning_rate", "val_rmse", "epochs_trained", "status"]
    pd.testing.assert_frame_equal(whole.trials[columns], resumed.trials[columns])


def test_your_module_beside_the_config_is_found_with_model_path_or_refused_before_any_trial(tmp_path, capsys):
    from hpsearch.cli import main

    code = tmp_path / "project"
    (code / "mypkg").mkdir(parents=True)
    (code / "mypkg" / "__init__.py").write_text("")
    (code / "mypkg" / "own.py").write_text("def train(params, data, seed, report):\n    return params['x']\n")
    (code / "json.py").write_text("raise SystemExit('a json.py beside the config must shadow nothing')\n")
    config = ('[budget]\ntrials = 3\n[data]\ndataset = "diabetes"\n[model]\nobjective = "mypkg.own:train"\n'
              'packages = ["mypkg"]\n{path}[space.x]\ntype = "float"\nlow = 0.0\nhigh = 1.0\n')
    (code / "without.toml").write_text(config.format(path=""))
    status = main(["run", str(code / "without.toml"), "--out", str(tmp_path / "a"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "cannot import 'mypkg.own'" in err and 'path = "."' in err and "Python looked in" in err
    assert not (tmp_path / "a").exists()
    (code / "with.toml").write_text(config.format(path='path = "."\n'))
    for n_jobs in ("1", "2"):
        out = tmp_path / f"b{n_jobs}"
        assert main(["run", str(code / "with.toml"), "--out", str(out), "--quiet", "--figures", "none",
                     "--n-jobs", n_jobs]) == 0, capsys.readouterr().err
        trials = pd.read_csv(out / "trials.csv")
        assert (trials["status"] == "ok").all() and len(trials) == 3
    import sys

    assert str(code) not in sys.path  # for that run only


def _spec(epochs, trial, **kw):
    from hpsearch.search.trial import TrialSpec

    return TrialSpec("asha", 0, trial, 0, {"epochs": epochs, "learning_rate": 0.5, "init_scale": 0.1}, 7, "rep0",
                     {}, **kw)


def test_a_continued_trial_trains_the_same_curve_as_straight_through_to_the_last_bit(tmp_path):
    from hpsearch.execution.user_objective import UserObjective, load_user_state

    example = _example()
    data = _diabetes_split()
    objective = UserObjective(function=example.train)
    parent = objective(_spec(3, 0, save_state=str(tmp_path / "p.state")), data)
    state, epoch, curve = load_user_state(str(tmp_path / "p.state"))
    assert epoch == 3 and curve == parent.val_curve and set(state) == {"w", "b", "epoch"}
    child = objective(_spec(9, 1, load_state=str(tmp_path / "p.state"), start_epoch=3, parent=0), data)
    straight = objective(_spec(9, 2), data)
    assert child.start_epoch == 3 and child.parent == 0 and child.epochs_trained == 6
    assert child.val_curve == straight.val_curve and child.val_loss == straight.val_loss  # bit for bit
    assert straight.start_epoch == 0 and straight.epochs_trained == 9


def test_a_state_holds_arrays_and_numbers_and_never_pickles(tmp_path):
    from hpsearch.execution.user_objective import flat_state, load_user_state, save_user_state

    rng = np.random.default_rng(3)
    state = {"layer": {"w": np.ones((2, 2)), "mask": np.array([True, False])}, "names": np.array(["a", "b"]),
             "rng": rng.bit_generator.state, "lr": 0.1, "step": 4}
    save_user_state(4, flat_state(state), [1.0, 0.5, 0.4, 0.3], str(tmp_path / "s.state"))
    back, epoch, curve = load_user_state(str(tmp_path / "s.state"))
    assert epoch == 4 and curve == [1.0, 0.5, 0.4, 0.3]
    assert back["rng"] == rng.bit_generator.state and back["lr"] == 0.1 and back["step"] == 4  # 128-bit ints exact
    np.testing.assert_array_equal(back["layer"]["w"], state["layer"]["w"])
    assert back["layer"]["mask"].dtype == bool and list(back["names"]) == ["a", "b"]
    for bad in ({"w": np.array([object()])}, {"w": [1, 2]}, {"a/b": 1}, 3):
        with pytest.raises(TypeError):
            flat_state(bad)


@pytest.mark.slow
def test_asha_and_pbt_continue_your_objective_and_count_only_new_epochs(tmp_path, capsys):
    example = _example()
    config = {**example.CONFIG, "strategies": ["asha", "pbt"], "repetitions": 1, "budget": {"epochs": 300}}
    run = hpsearch.run(config, objective=example.train, out=tmp_path / "with", quiet=False)
    t = run.trials
    continued = t[t["start_epoch"] > 0]
    assert len(continued) and continued["parent"].notna().all()
    assert set(continued["strategy"]) == {"asha", "pbt"}
    assert (t["epochs_trained"] == t["epochs"] - t["start_epoch"]).all()  # only the new epochs count
    assert "takes a state: promoted and exploited trials continue" in capsys.readouterr().out

    def stateless(params, data, seed, report):
        return example.train(params, data, seed, lambda epoch, value, state=None: report(epoch, value))

    again = hpsearch.run({**config, "strategies": ["asha"]}, objective=stateless, out=tmp_path / "without",
                         quiet=False)
    assert (again.trials["start_epoch"] == 0).all()  # today's behaviour: trained again, counted
    assert "has no state parameter" in capsys.readouterr().out


def _deep_example():
    spec = importlib.util.spec_from_file_location("deep_loop", ROOT / "examples" / "deep_loop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_deep_learning_shaped_loop_continues_exactly_across_its_schedule_and_shuffles(tmp_path):
    """Mini-batches shuffled by its own generator, momentum, warm-up and step decay: continued from
    epoch 4 to 14 (across the decay at 10) it trains what 14 epochs straight through train."""
    from hpsearch.execution.user_objective import UserObjective

    example, data = _deep_example(), _diabetes_split()
    objective = UserObjective(function=example.train)
    params = {"hidden_width": 8, "learning_rate": 0.05, "batch_size": 32, "momentum": 0.9}

    def spec(epochs, trial, **kw):
        from hpsearch.search.trial import TrialSpec

        return TrialSpec("hyperband", 0, trial, 0, {**params, "epochs": epochs}, 11, "rep0", {}, **kw)

    objective(spec(4, 0, save_state=str(tmp_path / "p.state")), data)
    child = objective(spec(14, 1, load_state=str(tmp_path / "p.state"), start_epoch=4, parent=0), data)
    straight = objective(spec(14, 2), data)
    assert child.start_epoch == 4 and child.epochs_trained == 10
    assert child.val_curve == straight.val_curve and child.test_loss == straight.test_loss


@pytest.mark.slow
def test_the_deep_loop_example_runs_random_hyperband_and_pbt(tmp_path):
    run = _deep_example().main(str(tmp_path / "deep"))
    t = run.trials
    assert set(t["strategy"]) == {"random", "hyperband", "pbt"} and (t["status"] == "ok").all()
    assert (t[t["strategy"] != "random"].groupby("strategy")["start_epoch"].max() > 0).all()
    assert (run.summary["test_rmse"] < run.summary["baseline_mean_test_rmse"]).all()


def _diabetes_split():
    from hpsearch.config import parse
    from hpsearch.runner import problem_of

    return problem_of(parse({"data": {"dataset": "diabetes"}}, "<dict>"), False).dataset(0)


def test_a_state_half_written_when_the_process_died_is_never_read(tmp_path, monkeypatch):
    """Written to a temporary name and renamed: a crash mid-write leaves no state under the trial's
    name (the continued trial trains from scratch), and the run's clean-up deletes the fragment."""
    from hpsearch.execution import user_objective
    from hpsearch.models.checkpoints import Checkpoints

    checkpoints = Checkpoints(tmp_path)
    path = checkpoints.path("asha", 0, 4)

    def dies_mid_write(file, **arrays):
        with open(file, "wb") as handle:
            handle.write(b"PK\x03\x04 half a zip")
        raise SystemExit("killed")

    monkeypatch.setattr(user_objective.np, "savez", dies_mid_write)
    with pytest.raises(SystemExit):
        user_objective.save_user_state(3, {"w": np.ones(2)}, [1.0, 0.9, 0.8], path)
    assert not Path(path).exists() and Path(f"{path}.tmp.npz").exists()
    checkpoints.release("asha", 0, asked={4}, needed={4})
    assert not list(checkpoints.folder.iterdir())
