"""Any scikit-learn regressor: resolved by path, checked, seeded, continued by warm start."""

import numpy as np
import pandas as pd
import pytest
from test_objective import tiny_dataset
from test_problems import diabetes_csv

from hpsearch.cli import main
from hpsearch.config import parse
from hpsearch.errors import ConfigError
from hpsearch.execution.objective import fit_and_score
from hpsearch.models import estimators
from hpsearch.search.trial import TrialSpec

HGB = "sklearn.ensemble.HistGradientBoostingRegressor"


@pytest.mark.parametrize("path, match", [
    ("os.system", "estimators are imported only from sklearn, hpsearch; to use 'os'"),
    ("sklearn.cluster.KMeans", "'sklearn.cluster.KMeans' is not a scikit-learn regressor"),
    ("sklearn.base.clone", "'sklearn.base.clone' is not a scikit-learn regressor"),
    ("sklearnx.Model", "imported only from sklearn, hpsearch"),
    ("hpsearch.__main__.X", "a path through a dunder name"),
    ("sklearn.linear_model.__init__", "a path through a dunder name"),
    (".linear_model.Ridge", "expected a dotted path"),
    ("sklearn..Ridge", "expected a dotted path"),
    ("sklearn.linear_model.Rigde", "'sklearn.linear_model' has no 'Rigde'"),
    ("Ridge", "expected a dotted path"),
])
def test_paths_that_are_not_regressors(path, match):
    with pytest.raises(estimators.EstimatorError, match=match):
        estimators.resolve(path)


def test_a_package_named_in_the_config_may_be_imported():
    with pytest.raises(estimators.EstimatorError, match="cannot import 'nosuchpackage'"):
        estimators.resolve("nosuchpackage.Model", packages=("nosuchpackage",))
    with pytest.raises(estimators.EstimatorError, match="is not a scikit-learn regressor"):
        estimators.resolve("os.path.join", packages=("os",))  # allowed to import, still not an estimator


@pytest.mark.parametrize("path, fidelity", [
    ("hpsearch.NumpyMLPRegressor", "epochs"), (HGB, "max_iter"),
    ("sklearn.ensemble.RandomForestRegressor", "n_estimators"), ("sklearn.linear_model.SGDRegressor", "max_iter"),
    ("sklearn.linear_model.Ridge", None),
])
def test_fidelity(path, fidelity):
    assert estimators.fidelity(estimators.resolve(path)) == fidelity


@pytest.mark.parametrize("model, space, match", [
    ({"estimator": "os.system"}, {}, "model.estimator: 'os.system': estimators are imported only from"),
    ({"estimator": "os.system", "packages": ["os"]}, {}, "model.estimator: 'os.system' is not a scikit-learn"),
    ({"estimator": "sklearn.linear_model.Ridge", "packages": "os"}, None, "model.packages: expected a list"),
    ({"estimator": "sklearn.linear_model.Ridge"}, {"alpah": {"type": "float", "low": 0.1, "high": 1.0}},
     "space.alpah: unknown key; did you mean 'alpha'"),
    ({"estimator": "sklearn.linear_model.Ridge", "random_state": 3}, None, "model.random_state: unknown key"),
    ({"estimator": "sklearn.linear_model.Ridge", "solver": "magic"}, None, "model.solver: The 'solver' parameter"),
    ({"estimator": "sklearn.linear_model.Ridge"}, {"alpha": {"type": "float", "low": -1.0, "high": 1.0}},
     "space.alpha: The 'alpha' parameter"),
])
def test_estimator_configs_are_checked_before_anything_runs(model, space, match):
    raw = {"model": model, "space": space if space is not None else
           {"alpha": {"type": "float", "low": 0.1, "high": 1.0}}}
    if space == {}:
        raw.pop("space")
    with pytest.raises(ConfigError, match=match):
        parse(raw, "t.toml")


def test_multi_fidelity_needs_a_fidelity():
    space = {"alpha": {"type": "float", "low": 0.1, "high": 1.0}}
    with pytest.raises(ConfigError, match="'hyperband' schedules iterations, and Ridge has none"):
        parse({"model": {"estimator": "sklearn.linear_model.Ridge"}, "space": space,
               "strategies": ["hyperband"]}, "t.toml")
    with pytest.raises(ConfigError, match="'tpe-hyperband' needs an estimator that reports every epoch"):
        parse({"model": {"estimator": HGB}, "space": {"max_iter": {"type": "int", "low": 5, "high": 45}},
               "strategies": ["tpe-hyperband"]}, "t.toml")
    with pytest.raises(ConfigError, match="budget.epochs: Ridge has no iteration count"):
        parse({"model": {"estimator": "sklearn.linear_model.Ridge"}, "space": space,
               "budget": {"epochs": 100}}, "t.toml")


def spec(path, params, **kw):
    return TrialSpec("hyperband", 0, 0, 0, params, 7, "rep0", {}, estimator=path, **kw)


@pytest.mark.parametrize("path, fidelity, model", [
    (HGB, "max_iter", {"max_leaf_nodes": 7}), ("sklearn.ensemble.RandomForestRegressor", "n_estimators", {}),
])
def test_a_continued_estimator_ends_where_fitting_straight_through_ends(tmp_path, path, fidelity, model):
    data = tiny_dataset(400)
    state = str(tmp_path / "s.state")
    first = fit_and_score(spec(path, {**model, fidelity: 10}, save_state=state), data)
    rest = fit_and_score(spec(path, {**model, fidelity: 30}, load_state=state, start_epoch=10,
                              save_state=str(tmp_path / "t.state")), data)
    straight = fit_and_score(spec(path, {**model, fidelity: 30}), data)
    assert first.epochs_trained == 10 and rest.epochs_trained == 20
    assert rest.val_loss == pytest.approx(straight.val_loss, abs=1e-9)
    assert estimators.load_estimator(str(tmp_path / "t.state"), path).get_params()[fidelity] == 30


def test_a_saved_state_with_a_foreign_type_is_refused(tmp_path):
    import skops.io as sio

    path = str(tmp_path / "evil.state")
    sio.dump({"payload": pd.Timestamp("2020-01-01")}, path)  # a type outside scikit-learn/NumPy/SciPy
    with pytest.raises(estimators.EstimatorError, match="refusing to load a saved state holding pandas"):
        estimators.load_estimator(path, HGB)


@pytest.mark.parametrize("function", [exec, eval, __import__("os").system, print])
def test_a_saved_state_holding_a_function_is_refused(tmp_path, function):
    import skops.io as sio

    path = str(tmp_path / "evil.state")
    sio.dump({"payload": function}, path)
    with pytest.raises(estimators.EstimatorError, match="refusing to load a saved state holding"):
        estimators.load_estimator(path, HGB)


HGB_HYPERBAND = """
strategies = ["random", "hyperband"]
repetitions = 1
[budget]
epochs = 300
[data]
path = "diabetes.csv"
target = "target"
[model]
estimator = "sklearn.ensemble.HistGradientBoostingRegressor"
[space.max_iter]
type = "int"
low = 5
high = 45
[space.learning_rate]
type = "float"
low = 0.01
high = 0.5
log = true
[space.max_leaf_nodes]
type = "int"
low = 4
high = 31
"""


@pytest.mark.slow
def test_gradient_boosting_under_hyperband_continues_from_saved_states(tmp_path, capsys):
    diabetes_csv(tmp_path)
    (tmp_path / "hgb.toml").write_text(HGB_HYPERBAND)
    assert main(["run", str(tmp_path / "hgb.toml"), "--out", str(tmp_path / "run"), "--quiet", "--figures", "none", "--n-jobs", "2"]) == 0
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    hb = trials[trials["strategy"] == "hyperband"]
    assert set(hb["max_iter"]) <= {5, 15, 45} and (hb["start_epoch"] > 0).any()
    assert (hb["epochs_trained"] == hb["max_iter"] - hb["start_epoch"]).all() and (trials["status"] == "ok").all()
    for _, group in trials.groupby("strategy"):
        spent = group["epochs_trained"].cumsum()
        assert spent.iloc[-1] >= 300 and spent.iloc[-2] < 300
    assert not (tmp_path / "run" / "_states").exists()


@pytest.mark.slow
def test_the_network_on_a_csv(tmp_path):
    diabetes_csv(tmp_path)
    (tmp_path / "net.toml").write_text('[data]\npath = "diabetes.csv"\ntarget = "target"\n[budget]\ntrials = 4\n'
                                       '[model]\nbatch_size = 32\n')
    assert main(["run", str(tmp_path / "net.toml"), "--out", str(tmp_path / "run"), "--quiet", "--figures", "none"]) == 0
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert len(trials) == 4 and np.isfinite(trials["val_rmse"]).all()
