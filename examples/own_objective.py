"""Your own training loop as hpsearch's objective: plain NumPy linear regression trained by
gradient descent, reporting its validation RMSE and its state after every epoch, tuned by
random search, ASHA and PBT under the same budget of epochs. Because ``train`` takes a
``state``, ASHA continues a promoted configuration where it stopped (only the new epochs
count) and PBT's exploited members go on from their donor's weights.

    python examples/own_objective.py [OUT_DIR]
"""

from __future__ import annotations

import sys

import numpy as np

import hpsearch


def train(params, data, seed, report, state=None):
    """Full-batch gradient descent on a linear model; ``report`` may stop it (ASHA, pruners).
    ``state``: None for a fresh start, or the weights a continued trial starts from."""
    if state is None:
        rng = np.random.default_rng(seed)
        w = rng.normal(0, params["init_scale"], data.X_train.shape[1])
        b, start = float(np.mean(data.y_train)), 0
    else:  # continue: the weights and the epoch its parent reached
        w, b, start = state["w"].copy(), state["b"], state["epoch"]
    def rmse(X, y):
        return float(np.sqrt(np.mean((X @ w + b - y) ** 2)))

    for epoch in range(start + 1, int(params["epochs"]) + 1):  # none left: the final state is scored
        error = data.X_train @ w + b - data.y_train
        w -= params["learning_rate"] * data.X_train.T @ error / len(error)
        b -= params["learning_rate"] * float(error.mean())
        if report(epoch, rmse(data.X_val, data.y_val), state={"w": w, "b": b, "epoch": epoch}):
            break  # the strategy stopped it
    return {"val_loss": rmse(data.X_val, data.y_val), "test_loss": rmse(data.X_test, data.y_test)}


CONFIG = {
    "name": "own-objective",
    "strategies": ["random", "asha", "pbt"],
    "repetitions": 2,
    "budget": {"epochs": 600},
    "data": {"dataset": "diabetes"},
    "space": {"epochs": {"type": "int", "low": 5, "high": 45},
              "learning_rate": {"type": "float", "low": 0.01, "high": 2.0, "log": True},
              "init_scale": {"type": "float", "low": 0.01, "high": 1.0, "log": True}},
}


def main(out: str = "results/own-objective") -> hpsearch.Run:
    run = hpsearch.run(CONFIG, objective=train, out=out)
    print(run.summary[["strategy", "repetition", "best_val_rmse", "test_rmse", "baseline_mean_test_rmse"]])
    return run


if __name__ == "__main__":
    main(*sys.argv[1:2])
