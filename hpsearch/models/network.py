"""A feed-forward neural network in NumPy, as a scikit-learn regressor.

The maths, written out once:

* layers ``a_0 = X``, ``z_k = a_{k-1} W_k + b_k``, ``a_k = f(z_k)`` for the
  hidden layers and a linear output ``y_hat = a_{L-1} W_L + b_L``;
* loss ``L = 1/(2n) * sum (y_hat - t)^2`` on the standardised target ``t``;
* back-propagation ``delta_L = (y_hat - t) / n``,
  ``delta_k = (delta_{k+1} W_{k+1}^T) * f'(z_k)``,
  ``dL/dW_k = a_{k-1}^T delta_k``, ``dL/db_k = sum_rows delta_k``;
* plain gradient descent ``W <- W - learning_rate * dL/dW`` on mini-batches.

Weights start from a normal distribution with standard deviation
``init_scale / sqrt(fan_in)`` (0.5 for the four challenge features, 0.18 for a
hidden layer of 32), biases at zero. The target is standardised inside ``fit``
(and predictions mapped back), so the untrained network predicts the mean and a
learning rate means the same whatever the units of the target.

This module is NumPy only: the maths, the training loop and the networks as a
worker trains them (:class:`NetworkRegressor`, :class:`NetworkClassifier`), so that
a worker process does not import scikit-learn (about 1 s of its start, pandas and
SciPy's statistics included). The scikit-learn estimators ``NumpyMLPRegressor`` and
``NumpyMLPClassifier`` (:mod:`hpsearch.models.mlp`) are these networks with
scikit-learn's checks and API; both train the same numbers.
"""

from __future__ import annotations

import json
import numbers
import warnings

import numpy as np

ACTIVATIONS = ("sigmoid", "tanh", "relu")


def _activate(z: np.ndarray, name: str) -> np.ndarray:
    """Apply the activation in place and return ``z``.

    The sigmoid's formulation is the fastest exact one per dtype, as measured by
    ``benchmarks/network.py`` on CPUs with and without AVX-512 (see README, Speed):
    float64 as ``1 / (1 + exp(-z))``, since NumPy's float64 ``exp`` has a vectorised
    kernel on every x86 build while its float64 ``tanh`` has one only with AVX-512
    (32 ns an element without it, against 11 for ``exp``); float32 as
    ``(1 + tanh(z/2)) / 2``, whose float32 ``tanh`` is vectorised with AVX2 as well.
    ``np.divide(1, x)``, not ``np.reciprocal(x)``: NumPy vectorises the first only
    (0.36 against 0.70 ns an element). For z below -709 ``exp(-z)`` overflows to inf
    and the sigmoid is exactly 0 (also for the padded units of a population, whose
    bias is -inf); the callers train and predict under ``np.errstate(over="ignore")``,
    so no warning is raised per call.
    """
    if name == "sigmoid":
        if z.dtype == np.float64:
            np.negative(z, out=z)
            np.exp(z, out=z)
            z += 1.0
            np.divide(1.0, z, out=z)
        else:
            z *= 0.5
            np.tanh(z, out=z)
            z *= 0.5
            z += 0.5
    elif name == "tanh":
        np.tanh(z, out=z)
    else:
        np.maximum(z, 0.0, out=z)
    return z


def _derivative(a: np.ndarray, name: str, out: np.ndarray) -> np.ndarray:
    """f'(z) into ``out``, written through a = f(z) (what the forward pass kept)."""
    if name == "sigmoid":  # f' = a (1 - a)
        np.subtract(1.0, a, out=out)
        out *= a
    elif name == "tanh":  # f' = 1 - a^2
        np.multiply(a, a, out=out)
        np.subtract(1.0, out, out=out)
    else:  # relu: f' = 1 where a > 0
        np.greater(a, 0.0, out=out)
    return out


def with_ones(X: np.ndarray) -> np.ndarray:
    """``X`` with a column of ones appended: the input layer's bias then rides in its
    matrix product as the last row of its weights (see :func:`fold_bias`), which saves
    a broadcast addition over the hidden layer (NumPy's slowest kind of pass) in the
    forward pass and a column sum in the backward pass."""
    out = np.empty(X.shape[:-1] + (X.shape[-1] + 1,), X.dtype)
    out[..., :-1] = X
    out[..., -1] = 1.0
    return out


def fold_bias(net) -> tuple[list, list]:
    """The layers of ``net`` as training uses them: the first layer's weights and bias
    as one array (the bias its last row), ``net.coefs_[0]`` and ``net.intercepts_[0]``
    made views of it, so that one update moves both; its bias slot is None (the input
    then carries :func:`with_ones`)."""
    theta = np.concatenate([net.coefs_[0], net.intercepts_[0][None]])
    net.coefs_[0], net.intercepts_[0] = theta[:-1], theta[-1]
    return [theta, *net.coefs_[1:]], [None, *net.intercepts_[1:]]


class Workspace:
    """Buffers for one batch size, so a training step allocates nothing.

    ``z[k]`` holds layer k+1's pre-activation, then (in place) its activation;
    ``delta[k]`` the back-propagated error of layer k+1; ``scratch[k]`` f'(z).
    Weights of shape ``(P, fan_in, fan_out)`` (a population of P networks, see
    :mod:`hpsearch.models.population`) give buffers with the same leading axis.
    """

    def __init__(self, weights: list[np.ndarray], rows: int, biases: list[np.ndarray] | None = None):
        dtype = weights[0].dtype
        self.rows = rows
        shapes = [W.shape[:-2] + (rows, W.shape[-1]) for W in weights]
        self.z = [np.empty(shape, dtype) for shape in shapes]
        self.delta = [np.empty(shape, dtype) for shape in shapes]
        self.scratch = [np.empty(shape, dtype) for shape in shapes]
        self.grad_w = [np.empty_like(W) for W in weights]
        self.grad_b = [None if b is None else np.empty_like(b) for b in biases] if biases is not None else [
            np.empty(W.shape[-1], dtype) for W in weights]
        # the input scaled by a single-column error (see loss_and_gradients)
        self.scaled_input = np.empty(weights[0].shape[:-2] + (rows, weights[0].shape[-2]), dtype)
        # column sums as one BLAS call: a row of ones (P x 1 x fan_out sums for a population)
        self.ones = np.ones(rows if weights[0].ndim == 2 else (1, rows), dtype)

    def first(self, buffer: np.ndarray, n: int) -> np.ndarray:
        """The first ``n`` rows of ``buffer`` (the buffer itself for a full batch: a
        step at batch 32 makes about twenty NumPy calls, so a view spared counts)."""
        return buffer if n == self.rows else buffer[..., :n, :]


OUTPUTS = ("identity", "sigmoid", "softmax")


def _output(z: np.ndarray, name: str) -> np.ndarray:
    """The output unit in place: linear (regression), sigmoid (two classes), softmax (more)."""
    if name == "sigmoid":
        return _activate(z, "sigmoid")
    if name == "softmax":
        z -= z.max(axis=-1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
    return z


def forward(
    weights: list[np.ndarray], biases: list[np.ndarray], X: np.ndarray, activation: str,
    workspace: Workspace | None = None, output: str = "identity",
) -> list[np.ndarray]:
    """Return the activations of every layer, input first, the output unit's last."""
    activations = [X]
    last = len(weights) - 1
    m = X.shape[-2]
    for k, (W, b) in enumerate(zip(weights, biases)):
        z = np.matmul(activations[-1], W, out=None if workspace is None else workspace.first(workspace.z[k], m))
        if b is not None:  # None: a bias folded into W, the input carrying ones (fold_bias)
            z += b
        activations.append(_output(z, output) if k == last else _activate(z, activation))
    return activations


def output_loss(out: np.ndarray, t: np.ndarray, output: str):
    """Mean loss of the output ``out`` against targets ``t`` (rows): half the squared
    error (identity), log loss (sigmoid), cross-entropy (softmax). A float; for a
    population (``out`` of shape ``(P, rows, outputs)``) an array of P losses."""
    n = out.shape[-2]
    if output == "identity":
        return _half_squares(out - t) / n
    p = np.clip(out, 1e-15, 1 - 1e-15)
    if output == "sigmoid":
        return _loss_value(-np.sum(t * np.log(p) + (1 - t) * np.log1p(-p), axis=(-2, -1)) / n)
    return _loss_value(-np.sum(t * np.log(p), axis=(-2, -1)) / n)


def _half_squares(delta: np.ndarray):
    """Half the sum of squares of ``delta`` (per network of a population)."""
    if delta.ndim == 2:
        flat = delta.ravel()
        return 0.5 * float(flat @ flat)
    return 0.5 * np.einsum("pij,pij->p", delta, delta)


def _loss_value(value):
    return float(value) if np.ndim(value) == 0 else value


def loss_and_gradients(
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    X: np.ndarray,
    t: np.ndarray,
    activation: str,
    workspace: Workspace | None = None,
    scale: float = 1.0,
    output: str = "identity",
) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """The loss (:func:`output_loss`) and its gradients by back-propagation.

    ``t`` has shape ``(n, outputs)``. The three output units are each paired with
    the loss whose gradient with respect to the output's input is the same,
    ``(y_hat - t) / n``: identity with half the squared error, sigmoid with log
    loss, softmax with cross-entropy; back-propagation is then one code path.
    This is the function the training loop uses and
    the one the finite-difference test checks. Stacked weights ``(P, fan_in,
    fan_out)``, biases ``(P, 1, fan_out)``, inputs and targets ``(P, n, ...)`` (or
    one input shared by all) train a population: the loss is then an array of P,
    and ``scale`` may be a ``(P, 1, 1)`` array of learning rates. With a ``workspace`` (at least
    ``n`` rows) every array lives in its buffers: the returned gradients are
    overwritten by the next call. The gradients come multiplied by ``scale``
    (training passes the learning rate, which saves a pass over every gradient).
    A bias of None is folded into its layer's weights as their last row, the input
    carrying ones (:func:`fold_bias`, :func:`with_ones`): its gradient is that row's.
    """
    n = X.shape[-2]
    ws = workspace if workspace is not None else Workspace(weights, n, biases)
    activations = forward(weights, biases, X, activation, ws, output)
    delta = np.subtract(activations[-1], t, out=ws.first(ws.delta[-1], n))
    if output == "identity":
        loss = _half_squares(delta) / n
    else:
        loss = output_loss(activations[-1], t, output)
    delta *= scale / n
    for k in range(len(weights) - 1, -1, -1):
        np.matmul(activations[k].swapaxes(-1, -2), delta, out=ws.grad_w[k])
        if biases[k] is not None:
            ones = ws.ones if n == ws.rows else ws.ones[..., :n]
            np.matmul(ones, delta, out=ws.grad_b[k])  # column sums, as one BLAS call
        if k == 0:
            break
        derivative = _derivative(activations[k], activation, ws.first(ws.scratch[k - 1], n))
        w_t = weights[k].swapaxes(-1, -2)
        if k == 1 and delta.shape[-1] == 1:
            # One output: delta_0 = f'(z_1) * (delta w^T) is an outer product scaled, and its
            # gradient X^T delta_0 = ((X * delta)^T f'(z_1)) * w^T needs neither the n x h
            # outer product nor a pass multiplying by it (both broadcast, slow in NumPy).
            _first_layer_gradients(activations[0], delta, derivative, w_t, ws, biases[0] is not None)
            break
        # delta W^T; with one output column an outer product, which a multiplication does exactly, faster
        product = np.multiply if delta.shape[-1] == 1 else np.matmul
        delta = product(delta, w_t, out=ws.first(ws.delta[k - 1], n))
        delta *= derivative
    return loss, ws.grad_w, ws.grad_b


def _first_layer_gradients(X, delta, derivative, w_t, ws: Workspace, bias: bool) -> None:
    """The first layer's gradients when the error ``delta`` of the layer above has one
    column (see :func:`loss_and_gradients`)."""
    scaled = np.multiply(X, delta, out=ws.first(ws.scaled_input, X.shape[-2]))
    np.matmul(scaled.swapaxes(-1, -2), derivative, out=ws.grad_w[0])
    ws.grad_w[0] *= w_t
    if bias:
        grad_b = ws.grad_b[0].reshape(w_t.shape)
        np.matmul(delta.swapaxes(-1, -2), derivative, out=grad_b)
        grad_b *= w_t


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


WORKING_SET = 2**18  # bytes of one layer's activations: what stays in the cache


def chunk_rows(batch: int, width: int, itemsize: int) -> int:
    """Rows of a batch that one pass through the network takes at a time: a big
    batch (full batch on a large data set) goes in chunks whose activations stay
    in the cache (:data:`WORKING_SET`), its gradient summed over them."""
    return min(batch, max(256, WORKING_SET // (width * itemsize)))


def step(weights: list, biases: list, X: np.ndarray, t: np.ndarray, activation: str,
         workspace: Workspace, learning_rate, output: str):
    """One step of gradient descent on the batch ``X``, ``t`` (weights and biases
    updated in place); the batch's summed loss (mean loss x rows).

    A batch of more rows than the workspace has goes through in chunks: the
    gradient of the batch is the sum of the chunks' gradients, each weighted by
    its share of the rows (the same gradient as in one pass, summed in another
    order), and the weights move once, after the last chunk.
    """
    n = X.shape[-2]
    if n <= workspace.rows:
        loss, gw, gb = loss_and_gradients(weights, biases, X, t, activation, workspace, learning_rate, output)
        _descend(weights, biases, gw, gb)
        return loss * n
    total, sums = 0.0, None
    for start in range(0, n, workspace.rows):
        stop = min(start + workspace.rows, n)
        loss, gw, gb = loss_and_gradients(weights, biases, X[..., start:stop, :], t[..., start:stop, :],
                                          activation, workspace, learning_rate * ((stop - start) / n), output)
        total += loss * (stop - start)
        if sums is None:
            sums = [None if g is None else g.copy() for g in gw + gb]
        else:
            for accumulated, g in zip(sums, gw + gb):
                if g is not None:
                    accumulated += g
    _descend(weights, biases, sums[:len(weights)], sums[len(weights):])
    return total


def _descend(weights: list, biases: list, grad_w: list, grad_b: list) -> None:
    """Parameters minus their gradients (which already hold learning_rate x gradient)."""
    for W, dW in zip(weights, grad_w):
        W -= dW
    for b, db in zip(biases, grad_b):
        if b is not None:  # None: folded into its weights (fold_bias)
            b -= db


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
