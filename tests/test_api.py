"""The Python API: hpsearch.run, hpsearch.load, Run."""

import json

import pandas as pd
import pytest

import hpsearch
from hpsearch.errors import ConfigError, RunError

RIDGE = {"name": "ridge", "data": {"dataset": "diabetes"}, "strategies": ["random", "tpe"],
         "model": {"estimator": "sklearn.linear_model.Ridge"},
         "space": {"alpha": {"type": "float", "low": 1e-4, "high": 100.0, "log": True}},
         "budget": {"trials": 10}, "repetitions": 2}


def test_run_a_dict_then_load_it_back(tmp_path):
    run = hpsearch.run(RIDGE, out=tmp_path / "r", figures="none", n_jobs=1)
    on_disk = pd.read_csv(tmp_path / "r" / "trials.csv")
    pd.testing.assert_frame_equal(run.trials, on_disk)
    again = hpsearch.load(tmp_path / "r")
    pd.testing.assert_frame_equal(again.trials, on_disk)
    assert list(run.summary["strategy"]) == ["random", "tpe", "random", "tpe"]
    assert list(run.comparison["strategy"]) == ["random", "tpe"]
    best = run.best()
    assert best["val_rmse"] == run.summary["best_val_rmse"].min() < best["baseline_mean_val_rmse"]
    assert set(best["params"]) == {"alpha"} and best["test_rmse"] > 0
    assert run.best("tpe", repetition=1)["strategy"] == "tpe"
    model = run.best_estimator("random", repetition=1, fit=True)
    assert model.get_params()["alpha"] == run.best("random", repetition=1)["params"]["alpha"]
    assert model.predict([[0.5] * 10]).shape == (1,)
    assert "Run(" in repr(run)


@pytest.mark.slow
def test_toml_text_a_path_overrides_and_the_network(tmp_path, experiments, small_catalog):
    text = 'name = "t"\n[data]\ndataset = "friedman1"\nn_samples = 300\n[budget]\ntrials = 3\n[model]\nbatch_size = 32\n'
    run = hpsearch.run(text=text, out=tmp_path / "t", figures="none", trials=2, seed=4)
    assert len(run.trials) == 2 and run.experiment.seed == 4
    net = run.best_estimator(fit=True)
    assert isinstance(net, hpsearch.NumpyMLPRegressor) and net.n_iter_ == run.best()["params"]["epochs"]
    quick = hpsearch.run(experiments / "quickstart.toml", out=tmp_path / "q", figures="none", trials=2, n_jobs=1)
    assert len(quick.trials) == 2


def test_an_interrupted_run_loads_from_its_store(tmp_path):
    run = hpsearch.run(RIDGE, out=tmp_path / "r", figures="none", trials=3)
    for name in ("trials", "summary", "comparison"):
        (tmp_path / "r" / f"{name}.csv").unlink()
    loaded = hpsearch.load(tmp_path / "r")
    assert len(loaded.trials) == 12 and loaded.summary.empty
    with pytest.raises(RunError, match="no finished trial"):
        loaded.best()
    assert len(run.trials) == 12


def test_bad_input_to_the_api():
    with pytest.raises(ConfigError, match="no such config file"):
        hpsearch.run("does/not/exist.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        hpsearch.run(text="name = \n")
    with pytest.raises(ConfigError, match="no such config file"):
        hpsearch.run("runs/a=b.toml")  # a path is a path, '=' or not
    with pytest.raises(ConfigError, match="expected a path to a TOML file or a dict"):
        hpsearch.run(42)
    with pytest.raises(RunError, match="not an hpsearch run folder"):
        hpsearch.load("nowhere")


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path):
    """The Python block of README.md's "From Python" section, as a user would paste it."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("### From Python"):]
    code = section[section.index("```python") + len("```python"):section.index("```", section.index("```python") + 9)]
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)  # writes results/ridge in this test's folder
    run, model = namespace["run"], namespace["model"]
    assert len(run.trials) == 2 * 3 * 20  # 2 strategies x 3 repetitions x 20 trials
    assert model.get_params()["alpha"] == run.best()["params"]["alpha"]  # best_estimator follows best()
    assert (tmp_path / "results" / "ridge" / "trials.csv").is_file()


@pytest.mark.slow
def test_a_dataframe_in_memory_gives_the_trials_of_the_same_table_on_disk(tmp_path):
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    frame.to_csv(tmp_path / "d.csv", index=False)
    config = {"model": {"estimator": "sklearn.linear_model.Ridge"}, "strategies": ["random", "tpe"],
              "space": {"alpha": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}},
              "budget": {"trials": 4}, "repetitions": 2}
    on_disk = hpsearch.run({**config, "data": {"path": str(tmp_path / "d.csv"), "target": "target"}},
                           out=tmp_path / "disk", figures="none")
    in_memory = hpsearch.run(config, data=frame, target="target", out=tmp_path / "memory", figures="none")
    columns = ["strategy", "repetition", "trial", "alpha", "val_rmse", "status"]
    pd.testing.assert_frame_equal(on_disk.trials[columns], in_memory.trials[columns])
    meta = json.loads((tmp_path / "memory" / "run.json").read_text())["catalog"]["in_memory"]
    assert meta["rows"] == 442 and meta["columns"][-1] == "target" and len(meta["sha256"]) == 64
    X, y = frame.drop(columns="target"), frame["target"]
    pairs = hpsearch.run(config, data=(X, y), out=tmp_path / "xy", figures="none")
    pd.testing.assert_frame_equal(on_disk.trials[columns], pairs.trials[columns])
    with pytest.raises(RunError, match="different config"):  # a resume with other data
        hpsearch.run(config, data=frame.assign(target=frame["target"] + 1), target="target", out=tmp_path / "memory", figures="none")
    assert len(hpsearch.run(config, data=frame, target="target", out=tmp_path / "memory", figures="none").trials) == 16


def test_a_refusal_under_hpsearch_run_speaks_python(tmp_path):
    from hpsearch.errors import RunError

    config = {"budget": {"trials": 1}, "data": {"dataset": "diabetes"}}
    hpsearch.run({**config, "seed": 1}, out=tmp_path / "o", figures="none")
    with pytest.raises(RunError, match=r"pass force=True") as caught:
        hpsearch.run({**config, "seed": 2}, out=tmp_path / "o", figures="none")
    assert "--" not in str(caught.value)
