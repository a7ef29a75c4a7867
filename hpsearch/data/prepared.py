"""A problem prepared for a run: the cleaned data, each repetition's split (paired:
the same for every strategy) and its baselines, fit on its training split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from hpsearch.data import problems
from hpsearch.data.catalog import load_catalog
from hpsearch.data.features import Dataset, prepare
from hpsearch.data.metrics import Metric, classification_scores, metric_for, rmse
from hpsearch.errors import DataError
from hpsearch.seeds import split_seed


@dataclass
class Baselines:
    """Reference predictors on one repetition's split, scored by the problem's loss:
    the trivial one (the training mean; the class prior) and the linear one
    (least squares; logistic regression)."""

    baseline_val: float
    baseline_test: float
    reference_val: float
    reference_test: float


@dataclass
class Problem:
    """The cleaned data, what cleaning did, and each repetition's split, prepared
    when it is first needed (a thousand repetitions cost nothing up front)."""

    split: Callable[[int], Dataset]  # repetition -> its prepared split
    cleaning: object
    meta: dict
    task: str = "regression"
    n_features: int = 0
    _baselines: dict[int, Baselines] = field(default_factory=dict)

    @property
    def metric(self) -> Metric:
        return metric_for(self.task)

    def dataset(self, repetition: int) -> Dataset:
        return self.split(repetition)

    def unit(self, repetition: int) -> int:
        """The independent unit of a repetition: its own (each has its split and network seeds)."""
        return repetition

    def baselines(self, repetition: int) -> Baselines:
        """The baselines of a repetition's split (computed once)."""
        if repetition not in self._baselines:
            self._baselines[repetition] = baselines(self.dataset(repetition), self.task)
        return self._baselines[repetition]


def data_key(repetition: int) -> str:
    return f"rep{repetition}"


def repetition_of(key: str) -> int:
    return int(key.removeprefix("rep"))


def baselines(data: Dataset, task: str = "regression") -> Baselines:
    """Fit on the training split: predict-the-mean and ordinary least squares
    (regression), or the class prior and logistic regression (classification)."""
    if task == "classification":
        return _classification_baselines(data)
    mean = float(np.mean(data.y_train))
    linear = least_squares(data.X_train, data.y_train)
    return Baselines(rmse(mean, data.y_val), rmse(mean, data.y_test),
                     rmse(linear(data.X_val), data.y_val), rmse(linear(data.X_test), data.y_test))


def least_squares(X: np.ndarray, y: np.ndarray):
    """Ordinary least squares with an intercept, as scikit-learn's ``LinearRegression``
    computes it (X and y centred, then LAPACK's least squares), in NumPy: the driver of
    a network run then does not import scikit-learn. The fitted predictor."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    x_mean, y_mean = X.mean(axis=0), y.mean()
    coef = np.linalg.lstsq(X - x_mean, y - y_mean, rcond=None)[0]
    intercept = y_mean - x_mean @ coef
    return lambda rows: np.asarray(rows, dtype=np.float64) @ coef + intercept


def _classification_baselines(data: Dataset) -> Baselines:
    from sklearn.linear_model import LogisticRegression

    classes, counts = np.unique(data.y_train, return_counts=True)
    prior = counts / counts.sum()
    logistic = LogisticRegression(max_iter=1000).fit(data.X_train, data.y_train)

    def loss(proba, y):
        return classification_scores(proba, np.asarray(y), classes)["log_loss"]

    return Baselines(loss(np.tile(prior, (len(data.y_val), 1)), data.y_val),
                     loss(np.tile(prior, (len(data.y_test), 1)), data.y_test),
                     loss(logistic.predict_proba(data.X_val), data.y_val),
                     loss(logistic.predict_proba(data.X_test), data.y_test))


def prepare_problem(data, seed: int) -> Problem:
    """Read and clean the data a config's ``[data]`` section names
    (:class:`hpsearch.config.DataConfig`), and prepare the first split of the
    experiment ``seed``: fails before anything is written if the data are missing
    or unusable. Other splits come when asked."""
    if data.dataset == "earthquake":
        table, cleaning, meta = load_catalog(data.event_types)
        task = "classification" if data.threshold is not None else "regression"
        if data.threshold is not None:
            strong = int((table["magnitude"] >= data.threshold).sum())
            cleaning.notes.append(f"classes: 0 (magnitude < {data.threshold:g}): {len(table) - strong}, "
                                  f"1 (magnitude >= {data.threshold:g}): {strong}")

        def split(r):
            return prepare(table, data.features, data.split, data.fractions, split_seed(seed, r),
                           data.threshold)
    else:
        if data.dataset == "table":
            frame, target, where = problems.read_table(data.path), data.target, data.path
        else:
            frame, target = problems.built_in(data.dataset, data.n_samples, data.noise, seed)
            where = data.dataset
        toy = data.dataset == "seed-toy"
        table = problems.clean_table(frame, target, data.features, data.categorical, data.time, where,
                                     data.task, min_class_rows=1 if toy else 3, task_from=data.task_from)
        table.meta["no_split"] = toy
        if data.dataset == "table" and problems.fingerprint(data.path):
            table.meta["in_memory"] = problems.fingerprint(data.path)
        cleaning, meta, task = table.report, table.meta, table.meta["task"]

        def split(r):
            return problems.prepare_table(table, data.split, data.fractions, split_seed(seed, r))
    try:
        first = split(0)
    except DataError as exc:
        where = data.path if data.dataset == "table" else f"the {data.dataset} data"
        raise DataError(f"{where}: {exc}") if not str(exc).startswith(str(where)) else exc from None
    return Problem(split, cleaning, meta, task, n_features=first.X_train.shape[1])
