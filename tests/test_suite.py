"""Suites: several problems in one experiment, and the verdict across them."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hpsearch import suite as suites
from hpsearch.cli import main
from hpsearch.config import Suite, parse_any
from hpsearch.errors import ConfigError

from conftest import expected_ert

SPACE = {"epochs": {"type": "int", "low": 2, "high": 12},
         "hidden_width": {"type": "int", "low": 2, "high": 16, "log": True},
         "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True}}
SUITE = f"""
name = "small-suite"
seed = 2
n_jobs = 2
strategies = ["random", "grid", "tpe"]
repetitions = 6

[budget]
trials = 5

[problems.diabetes]
data = {{ dataset = "diabetes" }}
model = {{ batch_size = 32 }}
space = {json.dumps(SPACE).replace('":', '" =')}

[problems.friedman]
data = {{ dataset = "friedman1" }}
model = {{ batch_size = 64, activation = "tanh" }}
space = {json.dumps(SPACE).replace('":', '" =')}
"""


def test_a_small_suite_from_scratch_recomputes(tmp_path):
    """The issue's check: 2 problems x 3 strategies x 6 repetitions."""
    config = tmp_path / "suite.toml"
    config.write_text(SUITE)
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    trials, summary = pd.read_csv(out / "trials.csv"), pd.read_csv(out / "summary.csv")
    assert trials.columns[0] == "problem" and set(trials["problem"]) == {"diabetes", "friedman"}
    assert len(trials) == 2 * 3 * 6 * 5 and len(summary) == 2 * 3 * 6
    for problem in ("diabetes", "friedman"):
        folder = out / "problems" / problem
        table = pd.read_csv(folder / "comparison.csv").set_index("strategy")
        mine_trials = trials[trials["problem"] == problem]
        mine_summary = summary[summary["problem"] == problem]
        for strategy in ("random", "grid", "tpe"):
            success, ert = expected_ert(mine_trials, mine_summary, strategy)
            assert table.loc[strategy, "success_90"] == pytest.approx(success)
            assert table.loc[strategy, "ert_90"] == pytest.approx(ert)
    blocks = summary.pivot_table(index=["problem", "repetition"], columns="strategy", values="best_val_rmse")
    blocks = blocks[["random", "grid", "tpe"]]
    friedman = json.loads((out / "friedman.json").read_text())
    expected = stats.friedmanchisquare(*[blocks[s].to_numpy() for s in blocks.columns])
    assert friedman["statistic"] == pytest.approx(expected.statistic)
    assert friedman["p_value"] == pytest.approx(expected.pvalue)
    assert friedman["blocks"] == 12
    table = pd.read_csv(out / "suite.csv").set_index("strategy")
    ranks = blocks.rank(axis=1).mean()
    p = {}
    for strategy in ("grid", "tpe"):
        diff = blocks[strategy] - blocks["random"]
        assert table.loc[strategy, "mean_rank"] == pytest.approx(ranks[strategy])
        assert table.loc[strategy, "wins_vs_random"] == (diff < 0).sum()
        assert table.loc[strategy, "losses_vs_random"] == (diff > 0).sum()
        assert table.loc[strategy, "rel_diff_pct_mean"] == pytest.approx((100 * diff / blocks["random"]).mean())
        assert table.loc[strategy, "rel_diff_pct_ci_low"] <= table.loc[strategy, "rel_diff_pct_mean"]
        assert table.loc[strategy, "rel_diff_pct_mean"] <= table.loc[strategy, "rel_diff_pct_ci_high"]
        p[strategy] = stats.wilcoxon(blocks[strategy], blocks["random"], zero_method="zsplit").pvalue
        assert table.loc[strategy, "p_value_vs_random"] == pytest.approx(p[strategy])
    low, high = sorted(p, key=p.get)  # Holm by hand: the smaller p times 2, the larger at least that
    assert table.loc[low, "p_holm_vs_random"] == pytest.approx(min(1, 2 * p[low]))
    assert table.loc[high, "p_holm_vs_random"] == pytest.approx(max(min(1, 2 * p[low]), p[high]))
    for name in ("cd-diagram.png", "ecdf.png", "ecdf.csv", "suite.md", "suite.tex"):
        assert (out / name).stat().st_size > 0, name
    assert "random" in (out / "suite.md").read_text()
    for problem in ("diabetes", "friedman"):
        assert (out / "problems" / problem / "ecdf.png").is_file()
    from conftest import compile_latex

    compile_latex(out / "problems" / "diabetes" / "comparison.tex")
    compile_latex(out / "suite.tex")


def test_suite_statistics_on_a_hand_made_table():
    index = pd.MultiIndex.from_product([["a", "b"], range(10)], names=["problem", "repetition"])
    rng = np.random.default_rng(0)
    random = 1 + rng.uniform(0, 0.1, 20)
    mid = random * (1 + rng.normal(-0.01, 0.02, 20))
    blocks = pd.DataFrame({"random": random, "good": random * 0.9, "mid": mid, "same": random}, index=index)
    table = suites.suite_table(blocks).set_index("strategy")
    p = table["p_value_vs_random"]
    assert table.loc["good", "p_holm_vs_random"] == pytest.approx(3 * p["good"])  # Holm: 3, 2, 1 times
    assert table.loc["mid", "p_holm_vs_random"] == pytest.approx(2 * p["mid"])
    assert table.loc["same", "p_holm_vs_random"] == 1.0
    assert table.loc["good", "wins_vs_random"] == 20 and table.loc["good", "mean_rank"] == 1.0
    assert table.loc["same", "mean_rank"] == pytest.approx(blocks.rank(axis=1).mean()["same"])
    assert table.loc["good", "rel_diff_pct_mean"] == pytest.approx(-10.0)
    assert table.loc["good", "rel_diff_pct_ci_low"] == pytest.approx(-10.0)
    assert table.loc["same", "ties_vs_random"] == 20 and table.loc["same", "p_value_vs_random"] == 1.0
    assert table.loc["good", "p_holm_vs_random"] < 0.05
    lines = suites.verdicts(table.reset_index())
    assert lines[0].startswith("good beats random") and "cannot tell" in lines[-1]
    assert suites.critical_difference(3, 20) == pytest.approx(2.343 * np.sqrt(3 * 4 / (6 * 20)), rel=1e-3)
    assert suites.friedman(blocks[["random", "good"]])["p_value"] is None


def test_a_suite_config_names_the_problem_and_key_at_fault():
    raw = {"strategies": ["random"], "problems": {"one": {"data": {"dataset": "diabetes"},
                                                          "model": {"batch_size": 0}}}}
    with pytest.raises(ConfigError, match=r"problems\.one\.model\.batch_size"):
        parse_any(raw, "s.toml")
    with pytest.raises(ConfigError, match=r"problems\.one\.seed: unknown key"):
        parse_any({"problems": {"one": {"seed": 1}}}, "s.toml")
    with pytest.raises(ConfigError, match="problems: give one"):
        parse_any({"problems": {}}, "s.toml")
    suite = parse_any({"repetitions": 3, "problems": {"one": {"data": {"dataset": "diabetes"}},
                                                      "two": {"data": {"dataset": "friedman1"},
                                                              "budget": {"trials": 4}}}}, "s.toml")
    assert isinstance(suite, Suite) and [name for name, _ in suite.problems] == ["one", "two"]
    assert all(exp.repetitions == 3 for _, exp in suite.problems)
    assert suite.problems[1][1].budget.amount == 4
    assert all(exp.n_jobs == 2 for _, exp in suite.with_overrides(n_jobs=2).problems)


def test_the_python_api_runs_a_suite(tmp_path):
    import hpsearch

    raw = {"strategies": ["random", "tpe"], "repetitions": 2, "budget": {"trials": 3},
           "problems": {"a": {"data": {"dataset": "diabetes"}, "space": SPACE, "model": {"batch_size": 64}},
                        "b": {"data": {"dataset": "friedman1"}, "space": SPACE, "model": {"batch_size": 64}}}}
    runs = hpsearch.run(raw, out=tmp_path / "s")
    assert set(runs) == {"a", "b"} and len(runs["a"].trials) == 2 * 2 * 3
    assert (tmp_path / "s" / "suite.csv").is_file() and (tmp_path / "s" / "cd-diagram.png").is_file()
