"""Objectives that misbehave on purpose (module-level, so worker processes import them)."""

import os

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


def interrupting(train, at_call: int):
    """A user objective that raises KeyboardInterrupt (Ctrl-C) on its call number ``at_call``."""
    calls = []

    def wrapped(params, data, seed, report):
        calls.append(1)
        if len(calls) == at_call:
            raise KeyboardInterrupt
        return train(params, data, seed, report)

    return wrapped
