"""Data preparation per repetition, baselines, test scoring."""

import numpy as np
import pytest
from conftest import experiment

from hpsearch.data.features import Dataset
from hpsearch.data.prepared import baselines, data_key, prepare_problem
from hpsearch.execution.backends import InProcessBackend
from hpsearch.execution.store import TrialStore
from hpsearch.models.checkpoints import Checkpoints
from hpsearch.search.budget import Meter, Search
from hpsearch.search.loop import Session, score_tests
from hpsearch.search.strategies import make_strategy
from hpsearch.search.trial import TrialResult


def test_baselines_on_a_hand_made_split():
    X = np.arange(8.0).reshape(-1, 1)
    y = 2 * X.ravel() + 1
    data = Dataset(X[:4], y[:4], X[4:6], y[4:6], X[6:], y[6:], ("x",))
    b = baselines(data)
    # the training mean is 4; validation targets 9 and 11, test 13 and 15
    assert b.baseline_val == pytest.approx(np.sqrt((25 + 49) / 2))
    assert b.baseline_test == pytest.approx(np.sqrt((81 + 121) / 2))
    assert b.reference_val == pytest.approx(0, abs=1e-9) and b.reference_test == pytest.approx(0, abs=1e-9)


def test_the_linear_baseline_is_scikit_learns_least_squares():
    from sklearn.linear_model import LinearRegression

    from hpsearch.data.prepared import least_squares

    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 6)) * [1, 10, 100, 0.1, 1e4, 1] + [0, 5, -3, 0, 1e5, 2]
    y = X @ rng.normal(size=6) + rng.normal(size=500)
    X_new = rng.normal(size=(50, 6))
    ours, theirs = least_squares(X, y)(X_new), LinearRegression().fit(X, y).predict(X_new)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9 * np.abs(theirs).max())
    assert not np.allclose(ours, LinearRegression(fit_intercept=False).fit(X, y).predict(X_new))


def test_each_repetition_has_its_own_split_and_baselines(small_catalog):
    problem = prepare_problem(experiment(repetitions=2).data, 0)
    a, b = problem.dataset(0), problem.dataset(1)
    assert a.X_train.shape == b.X_train.shape and not np.array_equal(a.y_val, b.y_val)
    assert problem.baselines(0) != problem.baselines(1) and problem.n_features == 4
    again = prepare_problem(experiment(repetitions=1).data, 0).dataset(0)
    np.testing.assert_array_equal(again.X_train, a.X_train)  # the same seed, the same split
    assert "rows kept" in " ".join(problem.cleaning.lines())


def scored(spec, dataset):
    return TrialResult.from_spec(spec, val_loss=0.1, test_loss=0.2 if spec.with_test else np.nan)


def test_the_test_split_is_scored_once_per_search_for_its_best(tmp_path):
    exp = experiment()
    session = Session(TrialStore(tmp_path), Meter(exp.budget, 100), scored, Checkpoints(tmp_path), 5, {})
    searches = [Search(make_strategy("random", exp.space, np.random.SeedSequence(0)), r, data_key(r))
                for r in range(3)]
    searches[0].add(TrialResult("random", 0, 4, 4, 1, {"epochs": 3}, val_loss=0.3))
    searches[1].add(TrialResult("random", 1, 2, 9, 1, {"epochs": 5}, val_loss=0.3))
    with InProcessBackend() as backend:
        backend.share({data_key(r): None for r in range(3)})
        tests = score_tests(session, searches, backend)
    assert sorted(tests) == [("random", 0), ("random", 1)]  # repetition 2 has no best
    assert tests[("random", 1)].config == 9 and tests[("random", 1)].test_loss == 0.2
    assert TrialStore(tmp_path).read() == []  # test scores are not trials


def test_splits_are_prepared_when_first_needed(small_catalog, monkeypatch):
    import hpsearch.data.prepared as evaluation

    calls = []
    original = evaluation.prepare
    monkeypatch.setattr(evaluation, "prepare", lambda *a, **k: calls.append(1) or original(*a, **k))
    problem = prepare_problem(experiment(repetitions=1000).data, 0)
    assert len(calls) == 1  # the first split only, to check the data
    problem.baselines(7)
    problem.baselines(7)
    assert len(calls) == 2
