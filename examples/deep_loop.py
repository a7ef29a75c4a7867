"""Your training loop shaped like a deep-learning one, continued by Hyperband and PBT: a NumPy
network with one hidden layer, mini-batches shuffled by its own random generator, SGD with
momentum and a learning-rate schedule (warm-up, then a step decay), everything it needs to go
on saved in ``state``: the weights, the momentum buffers, the generator's state and the epoch.

Continued from its state, a trial trains exactly the epochs it would have trained straight
through (``tests/test_user_objective.py`` checks it to the last bit): the schedule depends on
the epoch only, never on how many epochs this trial was asked for, and the generator goes on
where it was. A PyTorch loop does the same with ``model.state_dict()``,
``optimizer.state_dict()`` and ``torch.get_rng_state()``, converted to NumPy arrays.

    python examples/deep_loop.py [OUT_DIR]
"""

from __future__ import annotations

import sys

import numpy as np

import hpsearch


def learning_rate(base: float, epoch: int, warmup: int = 3, every: int = 10) -> float:
    """Linear warm-up over the first ``warmup`` epochs, then halved every ``every`` epochs."""
    return base * min(1.0, epoch / warmup) * 0.5 ** (epoch // every)


def initial_state(params: dict, features: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    width = int(params["hidden_width"])
    weights = {"W1": rng.normal(0, 1 / np.sqrt(features), (features, width)), "b1": np.zeros(width),
               "W2": rng.normal(0, 1 / np.sqrt(width), (width, 1)), "b2": np.zeros(1)}
    return {"weights": weights, "momentum": {k: np.zeros_like(v) for k, v in weights.items()},
            "rng": rng.bit_generator.state, "epoch": 0}


def predict(weights: dict, X: np.ndarray) -> np.ndarray:
    hidden = np.tanh(X @ weights["W1"] + weights["b1"])
    return (hidden @ weights["W2"] + weights["b2"])[:, 0]


def gradients(weights: dict, X: np.ndarray, y: np.ndarray) -> dict:
    hidden = np.tanh(X @ weights["W1"] + weights["b1"])
    error = (hidden @ weights["W2"] + weights["b2"])[:, 0] - y  # d(mean squared error / 2)
    d_out = error[:, None] / len(y)
    d_hidden = (d_out @ weights["W2"].T) * (1 - hidden**2)
    return {"W2": hidden.T @ d_out, "b2": d_out.sum(0), "W1": X.T @ d_hidden, "b1": d_hidden.sum(0)}


def train(params, data, seed, report, state=None):
    """Mini-batch SGD with momentum; ``state``: None for a fresh start, else where to go on from."""
    y_mean, y_std = float(np.mean(data.y_train)), float(np.std(data.y_train)) or 1.0
    state = state or initial_state(params, data.X_train.shape[1], seed)
    weights, momentum = state["weights"], state["momentum"]
    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]  # the shuffles go on where they were

    def rmse(X, y):
        return float(np.sqrt(np.mean((predict(weights, X) * y_std + y_mean - y) ** 2)))

    target = (data.y_train - y_mean) / y_std
    batch = int(params["batch_size"])
    for epoch in range(int(state["epoch"]) + 1, int(params["epochs"]) + 1):
        rate = learning_rate(params["learning_rate"], epoch)
        order = rng.permutation(len(target))
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            for name, grad in gradients(weights, data.X_train[rows], target[rows]).items():
                momentum[name] = params["momentum"] * momentum[name] + grad
                weights[name] = weights[name] - rate * momentum[name]
        saved = {"weights": weights, "momentum": momentum, "rng": rng.bit_generator.state, "epoch": epoch}
        if report(epoch, rmse(data.X_val, data.y_val), state=saved):
            break  # the strategy stopped it
    return {"val_loss": rmse(data.X_val, data.y_val), "test_loss": rmse(data.X_test, data.y_test)}


CONFIG = {
    "name": "deep-loop",
    "strategies": ["random", "hyperband", "pbt"],
    "repetitions": 2,
    "budget": {"epochs": 400},
    "data": {"dataset": "diabetes"},
    "model": {"batch_size": 32, "momentum": 0.9},
    "space": {"epochs": {"type": "int", "low": 1, "high": 27},
              "hidden_width": {"type": "int", "low": 4, "high": 64, "log": True},
              "learning_rate": {"type": "float", "low": 0.001, "high": 0.3, "log": True}},
    "strategy": {"pbt": {"population_size": 4, "interval": 9}},
}


def main(out: str = "results/deep-loop") -> hpsearch.Run:
    run = hpsearch.run(CONFIG, objective=train, out=out)
    print(run.summary[["strategy", "repetition", "best_val_rmse", "test_rmse", "baseline_mean_test_rmse"]])
    return run


if __name__ == "__main__":
    main(*sys.argv[1:2])
