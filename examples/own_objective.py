"""Your own training loop as hpsearch's objective: plain NumPy linear regression trained by
gradient descent, reporting its validation RMSE after every epoch, tuned by random search and
by ASHA under the same budget of epochs.

    python examples/own_objective.py [OUT_DIR]
"""

from __future__ import annotations

import sys

import numpy as np

import hpsearch


def train(params, data, seed, report):
    """Full-batch gradient descent on a linear model; ``report`` may stop it (ASHA, pruners)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, params["init_scale"], data.X_train.shape[1])
    b = float(np.mean(data.y_train))
    for epoch in range(1, int(params["epochs"]) + 1):
        error = data.X_train @ w + b - data.y_train
        w -= params["learning_rate"] * data.X_train.T @ error / len(error)
        b -= params["learning_rate"] * float(error.mean())
        val = float(np.sqrt(np.mean((data.X_val @ w + b - data.y_val) ** 2)))
        if report(epoch, val):  # the strategy stopped it: return what it has
            break
    test = float(np.sqrt(np.mean((data.X_test @ w + b - data.y_test) ** 2)))
    return {"val_loss": val, "test_loss": test}


CONFIG = {
    "name": "own-objective",
    "strategies": ["random", "asha"],
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
