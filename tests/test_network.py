import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_estimator

from hpsearch import NumpyMLPClassifier, NumpyMLPRegressor
from hpsearch.models.arithmetic import ACTIVATIONS, loss_and_gradients


def _numeric_gradient(weights, biases, X, t, activation, eps=1e-6, output="identity"):
    grads = []
    for group in (weights, biases):
        out = []
        for array in group:
            g = np.zeros_like(array)
            for idx in np.ndindex(array.shape):
                old = array[idx]
                array[idx] = old + eps
                up = loss_and_gradients(weights, biases, X, t, activation, output=output)[0]
                array[idx] = old - eps
                down = loss_and_gradients(weights, biases, X, t, activation, output=output)[0]
                array[idx] = old
                g[idx] = (up - down) / (2 * eps)
            out.append(g)
        grads.append(out)
    return grads


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_backpropagation_matches_finite_differences(activation, depth):
    rng = np.random.default_rng(depth)
    sizes = [3] + [5] * depth + [1]
    weights = [rng.normal(0, 0.7, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.3, b) for b in sizes[1:]]
    X = rng.uniform(-1, 1, (7, 3))
    t = rng.normal(size=(7, 1))
    _, grad_w, grad_b = loss_and_gradients(weights, biases, X, t, activation)
    num_w, num_b = _numeric_gradient(weights, biases, X, t, activation)
    for analytic, numeric in zip(grad_w + grad_b, num_w + num_b):
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("outputs", [1, 2])
@pytest.mark.parametrize("depth", [1, 2])
def test_a_bias_folded_into_the_weights_gets_the_same_gradients(depth, outputs):
    """Training folds the first layer's bias into its weights (the input carrying ones):
    the same loss and gradients as the layers written out, the bias's in the last row."""
    from hpsearch.models.arithmetic import with_ones

    rng = np.random.default_rng(depth)
    sizes = [3] + [5] * depth + [outputs]
    weights = [rng.normal(0, 0.7, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.3, b) for b in sizes[1:]]
    X, t = rng.uniform(-1, 1, (7, 3)), rng.normal(size=(7, outputs))
    loss, grad_w, grad_b = (r if np.isscalar(r) else [g.copy() for g in r]
                            for r in loss_and_gradients(weights, biases, X, t, "sigmoid"))
    theta = np.vstack([weights[0], biases[0]])
    folded_loss, folded_w, folded_b = loss_and_gradients([theta, *weights[1:]], [None, *biases[1:]], with_ones(X),
                                                         t, "sigmoid")
    assert folded_loss == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(folded_w[0], np.vstack([grad_w[0], grad_b[0]]), rtol=1e-12, atol=1e-15)
    for a, b in zip(grad_w[1:] + grad_b[1:], folded_w[1:] + folded_b[1:]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("output, classes", [("sigmoid", 1), ("softmax", 3)])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_classifier_gradients_match_finite_differences(activation, output, classes):
    rng = np.random.default_rng(classes)
    sizes = [3, 5, 4, classes]
    weights = [rng.normal(0, 0.7, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.3, b) for b in sizes[1:]]
    X = rng.uniform(-1, 1, (9, 3))
    labels = rng.integers(0, max(classes, 2), 9)
    t = labels.reshape(-1, 1).astype(float) if classes == 1 else np.eye(classes)[labels]
    _, grad_w, grad_b = loss_and_gradients(weights, biases, X, t, activation, output=output)
    num_w, num_b = _numeric_gradient(weights, biases, X, t, activation, output=output)
    for analytic, numeric in zip(grad_w + grad_b, num_w + num_b):
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_passes_check_estimator():
    check_estimator(NumpyMLPRegressor())


def test_classifier_passes_check_estimator():
    check_estimator(NumpyMLPClassifier())


SEED_TOY = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])


@pytest.mark.slow
def test_the_lessons_network_learns_exclusive_or_within_its_budget():
    """Three inputs (the third always 1), four hidden units, one sigmoid output,
    at most the lesson's 60,000 iterations (full batch: one iteration an epoch)."""
    net = NumpyMLPClassifier(hidden_width=4, epochs=60_000, learning_rate=1.0, random_state=0)
    net.fit(SEED_TOY, ["no", "yes", "yes", "no"])
    assert net.predict(SEED_TOY).tolist() == ["no", "yes", "yes", "no"]
    assert net.classes_.tolist() == ["no", "yes"] and net.predict_proba(SEED_TOY).shape == (4, 2)
    assert np.allclose(net.predict_proba(SEED_TOY).sum(axis=1), 1)


def test_classifier_several_classes_continuation_and_one_class():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = np.where(X[:, 0] > 0.5, "c", np.where(X[:, 1] > 0, "a", "b"))
    net = NumpyMLPClassifier(epochs=60, batch_size=16, learning_rate=0.5, random_state=1).fit(X, y, X[:50], y[:50])
    assert net.score(X, y) > 0.9 and net.coefs_[-1].shape[1] == 3
    assert net.validation_curve_[-1] < net.validation_curve_[0]  # log loss falls
    first = NumpyMLPClassifier(epochs=20, batch_size=16, learning_rate=0.5, random_state=1).fit(X, y, X[:50], y[:50])
    on = NumpyMLPClassifier(epochs=20, batch_size=16, learning_rate=0.5, random_state=1).set_state(first.get_state())
    on.continue_fit(X, y, X[:50], y[:50], epochs=60)
    np.testing.assert_array_equal(on.predict_proba(X), net.predict_proba(X))
    with pytest.raises(ValueError, match="at least 2 classes"):
        NumpyMLPClassifier().fit(X, np.zeros(300))


def test_fits_a_sine():
    X = np.linspace(0, 1, 500).reshape(-1, 1)
    y = np.sin(6 * X.ravel())
    model = NumpyMLPRegressor(epochs=300, batch_size=16, learning_rate=0.3, random_state=0).fit(X, y)
    assert model.score(X, y) >= 0.95


def test_records_learning_curves():
    rng = np.random.default_rng(0)
    X, X_val = rng.uniform(size=(200, 2)), rng.uniform(size=(50, 2))
    y, y_val = X.sum(1), X_val.sum(1)
    model = NumpyMLPRegressor(epochs=30, batch_size=20, random_state=0).fit(X, y, X_val, y_val)
    assert model.loss_curve_.shape == model.validation_curve_.shape == (30,)
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    assert model.validation_curve_[-1] == pytest.approx(np.sqrt(np.mean((model.predict(X_val) - y_val) ** 2)))


def test_divergence_ends_with_a_status_not_garbage():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(100, 3))
    y = X @ [1.0, 2.0, 3.0]
    with pytest.warns(ConvergenceWarning, match="diverged"):
        model = NumpyMLPRegressor(epochs=50, learning_rate=1e4, activation="relu", random_state=0).fit(X, y)
    assert model.status_ == "diverged" and not model.converged_ and model.diverged_epoch_ == model.n_iter_ + 1
    assert model.n_iter_ < 50
    assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize("learning_rate", [50.0, 1e3, 1e6])
def test_a_diverged_network_still_predicts_in_the_range_of_the_target(learning_rate):
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(300, 4))
    y = 5.5 + X @ [0.3, -0.2, 0.1, 0.4] + rng.normal(0, 0.2, 300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = NumpyMLPRegressor(learning_rate=learning_rate, batch_size=16, random_state=0).fit(X, y)
    prediction = model.predict(X)
    spread = y.max() - y.min()
    assert model.status_ == "diverged"
    assert y.min() - spread <= prediction.min() and prediction.max() <= y.max() + spread


@pytest.mark.parametrize("param, value, match", [
    ("hidden_width", 0, "hidden_width must be an integer >= 1"),
    ("epochs", 2.5, "epochs must be an integer"),
    ("learning_rate", -1.0, "learning_rate must be a finite number > 0"),
    ("activation", "softmax", "activation must be one of"),
    ("dtype", "int32", "dtype must be"),
])
def test_bad_parameters_are_named(param, value, match):
    with pytest.raises(ValueError, match=match):
        NumpyMLPRegressor(**{param: value}).fit(np.ones((4, 1)), np.arange(4.0))


def test_same_seed_same_weights_and_float32():
    rng = np.random.default_rng(1)
    X, y = rng.uniform(size=(64, 3)), rng.uniform(size=64)
    a = NumpyMLPRegressor(epochs=5, batch_size=8, random_state=7).fit(X, y)
    b = NumpyMLPRegressor(epochs=5, batch_size=8, random_state=7).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    c = NumpyMLPRegressor(epochs=5, batch_size=8, random_state=7, dtype="float32").fit(X, y)
    assert c.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(c.predict(X), a.predict(X), atol=1e-4)


def test_usable_in_sklearn_search():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(120, 2))
    y = X[:, 0] * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(NumpyMLPRegressor(epochs=20, random_state=0),
                              {"learning_rate": [1e-4, 0.5]}, cv=2).fit(X, y)
    assert search.best_params_["learning_rate"] == 0.5  # 1e-4 barely moves in 20 epochs
    assert search.cv_results_["mean_test_score"][1] > search.cv_results_["mean_test_score"][0] + 0.1


@pytest.mark.parametrize("batch_size", [16, None])
def test_continuing_is_bit_identical_to_training_straight_through(batch_size, tmp_path):
    rng = np.random.default_rng(3)
    X, X_val = rng.uniform(size=(150, 3)), rng.uniform(size=(40, 3))
    y, y_val = np.sin(X.sum(1)), np.sin(X_val.sum(1))
    straight = NumpyMLPRegressor(epochs=12, batch_size=batch_size, random_state=5).fit(X, y, X_val, y_val)
    first = NumpyMLPRegressor(epochs=5, batch_size=batch_size, random_state=5).fit(X, y, X_val, y_val)
    np.savez(tmp_path / "state.npz", **first.get_state())  # through a file, as between trials
    with np.load(tmp_path / "state.npz") as saved:
        resumed = NumpyMLPRegressor(epochs=5, batch_size=batch_size, random_state=5).set_state(dict(saved))
    resumed.continue_fit(X, y, X_val, y_val, epochs=9).continue_fit(X, y, X_val, y_val, epochs=12)
    for a, b in zip(straight.coefs_ + straight.intercepts_, resumed.coefs_ + resumed.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(straight.validation_curve_, resumed.validation_curve_)
    np.testing.assert_array_equal(straight.loss_curve_, resumed.loss_curve_)
    assert resumed.n_iter_ == 12
    with pytest.raises(ValueError, match="below the epochs already trained"):
        resumed.continue_fit(X, y, epochs=3)


def test_a_big_batch_in_chunks_takes_the_step_of_one_pass():
    from hpsearch.models.arithmetic import Workspace, step

    rng = np.random.default_rng(3)
    X, t = rng.normal(size=(1000, 4)), rng.normal(size=(1000, 1))
    weights = [rng.normal(size=(4, 6)), rng.normal(size=(6, 1))]
    biases = [rng.normal(size=6), rng.normal(size=1)]
    one = ([W.copy() for W in weights], [b.copy() for b in biases])
    chunked = ([W.copy() for W in weights], [b.copy() for b in biases])
    loss_one = step(*one, X, t, "sigmoid", Workspace(one[0], 1000), 0.5, "identity")
    loss_chunked = step(*chunked, X, t, "sigmoid", Workspace(chunked[0], 256), 0.5, "identity")
    assert loss_chunked == pytest.approx(loss_one, rel=1e-12)
    for a, b, start in zip(one[0] + one[1], chunked[0] + chunked[1], weights + biases):
        assert not np.allclose(a, start)
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("classify", [False, True])
def test_the_workers_network_without_scikit_learn_trains_the_same_numbers(classify):
    """Workers train hpsearch.models.network's networks (no scikit-learn import); users get
    the scikit-learn estimators: the same weights and curves to the last bit."""
    from hpsearch.models.network import NetworkClassifier, NetworkRegressor

    rng = np.random.default_rng(5)
    X, X_val = rng.normal(size=(300, 4)), rng.normal(size=(60, 4))
    y, y_val = X @ [1.0, -2.0, 0.5, 0.0], X_val @ [1.0, -2.0, 0.5, 0.0]
    if classify:
        y, y_val = np.digitize(y, [-1, 1]), np.digitize(y_val, [-1, 1])
    pair = (NetworkClassifier, NumpyMLPClassifier) if classify else (NetworkRegressor, NumpyMLPRegressor)
    plain, estimator = (cls(hidden_width=7, epochs=6, batch_size=32, random_state=3).fit(X, y, X_val, y_val)
                        for cls in pair)
    for a, b in zip(plain.coefs_ + plain.intercepts_, estimator.coefs_ + estimator.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plain.validation_curve_, estimator.validation_curve_)
    np.testing.assert_array_equal(plain.predict(X_val), estimator.predict(X_val))


def test_the_workers_network_refuses_bad_data_as_clearly():
    from hpsearch.models.network import NetworkRegressor

    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="NaN or infinity"):
        NetworkRegressor().fit(np.array([[np.nan, 1.0]] * 5), np.ones(5))
    with pytest.raises(ValueError, match="one target per row"):
        NetworkRegressor().fit(X, np.ones(4))
    with pytest.raises(ValueError, match="not trained yet"):
        NetworkRegressor().predict(X)
    with pytest.raises(ValueError, match="3 features, but the network was trained on 2"):
        NetworkRegressor(epochs=1).fit(X, np.arange(5.0)).predict(np.ones((2, 3)))


def test_a_populations_losses_are_its_networks_losses_and_log_loss_stays_finite():
    """Half the squared error per network of a stacked population, as for one network alone; a sigmoid output of
    exactly 0 against a target of 1 gives log(1e-15), not infinity."""
    from hpsearch.models.arithmetic import output_loss

    rng = np.random.default_rng(0)
    out, t = rng.normal(size=(3, 7, 1)), rng.normal(size=(3, 7, 1))
    stacked = output_loss(out, t, "identity")
    assert stacked == pytest.approx([0.5 * np.sum((o - y) ** 2) / 7 for o, y in zip(out, t)], rel=1e-12)
    assert output_loss(out[0], t[0], "identity") == pytest.approx(stacked[0], rel=1e-12)
    assert output_loss(np.zeros((1, 1)), np.ones((1, 1)), "sigmoid") == pytest.approx(-np.log(1e-15))
    assert output_loss(np.ones((2, 1, 1)), np.zeros((2, 1, 1)), "sigmoid") == pytest.approx([-np.log(1e-15)] * 2, rel=1e-4)


def test_the_float64_sigmoid_is_one_over_one_plus_exp():
    """The float64 path computes 1 / (1 + exp(-z)) exactly (the float32 one (1 + tanh(z/2)) / 2)."""
    from hpsearch.models.arithmetic import _activate

    z = np.linspace(-30, 30, 101)
    np.testing.assert_array_equal(_activate(z.copy(), "sigmoid"), 1.0 / (1.0 + np.exp(-z)))
    z32 = z.astype(np.float32)
    np.testing.assert_array_equal(_activate(z32.copy(), "sigmoid"), (1 + np.tanh(z32 * np.float32(0.5))) * np.float32(0.5))


def test_a_step_moves_every_weight_and_bias_against_its_gradient():
    """One step of gradient descent: each parameter minus the learning rate times its gradient (and the loss,
    summed over the rows, is the batch's); checked on weights and biases both, in one pass and in chunks."""
    from hpsearch.models.arithmetic import Workspace, step

    rng = np.random.default_rng(0)
    X, t = rng.normal(size=(12, 3)), rng.normal(size=(12, 1))
    weights = [rng.normal(size=(3, 4)), rng.normal(size=(4, 1))]
    biases = [rng.normal(size=(1, 4)), rng.normal(size=(1, 1))]
    loss, gw, gb = loss_and_gradients(weights, biases, X, t, "sigmoid")
    expected_w = [W - 0.1 * g for W, g in zip(weights, gw)]
    expected_b = [b - 0.1 * g for b, g in zip(biases, gb)]
    for rows in (12, 5):  # one pass, then chunks of 5 rows
        w, b = [W.copy() for W in weights], [v.copy() for v in biases]
        summed = step(w, b, X, t, "sigmoid", Workspace(w, rows, b), 0.1, "identity")
        assert summed == pytest.approx(loss * 12, rel=1e-12)
        for got, want in zip(w + b, expected_w + expected_b):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
