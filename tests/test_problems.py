"""Your own table and the built-in problems: cleaning, splits, encoding, bad input."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from hpsearch.cli import main
from hpsearch.data.problems import built_in, clean_table, prepare_table, read_table
from hpsearch.errors import DataError


def diabetes_csv(folder, name="diabetes.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    load_diabetes(as_frame=True).frame.to_csv(folder / name, index=False)
    return folder / name


RIDGE = """
name = "ridge"
strategies = ["random"]
[budget]
trials = 12
[data]
path = "{path}"
target = "target"
[model]
estimator = "sklearn.linear_model.Ridge"
[space.alpha]
type = "float"
low = 0.0001
high = 100.0
log = true
"""


def test_a_csv_beside_the_config_run_from_another_folder(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    diabetes_csv(project / "data")
    (project / "ridge.toml").write_text(RIDGE.format(path="data/diabetes.csv"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", str(project / "ridge.toml"), "--out", "run", "--quiet", "--figures", "none"]) == 0
    trials = pd.read_csv(elsewhere / "run" / "trials.csv")
    summary = pd.read_csv(elsewhere / "run" / "summary.csv")
    assert "alpha" in trials.columns and len(trials) == 12 and (trials["status"] == "ok").all()
    assert summary["best_val_rmse"].iloc[0] < 0.9 * summary["baseline_mean_val_rmse"].iloc[0]
    assert "rows kept: 442" in (elsewhere / "run" / "run.json").read_text()


def test_missing_values_are_counted_and_filled_from_training_rows(tmp_path):
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0] * 5,
                          "colour": (["red", "blue", None, "red", "green"] * 10),
                          "y": [float(i) for i in range(49)] + [np.nan]})
    table = clean_table(frame, "y", None, None, None, "t.csv")
    assert table.report.missing_target == 1 and table.report.rows_kept == 49
    assert table.report.missing == {"x": 5, "colour": 10} and table.categorical == ("colour",)
    lines = table.report.lines()
    assert "dropped, missing target: 1" in lines and "categorical (one-hot): colour" in lines
    data = prepare_table(table, "random", (0.6, 0.2, 0.2), 0)
    assert not np.isnan(data.X_train).any() and data.X_train.min() == 0 and data.X_train.max() == 1
    assert "colour=red" in data.feature_names and "x" in data.feature_names


def test_temporal_split_orders_rows_by_the_time_column():
    frame = pd.DataFrame({"when": pd.date_range("2020-01-01", periods=40, freq="D")[::-1].astype(str),
                          "x": np.arange(40.0), "y": np.arange(40.0)})
    table = clean_table(frame, "y", ("x",), None, "when", "t.csv")
    data = prepare_table(table, "temporal", (0.5, 0.25, 0.25), None)
    assert data.y_train.min() > data.y_test.max()  # the oldest rows (largest y here) train


@pytest.mark.parametrize("change, task, match", [
    (lambda f: f, "auto", "no target column 'nope'; the columns are: age, sex"),
    (lambda f: f.assign(target="high"), "regression", "the target 'target' is not numeric"),
    (lambda f: f.assign(target="high"), "auto", "the target has one class"),
    (lambda f: f.assign(target=["a"] * 440 + ["b"] * 2), "classification", "class 'b' has 2 row"),
    (lambda f: f.assign(bmi=np.nan), "auto", "the feature column 'bmi' has no values"),
    (lambda f: f.assign(target=np.nan), "auto", "no rows left after cleaning"),
])
def test_bad_tables_are_one_clear_error(change, task, match):
    frame = change(load_diabetes(as_frame=True).frame)
    target = "nope" if "nope" in match else "target"
    with pytest.raises(DataError, match=match):
        clean_table(frame, target, None, None, None, "d.csv", task)


def test_read_table_csv_parquet_and_errors(tmp_path):
    path = diabetes_csv(tmp_path)
    frame = read_table(str(path))
    frame.to_parquet(tmp_path / "d.parquet")
    pd.testing.assert_frame_equal(read_table(str(tmp_path / "d.parquet")), frame)
    with pytest.raises(DataError, match="no such data file"):
        read_table(str(tmp_path / "missing.csv"))
    (tmp_path / "bad.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="not a readable table"):
        read_table(str(tmp_path / "bad.csv"))


def test_built_in_problems():
    diabetes, target = built_in("diabetes", 0, 0, 0)
    assert target == "target" and diabetes.shape == (442, 11)
    a, _ = built_in("friedman1", 200, 0.5, 3)
    b, _ = built_in("friedman1", 200, 0.5, 3)
    pd.testing.assert_frame_equal(a, b)
    assert a.shape == (200, 11) and list(a.columns[:2]) == ["x0", "x1"]


@pytest.mark.parametrize("data, match", [
    ({"path": "missing.csv", "target": "y"}, "missing.csv: no such data file"),
    ({"path": "d.csv", "target": "nope"}, "no target column 'nope'"),
])
def test_bad_data_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, data, match):
    diabetes_csv(tmp_path, "d.csv")
    lines = [f'{k} = "{v}"' for k, v in data.items()]
    (tmp_path / "c.toml").write_text("[data]\n" + "\n".join(lines) + "\n[budget]\ntrials = 2\n")
    assert main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet", "--figures", "none"]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and not (tmp_path / "run").exists()
