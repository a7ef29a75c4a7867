"""hpsearch: hyperparameter search for a NumPy network on the earthquake catalog."""

from hpsearch.errors import ConfigError, DataError, HpsearchError, RunError
from hpsearch.network import NumpyMLPRegressor

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "HpsearchError",
    "NumpyMLPRegressor",
    "RunError",
    "__version__",
]
