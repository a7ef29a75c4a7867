"""Estimators a search can tune: the NumPy network, or any scikit-learn regressor or classifier.

An estimator is named by a dotted path (``[model] estimator``), imported only
when it names a class that scikit-learn's ``is_regressor`` or ``is_classifier``
accepts; the network is the regressor or the classifier, as the problem's task says. Its
*fidelity* is the parameter that counts iterations, which multi-fidelity
strategies (Hyperband, ASHA) schedule and which an epoch budget counts:

* ``epochs`` for the network (continued from its saved state);
* ``max_iter`` for estimators with ``warm_start`` and ``max_iter``
  (HistGradientBoostingRegressor, MLPRegressor, SGDRegressor);
* ``n_estimators`` for ensembles with ``warm_start`` (random forests, ...).

A continued estimator is a warm start: fitting on with a larger fidelity ends
where fitting straight through ends. Saved estimators are written with
``skops.io`` and loaded only if every type in them comes from scikit-learn,
NumPy, SciPy or the estimator's own package: a tampered state file runs no code.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
from pathlib import Path

NETWORK = "hpsearch.NumpyMLPRegressor"
NETWORK_CLASSIFIER = "hpsearch.NumpyMLPClassifier"
SAFE_MODULES = ("sklearn.", "numpy.", "scipy.", "builtins.")


class EstimatorError(ValueError):
    """An estimator path that cannot be used (the message says why)."""


@functools.lru_cache(maxsize=32)
def resolve(path: str) -> type:
    """The estimator class a dotted path names (cached: every trial asks)."""
    if not isinstance(path, str) or "." not in path.strip("."):
        raise EstimatorError(f"expected a dotted path to a regressor class such as "
                             f"'sklearn.linear_model.Ridge', got {path!r}")
    module_name, _, name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EstimatorError(f"cannot import '{module_name}' for '{path}' ({type(exc).__name__}: {exc})") from None
    cls = getattr(module, name, None)
    if cls is None:
        raise EstimatorError(f"'{module_name}' has no '{name}'")
    if not inspect.isclass(cls) or task_of(cls) is None:
        raise EstimatorError(f"'{path}' is not a scikit-learn regressor or classifier (is_regressor and "
                             f"is_classifier are false); e.g. sklearn.ensemble.HistGradientBoostingRegressor")
    return cls


def task_of(cls: type) -> str | None:
    """``regression`` or ``classification`` (scikit-learn's tags), or None."""
    from sklearn.base import is_classifier, is_regressor

    try:
        estimator = cls()
    except Exception:
        return None
    if is_regressor(estimator):
        return "regression"
    if is_classifier(estimator):
        return "classification"
    return None


def is_network(path: str) -> bool:
    return path in (NETWORK, NETWORK_CLASSIFIER)


def for_task(path: str, task: str) -> str:
    """The estimator a run uses: the network comes as a regressor or a classifier."""
    if is_network(path):
        return NETWORK_CLASSIFIER if task == "classification" else NETWORK
    return path


def param_names(cls: type) -> list[str]:
    """Parameters a config may fix or search (random_state is hpsearch's: the seed)."""
    return [p for p in cls().get_params(deep=False) if p != "random_state"]


def check_names(cls: type, names, where: str) -> str | None:
    """A one-line problem with parameter ``names`` of ``cls``, or None."""
    allowed = param_names(cls)
    for name in names:
        if name == "random_state":
            return f"{where}.random_state: set by hpsearch from the experiment's seed (paired across strategies)"
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            return f"{where}.{name}: {cls.__name__} has no parameter '{name}'; {hint}it has {', '.join(allowed)}"
    return None


def check_values(cls: type, params: dict) -> str | None:
    """scikit-learn's own parameter validation, before any trial runs; a problem or None."""
    from hpsearch.network import _NumpyMLP, check_params

    try:
        estimator = cls(**params)
        if issubclass(cls, _NumpyMLP):
            check_params(estimator)
        elif hasattr(estimator, "_validate_params"):
            estimator._validate_params()
    except (ValueError, TypeError) as exc:
        return str(exc).splitlines()[0]
    return None


def fidelity(cls: type) -> str | None:
    """The iteration-count parameter (see module doc), or None."""
    from hpsearch.network import _NumpyMLP

    if issubclass(cls, _NumpyMLP):
        return "epochs"
    params = cls().get_params(deep=False)
    if "warm_start" in params:
        for name in ("max_iter", "n_estimators"):
            if name in params:
                return name
    return None


def counts_per_fit(cls: type, fidelity: str | None) -> bool:
    """True when ``max_iter`` limits one call to ``fit`` (SGD, MLP) rather than the
    total (histogram gradient boosting): a continuation then asks for the rest."""
    return fidelity == "max_iter" and not cls.__name__.startswith("HistGradientBoosting")


def make(path: str, params: dict, seed: int):
    """An unfitted estimator with ``params``, seeded when it takes a random_state."""
    cls = resolve(path)
    estimator = cls(**params)
    if "random_state" in estimator.get_params(deep=False):
        estimator.set_params(random_state=seed)
    return estimator


def save_estimator(estimator, path: str) -> None:
    """Write atomically with skops (no pickle)."""
    import skops.io as sio

    tmp = f"{path}.tmp"
    sio.dump(estimator, tmp)
    Path(tmp).replace(path)


def load_estimator(path: str, own_module: str):
    """Load a saved estimator, refusing any type outside the safe modules and ``own_module``."""
    import skops.io as sio

    safe = SAFE_MODULES + (own_module.split(".")[0] + ".",)
    types = sio.get_untrusted_types(file=path)
    unsafe = [t for t in types if not t.startswith(safe)]
    if unsafe:
        raise EstimatorError(f"{path}: refusing to load a saved state holding {unsafe[0]}")
    return sio.load(path, trusted=types)
