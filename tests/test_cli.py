"""The command line end to end, in a subprocess as a user runs it."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hpsearch.cli import main

ROOT = Path(__file__).resolve().parents[1]


def hpsearch(*args, cwd=None, env_data=None):
    env = dict(os.environ)
    if env_data is not None:
        env["HPSEARCH_DATA"] = str(env_data)
    return subprocess.run([sys.executable, "-m", "hpsearch", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def test_quickstart_on_a_small_catalog(small_catalog, data_dir, tmp_path, experiments):
    result = hpsearch("run", experiments / "quickstart.toml", "--n-jobs", "2", "--trials", "6",
                      "--out", tmp_path / "run", "--quiet", env_data=data_dir)
    assert result.returncode == 0, result.stderr
    assert "predict the mean" in result.stdout and "linear regression" in result.stdout
    run = tmp_path / "run"
    assert {"config.toml", "trials.csv", "summary.csv"} <= {p.name for p in run.iterdir()}
    assert len(pd.read_csv(run / "trials.csv")) == 6


def test_no_catalog_exit_2_names_both_commands(data_dir, tmp_path, experiments):
    result = hpsearch("run", experiments / "quickstart.toml", "--out", tmp_path / "run", env_data=data_dir)
    assert result.returncode == 2
    assert "hpsearch data fetch" in result.stderr and "hpsearch data import FILE" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_data_import_and_info(data_dir, tmp_path, capsys):
    from conftest import synthetic_events, write_kaggle

    path = write_kaggle(tmp_path / "db.csv", synthetic_events(300), iso_rows=(1, 2, 3))
    assert main(["data", "import", str(path)]) == 0
    out = capsys.readouterr().out
    assert "imported 300 rows" in out and "ISO-8601 timestamps parsed (Kaggle quirk): 3" in out
    assert main(["data", "info"]) == 0
    assert "events: 300 from" in capsys.readouterr().out


@pytest.mark.real_catalog
def test_quickstart_on_the_real_catalog(real_catalog, tmp_path, experiments):
    """Under 60 s with 2 workers; the tuned network beats predicting the mean on validation."""
    import time

    start = time.perf_counter()
    result = hpsearch("run", experiments / "quickstart.toml", "--n-jobs", "2", "--out", tmp_path / "qs",
                      "--quiet", env_data=real_catalog)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    trials = pd.read_csv(tmp_path / "qs" / "trials.csv")
    summary = pd.read_csv(tmp_path / "qs" / "summary.csv")
    assert 0.40 <= trials["val_rmse"].min() < summary["baseline_mean_val_rmse"].iloc[0]  # beats the mean
    assert elapsed < 60


def test_an_internal_error_exits_1_with_the_traceback(small_catalog, tmp_path, experiments, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("hpsearch.runner.run_experiment", broken)
    assert main(["run", str(experiments / "quickstart.toml"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "ZeroDivisionError: a bug" in err and "internal error" in err


def test_force_continues_a_folder_with_a_changed_config(small_catalog, tmp_path, experiments, capsys):
    out = tmp_path / "run"
    common = ["run", str(experiments / "quickstart.toml"), "--out", str(out), "--quiet", "--n-jobs", "1"]
    assert main([*common, "--trials", "3"]) == 0
    assert main([*common, "--trials", "5"]) == 2
    assert "different config (changed: budget)" in capsys.readouterr().err
    assert main([*common, "--trials", "5", "--force"]) == 0
    assert "resumed 3 finished trials" in capsys.readouterr().out
    trials = pd.read_csv(out / "trials.csv")
    assert trials["trial"].tolist() == [0, 1, 2, 3, 4]
    assert "trials = 5" in (out / "config.toml").read_text()


def test_dask_backend_without_a_scheduler_starts_a_local_cluster(small_catalog, tmp_path, experiments):
    pytest.importorskip("distributed")
    common = ["run", str(experiments / "quickstart.toml"), "--trials", "4", "--n-jobs", "2", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "loky")]) == 0
    assert main([*common, "--backend", "dask", "--out", str(tmp_path / "dask")]) == 0
    a = pd.read_csv(tmp_path / "loky" / "trials.csv").drop(columns=["seconds", "finished_at"])
    b = pd.read_csv(tmp_path / "dask" / "trials.csv").drop(columns=["seconds", "finished_at"])
    pd.testing.assert_frame_equal(a, b)
    assert "backend = \"dask\"" in (tmp_path / "dask" / "config.toml").read_text()
