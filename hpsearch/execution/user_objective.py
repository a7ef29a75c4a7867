"""Your own training code as the objective: ``[model] objective = "pkg.module:train"`` or
``hpsearch.run(config, objective=train)``.

The function is called in a worker as ``train(params, data, seed, report)``:

* ``params``: the searched hyperparameters and the config's fixed ``[model]`` values;
* ``data``: the prepared split (:class:`hpsearch.data.dataset.Dataset`: ``X_train``,
  ``y_train``, ``X_val``, ``y_val``, ``X_test``, ``y_test``, min-max scaled as for
  every problem);
* ``seed``: the trial's seed (paired across strategies);
* ``report(epoch, value, state=None)``: records the validation curve (epoch 1, 2, ...)
  and returns True when the strategy stops the trial (ASHA's rungs are whole trials;
  TPE + pruner and median stopping stop trials that report), or when a seconds
  budget runs out: the function should then return at once. ``state``: what the
  function needs to go on from this epoch (a dict of NumPy arrays and plain numbers,
  nested dicts allowed), saved when a strategy may continue the trial;
* ``state`` (declare it, ``train(params, data, seed, report, state=None)``, and the
  trial can be continued): None for a fresh start; for a promoted (Hyperband, ASHA,
  BOHB) or exploited (PBT) trial, the state its parent last reported, whose epoch is
  the trial's ``start_epoch``: train from ``start_epoch + 1``; only those epochs count.

It returns the validation loss, or a dict with ``val_loss`` and optionally
``test_loss`` and other numbers (kept as scores). An exception fails the trial with
its message; a non-finite loss makes it diverged; the search goes on. A function
without a ``state`` parameter cannot be continued: a promoted configuration trains
again from scratch, and the epochs it trains are counted (``start_epoch`` 0). States
are ``.npz`` files in the run folder's ``_states/`` (arrays, the plain values as JSON,
read with ``allow_pickle=False``: opening a run folder runs no code), written whole
or not at all at the end of a trial a strategy may continue, deleted when none can.
The fidelity's name is ``[model] fidelity`` (``epochs`` by default).

A function named in a config is imported by path, under the estimators' rules
(its package must be ``hpsearch`` or named in ``[model] packages``); a function
given from Python goes to workers with it (loky pickles it as cloudpickle does);
a lambda or a closure is refused on Dask, whose workers may be other machines.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import inspect
import json
import math
import os
import re
from dataclasses import fields

import numpy as np

from hpsearch.data.dataset import Dataset
from hpsearch.errors import ConfigError
from hpsearch.search.trial import TrialResult, TrialSpec

PREFIX = "objective:"
_PATH = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
#: the losses a result holds (val_loss, test_loss, train_loss), from TrialResult's own fields
LOSSES = {f.name for f in fields(TrialResult) if f.name.endswith("_loss")}
#: [model] keys that configure the objective itself, not passed to it
OWN_KEYS = ("objective", "fidelity", "packages")


#: the name of the function given from Python to the run being set up (hpsearch.run(objective=...)),
#: never imported; only that run's config may name it without [model] packages
_GIVEN: contextvars.ContextVar = contextvars.ContextVar("hpsearch_given_objective", default=None)


@contextlib.contextmanager
def giving(function):
    """While a run of ``function`` (given from Python) is set up, its config may name it."""
    token = _GIVEN.set(name_of(function))
    try:
        yield
    finally:
        _GIVEN.reset(token)


def check_path(path, packages=()) -> None:
    """Refuse, before any import, a path that is not ``package.module:function`` inside an allowed
    package (hpsearch, or one of ``packages``); a function given from Python is not imported."""
    from hpsearch.models.estimators import check_path as check_module

    if path is not None and path == _GIVEN.get():
        return
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise ConfigError(f"expected 'package.module:function', got {str(path)[:80]!r}")
    module, _, name = path.partition(":")
    check_module(f"{module}.{name}", packages)


def name_of(function) -> str:
    """``module:qualname`` of a function, as a config records it."""
    return f"{getattr(function, '__module__', None) or '?'}:{getattr(function, '__qualname__', type(function).__name__)}"


def is_portable(function) -> bool:
    """Whether workers on other machines can import ``function`` by name (no lambda, no closure)."""
    qualname = getattr(function, "__qualname__", "")
    return "<lambda>" not in qualname and "<locals>" not in qualname and getattr(function, "__module__", "") not in (
        "__main__", None)


class UserObjective:
    """The objective of a run that trains the user's function (see the module doc)."""

    def __init__(self, function=None, path: str | None = None, fidelity: str = "epochs"):
        self.function, self.path, self.fidelity = function, path, fidelity

    #: the worker ends the processes a trial of the user's code leaves running (see worker.end_children)
    ends_children = True

    def _function(self):
        if self.function is None:
            module, _, name = self.path.partition(":")
            self.function = getattr(importlib.import_module(module), name)
        return self.function

    def continues(self) -> bool:
        """Whether the function takes a ``state`` and so can be continued (after :meth:`check_import`)."""
        return self.stateful if self.function is None else takes_state(self.function)

    stateful = False

    def check_import(self, paths=(), source: str = "<config>") -> None:
        """Import the function here (the driver), with ``paths`` (``[model] path``) at the end of
        ``sys.path`` as the workers will have them: a module that is not found is one line saying
        where Python looked, before any trial runs."""
        import sys

        from hpsearch.execution.worker import extended_path

        module, _, name = self.path.partition(":")
        with extended_path(paths):
            try:
                function = getattr(importlib.import_module(module), name, None)
            except ImportError as exc:
                looked = ", ".join(p for p in sys.path if p)[:300]
                hint = ("" if paths else "; to use a module beside the config, add [model] path = \".\" "
                        "(relative to the config)")
                raise ConfigError(f"{source}: model.objective: cannot import '{module}' ({exc}); Python looked in "
                                  f"{looked}{hint}") from None
            except Exception as exc:
                raise ConfigError(f"{source}: model.objective: importing '{module}' failed: "
                                  f"{type(exc).__name__}: {str(exc)[:200]}") from None
        if not callable(function):
            raise ConfigError(f"{source}: model.objective: '{module}' has no function '{name}'")
        self.stateful = takes_state(function)

    def __call__(self, spec: TrialSpec, dataset: Dataset) -> TrialResult:
        from hpsearch.execution.worker import report_epoch

        function = self._function()
        result = TrialResult.from_spec(spec)
        state, start, before = None, 0, []
        stateful = takes_state(function)
        if stateful and spec.load_state is not None and os.path.exists(spec.load_state):
            state, start, before = load_user_state(spec.load_state)  # continue the parent where it saved its state
        result.start_epoch, result.parent = start, spec.parent if state is not None else None
        curve: list[float] = []
        stopped: list[int] = []
        latest: list = []  # (epoch, state) last reported: saved at the end when the strategy may continue it

        def report(epoch: int, value: float, state: dict | None = None) -> bool:
            curve.append(float(value))
            if state is not None and spec.save_state is not None:
                latest[:] = [(int(epoch), flat_state(state), before + curve)]  # copied: the loop changes its arrays
            stop = report_epoch(int(epoch), float(value))
            if stop:
                stopped.append(int(epoch))
            return stop

        params = {k: v for k, v in {**spec.model, **spec.params}.items() if k not in OWN_KEYS}
        if stateful:
            out = function(params, dataset, spec.seed, report, state=state)
        else:
            out = function(params, dataset, spec.seed, report)
        if latest:
            save_user_state(*latest[0], spec.save_state)
        values = out if isinstance(out, dict) else {"val_loss": out}
        if "val_loss" not in values:
            raise TypeError(f"the objective returned {sorted(values)[:5]}; expected a number or a dict with val_loss")
        result.val_curve = before + curve  # the whole curve from epoch 1, as a continued network's
        result.epochs_trained = len(curve) if curve else int(params.get(self.fidelity, 0) or 0) - start
        for key, value in values.items():
            value = float(value)
            if key in LOSSES:
                setattr(result, key, value)
            else:
                result.scores[key] = value
        if not math.isfinite(result.val_loss):
            result.status, result.message = "diverged", f"the objective returned a non-finite loss ({result.val_loss})"
        elif stopped:
            result.status, result.message = "stopped", f"stopped after epoch {stopped[0]} (the strategy stopped it)"
        return result


# -- your function's state: saved with an epoch's report, handed to the trial that continues it --------
#: in the .npz: the state's epoch, its plain values as JSON, the validation curve up to the epoch
EPOCH_KEY, PLAIN_KEY, CURVE_KEY = "__epoch__", "__plain__", "__curve__"


def takes_state(function) -> bool:
    """Whether ``function`` declares a ``state`` parameter (it can be continued)."""
    try:
        return "state" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def flat_state(state, prefix: str = "") -> dict:
    """``state`` as flat names (nested keys joined with ``/``) of copied arrays and plain values, or
    TypeError naming what cannot be stored without pickling (objects, tensors not converted)."""
    if not isinstance(state, dict):
        raise TypeError(f"report(..., state=...) takes a dict of NumPy arrays and numbers, got {type(state).__name__}")
    out = {}
    for key, value in state.items():
        name = f"{prefix}{key}"
        if not isinstance(key, str) or not key or "/" in key or key in (EPOCH_KEY, PLAIN_KEY, CURVE_KEY):
            raise TypeError(f"state key {name!r}: keys are non-empty names without '/'")
        if isinstance(value, dict):
            out.update(flat_state(value, f"{name}/"))
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biufcUS":
            out[name] = value.copy()
        elif isinstance(value, (bool, int, float, str)) or value is None:
            out[name] = value
        else:
            raise TypeError(f"state[{name!r}] is {type(value).__name__}{'/' + str(value.dtype) if hasattr(value, 'dtype') else ''}; "
                            f"a state holds NumPy arrays of numbers, booleans or strings and plain numbers "
                            f"(a PyTorch tensor: tensor.detach().cpu().numpy())")
    return out


def save_user_state(epoch: int, flat: dict, curve: list, path: str) -> None:
    """Write atomically (whole or absent): arrays as arrays, plain values as one JSON text, with the
    epoch and the validation curve up to it."""
    arrays = {k: v for k, v in flat.items() if isinstance(v, np.ndarray)}
    plain = {k: v for k, v in flat.items() if not isinstance(v, np.ndarray)}
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, **arrays, **{EPOCH_KEY: np.int64(epoch), PLAIN_KEY: np.str_(json.dumps(plain)),
                               CURVE_KEY: np.asarray(curve[:epoch], dtype=float)})
    os.replace(tmp, path)


def load_user_state(path: str) -> tuple[dict, int, list]:
    """The nested state, its epoch and the curve up to it; nothing in the file is unpickled."""
    with np.load(path, allow_pickle=False) as saved:
        flat = {k: saved[k] for k in saved.files if k not in (EPOCH_KEY, PLAIN_KEY, CURVE_KEY)}
        epoch, curve = int(saved[EPOCH_KEY]), [float(v) for v in saved[CURVE_KEY]]
        flat.update(json.loads(str(saved[PLAIN_KEY])))
    state: dict = {}
    for name, value in flat.items():
        *parents, leaf = name.split("/")
        node = state
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return state, epoch, curve
