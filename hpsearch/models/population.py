"""Population training: many networks of one shape trained as one computation.

A small network spends most of an epoch in per-step Python and NumPy call
overhead (at batch 32, an epoch of 18,700 rows is 584 steps of a few tiny matrix
products). Networks that share the batch size, the number of hidden layers, the
activation, the output unit and the dtype can take their steps together: their
weights are stacked along a leading *population* axis, ``W_k`` of shape
``(P, fan_in, fan_out)``, and every step of :func:`hpsearch.models.network.loss_and_gradients`
is then one call per layer for all of them (NumPy's stacked ``matmul`` runs one
BLAS product per network, in C).

Each network keeps what makes it itself: its own learning rate (a ``(P, 1, 1)``
array scales the gradients), its own shuffling from its own random generator, its
own number of epochs (a network leaves the population when its epochs are done;
the others are re-stacked without it) and its own divergence (its matrices are
separate, so a non-finite loss stays in its trial, which leaves with the weights
of least training loss, exactly as alone).

Hidden widths differ: networks are grouped by a padded width that depends on
the network alone (:func:`padded_width`), and padded to it. A padded unit must
be exactly inert: its incoming weights and outgoing weights are zero, and its
activation must be zero too, so that the gradient of its outgoing weights
(activation x error) is zero and they stay zero. tanh(0) = relu(0) = 0 does that
with a zero bias; for the sigmoid, the padded unit's bias is -inf, so its
activation is sigmoid(-inf) = 0 exactly (and its derivative a(1 - a) = 0). The
sums of the next layer then add exact zeros. BLAS may still sum in another
order for another matrix shape, so a network's numbers equal those it computes
alone to rounding (the tests check 1e-9 relative), and equal to the last bit
those it computes in any other population.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hpsearch.models.arithmetic import WORKING_SET, Workspace, chunk_rows, forward, step, with_ones
from hpsearch.models.network import batch_rows, diverge, finish

SHARED = ("batch_size", "n_hidden_layers", "activation", "dtype", "shuffle")


@dataclass
class _Member:
    """One network of a population and its training record."""

    net: object
    until: int
    t: np.ndarray
    train_curve: list = field(default_factory=list)
    val_curve: list = field(default_factory=list)
    candidates: list = field(default_factory=list)  # (weights, biases) kept against divergence
    best: float = np.inf
    score_val: object = None  # out -> the validation value (its targets coded once)

    def sizes(self, features: int) -> list[int]:
        return [features] + [self.net.hidden_width] * self.net.n_hidden_layers + [self.t.shape[1]]


def train_population(nets: list, X: np.ndarray, y: np.ndarray, X_val=None, y_val=None,
                     untils: list[int] | None = None) -> list:
    """Train the networks ``nets`` (initialised, or restored from a saved state) on
    the same validated data, each until its own epoch count in ``untils`` (default:
    its ``epochs``), as one population; the networks, trained.

    Each ends exactly as :func:`hpsearch.models.network.train_epochs` would leave it
    alone: weights, curves, status, random generator.
    """
    untils = [net.epochs for net in nets] if untils is None else untils
    first = nets[0]
    for net in nets[1:]:
        different = [name for name in SHARED if getattr(net, name) != getattr(first, name)]
        if different or net.output_unit != first.output_unit:
            raise ValueError(f"networks of one population must share {SHARED} and the output unit; "
                             f"these differ in {different or ['output']}")
    dtype = np.dtype(first.dtype)
    members = []
    for net, until in zip(nets, untils):
        member = _Member(net, until, net.encode_targets(y).astype(dtype), list(net.loss_curve_),
                         list(net.validation_curve_))
        member.candidates = [([W.copy() for W in net.coefs_], [b.copy() for b in net.intercepts_])]
        member.score_val = net.scorer(y_val) if y_val is not None else None
        if net.status_ != "diverged":
            net.status_ = "ok"
            members.append(member)
    batch = batch_rows(first, X.shape[0])
    classes: dict[int, list[_Member]] = {}
    for member in members:
        if len(member.train_curve) < member.until:
            classes.setdefault(padded_width(member.net.hidden_width, batch), []).append(member)
    X1, X1_val = with_ones(X), None if X_val is None else with_ones(X_val)
    with np.errstate(over="ignore", invalid="ignore"):
        for width, training in classes.items():
            size = stack_size(chunk_rows(batch, width, dtype.itemsize), width, dtype.itemsize)
            for start in range(0, len(training), size):
                stack = training[start:start + size]
                while stack:
                    stack = _train_stacked(stack, X1, X1_val, y_val, width)
    for member in members:
        finish(member.net, member.train_curve, member.val_curve)
    return nets


def padded_width(hidden_width: int, batch: int = 1) -> int:
    """The width a network with mini-batches of ``batch`` rows is padded to in a population.

    Where a step is cheap (batch x width up to :data:`SMALL_STEP` values), its
    cost is call overhead, paid once per stack: the next power of two, so that
    few stacks share the work. Beyond, the elementwise work dominates and padding
    costs in proportion: the next multiple of :data:`WIDTH_STEP`.

    It depends on the network alone, so that a network computes the same numbers
    in any population (BLAS sums in an order that depends on the matrix shape):
    results do not depend on which trials were trained together, hence not on
    the number of workers, the population size or a resume.
    """
    width = max(WIDTH_STEP, 1 << (int(hidden_width) - 1).bit_length())
    if batch * width <= SMALL_STEP:
        return width
    return WIDTH_STEP * -(-int(hidden_width) // WIDTH_STEP)


WIDTH_STEP = 8
SMALL_STEP = 8192


def stack_size(batch: int, width: int, itemsize: int) -> int:
    """How many networks of a width class train in one stack: as many as keep one
    layer's activations of a batch within :data:`WORKING_SET` (beyond it, the
    elementwise passes leave the cache and each network's step gets slower)."""
    return max(1, WORKING_SET // (batch * width * itemsize))


def _stack(members: list[_Member], features: int, width: int, pad_bias: float):
    """The members' weights and biases stacked along a population axis, padded to
    ``width``; the first layer's bias folded into its weights as their last row (the
    input then carries ones, see :func:`hpsearch.models.network.fold_bias`)."""
    sizes = [features] + [width] * members[0].net.n_hidden_layers + [members[0].t.shape[1]]
    dtype = members[0].net.coefs_[0].dtype
    weights = [np.zeros((len(members), a + (k == 0), b), dtype) for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
    weights[0][:, features, :] = pad_bias
    biases = [None] + [np.full((len(members), 1, b), pad_bias if k < len(sizes) - 2 else 0.0, dtype)
                       for k, b in enumerate(sizes[2:], start=1)]
    bias_rows = [weights[0][:, features:, :], *biases[1:]]  # where each layer's own bias goes
    for p, member in enumerate(members):
        for W, b, own_W, own_b in zip(weights, bias_rows, member.net.coefs_, member.net.intercepts_):
            W[p, :own_W.shape[0], :own_W.shape[1]] = own_W
            b[p, 0, :own_b.shape[0]] = own_b
    return weights, biases


def _own(weights: list, biases: list, p: int, sizes: list[int]):
    """Member ``p``'s own (unpadded) weights and biases, copied out of the stacks."""
    shapes = list(zip(sizes[:-1], sizes[1:]))
    return ([W[p, :a, :b].copy() for W, (a, b) in zip(weights, shapes)],
            [(weights[0][p, a:a + 1] if bias is None else bias[p])[0, :b].copy()
             for bias, (a, b) in zip(biases, shapes)])


def _outputs(weights: list, biases: list, X: np.ndarray, net) -> np.ndarray:
    """The output unit of every member on ``X`` (the validation split, with ones), a few members
    at a time so that the activations stay in the cache."""
    rows, width = X.shape[0], weights[0].shape[-1]
    size = max(1, WORKING_SET // (rows * width * weights[0].itemsize))
    return np.concatenate([
        forward([W[p:p + size] for W in weights], [None if b is None else b[p:p + size] for b in biases], X,
                net.activation,
                output=net.output_unit)[-1]
        for p in range(0, len(weights[0]), size)])


def _train_stacked(members: list[_Member], X, X_val, y_val, width: int) -> list[_Member]:
    """Epochs of the members (padded to ``width``) as one stack until one of them
    leaves; those that go on."""
    net0 = members[0].net
    n, features = X.shape[0], X.shape[1] - 1  # X carries ones (with_ones)
    batch = batch_rows(net0, n)
    dtype = np.dtype(net0.dtype)
    weights, biases = _stack(members, features, width, -np.inf if net0.activation == "sigmoid" else 0.0)
    workspace = Workspace(weights, chunk_rows(batch, width, dtype.itemsize), biases)
    lr = np.array([dtype.type(m.net.learning_rate) for m in members]).reshape(-1, 1, 1)
    targets = np.stack([m.t for m in members])
    population = np.arange(len(members))[:, None]
    leaving: set[int] = set()
    while not leaving:
        saved = ([W.copy() for W in weights], [None if b is None else b.copy() for b in biases])
        if net0.shuffle and batch < n:
            orders = np.stack([m.net.rng_.permutation(n) for m in members])
            Xe, te = X[orders], targets[population, orders]
        else:
            Xe, te = X[None], targets
        totals = np.zeros(len(members))
        for start in range(0, n, batch):
            stop = min(start + batch, n)
            totals += step(weights, biases, Xe[:, start:stop], te[:, start:stop], net0.activation, workspace, lr,
                           net0.output_unit)
        # weights only (the first layer's last row is its bias, -inf on the sigmoid's padded units)
        finite = np.logical_and.reduce([np.isfinite(W).all(axis=(1, 2)) for W in [weights[0][:, :-1], *weights[1:]]])
        out = None if X_val is None else _outputs(weights, biases, X_val, net0)
        for p, member in enumerate(members):
            sizes = member.sizes(features)
            score = member.net.train_score(totals[p] / n)
            if not (np.isfinite(score) and finite[p]):
                own_saved = _own(*saved, p, sizes)
                member.net.coefs_, member.net.intercepts_ = _own(weights, biases, p, sizes)
                diverge(member.net, [*member.candidates, own_saved], X[:, :-1], member.t, len(member.train_curve) + 1)
                leaving.add(p)
                continue
            if score < member.best:
                member.best = score
                member.candidates[1:] = [_own(*saved, p, sizes)]
            member.train_curve.append(float(score))
            if out is not None:
                member.val_curve.append(member.score_val(out[p]))
            if len(member.train_curve) >= member.until:
                leaving.add(p)
    for p, member in enumerate(members):
        if member.net.status_ != "diverged":
            member.net.coefs_, member.net.intercepts_ = _own(weights, biases, p, member.sizes(features))
    return [m for p, m in enumerate(members) if p not in leaving]
