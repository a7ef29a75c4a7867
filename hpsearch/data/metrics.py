"""What a problem is scored by, and the names of the columns that hold it.

Regression is scored by RMSE against predicting the training mean and linear
regression; classification by log loss against the class prior (predicting the
training frequencies) and logistic regression, with accuracy and ROC AUC
(one-vs-rest for several classes) beside it. The searched objective is the
validation loss; the columns of ``trials.csv``, ``summary.csv`` and
``comparison.csv`` are named after the metric (``val_rmse``, ``val_log_loss``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TASKS = ("regression", "classification")


@dataclass(frozen=True)
class Metric:
    task: str
    name: str  # the loss the search minimises
    baseline: str  # the trivial predictor
    reference: str  # the linear model beside it
    extras: tuple[str, ...] = ()  # reported beside the loss (higher is better)

    def loss(self, split: str) -> str:
        """``val_rmse``, ``test_log_loss``, ...: the loss on a split."""
        return f"{split}_{self.name}"

    @property
    def best_val(self) -> str:
        return f"best_val_{self.name}"

    def baseline_loss(self, split: str) -> str:
        return f"baseline_{self.baseline}_{split}_{self.name}"

    def reference_loss(self, split: str) -> str:
        return f"{self.reference}_{split}_{self.name}"

    @property
    def label(self) -> str:
        return {"rmse": "RMSE", "log_loss": "log loss"}[self.name]


REGRESSION = Metric("regression", "rmse", "mean", "linear")
CLASSIFICATION = Metric("classification", "log_loss", "prior", "logistic", ("accuracy", "roc_auc"))


def metric_for(task: str) -> Metric:
    return CLASSIFICATION if task == "classification" else REGRESSION


def metric_of(columns) -> Metric:
    """The metric of a table, read from its column names (``val_log_loss``, ...)."""
    names = set(columns)
    for metric in (CLASSIFICATION, REGRESSION):
        if names & {metric.loss("val"), metric.best_val, f"{metric.best_val}_mean", metric.loss("test"),
                    f"baseline_{metric.name}"}:
            return metric
    return REGRESSION


def rmse(prediction: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error; inf (no warning) when the errors overflow."""
    with np.errstate(over="ignore"):
        return float(np.sqrt(np.mean((np.asarray(prediction, dtype=float) - np.asarray(target, dtype=float)) ** 2)))


def classification_scores(proba: np.ndarray, y: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Log loss, accuracy and ROC AUC (one-vs-rest, macro) of class probabilities."""
    from sklearn.metrics import log_loss, roc_auc_score

    proba = np.asarray(proba, dtype=float)
    if not np.all(np.isfinite(proba)):
        raise ValueError("the predicted probabilities are not finite")
    scores = {"log_loss": float(log_loss(y, proba, labels=classes)),
              "accuracy": float(np.mean(classes[np.argmax(proba, axis=1)] == y))}
    present = np.isin(classes, y)
    try:
        if len(classes) == 2:
            scores["roc_auc"] = float(roc_auc_score(y == classes[1], proba[:, 1]))
        else:
            p = proba[:, present] / proba[:, present].sum(axis=1, keepdims=True)
            scores["roc_auc"] = float(roc_auc_score(y, p, multi_class="ovr", labels=classes[present]))
    except ValueError:  # one class only in y: AUC is undefined
        scores["roc_auc"] = float("nan")
    return scores
