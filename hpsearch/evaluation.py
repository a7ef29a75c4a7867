"""Data preparation, baselines and test scoring.

Every repetition has its own split (paired: the same for every strategy);
baselines are fit on its training split; the test split is touched once per
search, for the configuration that validation chose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpsearch import problems
from hpsearch.backends import Backend
from hpsearch.budget import Search
from hpsearch.catalog import load_catalog
from hpsearch.config import Experiment
from hpsearch.features import Dataset, prepare
from hpsearch.metrics import Metric, classification_scores, metric_for, rmse
from hpsearch.seeds import split_seed
from hpsearch.strategies import Proposal
from hpsearch.trial import TrialResult


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
    """The prepared data of every repetition, their baselines, and what cleaning did."""

    datasets: dict[str, Dataset]  # by data key, one per repetition
    baselines: dict[int, Baselines]  # by repetition
    cleaning: object
    meta: dict
    task: str = "regression"

    @property
    def metric(self) -> Metric:
        return metric_for(self.task)

    @property
    def n_features(self) -> int:
        return next(iter(self.datasets.values())).X_train.shape[1]


def data_key(repetition: int) -> str:
    return f"rep{repetition}"


def baselines(data: Dataset, task: str = "regression") -> Baselines:
    """Fit on the training split: predict-the-mean and ordinary least squares
    (regression), or the class prior and logistic regression (classification)."""
    if task == "classification":
        return _classification_baselines(data)
    from sklearn.linear_model import LinearRegression

    mean = float(np.mean(data.y_train))
    linear = LinearRegression().fit(data.X_train, data.y_train)
    return Baselines(rmse(mean, data.y_val), rmse(mean, data.y_test),
                     rmse(linear.predict(data.X_val), data.y_val),
                     rmse(linear.predict(data.X_test), data.y_test))


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


def prepare_problem(exp: Experiment, repetitions: list[int] | None = None) -> Problem:
    """Read the data (fails before anything is written if it is missing or unusable)
    and prepare the split of every repetition (or of ``repetitions`` only)."""
    data = exp.data
    if data.dataset == "earthquake":
        table, cleaning, meta = load_catalog(data.event_types)
        task = "classification" if data.threshold is not None else "regression"
        if data.threshold is not None:
            strong = int((table["magnitude"] >= data.threshold).sum())
            cleaning.notes.append(f"classes: 0 (magnitude < {data.threshold:g}): {len(table) - strong}, "
                                  f"1 (magnitude >= {data.threshold:g}): {strong}")

        def split(r):
            return prepare(table, data.features, data.split, data.fractions, split_seed(exp.seed, r),
                           data.threshold)
    else:
        if data.dataset == "table":
            frame, target, where = problems.read_table(data.path), data.target, data.path
        else:
            frame, target = problems.built_in(data.dataset, data.n_samples, data.noise, exp.seed)
            where = data.dataset
        toy = data.dataset == "seed-toy"
        table = problems.clean_table(frame, target, data.features, data.categorical, data.time, where,
                                     data.task, min_class_rows=1 if toy else 3)
        table.meta["no_split"] = toy
        cleaning, meta, task = table.report, table.meta, table.meta["task"]

        def split(r):
            return problems.prepare_table(table, data.split, data.fractions, split_seed(exp.seed, r))
    datasets, base = {}, {}
    for r in range(exp.repetitions) if repetitions is None else repetitions:
        datasets[data_key(r)] = split(r)
        base[r] = baselines(datasets[data_key(r)], task)
    return Problem(datasets, base, cleaning, meta, task)


def score_tests(session, searches: list[Search], backend: Backend) -> dict[tuple[str, int], TrialResult]:
    """Touch the test split once per search: retrain its chosen configuration (same
    seed, from scratch) and score it on test."""
    by_key = {}
    for search in searches:
        if search.best is not None:
            best = search.best
            spec = session.spec(search, best.trial, Proposal(best.params, best.config), with_test=True)
            backend.submit(session.objective, [spec])
    while backend.in_flight:
        for result in backend.next_completed():
            by_key[(result.strategy, result.repetition)] = result
    return by_key
