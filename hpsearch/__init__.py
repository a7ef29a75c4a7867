"""hpsearch: hyperparameter search, fair comparisons of search strategies, a NumPy network.

The Python API::

    run = hpsearch.run("experiments/quickstart.toml", n_jobs=2)   # a path, a dict, or text="..." (TOML)
    run.trials, run.summary, run.comparison                        # DataFrames, as the files
    run.best(), run.best_estimator(fit=True)
    hpsearch.load("results/quickstart-...")                       # a finished or interrupted run
"""

from hpsearch.errors import ConfigError, DataError, HpsearchError, RunError

# Imported when first used, so that a worker process, which imports only
# hpsearch.execution.objective and what it needs, does not pay for the API (pandas, Optuna).
_LAZY = {"Run": "hpsearch.api", "SuiteRun": "hpsearch.api", "load": "hpsearch.api", "run": "hpsearch.api",
         "NumpyMLPClassifier": "hpsearch.models.mlp", "NumpyMLPRegressor": "hpsearch.models.mlp"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")

__version__ = "0.2.0"

__all__ = [
    "ConfigError",
    "DataError",
    "HpsearchError",
    "NumpyMLPClassifier",
    "NumpyMLPRegressor",
    "Run",
    "RunError",
    "SuiteRun",
    "__version__",
    "load",
    "run",
]
