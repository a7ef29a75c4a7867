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
    assert set(t["strategy"]) == {"random", "asha"} and t["status"].isin(("ok", "stopped")).all()
    assert (t.groupby(["strategy", "repetition"])["epochs_trained"].sum() >= 600).all()
    stored = [r for r in hpsearch.load(tmp_path / "own").trials.itertuples()]
    assert len(stored) == len(t)
    from hpsearch.execution.store import TrialStore

    for record in TrialStore(tmp_path / "own").read():  # epochs_trained is what the function reported
        assert record["epochs_trained"] == len(record["val_curve"]) <= record["params"]["epochs"]
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
