"""NumpyMLPRegressor vs scikit-learn's MLPRegressor, the same network and the same work.

One hidden layer of 32, logistic activation, plain SGD (no momentum, no L2
penalty, no early stopping), float64, one BLAS thread, 18,700 rows x 4
features; milliseconds per epoch, medians of 5 runs, measured side by side in
one process with the repeats interleaved. Mini-batches are shuffled every epoch
on both sides; at full batch neither shuffles (a shuffle changes nothing there,
and hpsearch skips it: scikit-learn is given ``shuffle=False`` so that it does
not copy the data set every epoch for nothing). Also: the memory traffic of a full-batch epoch
against the machine's measured bandwidth (a roofline for that case).

The kernel floor: the same epoch's unavoidable kernels alone, on the same shapes,
timed in the same loop: per batch the matrix products of the forward pass (X W1,
a W2) and of the backward pass (a^T delta, delta W2^T, X^T delta1) and one ``exp``
per hidden unit per row, into preallocated arrays; at full batch in the network's
own cache-sized chunks. ``floor_multiple`` = the network's epoch / the floor
(1.0 would be nothing but those kernels: no bias, no derivative, no update, no
shuffle). Also the floor without the product delta W2^T (an outer product with one
output column), which the network no longer computes: a lower floor, so a larger
multiple (``floor_without_outer_multiple``). The CPU's SIMD level (NumPy's) is in
the machine column.

Usage: python benchmarks/network.py [--repeats 5]
       NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL" python benchmarks/network.py   # as without AVX-512
(writes results/network.csv, or results/network-avx2-only.csv where NumPy found no AVX-512)
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from _common import median, report
from threadpoolctl import threadpool_limits

from hpsearch import NumpyMLPRegressor
from hpsearch.machine import simd_level

ROWS, FEATURES, HIDDEN = 18_700, 4, 32


def ours(X, y, batch, epochs, dtype="float64"):
    model = NumpyMLPRegressor(hidden_width=HIDDEN, epochs=epochs, batch_size=batch, learning_rate=0.01,
                              dtype=dtype, random_state=0)
    start = time.perf_counter()
    model.fit(X, y)
    return (time.perf_counter() - start) / epochs


def sklearn(X, y, batch, epochs):
    from sklearn.neural_network import MLPRegressor

    model = MLPRegressor(hidden_layer_sizes=(HIDDEN,), activation="logistic", solver="sgd", momentum=0.0,
                         nesterovs_momentum=False, learning_rate_init=0.01, alpha=0.0,
                         batch_size=batch or len(X), max_iter=epochs, shuffle=batch is not None, tol=0.0,
                         n_iter_no_change=10**9, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(X, y)
    return (time.perf_counter() - start) / epochs


def kernel_floor(X, batch, epochs, outer: bool = True):
    """Seconds per epoch of the unavoidable kernels (see module doc); without ``outer``, the
    product delta W2^T (one output column: an outer product) left out, since the network
    no longer forms it (its first layer's gradient is ((X * delta)^T f'(z)) * W2^T)."""
    from hpsearch.models.arithmetic import chunk_rows

    rng = np.random.default_rng(1)
    n = len(X)
    rows = chunk_rows(batch or n, HIDDEN, 8) if batch is None else batch
    W1, W2 = rng.normal(0, 0.1, (FEATURES, HIDDEN)), rng.normal(0, 0.1, (HIDDEN, 1))
    z, out, d1 = np.empty((rows, HIDDEN)), np.empty((rows, 1)), np.empty((rows, HIDDEN))
    g1, g2 = np.empty((FEATURES, HIDDEN)), np.empty((HIDDEN, 1))
    start = time.perf_counter()
    for _ in range(epochs):
        for first in range(0, n, rows):
            Xb = X[first:first + rows]
            m = len(Xb)
            np.matmul(Xb, W1, out=z[:m])
            np.exp(z[:m], out=z[:m])
            np.matmul(z[:m], W2, out=out[:m])
            np.matmul(z[:m].T, out[:m], out=g2)
            if outer:
                np.multiply(out[:m], W2.T, out=d1[:m])
            np.matmul(Xb.T, d1[:m] if outer else z[:m], out=g1)
    return (time.perf_counter() - start) / epochs


def full_batch_bytes(n: int = ROWS, f: int = FEATURES, h: int = HIDDEN) -> int:
    """Bytes read and written by one full-batch epoch of our implementation (float64).

    Counted pass by pass over the n x h arrays (the n x 1 and weight arrays are
    negligible): forward [X 1] @ W1 (write z; the bias rides in the product), the
    sigmoid's 4 in-place passes (r+w each), a @ W2 (read a); backward a^T @ delta
    (read a), f'(z) = (1 - a) * a (r, w, 2r, w), ([X 1] * delta)^T @ f'(z) (read
    f'(z)); and over the n x (f + 1) input: read in the forward pass, scaled by the
    error (r, w), read by the last product.
    """
    big, x = n * h * 8, n * (f + 1) * 8
    passes = 1 + 8 + 1 + 1 + 5 + 1
    return passes * big + 4 * x


def bandwidth(n_bytes: int, repeats: int = 20) -> float:
    """Bytes per second of an in-place pass (read + write) over an array of n_bytes."""
    a = np.ones(n_bytes // 8)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a *= 1.0000001
        best = min(best, time.perf_counter() - start)
    return 2 * n_bytes / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    threadpool_limits(1)
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(ROWS, FEATURES))
    y = X @ rng.normal(size=FEATURES) + rng.normal(0, 0.1, ROWS)
    rows = []
    for batch, epochs in ((32, 5), (256, 20), (None, 50)):
        mine, theirs, mine32, floor, strict = [], [], [], [], []
        for _ in range(args.repeats):
            mine.append(ours(X, y, batch, epochs))
            theirs.append(sklearn(X, y, batch, epochs))
            mine32.append(ours(X, y, batch, epochs, "float32"))
            floor.append(kernel_floor(X, batch, epochs))
            strict.append(kernel_floor(X, batch, epochs, outer=False))
        rows.append({"batch_size": batch or "full", "hpsearch_ms_per_epoch": 1000 * median(mine),
                     "sklearn_ms_per_epoch": 1000 * median(theirs),
                     "speedup_vs_sklearn": median(theirs) / median(mine),
                     "kernel_floor_ms_per_epoch": 1000 * median(floor),
                     "floor_multiple": median(mine) / median(floor),
                     "floor_without_outer_ms_per_epoch": 1000 * median(strict),
                     "floor_without_outer_multiple": median(mine) / median(strict),
                     "hpsearch_float32_ms_per_epoch": 1000 * median(mine32),
                     "float32_speedup_vs_sklearn": median(theirs) / median(mine32)})
    table = pd.DataFrame(rows)
    moved = full_batch_bytes()
    cache_bw = bandwidth(ROWS * HIDDEN * 8)
    dram_bw = bandwidth(512 * 2**20, repeats=5)
    full = table.iloc[-1]["hpsearch_ms_per_epoch"] / 1000
    notes = (f"\nfull batch: {moved / 1e6:.0f} MB moved per epoch; in-place pass bandwidth "
             f"{cache_bw / 1e9:.1f} GB/s on a {ROWS * HIDDEN * 8 / 1e6:.1f} MB array (cache), "
             f"{dram_bw / 1e9:.1f} GB/s on 512 MiB (memory). Bandwidth bound: "
             f"{1000 * moved / cache_bw:.2f} ms (cache) to {1000 * moved / dram_bw:.2f} ms (memory) "
             f"per epoch; measured {1000 * full:.2f} ms = {moved / full / 1e9:.1f} GB/s, "
             f"{moved / full / cache_bw:.0%} of the in-cache bandwidth.")
    table["full_batch_mb_per_epoch"] = moved / 1e6
    table["inplace_bandwidth_gbs_cache"] = cache_bw / 1e9
    table["inplace_bandwidth_gbs_memory"] = dram_bw / 1e9
    # the file is named after the SIMD level NumPy found: an AVX2-only run (a CPU without AVX-512, or
    # NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL") goes beside the AVX-512 one, not over it
    found = simd_level().split(";")[0]
    report("network" if "X86_V4" in found else "network-avx2-only", table, notes)


if __name__ == "__main__":
    main()
