"""Metrics: names of the columns, classification scores."""

import numpy as np
import pytest

from hpsearch.data.metrics import (
    CLASSIFICATION,
    REGRESSION,
    classification_scores,
    metric_for,
    metric_of,
    rmse,
)


def test_column_names_follow_the_metric():
    assert REGRESSION.loss("val") == "val_rmse" and REGRESSION.best_val == "best_val_rmse"
    assert REGRESSION.baseline_loss("test") == "baseline_mean_test_rmse"
    assert REGRESSION.reference_loss("val") == "linear_val_rmse"
    assert CLASSIFICATION.loss("val") == "val_log_loss" and CLASSIFICATION.baseline_loss("val") == "baseline_prior_val_log_loss"
    assert CLASSIFICATION.reference_loss("test") == "logistic_test_log_loss"
    assert metric_of(["strategy", "val_log_loss"]) is CLASSIFICATION
    assert metric_of(["best_val_rmse_mean"]) is REGRESSION and metric_of([]) is REGRESSION
    assert metric_for("classification") is CLASSIFICATION


def test_classification_scores_by_hand():
    classes = np.array(["a", "b"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    y = np.array(["a", "b", "b", "a"])
    scores = classification_scores(proba, y, classes)
    expected = -np.mean(np.log([0.9, 0.8, 0.4, 0.3]))
    assert scores["log_loss"] == pytest.approx(expected)
    assert scores["accuracy"] == 0.5
    assert scores["roc_auc"] == pytest.approx(0.75)  # pairs (b, a): 0.8>0.1, 0.8>0.7, 0.4>0.1, 0.4<0.7
    three = classification_scores(np.eye(3)[[0, 1, 2]] * 0.98 + 0.01 / 1, np.array([0, 1, 2]), np.arange(3))
    assert three["accuracy"] == 1.0 and three["roc_auc"] == 1.0
    with pytest.raises(ValueError, match="not finite"):
        classification_scores(np.array([[np.nan, 1.0]]), np.array(["a"]), classes)
    assert rmse([1.0, 3.0], [1.0, 1.0]) == pytest.approx(np.sqrt(2))
