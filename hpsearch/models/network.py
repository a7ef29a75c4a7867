"""The NumPy networks that train and predict (:class:`NetworkRegressor`, :class:`NetworkClassifier`):
their parameters, the training loop over epochs and mini-batches, divergence, state.

This module is NumPy only: the training loop and the networks as a
worker trains them (:class:`NetworkRegressor`, :class:`NetworkClassifier`), so that
a worker process does not import scikit-learn (about 1 s of its start, pandas and
SciPy's statistics included). The scikit-learn estimators ``NumpyMLPRegressor`` and
``NumpyMLPClassifier`` (:mod:`hpsearch.models.mlp`) are these networks with
scikit-learn's checks and API; both train the same numbers.
The arithmetic of a step (activations, forward, loss and gradients) is
:mod:`hpsearch.models.arithmetic`, where the maths is written out.
"""

from __future__ import annotations

import json
import numbers
import warnings

import numpy as np

from hpsearch.models.arithmetic import (
    ACTIVATIONS,
    Workspace,
    chunk_rows,
    fold_bias,
    forward,
    output_loss,
    step,
    with_ones,
)


def check_params(net) -> None:
    """ValueError naming the first parameter of the network ``net`` out of its range."""

    def positive_int(name: str, value, allow_none: bool = False) -> None:
        if value is None and allow_none:
            return
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")

    positive_int("hidden_width", net.hidden_width)
    positive_int("epochs", net.epochs)
    positive_int("n_hidden_layers", net.n_hidden_layers)
    if net.batch_size != "full":
        positive_int("batch_size", net.batch_size, allow_none=True)
    for name in ("learning_rate", "init_scale"):
        value = getattr(net, name)
        if (not isinstance(value, numbers.Real) or isinstance(value, bool) or not value > 0
                or not np.isfinite(value)):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if not isinstance(net.shuffle, (bool, np.bool_)):
        raise ValueError(f"shuffle must be true or false, got {net.shuffle!r}")
    if not isinstance(net.activation, str) or net.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {net.activation!r}")
    if not isinstance(net.dtype, str) or net.dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {net.dtype!r}")


def _rng(rs) -> np.random.Generator:
    """A generator from a ``random_state`` as scikit-learn accepts it."""
    if isinstance(rs, np.random.Generator):
        return rs
    if isinstance(rs, np.random.RandomState):
        return np.random.default_rng(rs.randint(2**32, dtype=np.uint64))
    return np.random.default_rng(rs)


def batch_rows(net, n: int) -> int:
    """Rows per gradient step of ``net`` on ``n`` training rows."""
    return n if net.batch_size in (None, "full") else min(net.batch_size, n)


def train_epochs(net, X, y, X_val, y_val, until: int, on_epoch=None):
    """Epochs ``n_iter_ + 1`` ... ``until`` of mini-batch gradient descent of the
    network ``net`` (a method of every network, written out here once)."""
    dtype = np.dtype(net.dtype)
    t = net.encode_targets(y).astype(dtype)
    rng = net.rng_
    n = X.shape[0]
    batch = batch_rows(net, n)
    lr = dtype.type(net.learning_rate)
    train_curve: list[float] = list(net.loss_curve_)
    val_curve: list[float] = list(net.validation_curve_)
    candidates = [([W.copy() for W in net.coefs_], [b.copy() for b in net.intercepts_])]  # kept against divergence
    best_score = np.inf
    score_val = net.scorer(y_val) if X_val is not None else None  # its targets coded once, not every epoch
    weights, biases = fold_bias(net)
    workspace = Workspace(weights, chunk_rows(batch, net.hidden_width, dtype.itemsize), biases)
    X1 = with_ones(X)
    X1_val = with_ones(X_val) if X_val is not None else None
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(net.n_iter_, until):
            saved = ([W.copy() for W in net.coefs_], [b.copy() for b in net.intercepts_])
            order = rng.permutation(n) if net.shuffle and batch < n else None
            Xe, te = (X1, t) if order is None else (X1[order], t[order])
            total = 0.0
            for start in range(0, n, batch):
                stop = min(start + batch, n)
                total += step(weights, biases, Xe[start:stop], te[start:stop],
                              net.activation, workspace, lr, net.output_unit)
            score = net.train_score(total / n)
            if not np.isfinite(score) or not all(np.isfinite(W).all() for W in net.coefs_):
                diverge(net, [*candidates, saved], X, t, len(train_curve) + 1)
                break
            if score < best_score:  # the weights this epoch started from: a candidate if it diverges later
                best_score = score
                candidates[1:] = [saved]
            train_curve.append(float(score))
            if X_val is not None:
                val_curve.append(score_val(forward(weights, biases, X1_val, net.activation,
                                                   output=net.output_unit)[-1]))
                if on_epoch is not None and on_epoch(len(val_curve), val_curve[-1]):
                    net.status_ = "stopped"
                    break
    return finish(net, train_curve, val_curve)


def diverge(net, candidates: list, X: np.ndarray, t: np.ndarray, epoch: int) -> None:
    """Training of ``net`` diverged in ``epoch``: keep the candidate (weights, biases)
    with the lowest training loss."""
    net.coefs_, net.intercepts_ = _least_loss(net, candidates, X, t)
    net.status_ = "diverged"
    net.diverged_epoch_ = epoch


def finish(net, train_curve: list, val_curve: list):
    """Record the curves of a training run of ``net``; warn if it diverged."""
    net.n_iter_ = len(train_curve)
    net.loss_curve_ = np.array(train_curve)
    net.validation_curve_ = np.array(val_curve)
    net.converged_ = net.status_ != "diverged"
    if net.status_ == "diverged":
        warnings.warn(
            f"training diverged (non-finite loss) in epoch {net.n_iter_ + 1} with "
            f"learning_rate={net.learning_rate}; the weights kept are those with the lowest training loss "
            f"seen (predictions stay in the range of the target)",
            net.divergence_warning,
            stacklevel=3,
        )
    return net


def _least_loss(net, candidates: list, X: np.ndarray, t: np.ndarray):
    """Of several (weights, biases), those with the lowest training loss (one forward
    pass each; only when training diverged)."""
    def loss(weights, biases):
        with np.errstate(over="ignore", invalid="ignore"):
            out = forward(weights, biases, X, net.activation, output=net.output_unit)[-1]
            value = output_loss(out.astype(np.float64), t.astype(np.float64), net.output_unit)
        return value if np.isfinite(value) else np.inf
    return min(candidates, key=lambda c: loss(*c))


class DivergenceWarning(UserWarning):
    """Training diverged (see ``status_``); the scikit-learn estimators issue scikit-learn's
    ``ConvergenceWarning`` instead."""


class DataChecks:
    """The checks of data and of the fitted state a :class:`Network` makes, plain NumPy
    (scikit-learn's in :class:`hpsearch.models.mlp.NumpyMLPBase`)."""

    def check_data(self, X, y, reset: bool):
        """Training rows ``X`` (checked by :meth:`check_rows`) and their targets, one per row."""
        X = self.check_rows(X, reset)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must hold one target per row of X ({len(X)}), got shape {y.shape}")
        if self.output_unit == "identity":
            y = y.astype(np.float64)
            if not np.isfinite(y).all():
                raise ValueError("y contains NaN or infinity")
        return X, y

    def check_rows(self, X, reset: bool = False) -> np.ndarray:
        """``X`` as a finite 2-D float array with the features the network was trained on."""
        X = np.asarray(X)
        if X.dtype not in (np.float64, np.float32):
            X = X.astype(np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity")
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but the network was trained on {self.n_features_in_}")
        return X

    def check_fitted(self) -> None:
        if not hasattr(self, "coefs_"):
            raise ValueError(f"this {type(self).__name__} is not trained yet: call fit first")


class Network(DataChecks):
    """What every NumPy network shares: parameters and their checks, the epochs of
    gradient descent, continuation and the saved training state. A subclass names its
    output unit and codes its targets (:class:`RegressionOutput`,
    :class:`ClassificationOutput`); the data checks are plain NumPy here, scikit-learn's
    in :mod:`hpsearch.models.mlp` (the hooks ``check_data``, ``check_rows`` and
    ``check_fitted``). The public training protocol (used by
    population training and the objectives) is ``start_training``,
    ``resume_training``, ``encode_targets``, ``train_score``, ``score_output``,
    ``output_unit`` and the shuffle generator ``rng_`` (see each)."""

    output_unit = "identity"
    divergence_warning: type[Warning] = DivergenceWarning

    def __init__(
        self,
        hidden_width: int = 32,
        epochs: int = 100,
        learning_rate: float = 0.1,
        n_hidden_layers: int = 1,
        batch_size: int | str | None = None,
        activation: str = "sigmoid",
        init_scale: float = 1.0,
        shuffle: bool = True,
        dtype: str = "float64",
        random_state=None,
    ):
        self.hidden_width = hidden_width
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.n_hidden_layers = n_hidden_layers
        self.batch_size = batch_size
        self.activation = activation
        self.init_scale = init_scale
        self.shuffle = shuffle
        self.dtype = dtype
        self.random_state = random_state

    def fit(self, X, y, X_val=None, y_val=None, *, on_epoch=None):
        """Train from scratch; with ``X_val``/``y_val``, record the validation curve.

        ``on_epoch(epoch, value)``, when given with validation data, is called
        after every epoch with the validation value (RMSE, or log loss for the
        classifier); returning True stops training there (``status_`` is then
        "stopped"): this is how a pruner ends a hopeless trial early.
        """
        X, y, X_val, y_val = self.start_training(X, y, X_val, y_val)
        return self._train(X, y, X_val, y_val, self.epochs, on_epoch)

    def start_training(self, X, y, X_val=None, y_val=None):
        """Check the parameters and the data, draw the initial weights; the validated data."""
        check_params(self)
        X, y, X_val, y_val = self._validate(X, y, X_val, y_val, reset=True)
        dtype = np.dtype(self.dtype)
        outputs = self._init_target(y)
        self.rng_ = _rng(self.random_state)
        sizes = [X.shape[1]] + [self.hidden_width] * self.n_hidden_layers + [outputs]
        self.coefs_ = [(self.rng_.standard_normal((n_in, n_out)) * (self.init_scale / np.sqrt(n_in))).astype(dtype)
                       for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.intercepts_ = [np.zeros(n_out, dtype=dtype) for n_out in sizes[1:]]
        self.n_iter_ = 0
        self.loss_curve_ = np.empty(0)
        self.validation_curve_ = np.empty(0)
        self.status_ = "ok"
        self.diverged_epoch_ = None
        return X, y, X_val, y_val

    def continue_fit(self, X, y, X_val=None, y_val=None, *, epochs: int, on_epoch=None):
        """Train on from the epochs done so far until ``epochs`` in total (``on_epoch`` as in :meth:`fit`).

        Same data, same parameters: the result is bit for bit the network that
        ``fit`` trains with ``epochs`` epochs (same weights, same shuffles: the
        random generator's state is part of the model, see :meth:`get_state`).
        """
        X, y, X_val, y_val = self.resume_training(X, y, X_val, y_val, epochs)
        if self.status_ == "diverged":
            return self
        self.status_ = "ok"  # a network stopped early may go on
        return self._train(X, y, X_val, y_val, epochs, on_epoch)

    def resume_training(self, X, y, X_val, y_val, epochs: int):
        """Check that training can go on to ``epochs``; the validated data."""
        self.check_fitted()
        if epochs < self.n_iter_:
            raise ValueError(f"epochs ({epochs}) is below the epochs already trained ({self.n_iter_})")
        return self._validate(X, y, X_val, y_val, reset=False)

    def _validate(self, X, y, X_val, y_val, reset: bool):
        dtype = np.dtype(self.dtype)
        X, y = self.check_data(X, y, reset)
        X = np.ascontiguousarray(X, dtype=dtype)
        y = np.asarray(y, dtype=np.float64) if self.output_unit == "identity" else np.asarray(y)
        if X_val is not None:
            X_val = np.ascontiguousarray(self.check_rows(X_val), dtype=dtype)
            y_val = np.asarray(y_val).ravel()
            if self.output_unit == "identity":
                y_val = y_val.astype(np.float64)
        return X, y, X_val, y_val

    def _train(self, X, y, X_val, y_val, until: int, on_epoch=None):
        return train_epochs(self, X, y, X_val, y_val, until, on_epoch)

    def scorer(self, y: np.ndarray):
        """``score_output(out, y)`` as a function of ``out`` alone, for targets scored again and
        again (the validation split, every epoch)."""
        return lambda out: self.score_output(out, y)

    def _raw(self, X) -> np.ndarray:
        """The output unit for rows of ``X`` (validated, in the network's dtype)."""
        self.check_fitted()
        X = self.check_rows(X)
        with np.errstate(over="ignore", invalid="ignore"):
            out = forward(self.coefs_, self.intercepts_, np.asarray(X, dtype=np.dtype(self.dtype)),
                          self.activation, output=self.output_unit)[-1]
        return out.astype(np.float64)

    # -- saving and restoring the training state ----------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """Everything training needs to go on: weights, curves, the target's coding
        and the random generator's state, as arrays (``numpy.savez`` writes it;
        loading it needs no pickle). Plain gradient descent keeps no optimiser state."""
        self.check_fitted()
        state = {f"coef_{k}": W for k, W in enumerate(self.coefs_)}
        state.update({f"intercept_{k}": b for k, b in enumerate(self.intercepts_)})
        state.update(loss_curve=self.loss_curve_, validation_curve=self.validation_curve_,
                     n_iter=np.array(self.n_iter_), n_features_in=np.array(self.n_features_in_),
                     status=np.array(self.status_),
                     rng=np.array(json.dumps(self.rng_.bit_generator.state)), **self._target_state())
        return state

    def set_state(self, state):
        """Restore what :meth:`get_state` saved (the parameters must be the same)."""
        layers = sum(1 for key in state if str(key).startswith("coef_"))
        self.coefs_ = [np.array(state[f"coef_{k}"]) for k in range(layers)]
        self.intercepts_ = [np.array(state[f"intercept_{k}"]) for k in range(layers)]
        self.loss_curve_ = np.array(state["loss_curve"])
        self.validation_curve_ = np.array(state["validation_curve"])
        self._restore_target(state)
        self.n_iter_ = int(state["n_iter"])
        self.n_features_in_ = int(state["n_features_in"])
        self.status_ = str(state["status"])
        self.diverged_epoch_ = None
        self.converged_ = self.status_ != "diverged"
        self.rng_ = np.random.default_rng()
        self.rng_.bit_generator.state = json.loads(str(state["rng"]))
        return self


class RegressionOutput:
    """A linear output unit and half the squared error on the standardised target
    (see module doc), so the untrained network predicts the mean."""

    output_unit = "identity"

    def _init_target(self, y: np.ndarray) -> int:
        self._y_mean = float(y.mean())
        self._y_scale = float(y.std()) or 1.0
        return 1

    def encode_targets(self, y: np.ndarray) -> np.ndarray:
        return ((y - self._y_mean) / self._y_scale).reshape(-1, 1)

    def train_score(self, mean_loss: float) -> float:
        return np.sqrt(2.0 * mean_loss) * self._y_scale

    def score_output(self, out: np.ndarray, y: np.ndarray) -> float:
        return _rmse(out[:, 0].astype(np.float64) * self._y_scale + self._y_mean, y)

    def _target_state(self) -> dict:
        return {"y_scaling": np.array([self._y_mean, self._y_scale])}

    def _restore_target(self, state) -> None:
        self._y_mean, self._y_scale = (float(v) for v in state["y_scaling"])

    def predict(self, X) -> np.ndarray:
        """Predicted target for each row of ``X``."""
        return self._raw(X)[:, 0] * self._y_scale + self._y_mean


class ClassificationOutput:
    """One sigmoid output unit and log loss for two classes, softmax outputs and
    cross-entropy for more; labels may be strings or integers (``classes_``, sorted)."""

    @property
    def output_unit(self) -> str:
        classes = getattr(self, "classes_", None)
        return "softmax" if classes is not None and len(classes) > 2 else "sigmoid"

    def _init_target(self, y: np.ndarray) -> int:
        if y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
            raise ValueError("Unknown label type: continuous; a classifier needs class labels")
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"a classifier needs at least 2 classes in y; got 1 class ({self.classes_[0]!r})")
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _codes(self, y: np.ndarray) -> np.ndarray:
        codes = np.searchsorted(self.classes_, y)
        codes = np.clip(codes, 0, len(self.classes_) - 1)
        unknown = self.classes_[codes] != y
        if np.any(unknown):
            raise ValueError(f"y has labels not seen in training: {np.unique(np.asarray(y)[unknown])[:5].tolist()}")
        return codes

    def encode_targets(self, y: np.ndarray) -> np.ndarray:
        codes = self._codes(y)
        if len(self.classes_) == 2:
            return codes.reshape(-1, 1).astype(np.float64)
        return np.eye(len(self.classes_))[codes]

    def train_score(self, mean_loss: float) -> float:
        return mean_loss

    def score_output(self, out: np.ndarray, y: np.ndarray) -> float:
        return output_loss(out.astype(np.float64), self.encode_targets(y), self.output_unit)

    def scorer(self, y: np.ndarray):
        coded = self.encode_targets(y)
        return lambda out: output_loss(out.astype(np.float64), coded, self.output_unit)

    def _target_state(self) -> dict:
        return {"classes": self.classes_}

    def _restore_target(self, state) -> None:
        self.classes_ = np.array(state["classes"])

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each class (columns in the order of ``classes_``)."""
        self.check_fitted()
        out = self._raw(X)
        return np.hstack([1.0 - out, out]) if out.shape[1] == 1 else out

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row of ``X``."""
        self.check_fitted()
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class NetworkRegressor(RegressionOutput, Network):
    """:class:`hpsearch.NumpyMLPRegressor` without scikit-learn (what a worker trains)."""


class NetworkClassifier(ClassificationOutput, Network):
    """:class:`hpsearch.NumpyMLPClassifier` without scikit-learn (what a worker trains)."""


def _rmse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.sqrt(np.mean((prediction - target) ** 2)))
