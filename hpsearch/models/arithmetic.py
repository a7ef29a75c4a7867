"""The arithmetic of one step of a feed-forward network in NumPy: activations, the forward pass,
the loss and its gradients, the step of gradient descent.

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

The networks that train and predict with it are :mod:`hpsearch.models.network`.
"""

from __future__ import annotations

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
