"""Running an experiment: reproducibility across workers, failures, resume, seeds, run folders."""


import numpy as np
import pandas as pd
import pytest

from hpsearch.seeds import trial_seed
from hpsearch.runner import run_experiment

from conftest import SPACE, experiment, without_timing

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


def test_a_changed_config_is_refused_for_an_existing_folder(small_catalog, tmp_path):
    from hpsearch.errors import RunError

    run_experiment(experiment(), tmp_path / "x", progress=False)
    with pytest.raises(RunError, match="different config.*--force"):
        run_experiment(experiment(seed=6), tmp_path / "x", progress=False)
    assert run_experiment(experiment(n_jobs=2), tmp_path / "x", progress=False).resumed_trials == 8
