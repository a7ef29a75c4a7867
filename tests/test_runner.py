"""Running an experiment: reproducibility across workers, failures, resume, seeds, run folders."""


import numpy as np
import pandas as pd
import pytest
from conftest import SPACE, experiment, without_timing

from hpsearch.runner import run_experiment
from hpsearch.seeds import trial_seed


@pytest.mark.slow
@pytest.mark.parametrize("strategies", [["random"], ["grid"]])
def test_trials_identical_for_one_and_two_workers(small_catalog, tmp_path, strategies):
    one = run_experiment(experiment(strategies=strategies), tmp_path / "one", progress=False)
    two = run_experiment(experiment(strategies=strategies, n_jobs=2), tmp_path / "two", progress=False)
    pd.testing.assert_frame_equal(without_timing(one.trials), without_timing(two.trials))
    assert len(one.trials) == 8 and (one.trials["status"] == "ok").all()
    on_disk = pd.read_csv(tmp_path / "two" / "trials.csv")
    assert {"strategy", "repetition", "trial", "seed", "epochs", "hidden_width", "learning_rate",
            "train_rmse", "val_rmse", "status", "seconds"} <= set(on_disk.columns)


def test_seeds_are_paired_across_strategies_and_differ_across_repetitions(small_catalog, tmp_path):
    out = run_experiment(experiment(strategies=["random", "grid"], repetitions=2), tmp_path / "r",
                         progress=False)
    t = out.trials
    # every trial's seed is its configuration's: the same in every strategy. (A grid
    # point read from another's epoch curve shares that configuration and seed.)
    assert all(row.seed == trial_seed(5, row.repetition, row.config) for row in t.itertuples())
    own = t[t["config"] == t["trial"]]
    assert len(own) >= 12
    for (rep, trial), group in own.groupby(["repetition", "trial"]):
        assert group["seed"].nunique() == 1
    assert set(t[t.repetition == 0].seed).isdisjoint(set(t[t.repetition == 1].seed))
    random0 = t[(t.strategy == "random") & (t.repetition == 0)]["learning_rate"].to_numpy()
    random1 = t[(t.strategy == "random") & (t.repetition == 1)]["learning_rate"].to_numpy()
    assert not np.array_equal(random0, random1)
    summary = pd.read_csv(tmp_path / "r" / "summary.csv")
    assert len(summary) == 4
    first = summary[summary.repetition == 0]
    assert first["baseline_mean_val_rmse"].nunique() == 1  # same split for every strategy


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_search_goes_on(small_catalog, tmp_path):
    space = dict(SPACE, activation={"type": "categorical", "choices": ["sigmoid", "relu"]},
                 learning_rate={"type": "float", "low": 0.5, "high": 1e6, "log": True})
    out = run_experiment(experiment(space=space, budget={"trials": 12}, model={"batch_size": 8}),
                         tmp_path / "f", progress=False)
    statuses = set(out.trials["status"])
    assert len(out.trials) == 12
    assert "diverged" in statuses
    diverged = out.trials[out.trials.status == "diverged"]
    assert diverged["message"].str.contains("non-finite").all()
    assert diverged["val_rmse"].isna().all()


@pytest.mark.slow
def test_resume_completes_the_budget_without_repeating(small_catalog, tmp_path):
    full = run_experiment(experiment(), tmp_path / "full", progress=False)
    partial_dir = tmp_path / "partial"
    run_experiment(experiment(budget={"trials": 8}), partial_dir, progress=False)
    lines = (partial_dir / "trials.jsonl").read_text().splitlines(keepends=True)
    # keep 3 trials and half a line, as a crash mid-write would leave
    (partial_dir / "trials.jsonl").write_text("".join(lines[:3]) + lines[3][:20])
    resumed = run_experiment(experiment(), partial_dir, progress=False)
    assert resumed.resumed_trials == 3
    pd.testing.assert_frame_equal(without_timing(full.trials), without_timing(resumed.trials))
    assert len((partial_dir / "trials.jsonl").read_text().splitlines()) == 8


@pytest.mark.slow
def test_a_changed_config_is_refused_for_an_existing_folder(small_catalog, tmp_path):
    from hpsearch.errors import RunError

    run_experiment(experiment(), tmp_path / "x", progress=False)
    with pytest.raises(RunError, match="different config.*--force"):
        run_experiment(experiment(seed=6), tmp_path / "x", progress=False)
    assert run_experiment(experiment(n_jobs=2), tmp_path / "x", progress=False).resumed_trials == 8


# -- hostile run folders -------------------------------------------------------------
def test_a_second_run_on_a_folder_in_use_exits_2_naming_the_holder(small_catalog, tmp_path, capsys):
    import os

    from hpsearch.cli import main
    from hpsearch.execution.runfolder import locked

    out = tmp_path / "busy"
    config = tmp_path / "c.toml"
    config.write_text("[budget]\ntrials = 2\n")
    with locked(out):
        assert main(["run", str(config), "--out", str(out), "--quiet", "--figures", "none"]) == 2
        err = capsys.readouterr().err
        assert f"is in use by process {os.getpid()}" in err and err.count("\n") == 1
    assert main(["run", str(config), "--out", str(out), "--quiet", "--figures", "none"]) == 0  # released: taken over


def test_damaged_run_folders_are_one_clear_error(small_catalog, tmp_path, capsys):
    from hpsearch.cli import main

    config = tmp_path / "c.toml"
    config.write_text("[budget]\ntrials = 2\n")
    (tmp_path / "file").write_text("x")
    assert main(["run", str(config), "--out", str(tmp_path / "file" / "run"), "--quiet", "--figures", "none"]) == 2
    assert "is a file" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(["run", str(config), "--out", str(run), "--quiet", "--figures", "none"]) == 0
    (run / "config.toml").write_text("[[[ not toml")
    assert main(["run", str(config), "--out", str(run), "--quiet", "--figures", "none"]) == 2
    err = capsys.readouterr().err
    assert "config.toml: damaged" in err and err.count("\n") == 1


@pytest.mark.slow
def test_damaged_and_foreign_store_lines_are_reported_at_resume(small_catalog, tmp_path, capsys):
    run = tmp_path / "run"
    run_experiment(experiment(budget={"trials": 4}), run, progress=False)
    lines = (run / "trials.jsonl").read_text().splitlines(keepends=True)
    foreign = lines[0].replace('"strategy":"random"', '"strategy":"nobody"')
    beyond = lines[1].replace('"trial":1,', '"trial":99,')
    (run / "trials.jsonl").write_text(lines[0] + "garbage\n" + "".join(lines[1:]) + foreign + beyond)
    capsys.readouterr()
    again = run_experiment(experiment(budget={"trials": 4}), run, progress=False)
    said = capsys.readouterr()
    err = said.out  # on standard output, even quiet: what a store lost or ignored is said (errors only on stderr)
    assert "trials.jsonl line 2: not JSON" in err and not said.err
    assert "1 stored trials belong to no strategy" in err and "1 stored trials lie outside the trial budget" in err
    assert again.resumed_trials == 4 and len(again.trials) == 4


def test_every_trial_failing_still_writes_the_tables_and_exits_3(small_catalog, tmp_path, capsys):
    from hpsearch.cli import main

    config = tmp_path / "c.toml"
    config.write_text('[budget]\ntrials = 3\n[model]\nbatch_size = 4\n[space.learning_rate]\ntype = "float"\n'
                      'low = 1e6\nhigh = 1e7\n[space.epochs]\ntype = "int"\nlow = 30\nhigh = 40\n')
    assert main(["run", str(config), "--out", str(tmp_path / "r"), "--quiet", "--figures", "none"]) == 3
    err = capsys.readouterr().err
    assert "no trial succeeded: non-finite loss" in err and "Traceback" not in err
    assert len(pd.read_csv(tmp_path / "r" / "trials.csv")) == 3 and (tmp_path / "r" / "summary.csv").is_file()


def test_n_jobs_above_the_cores_is_capped_with_a_notice_on_stdout_that_quiet_silences(small_catalog, tmp_path, capsys):
    """A notice a run gives once goes to standard output; standard error carries errors only; --quiet
    (progress=False) silences it."""
    import os

    exp = experiment(n_jobs=(os.cpu_count() or 1) + 5, budget={"trials": 2})
    out = run_experiment(exp, tmp_path / "n", progress=True)
    said = capsys.readouterr()
    assert len(out.trials) == 2 and "note: n_jobs = " in said.out and "more than this machine's" not in said.err
    run_experiment(exp, tmp_path / "q", progress=False)
    assert "more than this machine's" not in capsys.readouterr().out


def test_a_seconds_budget_stops_a_long_trial_at_an_epoch(small_catalog, tmp_path):
    space = {"epochs": {"type": "int", "low": 10**5, "high": 10**5}}
    out = run_experiment(experiment(space=space, budget={"seconds": 0.5}, model={"batch_size": 64}),
                         tmp_path / "s", progress=False)
    first = out.trials.iloc[0]
    assert first["message"].startswith("stopped by the seconds budget after epoch")
    assert 0 < first["epochs_trained"] < 10**5 and first["seconds"] < 5 and len(out.trials) == 1
