"""Population training: each network as if trained alone, whatever it is trained with."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import experiment, without_timing

from hpsearch.data.features import Dataset
from hpsearch.execution.objective import populations, train_and_score
from hpsearch.execution.worker import Together, run_trials
from hpsearch.models.checkpoints import load_state, save_state
from hpsearch.models.mlp import NumpyMLPClassifier, NumpyMLPRegressor
from hpsearch.models.population import padded_width, stack_size, train_population
from hpsearch.runner import run_experiment
from hpsearch.search.trial import TrialSpec

RNG = np.random.default_rng(0)
X = RNG.random((600, 4))
Y = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * RNG.standard_normal(600)
X_VAL = RNG.random((150, 4))
Y_VAL = np.sin(3 * X_VAL[:, 0]) + X_VAL[:, 1] * X_VAL[:, 2]
# widths in several padding classes, epochs that end at different times, and learning
# rates from timid to divergent (1,000 diverges after an epoch or two)
PARAMS = [dict(hidden_width=w, epochs=e, learning_rate=lr) for w, e, lr in
          [(3, 4, 0.05), (16, 7, 0.5), (9, 4, 1e3), (30, 5, 0.01), (8, 6, 3.0), (2, 3, 1.0), (33, 4, 0.2)]]


def _alone(cls, params, **model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [cls(**p, **model, random_state=i).fit(X, y_for(cls), X_VAL, y_val_for(cls))
                for i, p in enumerate(params)]


def _together(cls, params, indices=None, **model):
    indices = range(len(params)) if indices is None else indices
    nets = [cls(**params[i], **model, random_state=i) for i in indices]
    data = [net.start_training(X, y_for(cls), X_VAL, y_val_for(cls)) for net in nets][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train_population(nets, *data)


def y_for(cls):
    return Y if cls is NumpyMLPRegressor else np.digitize(Y, [0.3, 0.9])


def y_val_for(cls):
    return Y_VAL if cls is NumpyMLPRegressor else np.digitize(Y_VAL, [0.3, 0.9])


def _assert_same(alone, together, rtol=1e-9):
    for a, b in zip(alone, together):
        assert a.status_ == b.status_ and a.n_iter_ == b.n_iter_
        np.testing.assert_allclose(b.validation_curve_, a.validation_curve_, rtol=rtol)
        for W, V in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
            assert W.shape == V.shape
            np.testing.assert_allclose(V, W, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("layers", [1, 2])
def test_each_network_of_a_population_ends_as_it_would_alone(activation, layers):
    model = dict(activation=activation, n_hidden_layers=layers, batch_size=32)
    alone = _alone(NumpyMLPRegressor, PARAMS, **model)
    assert "diverged" in [net.status_ for net in alone] and "ok" in [net.status_ for net in alone]
    _assert_same(alone, _together(NumpyMLPRegressor, PARAMS, **model))


def test_classifiers_train_together_as_alone():
    for classes in (2, 3):
        params = [{**p, "learning_rate": min(p["learning_rate"], 1.0)} for p in PARAMS]
        cls = NumpyMLPClassifier
        y = np.digitize(Y, [0.3, 0.9] if classes == 3 else [0.6])
        y_val = np.digitize(Y_VAL, [0.3, 0.9] if classes == 3 else [0.6])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alone = [cls(**p, batch_size=50, random_state=i).fit(X, y, X_VAL, y_val) for i, p in enumerate(params)]
            nets = [cls(**p, batch_size=50, random_state=i) for i, p in enumerate(params)]
            data = [net.start_training(X, y, X_VAL, y_val) for net in nets][0]
            train_population(nets, *data)
        _assert_same(alone, nets)


def test_results_do_not_depend_on_who_trains_together_to_the_last_bit():
    model = dict(batch_size=32)
    everyone = _together(NumpyMLPRegressor, PARAMS, **model)
    halves = (_together(NumpyMLPRegressor, PARAMS, [0, 2, 4, 6], **model)
              + _together(NumpyMLPRegressor, PARAMS, [1, 3, 5], **model))
    by_seed = {net.random_state: net for net in halves}
    for net in everyone:
        other = by_seed[net.random_state]
        assert np.array_equal(net.validation_curve_, other.validation_curve_)
        assert all(np.array_equal(W, V) for W, V in zip(net.coefs_, other.coefs_))


def test_padding_is_inert_and_stacks_stay_in_the_cache():
    assert [padded_width(w, 32) for w in (1, 2, 8, 9, 16, 17, 64, 65)] == [8, 8, 8, 16, 16, 32, 64, 128]
    assert [padded_width(w, 256) for w in (2, 9, 17, 33, 57, 65)] == [8, 16, 32, 40, 64, 72]
    assert stack_size(32, 32, 8) > stack_size(256, 32, 8) >= 1
    assert stack_size(10**6, 1024, 8) == 1


def test_a_network_goes_on_from_its_saved_state_in_a_population(tmp_path):
    params = [dict(p, epochs=p["epochs"] + 3) for p in PARAMS]
    straight = _alone(NumpyMLPRegressor, params, batch_size=32)
    first = _together(NumpyMLPRegressor, PARAMS, batch_size=32)
    resumed = []
    for i, net in enumerate(first):
        save_state(net.get_state(), tmp_path / f"{i}.npz")
        again = NumpyMLPRegressor(**params[i], batch_size=32, random_state=i).set_state(
            load_state(tmp_path / f"{i}.npz"))
        resumed.append(again)
    data = resumed[0].resume_training(X, Y, X_VAL, Y_VAL, resumed[0].epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_population(resumed, *data)
    _assert_same(straight, resumed)


TOGETHER = Together(train_and_score)  # a worker call that trains its specs as one population


def _specs(**model):
    return [TrialSpec("random", 0, i, i, dict(p), i, "rep0", {"batch_size": 32, **model})
            for i, p in enumerate(PARAMS)]


def _dataset():
    return Dataset(X, Y, X_VAL, Y_VAL, X_VAL, Y_VAL, feature_names=["a", "b", "c", "d"])


def test_the_worker_call_trains_a_list_of_specs_as_one_population():
    specs, data = _specs(), _dataset()
    together = run_trials(TOGETHER, specs, data)
    alone = [run_trials(train_and_score, [spec], data)[0] for spec in specs]
    for a, b in zip(alone, together):
        assert (a.trial, a.status) == (b.trial, b.status) and b.seconds > 0
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-9, nan_ok=True)
        assert a.val_curve == pytest.approx(b.val_curve, rel=1e-9)
    with pytest.raises(ValueError, match="cannot be trained in a population"):
        train_and_score.train_together(_specs(batch_size="full"), data)


def test_a_population_of_one_computes_what_it_computes_among_others():
    """Whether a trial trains alone or with others in its worker call never changes its bits."""
    specs, data = _specs(), _dataset()
    together = run_trials(TOGETHER, specs, data)
    for spec, among in zip(specs, together):
        [alone] = run_trials(TOGETHER, [spec], data)
        assert alone.val_curve == among.val_curve and alone.status == among.status
    # and a trial alone in its population goes to the population path, not the plain one
    assert populations(train_and_score, specs[:1]) == [(TOGETHER, specs[:1])]


def test_a_population_that_fails_falls_back_to_one_trial_at_a_time():
    specs = _specs()
    specs[1].params["hidden_width"] = "wide"  # refused by the network: its trial alone fails
    results = run_trials(TOGETHER, specs, _dataset())
    assert [r.status for r in results].count("failed") == 1 and results[1].status == "failed"
    assert "hidden_width" in results[1].message


def test_populations_group_what_can_share_a_computation():
    specs = _specs() + _specs(batch_size="full") + _specs(activation="tanh")
    tasks = populations(train_and_score, specs, cap=None, workers=2)
    assert sorted(s.key for _, g in tasks for s in g) == sorted(s.key for s in specs)
    for objective, group in tasks:
        assert len({(s.model.get("activation"), s.model["batch_size"], padded_width(s.params["hidden_width"], 32))
                    for s in group}) == 1
        full = group[0].model["batch_size"] == "full"
        assert objective == (train_and_score if full else TOGETHER) and (len(group) == 1 or not full)
    assert all(o is train_and_score and len(g) == 1 for o, g in populations(train_and_score, specs, cap=1))
    assert max(len(g) for _, g in populations(train_and_score, specs, cap=2)) == 2
    custom = lambda spec, data: None  # noqa: E731
    assert all(o is custom and len(g) == 1 for o, g in populations(custom, specs))
    reporting = [TrialSpec(**{**vars(s), "report_epochs": True}) for s in _specs()]
    assert all(len(g) == 1 for _, g in populations(train_and_score, reporting))
    big = _specs(batch_size=256)  # above the measured crossover: alone by default, together when asked
    assert all(o is train_and_score and len(g) == 1 for o, g in populations(train_and_score, big, workers=1))
    assert all(o == TOGETHER for o, g in populations(train_and_score, big, cap=4))


@pytest.mark.slow
def test_a_search_in_populations_gives_the_trials_of_one_at_a_time(small_catalog, tmp_path):
    space = {"epochs": {"type": "int", "low": 2, "high": 12},
             "hidden_width": {"type": "int", "low": 2, "high": 40, "log": True},
             "learning_rate": {"type": "float", "low": 0.01, "high": 3.0, "log": True}}
    config = dict(budget={"trials": 16}, space=space, model={"batch_size": 32})
    one = run_experiment(experiment(population=1, **config), tmp_path / "one", progress=False)
    default = run_experiment(experiment(**config), tmp_path / "default", progress=False)
    two = run_experiment(experiment(n_jobs=2, population=3, **config), tmp_path / "two", progress=False)
    a, b, c = (without_timing(out.trials) for out in (one, default, two))
    pd.testing.assert_frame_equal(b, c)  # grouping and workers change nothing, to the last bit
    pd.testing.assert_frame_equal(a.drop(columns=["train_rmse", "val_rmse"]), b.drop(columns=["train_rmse", "val_rmse"]))
    np.testing.assert_allclose(b["val_rmse"], a["val_rmse"], rtol=1e-9)
    assert a["val_rmse"].idxmin() == b["val_rmse"].idxmin()
    assert (a["status"] == "ok").sum() >= 12
