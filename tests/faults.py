"""Objectives that misbehave on purpose (module-level, so worker processes import them)."""

import os
import sys
from pathlib import Path

from hpsearch.execution.objective import train_and_score


def dies_on_trial_3(spec, dataset):
    """The worker process dies (as if killed, or out of memory) whenever it runs trial 3."""
    if spec.trial == 3:
        os._exit(1)
    return train_and_score(spec, dataset)


def raises_on_even_trials(spec, dataset):
    if spec.trial % 2 == 0:
        raise MemoryError("pretend")
    return train_and_score(spec, dataset)


def interrupted_at_trial_14(spec, dataset):
    """Ctrl-C arrives while trial 14 runs (n_jobs=1: in this process)."""
    if spec.trial == 14:
        raise KeyboardInterrupt
    return train_and_score(spec, dataset)


def interrupted_at_first_promotion(spec, dataset):
    """Ctrl-C arrives when a multi-fidelity strategy first continues a saved state (in-process)."""
    from hpsearch.execution.objective import evaluate

    if spec.load_state is not None:
        raise KeyboardInterrupt
    return evaluate(spec, dataset)


def interrupted_at_trial_7(spec, dataset):
    """Ctrl-C arrives while trial 7 of repetition 1 runs (in-process), whatever the strategy."""
    from hpsearch.execution.objective import evaluate

    if spec.trial == 7 and spec.repetition == 1 and not spec.with_test:
        raise KeyboardInterrupt
    return evaluate(spec, dataset)


def quadratic(params, data, seed, report):
    """A user objective named in a config (tests/test_user_objective.py)."""
    return params["x"] ** 2


def interrupting(train, at_call: int, counter: Path):
    """A user objective whose call number ``at_call`` (counted in the file ``counter``, across
    worker processes) presses Ctrl-C: SIGINT to the process that made it (the run's driver).
    A KeyboardInterrupt raised by an objective is a failed trial, not the user's Ctrl-C."""
    import signal
    import time

    driver = os.getpid()

    def wrapped(params, data, seed, report):
        with open(counter, "a") as handle:
            handle.write("1")
        if Path(counter).stat().st_size >= at_call:  # two workers may append between a write and this look
            try:  # exactly once, whichever call first sees the count reached
                os.close(os.open(f"{counter}.fired", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return train(params, data, seed, report)
            os.kill(driver, signal.SIGINT)
            time.sleep(5)  # the driver ends this worker meanwhile
        return train(params, data, seed, report)

    return wrapped


# -- objectives that end their process, or leave one behind, for x < 0.5 -----------------------------
def misbehaving_sys_exit(params, data, seed, report):
    if params["x"] < 0.5:
        sys.exit(3)
    return params["x"]


def misbehaving_keyboardinterrupt(params, data, seed, report):
    if params["x"] < 0.5:
        raise KeyboardInterrupt
    return params["x"]


def misbehaving_baseexception(params, data, seed, report):
    if params["x"] < 0.5:
        raise BaseException("an objective's own BaseException")
    return params["x"]


def misbehaving_os__exit(params, data, seed, report):
    if params["x"] < 0.5:
        os._exit(4)
    return params["x"]


def misbehaving_fork(params, data, seed, report):
    if params["x"] < 0.5 and os.fork() == 0:  # the child never ends by itself
        import time

        while True:
            time.sleep(1)
    return params["x"]


def thread_pools(params, data, seed, report):
    """The most threads any pool of this worker has, after scikit-learn's OpenMP code has run."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_info

    HistGradientBoostingRegressor(max_iter=2).fit(data.X_train, data.y_train)
    pools = threadpool_info()
    assert any(p["user_api"] == "openmp" for p in pools), pools
    return float(max(p["num_threads"] for p in pools))


def end_loky_workers() -> None:
    """Kill this process's loky worker processes (after a Ctrl-C test, so that none is left for the
    interpreter to wait for at exit)."""
    import signal

    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                if b"loky" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(int(pid), signal.SIGKILL)
                    os.waitpid(int(pid), 0)
            except OSError:
                pass


def stateful(params, data, seed, report, state=None):
    """A user objective that saves and continues its state (gradient descent on a linear model),
    each epoch taking ``params["pause"]`` seconds (default 0) so that a signal lands mid-run."""
    import time

    import numpy as np

    if state is None:
        w, start = np.random.default_rng(seed).normal(0, 0.1, data.X_train.shape[1]), 0
    else:
        w, start = state["w"].copy(), state["epoch"]
    b = float(np.mean(data.y_train))
    for epoch in range(start + 1, int(params["epochs"]) + 1):
        w -= params["learning_rate"] * data.X_train.T @ (data.X_train @ w + b - data.y_train) / len(data.y_train)
        time.sleep(params.get("pause", 0))
        if report(epoch, float(np.sqrt(np.mean((data.X_val @ w + b - data.y_val) ** 2))), state={"w": w, "epoch": epoch}):
            break
    return {"val_loss": float(np.sqrt(np.mean((data.X_val @ w + b - data.y_val) ** 2))),
            "test_loss": float(np.sqrt(np.mean((data.X_test @ w + b - data.y_test) ** 2)))}
