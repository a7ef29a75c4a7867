"""hpsearch: hyperparameter search, fair comparisons of search strategies, a NumPy network.

The Python API::

    run = hpsearch.run("experiments/quickstart.toml", n_jobs=2)   # or TOML text, or a dict
    run.trials, run.summary, run.comparison                        # DataFrames, as the files
    run.best(), run.best_estimator(fit=True)
    hpsearch.load("results/quickstart-...")                       # a finished or interrupted run
"""

from hpsearch.api import Run, load, run
from hpsearch.errors import ConfigError, DataError, HpsearchError, RunError
from hpsearch.network import NumpyMLPClassifier, NumpyMLPRegressor

__version__ = "0.2.0"

__all__ = [
    "ConfigError",
    "DataError",
    "HpsearchError",
    "NumpyMLPClassifier",
    "NumpyMLPRegressor",
    "Run",
    "RunError",
    "__version__",
    "load",
    "run",
]
