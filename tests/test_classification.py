"""Classification problems end to end: class targets, log loss, the prior baseline, the lesson's toy."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import hpsearch
from hpsearch.cli import main

CANCER = """
name = "cancer"
strategies = ["random"]
[budget]
trials = 6
[data]
path = "cancer.csv"
target = "target"
task = "classification"
[model]
batch_size = 32
[space.epochs]
type = "int"
low = 5
high = 40
[space.learning_rate]
type = "float"
low = 0.05
high = 1.0
log = true
"""


def cancer_csv(folder):
    load_breast_cancer(as_frame=True).frame.to_csv(folder / "cancer.csv", index=False)


def test_a_classification_csv_is_scored_by_log_loss_beside_the_prior(tmp_path):
    cancer_csv(tmp_path)
    (tmp_path / "c.toml").write_text(CANCER)
    assert main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet", "--figures", "none"]) == 0
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert {"val_log_loss", "val_accuracy", "val_roc_auc"} <= set(trials.columns) and "val_rmse" not in trials
    assert {"test_accuracy", "test_roc_auc", "baseline_prior_val_log_loss", "logistic_val_log_loss"} <= set(summary)
    row = summary.iloc[0]
    assert row["best_val_log_loss"] < 0.5 * row["baseline_prior_val_log_loss"]  # the network beats the prior
    assert row["test_accuracy"] > 0.9 and row["test_roc_auc"] > 0.95
    assert row["baseline_prior_val_log_loss"] == pytest.approx(0.66, abs=0.02)  # 212 / 357 classes
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_json["task"] == "classification" and "classes: 0: 212, 1: 357" in run_json["cleaning"]
    table = pd.read_csv(tmp_path / "run" / "comparison.csv")
    assert {"best_val_log_loss_mean", "baseline_log_loss", "logistic_log_loss", "test_accuracy_mean"} <= set(table)


def test_the_task_is_inferred_from_a_few_valued_integer_target_and_said(tmp_path):
    run = hpsearch.run({"data": {"dataset": "wine"}, "budget": {"trials": 2}, "model": {"batch_size": 16}},
                       out=tmp_path / "w", figures="none")
    assert "val_log_loss" in run.trials and run.best()["val_accuracy"] > 0.3
    model = run.best_estimator(fit=True)
    assert isinstance(model, hpsearch.NumpyMLPClassifier) and len(model.classes_) == 3
    cleaning = json.loads((tmp_path / "w" / "run.json").read_text())["cleaning"]
    assert "task: classification" in cleaning[1]


@pytest.mark.parametrize("raw, match", [
    ({"data": {"dataset": "breast_cancer"}, "model": {"estimator": "sklearn.linear_model.Ridge"},
      "space": {"alpha": {"type": "float", "low": 0.1, "high": 1.0}}},
     "Ridge is a regression estimator and the problem is classification"),
    ({"data": {"dataset": "diabetes", "task": "regression"},
      "model": {"estimator": "sklearn.linear_model.LogisticRegression"},
      "space": {"C": {"type": "float", "low": 0.1, "high": 1.0}}},
     "LogisticRegression is a classification estimator and the problem is regression"),
])
def test_an_estimator_of_the_other_task_exits_2(tmp_path, capsys, raw, match):
    import tomli_w

    (tmp_path / "c.toml").write_text(tomli_w.dumps(raw))
    assert main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet", "--figures", "none"]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_a_regressor_on_a_class_target_exits_2(tmp_path, capsys):
    frame = pd.DataFrame({"x": np.arange(60.0), "y": ["a", "b", "c"] * 20})
    frame.to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "c.toml").write_text('[data]\npath = "t.csv"\ntarget = "y"\n[model]\n'
                                     'estimator = "sklearn.linear_model.Ridge"\n[space.alpha]\n'
                                     'type = "float"\nlow = 0.1\nhigh = 1.0\n')
    assert main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet", "--figures", "none"]) == 2
    err = capsys.readouterr().err
    assert "the target 'y' is not numeric (row 2: 'a'); a regressor needs numbers" in err and err.count("\n") == 1


def test_any_scikit_learn_classifier(tmp_path):
    run = hpsearch.run({"data": {"dataset": "breast_cancer"}, "budget": {"trials": 3},
                        "model": {"estimator": "sklearn.linear_model.LogisticRegression", "max_iter": 500},
                        "space": {"C": {"type": "float", "low": 0.01, "high": 10.0, "log": True}}},
                       out=tmp_path / "lr")
    assert (run.trials["status"] == "ok").all() and run.best()["test_accuracy"] > 0.9


@pytest.mark.slow
def test_the_seed_toy_run_classifies_all_four_examples(tmp_path, experiments):
    run = hpsearch.run(experiments / "seed-toy.toml", out=tmp_path / "toy", trials=4, figures="none")
    net = run.best_estimator(fit=True)
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    assert net.predict(X).tolist() == [0, 1, 1, 0]
    assert run.best()["test_accuracy"] == 1.0 and net.hidden_width == 4
