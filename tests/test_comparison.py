"""Comparison statistics on hand-made tables, and the comparison run end to end."""

import json

import numpy as np
import pandas as pd
import pytest

from hpsearch.cli import main
from hpsearch.results import comparison
from hpsearch.results.export import render


def hand_made():
    """Two strategies, two repetitions, three trials each."""
    rows = []
    vals = {("random", 0): [0.50, 0.45, 0.44], ("tpe", 0): [0.48, 0.40, 0.39],
            ("random", 1): [0.60, 0.58, 0.57], ("tpe", 1): [0.62, np.nan, 0.56]}
    for (strategy, rep), values in vals.items():
        for trial, v in enumerate(values):
            rows.append({"strategy": strategy, "repetition": rep, "trial": trial, "val_rmse": v,
                         "status": "ok" if np.isfinite(v) else "diverged", "seconds": 1.0,
                         "epochs_trained": 10})
    trials = pd.DataFrame(rows)
    summary = pd.DataFrame([
        {"strategy": s, "repetition": r, "best_val_rmse": np.nanmin(v), "test_rmse": np.nanmin(v) + 0.01,
         "baseline_mean_test_rmse": 0.6, "linear_test_rmse": 0.55, "baseline_mean_val_rmse": 0.6}
        for (s, r), v in vals.items()])
    return trials, summary


def test_comparison_columns_and_values():
    trials, summary = hand_made()
    table = comparison.comparison_table(trials, summary, ["random", "tpe"])
    for column in ("strategy", "best_val_rmse_mean", "best_val_rmse_std", "best_val_rmse_median",
                   "test_rmse_mean", "baseline_rmse", "skill", "trials_to_target", "seconds_to_target",
                   "trials_per_second", "failures", "mean_rank", "p_value_vs_random"):
        assert column in table.columns
    r, t = table.iloc[0], table.iloc[1]
    assert r.best_val_rmse_mean == pytest.approx((0.44 + 0.57) / 2)
    assert t.mean_rank == 1.0 and r.mean_rank == 2.0
    # targets: rep 0 best 0.39 -> 0.39195: random never, tpe at trial 3; rep 1 best 0.56 -> 0.5628: tpe at 3
    assert t.trials_to_target == 3 and t.reached_target == 2
    assert r.reached_target == 0 and np.isnan(r.trials_to_target)
    assert t.failures == 1 and r.failures == 0
    assert t.skill == pytest.approx(1 - (0.40 + 0.57) / 2 / 0.6)
    assert np.isnan(r.p_value_vs_random) and 0 < t.p_value_vs_random <= 1


def test_best_so_far_never_rises_and_carries_over_failures():
    trials, summary = hand_made()
    curves = comparison.progress_curves(trials, summary.groupby("repetition")["baseline_mean_val_rmse"].first())
    tpe1 = curves[(curves.strategy == "tpe") & (curves.repetition == 1)]["best_so_far"].tolist()
    assert tpe1 == [0.62, 0.62, 0.56]
    curve = comparison.anytime_curve(curves, "trials_so_far")
    for _, c in curve.groupby("strategy"):
        assert (np.diff(c["mean"]) <= 1e-12).all()
        assert (c["low"] <= c["mean"]).all() and (c["mean"] <= c["high"]).all()


def test_runtime_to_target_on_a_hand_made_table():
    """Repetition 0: base 0.6, best_any 0.39, the 90% target 0.6 - 0.9 * 0.21 = 0.411: random
    never reaches it (cost: its 30 epochs), tpe at its second trial (20 epochs). Repetition 1:
    best_any 0.56, target 0.564: random never (30), tpe at its third trial (30)."""
    trials, summary = hand_made()
    targets = comparison.targets_table(trials, summary)
    at = targets[targets["level"] == 0.9].set_index(["strategy", "repetition"])
    assert at.loc[("random", 0), "target"] == pytest.approx(0.411)
    assert not at.loc[("random", 0), "reached"] and at.loc[("random", 0), "cost"] == 30
    assert at.loc[("tpe", 0), "reached"] and at.loc[("tpe", 0), "cost"] == 20
    assert at.loc[("tpe", 1), "reached"] and at.loc[("tpe", 1), "cost"] == 30
    table = comparison.comparison_table(trials, summary, ["random", "tpe"]).set_index("strategy")
    assert table.loc["tpe", "success_90"] == 1.0 and table.loc["tpe", "ert_90"] == pytest.approx((20 + 30) / 2)
    assert table.loc["random", "success_90"] == 0.0 and np.isinf(table.loc["random", "ert_90"])
    assert table.loc["random", "epochs_trained_mean"] == 30 and table.loc["tpe", "epochs_to_target"] == 30
    profile = comparison.data_profile(targets)
    final = profile.groupby("strategy")["share"].last()
    assert final["tpe"] == pytest.approx(targets[targets.strategy == "tpe"]["reached"].mean())


@pytest.mark.slow
def test_ert_recomputed_from_the_files_of_a_run(small_catalog, tmp_path):
    """The issue's check: success_90 and ert_90 equal a recomputation from trials.csv and
    summary.csv with the definitions, written out here independently."""
    from conftest import expected_ert, experiment

    from hpsearch.runner import run_experiment

    run_experiment(experiment(strategies=["random", "tpe", "grid"], repetitions=3, budget={"trials": 6}),
                   tmp_path / "r", progress=False)
    trials = pd.read_csv(tmp_path / "r" / "trials.csv")
    summary = pd.read_csv(tmp_path / "r" / "summary.csv")
    table = pd.read_csv(tmp_path / "r" / "comparison.csv").set_index("strategy")
    for strategy in ("random", "tpe", "grid"):
        success, ert = expected_ert(trials, summary, strategy)
        assert table.loc[strategy, "success_90"] == pytest.approx(success)
        assert table.loc[strategy, "ert_90"] == pytest.approx(ert)


@pytest.mark.parametrize("fmt, marker", [("csv", "strategy,"), ("md", "| strategy"),
                                         ("latex", "\\toprule"), ("json", '"strategy"')])
def test_render_formats(fmt, marker):
    trials, summary = hand_made()
    text = render(comparison.comparison_table(trials, summary), fmt)
    assert marker in text


@pytest.mark.slow
def test_compare_strategies_run_exports_and_compares(small_catalog, data_dir, tmp_path, experiments, capsys):
    """The issue's check, on a small catalog: 12 trials x 3 repetitions x 3 strategies."""
    out = tmp_path / "cmp"
    code = main(["run", str(experiments / "compare-strategies.toml"), "--trials", "12", "--repetitions", "3",
                 "--strategies", "random,grid,tpe", "--n-jobs", "2", "--out", str(out), "--quiet"])
    assert code == 0
    assert len(pd.read_csv(out / "trials.csv")) == 108
    table = pd.read_csv(out / "comparison.csv")
    assert table["strategy"].tolist() == ["random", "grid", "tpe"]
    assert {"comparison.md", "comparison.tex", "curve_trials.png", "curve_seconds.png",
            "curve_epochs.png", "curve_trials.csv", "hyperparameters.png"} <= {p.name for p in out.iterdir()}
    assert (out / "curve_trials.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["export", str(out), "--format", "json", "--table", "summary"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 9
    assert main(["export", str(out), "--format", "latex", "--output", str(tmp_path / "c.tex")]) == 0
    assert "\\begin{tabular}" in (tmp_path / "c.tex").read_text()
    assert main(["compare", str(out), str(out)]) == 0
    assert capsys.readouterr().out.count("| cmp ") == 6
    assert main(["export", str(tmp_path / "nope")]) == 2
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "108 trials stored" in shown and "mean RMSE over 3 repetitions" in shown and "predict the mean" in shown


def test_every_best_so_far_curve_a_run_writes_is_non_increasing(tmp_path):
    """Random vs Hyperband over 3 repetitions (different trial counts, repetitions whose first
    success comes late): every curve_*.csv series is non-increasing along x."""
    import glob

    from hpsearch.config import parse
    from hpsearch.runner import run_experiment

    exp = parse({"name": "c", "strategies": ["random", "hyperband"], "repetitions": 3, "budget": {"epochs": 200},
                 "data": {"dataset": "diabetes"}, "model": {"batch_size": 32},
                 "space": {"epochs": {"type": "int", "low": 1, "high": 9},
                           "hidden_width": {"type": "int", "low": 2, "high": 16},
                           "learning_rate": {"type": "float", "low": 0.001, "high": 3.0, "log": True}},
                 "output": {"figures": "none"}}, "c.toml")
    run_experiment(exp, tmp_path / "r", progress=False)
    files = glob.glob(str(tmp_path / "r" / "curve_*.csv"))
    assert len(files) == 3
    for path in files:
        curve = pd.read_csv(path)
        x = [c for c in ("trials", "seconds", "epochs") if c in curve.columns][0]
        for column in ("rmse_mean", "ratio_mean"):
            for strategy, c in curve.groupby("strategy"):
                values = c.sort_values(x)[column].dropna().to_numpy()
                assert len(values) and np.all(np.diff(values) <= 1e-12), (path, strategy, column)
                inside = c.dropna(subset=[column])
                assert (inside["n"] == 3).all()  # never an average of fewer repetitions
                assert (inside[column.replace("mean", "low")] <= inside[column] + 1e-12).all()
