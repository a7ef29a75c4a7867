"""Suites: several problems in one experiment, and the verdict across them."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import expected_ert
from scipy import stats

from hpsearch.cli import main
from hpsearch.config import Suite, parse_any
from hpsearch.errors import ConfigError
from hpsearch.results import suite as suites

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


@pytest.mark.slow
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
    recompute_from_summary(summary, out)
    for name in ("cd-diagram.png", "cd-diagram-validation.png", "ecdf.png", "ecdf.csv", "suite.md", "suite.tex",
                 "problems.csv"):
        assert (out / name).stat().st_size > 0, name
    assert "random" in (out / "suite.md").read_text()
    for problem in ("diabetes", "friedman"):
        assert (out / "problems" / problem / "ecdf.png").is_file()
    from conftest import compile_latex

    compile_latex(out / "problems" / "diabetes" / "comparison.tex")
    compile_latex(out / "suite.tex")


def recompute_from_summary(summary: pd.DataFrame, out) -> None:
    """The issue's check, written out independently of the code: from summary.csv alone, the
    test outcome's mean ranks, relative-difference Wilcoxon p-values with Holm's correction
    and Friedman statistic equal suite.csv and friedman.json."""
    table = pd.read_csv(out / "suite.csv")
    friedman = json.loads((out / "friedman.json").read_text())
    for outcome, column in (("test", "test_rmse"), ("validation", "best_val_rmse")):
        blocks = summary.pivot_table(index=["problem", "repetition"], columns="strategy", values=column)
        blocks = blocks[["random", "grid", "tpe"]]
        mine = table[table["outcome"] == outcome].set_index("strategy")
        expected = stats.friedmanchisquare(*[blocks[s].to_numpy() for s in blocks.columns])
        assert friedman[outcome]["statistic"] == pytest.approx(expected.statistic)
        assert friedman[outcome]["p_value"] == pytest.approx(expected.pvalue)
        assert friedman[outcome]["blocks"] == len(blocks)
        ranks = blocks.rank(axis=1).mean()
        p = {}
        for strategy in ("grid", "tpe"):
            relative = (blocks[strategy] - blocks["random"]) / blocks["random"]
            assert mine.loc[strategy, "mean_rank"] == pytest.approx(ranks[strategy])
            assert mine.loc[strategy, "wins_vs_random"] == (relative < 0).sum()
            assert mine.loc[strategy, "losses_vs_random"] == (relative > 0).sum()
            assert mine.loc[strategy, "rel_diff_pct_mean"] == pytest.approx(100 * relative.mean())
            assert mine.loc[strategy, "rel_diff_pct_ci_low"] <= mine.loc[strategy, "rel_diff_pct_mean"]
            assert mine.loc[strategy, "rel_diff_pct_mean"] <= mine.loc[strategy, "rel_diff_pct_ci_high"]
            p[strategy] = stats.wilcoxon(relative, zero_method="zsplit").pvalue
            assert mine.loc[strategy, "p_value_vs_random"] == pytest.approx(p[strategy])
        low, high = sorted(p, key=p.get)  # Holm by hand: the smaller p times 2, the larger at least that
        assert mine.loc[low, "p_holm_vs_random"] == pytest.approx(min(1, 2 * p[low]))
        assert mine.loc[high, "p_holm_vs_random"] == pytest.approx(max(min(1, 2 * p[low]), p[high]))


def hand_made(scale_b: float = 1.0) -> pd.DataFrame:
    index = pd.MultiIndex.from_product([["a", "b"], range(10)], names=["problem", "repetition"])
    rng = np.random.default_rng(0)
    random = 1 + rng.uniform(0, 0.1, 20)
    mid = random * (1 + rng.normal(-0.01, 0.02, 20))
    good = random * (0.9 + rng.normal(0, 0.005, 20))
    blocks = pd.DataFrame({"random": random, "good": good, "mid": mid, "same": random}, index=index)
    blocks.loc["b"] = blocks.loc["b"].to_numpy() * scale_b
    return blocks


def test_suite_statistics_on_a_hand_made_table():
    blocks = hand_made()
    table = suites.suite_table(blocks).set_index("strategy")
    p = table["p_value_vs_random"]
    assert table.loc["good", "p_holm_vs_random"] == pytest.approx(3 * p["good"])  # Holm: 3, 2, 1 times
    assert table.loc["mid", "p_holm_vs_random"] == pytest.approx(2 * p["mid"])
    assert table.loc["same", "p_holm_vs_random"] == 1.0
    assert table.loc["good", "wins_vs_random"] == 20 and table.loc["good", "mean_rank"] == 1.0
    assert table.loc["same", "mean_rank"] == pytest.approx(blocks.rank(axis=1).mean()["same"])
    relative = 100 * (blocks["good"] - blocks["random"]) / blocks["random"]
    assert table.loc["good", "rel_diff_pct_mean"] == pytest.approx(relative.mean())
    assert table.loc["good", "rel_diff_pct_ci_low"] < relative.mean() < table.loc["good", "rel_diff_pct_ci_high"]
    assert table.loc["same", "ties_vs_random"] == 20 and table.loc["same", "p_value_vs_random"] == 1.0
    assert table.loc["good", "p_holm_vs_random"] < 0.05
    lines = suites.verdicts(table.reset_index())
    assert lines[0].startswith("good beats random (pooled over 2 problems") and "cannot tell" in lines[-1]
    assert suites.critical_difference(3, 20) == pytest.approx(2.343 * np.sqrt(3 * 4 / (6 * 20)), rel=1e-3)
    assert suites.friedman(blocks[["random", "good"]])["p_value"] is None


@pytest.mark.slow
def test_a_problems_scale_changes_no_p_value():
    """Relative differences have no unit: one problem's losses times 100 (its target times 100
    for a scale-equivariant model) leave every p-value and interval as it was."""
    columns = ["p_value_vs_random", "p_holm_vs_random", "rel_diff_pct_mean", "rel_diff_pct_ci_low",
               "detectable_diff_pct", "mean_rank"]
    one, scaled = suites.suite_table(hand_made()), suites.suite_table(hand_made(100.0))
    pd.testing.assert_frame_equal(one[columns], scaled[columns], rtol=1e-3)  # BCa: rounding in its jackknife
    per_one = suites.problems_table({"test": hand_made()})
    per_scaled = suites.problems_table({"test": hand_made(100.0)})
    pd.testing.assert_frame_equal(per_one[columns], per_scaled[columns], rtol=1e-3)
    for a, b in ((one, scaled), (per_one, per_scaled)):
        pd.testing.assert_series_equal(a["p_value_vs_random"], b["p_value_vs_random"], rtol=1e-12)


@pytest.mark.slow
def test_a_real_suite_with_one_target_times_100_has_the_same_p_values(tmp_path):
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.assign(target=frame["target"] * 100).to_csv(tmp_path / "b.csv", index=False)
    common = ('strategies = ["random", "tpe", "grid"]\nrepetitions = 8\n[budget]\ntrials = 4\n'
              '[problems.diabetes]\ndata = {path = "a.csv", target = "target"}\n'
              'model = {estimator = "sklearn.linear_model.Ridge"}\n'
              'space = {alpha = {type = "float", low = 0.001, high = 100.0, log = true}}\n'
              '[problems.friedman]\ndata = {dataset = "friedman1", n_samples = 300}\n'
              'model = {estimator = "sklearn.linear_model.Ridge"}\n'
              'space = {alpha = {type = "float", low = 0.001, high = 100.0, log = true}}\n')
    (tmp_path / "one.toml").write_text(common)
    (tmp_path / "scaled.toml").write_text(common.replace('"a.csv"', '"b.csv"'))
    for name in ("one", "scaled"):
        assert main(["run", str(tmp_path / f"{name}.toml"), "--out", str(tmp_path / name), "--quiet", "--figures", "none"]) == 0
    a, b = pd.read_csv(tmp_path / "one" / "suite.csv"), pd.read_csv(tmp_path / "scaled" / "suite.csv")
    pd.testing.assert_series_equal(a["p_value_vs_random"], b["p_value_vs_random"], rtol=1e-9)
    pd.testing.assert_series_equal(a["p_holm_vs_random"], b["p_holm_vs_random"], rtol=1e-9)
    pa, pb = pd.read_csv(tmp_path / "one" / "problems.csv"), pd.read_csv(tmp_path / "scaled" / "problems.csv")
    pd.testing.assert_series_equal(pa["p_holm_vs_random"], pb["p_holm_vs_random"], rtol=1e-9)


def test_words_follow_from_the_numbers():
    table = pd.DataFrame([
        {"outcome": "test", "strategy": "random", "blocks": 20, "problems": 2, "mean_rank": 2.0},
        {"outcome": "test", "strategy": "x", "blocks": 20, "problems": 2, "mean_rank": 1.0, "wins_vs_random": 15,
         "ties_vs_random": 0, "losses_vs_random": 5, "p_value_vs_random": 0.01, "p_holm_vs_random": 0.02,
         "rel_diff_pct_mean": -1.0, "rel_diff_pct_ci_low": -1.5, "rel_diff_pct_ci_high": -0.5,
         "detectable_diff_pct": 0.4},
        {"outcome": "test", "strategy": "y", "blocks": 20, "problems": 2, "mean_rank": 3.0, "wins_vs_random": 8,
         "ties_vs_random": 0, "losses_vs_random": 12, "p_value_vs_random": 0.01, "p_holm_vs_random": 0.02,
         "rel_diff_pct_mean": 0.1, "rel_diff_pct_ci_low": -0.2, "rel_diff_pct_ci_high": 0.4,
         "detectable_diff_pct": 0.4}])
    per = pd.DataFrame([{"problem": "a", "outcome": "test", "strategy": "x", "p_holm_vs_random": 0.01,
                         "rel_diff_pct_mean": -2.0, "rel_diff_pct_ci_low": -3.0, "rel_diff_pct_ci_high": -1.0},
                        {"problem": "b", "outcome": "test", "strategy": "x", "p_holm_vs_random": 0.6,
                         "rel_diff_pct_mean": 0.1, "rel_diff_pct_ci_low": -0.5, "rel_diff_pct_ci_high": 0.6}])
    validation = table.assign(outcome="validation", p_holm_vs_random=[np.nan, 0.5, 0.5])
    lines = suites.verdicts(table, per, ["x"], "test", validation)
    assert lines[0].startswith("x beats random (pooled over 2 problems, test loss")
    assert "beats random on a" in lines[0] and "cannot be told from random on b" in lines[0]
    assert "The pooled verdict does not hold on b" in lines[0]
    assert "On the validation outcome it cannot be told from random" in lines[0]
    assert lines[1].startswith("y vs random") and "cannot tell" in lines[1]  # p < 0.05 but the interval holds 0
    assert lines[2].startswith("Leading group") and ": x, separated" in lines[2]
    assert "No group" in suites.verdicts(table, leaders=[])[-1]


def test_a_leading_group_is_named_only_when_nemenyi_separates_it():
    ranks = pd.Series({"a": 1.2, "b": 1.9, "c": 3.1, "d": 3.8})
    p = pd.DataFrame(0.5, index=list("abcd"), columns=list("abcd"))
    assert suites.leading_group(ranks, p) == []
    for x in "ab":
        for y in "cd":
            p.loc[x, y] = p.loc[y, x] = 0.01
    assert suites.leading_group(ranks, p) == ["a", "b"]


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


@pytest.mark.slow
def test_the_python_api_runs_a_suite(tmp_path):
    import hpsearch

    raw = {"strategies": ["random", "tpe"], "repetitions": 2, "budget": {"trials": 3},
           "problems": {"a": {"data": {"dataset": "diabetes"}, "space": SPACE, "model": {"batch_size": 64}},
                        "b": {"data": {"dataset": "friedman1"}, "space": SPACE, "model": {"batch_size": 64}}}}
    runs = hpsearch.run(raw, out=tmp_path / "s")
    assert isinstance(runs, hpsearch.SuiteRun) and isinstance(runs.problems["a"], hpsearch.Run)
    assert set(runs.problems) == {"a", "b"} and len(runs.problems["a"].trials) == 2 * 2 * 3
    assert set(runs.table["outcome"]) == {"test", "validation"} and runs.verdict and len(runs.per_problem)
    assert (tmp_path / "s" / "suite.csv").is_file() and (tmp_path / "s" / "cd-diagram.png").is_file()


def test_friedman_of_the_test_outcome_is_computed_on_the_test_blocks(tmp_path):
    """friedman.json's test entry from the test losses, its validation entry from the validation losses (which
    rank the strategies in one order every time here, the test losses not), in the fast subset."""
    rng = np.random.default_rng(0)
    summaries = {}
    for problem in ("a", "b"):
        rows = []
        for repetition in range(6):
            for k, strategy in enumerate(("random", "x", "y")):
                rows.append({"strategy": strategy, "repetition": repetition,
                             "test_rmse": 1 + 0.01 * k + 0.02 * rng.random(),  # ranks that vary
                             "best_val_rmse": 1 - 0.1 * k + 0.01 * rng.random()})
        summaries[problem] = pd.DataFrame(rows)
    blocks = {o: suites.blocks_table(summaries, ["random", "x", "y"], o) for o in suites.OUTCOMES}
    assert blocks["test"].loc[("a", 0), "x"] == summaries["a"].iloc[1]["test_rmse"]
    assert blocks["validation"].loc[("a", 0), "x"] == summaries["a"].iloc[1]["best_val_rmse"]
    suites.write_suite(blocks, tmp_path, "t", figures=False)
    written = json.loads((tmp_path / "friedman.json").read_text())
    for outcome, column in (("test", "test_rmse"), ("validation", "best_val_rmse")):
        wide = pd.concat([s.pivot(index="repetition", columns="strategy", values=column) for s in summaries.values()])
        expected = stats.friedmanchisquare(*[wide[s].to_numpy() for s in ("random", "x", "y")])
        assert written[outcome]["statistic"] == pytest.approx(expected.statistic)
        assert written[outcome]["p_value"] == pytest.approx(expected.pvalue)
    assert written["test"]["statistic"] < written["validation"]["statistic"] == pytest.approx(24.0)  # n (k - 1): 12 x 2
    table = pd.read_csv(tmp_path / "suite.csv").set_index(["outcome", "strategy"])
    assert table.loc[("validation", "random"), "mean_rank"] == 3.0 and table.loc[("test", "random"), "mean_rank"] < 3
