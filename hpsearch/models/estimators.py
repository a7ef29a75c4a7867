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
``skops.io`` and loaded only if every type in them is one skops trusts by default
or on hpsearch's short list of exact types (:data:`STATE_TYPES`, and the
estimator's own class): a tampered state file runs no code.

A path is checked before anything is imported (:func:`check_path`): only
scikit-learn, hpsearch and the packages a config names (``[model] packages``)
may be imported, and only a class that is a scikit-learn estimator is made.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import re
from pathlib import Path

from hpsearch.errors import ConfigError

NETWORK = "hpsearch.NumpyMLPRegressor"
NETWORK_CLASSIFIER = "hpsearch.NumpyMLPClassifier"
#: packages an estimator may come from without being named in ``[model] packages``
TRUSTED_PACKAGES = ("sklearn", "hpsearch")
#: the exact types a saved state may hold beyond those skops trusts by default (scikit-learn's
#: estimators, NumPy's arrays and scalars, plain containers): the helpers of the estimators
#: hpsearch continues. Anything else (a function such as ``builtins.exec``, a foreign class) is refused.
STATE_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
)
_PATH = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
_PACKAGE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class EstimatorError(ConfigError):
    """An estimator path that cannot be used (the message says why)."""


def check_package_names(packages) -> str | None:
    """Why ``packages`` is not a list of top-level package names, or None."""
    if not isinstance(packages, (list, tuple)) or not all(isinstance(p, str) and _PACKAGE.fullmatch(p)
                                                          for p in packages):
        return f"expected a list of top-level package names such as [\"xgboost\"], got {packages!r}"[:200]
    return None


def check_path(path, packages=()) -> None:
    """Refuse, before any import, a path that is not ``package.module.Class`` inside scikit-learn,
    hpsearch or one of ``packages`` (no ``__main__``, no dunder: importing those runs code)."""
    if not isinstance(path, str) or not _PATH.fullmatch(path):
        raise EstimatorError(f"expected a dotted path to an estimator class such as "
                             f"'sklearn.linear_model.Ridge', got {str(path)[:80]!r}")
    parts = path.split(".")
    if any(part.startswith("__") for part in parts):
        raise EstimatorError(f"'{path}': a path through a dunder name ({next(p for p in parts if p.startswith('__'))})"
                             f" is refused; name the estimator class by its public path")
    allowed = TRUSTED_PACKAGES + tuple(packages)
    if parts[0] not in allowed:
        raise EstimatorError(f"'{path}': estimators are imported only from {', '.join(allowed)}; to use "
                             f"'{parts[0]}', name it in [model] packages = [\"{parts[0]}\"] "
                             f"(or pass --allow-package {parts[0]})")


def resolve(path: str, packages=()) -> type:
    """The estimator class a dotted path names, if the path is allowed (:func:`check_path`) and
    names a scikit-learn regressor or classifier. Nothing is imported for a refused path."""
    check_path(path, tuple(packages))
    if is_network(path):  # checked as the workers train it, without importing scikit-learn
        from hpsearch.models.network import NetworkClassifier, NetworkRegressor

        return NetworkClassifier if path == NETWORK_CLASSIFIER else NetworkRegressor
    cls = imported(path)
    if not task_of(cls):
        raise EstimatorError(f"'{path}' is not a scikit-learn regressor or classifier (is_regressor and "
                             f"is_classifier are false); e.g. sklearn.ensemble.HistGradientBoostingRegressor")
    return cls


@functools.lru_cache(maxsize=32)
def imported(path: str) -> type:
    """The class at ``path`` (cached: every trial asks). Workers call it with the path their
    driver checked with :func:`resolve`."""
    module_name, _, name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EstimatorError(f"cannot import '{module_name}' for '{path}' ({type(exc).__name__}: {exc})") from None
    cls = getattr(module, name, None)
    if cls is None:
        raise EstimatorError(f"'{module_name}' has no '{name}'")
    return cls


def task_of(cls) -> str | None:
    """``regression`` or ``classification`` (scikit-learn's tags), or None; a class is made
    only when it is a scikit-learn estimator class."""
    from hpsearch.models.network import ClassificationOutput, Network

    if inspect.isclass(cls) and issubclass(cls, Network):
        return "classification" if issubclass(cls, ClassificationOutput) else "regression"
    from sklearn.base import BaseEstimator, is_classifier, is_regressor

    if not inspect.isclass(cls) or not issubclass(cls, BaseEstimator):
        return None
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
    """Parameters a config may fix or search (random_state is hpsearch's: the seed), sorted:
    those of ``__init__``, as scikit-learn's ``get_params`` finds them."""
    return sorted(name for name in _init_parameters(cls) if name != "random_state")


def _init_parameters(cls: type) -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(cls.__init__).parameters
    return {name: p for name, p in parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


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
    from hpsearch.models.network import Network, check_params

    try:
        estimator = cls(**params)
        if issubclass(cls, Network):
            check_params(estimator)
        elif hasattr(estimator, "_validate_params"):
            estimator._validate_params()
    except (ValueError, TypeError) as exc:
        return str(exc).splitlines()[0]
    return None


def fidelity(cls: type) -> str | None:
    """The iteration-count parameter (see module doc), or None."""
    from hpsearch.models.network import Network

    if issubclass(cls, Network):
        return "epochs"
    params = _init_parameters(cls)
    if "warm_start" in params:
        for name in ("max_iter", "n_estimators"):
            if name in params:
                return name
    return None


def default_of(cls: type, name: str):
    """The estimator's own default of parameter ``name`` (scikit-learn's estimators keep
    their ``__init__`` arguments as given, so it is the signature's)."""
    return _init_parameters(cls)[name].default


def counts_per_fit(cls: type, fidelity: str | None) -> bool:
    """True when ``max_iter`` limits one call to ``fit`` (SGD, MLP) rather than the
    total (histogram gradient boosting): a continuation then asks for the rest."""
    return fidelity == "max_iter" and not cls.__name__.startswith("HistGradientBoosting")


def make(path: str, params: dict, seed: int):
    """An unfitted estimator with ``params``, seeded when it takes a random_state."""
    cls = imported(path)
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


def load_estimator(path: str, estimator: str):
    """Load a saved ``estimator`` (its dotted path), refusing any type that skops does not trust
    by default and that is neither in :data:`STATE_TYPES` nor the estimator class itself."""
    import skops.io as sio

    allowed = set(STATE_TYPES) | {estimator}
    try:
        types = sio.get_untrusted_types(file=path)
    except Exception as exc:  # not a zip, not a skops file
        raise EstimatorError(f"{path}: not a saved state ({type(exc).__name__}: {str(exc)[:80]})") from None
    unsafe = [t for t in types if t not in allowed]
    if unsafe:
        raise EstimatorError(f"{path}: refusing to load a saved state holding {unsafe[0]} "
                             f"(not a type hpsearch saves)")
    return sio.load(path, trusted=types)
