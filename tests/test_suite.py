"""Suites: several problems in one experiment, and the verdict across them."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import expected_ert
from scipy import stats

from hpsearch.cli import main
from hpsearch.config import Suite, parse_any, with_overrides
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


def stratified_p(groups: list[np.ndarray]) -> float:
    """The stratified signed-rank test written out independently: per problem, signed ranks over the root of
    the sum of squared ranks; summed over problems over root P; exact over every sign pattern up to 16
    non-zero differences, the normal approximation above."""
    import itertools

    weights = []
    for g in groups:
        ranks, nonzero = stats.rankdata(np.abs(g)), g != 0
        weights += list(np.sign(g[nonzero]) * ranks[nonzero] / np.sqrt(np.sum(ranks[nonzero] ** 2)) / np.sqrt(len(groups)))
    z = abs(sum(weights))
    if len(weights) > 16:
        return 2 * stats.norm.sf(z)
    sizes = np.abs(weights)
    return float(np.mean([abs(np.dot(signs, sizes)) >= z - 1e-12 for signs in itertools.product((-1, 1), repeat=len(sizes))]))


def recompute_from_summary(summary: pd.DataFrame, out, strategies=("random", "grid", "tpe")) -> None:
    """The issue's check, written out independently of the code: from summary.csv alone, blocks grouped by
    their recorded seed (the ``unit`` column; repetitions sharing one averaged), the mean ranks, the
    stratified signed-rank p-values with Holm's correction, the verdicts and the Friedman statistic equal
    suite.csv and friedman.json."""
    table = pd.read_csv(out / "suite.csv")
    friedman = json.loads((out / "friedman.json").read_text())
    unit = "unit" if "unit" in summary.columns else "repetition"
    for outcome, column in (("test", "test_rmse"), ("validation", "best_val_rmse")):
        blocks = summary.pivot_table(index=["problem", unit], columns="strategy", values=column, aggfunc="mean")
        blocks = blocks[list(strategies)]
        mine = table[table["outcome"] == outcome].set_index("strategy")
        expected = stats.friedmanchisquare(*[blocks[s].to_numpy() for s in blocks.columns])
        assert friedman[outcome]["statistic"] == pytest.approx(expected.statistic)
        assert friedman[outcome]["p_value"] == pytest.approx(expected.pvalue)
        assert friedman[outcome]["blocks"] == len(blocks) == mine["blocks"].iloc[0]
        ranks = blocks.rank(axis=1).mean()
        p = {}
        for strategy in strategies[1:]:
            relative = (blocks[strategy] - blocks["random"]) / blocks["random"]
            assert mine.loc[strategy, "mean_rank"] == pytest.approx(ranks[strategy])
            assert mine.loc[strategy, "wins_vs_random"] == (relative < 0).sum()
            assert mine.loc[strategy, "losses_vs_random"] == (relative > 0).sum()
            assert mine.loc[strategy, "rel_diff_pct_ci_low"] <= mine.loc[strategy, "rel_diff_pct"]
            assert mine.loc[strategy, "rel_diff_pct"] <= mine.loc[strategy, "rel_diff_pct_ci_high"]
            p[strategy] = stratified_p([g.to_numpy() for _, g in relative.groupby(level=0)])
            assert mine.loc[strategy, "p_value_vs_random"] == pytest.approx(p[strategy])
        order = sorted(p, key=p.get)  # Holm by hand
        running = 0.0
        for k, strategy in enumerate(order):
            running = max(running, min(1.0, (len(order) - k) * p[strategy]))
            assert mine.loc[strategy, "p_holm_vs_random"] == pytest.approx(running)
            low, high = mine.loc[strategy, "rel_diff_pct_ci_low"], mine.loc[strategy, "rel_diff_pct_ci_high"]
            decided = ("better" if running < 0.05 and high < 0 else "worse" if running < 0.05 and low > 0
                       else "cannot tell")
            expected_verdict = {"equivalent", decided} if -1 < low and high < 1 else {decided}  # equivalence: in
            # every problem too
            assert mine.loc[strategy, "verdict"] in expected_verdict


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
    assert table.loc["mid", "p_holm_vs_random"] == pytest.approx(max(2 * p["mid"], 3 * p["good"]))
    assert table.loc["same", "p_holm_vs_random"] == 1.0
    assert table.loc["good", "wins_vs_random"] == 20 and table.loc["good", "mean_rank"] == 1.0
    assert table.loc["same", "mean_rank"] == pytest.approx(blocks.rank(axis=1).mean()["same"])
    relative = 100 * (blocks["good"] - blocks["random"]) / blocks["random"]
    assert relative.min() < table.loc["good", "rel_diff_pct"] < relative.max()
    assert table.loc["good", "rel_diff_pct_ci_low"] < table.loc["good", "rel_diff_pct"] < table.loc["good", "rel_diff_pct_ci_high"]
    assert table.loc["same", "ties_vs_random"] == 20 and table.loc["same", "p_value_vs_random"] == 1.0
    assert table.loc["good", "verdict"] == "better" and table.loc["same", "verdict"] == "equivalent"
    assert table.loc["good", "survives_leave_one_problem_out"] == True  # noqa: E712 (a numpy bool)
    lines = suites.verdicts(table.reset_index())
    assert lines[0].startswith("good beats random (pooled over 2 problems") and "equivalent" in lines[-1]
    assert suites.critical_difference(3, 20) == pytest.approx(2.343 * np.sqrt(3 * 4 / (6 * 20)), rel=1e-3)
    assert suites.friedman(blocks[["random", "good"]])["p_value"] is None


def test_repetitions_that_share_a_seed_are_one_unit():
    """A replay of 3 seeds over 9 repetitions: 3 units per problem, each the mean of its repetitions."""
    rows = [{"strategy": s, "repetition": r, "unit": r % 3, "test_rmse": 1 + 0.1 * k + 0.01 * r,
             "best_val_rmse": 1.0} for r in range(9) for k, s in enumerate(("random", "x"))]
    blocks = suites.blocks_table({"p": pd.DataFrame(rows)}, ["random", "x"])
    assert list(blocks.index) == [("p", 0), ("p", 1), ("p", 2)]
    assert blocks.loc[("p", 1), "x"] == pytest.approx(1.1 + 0.01 * (1 + 4 + 7) / 3)
    assert suites.suite_table(blocks).set_index("strategy").loc["x", "blocks"] == 3


@pytest.mark.slow
def test_a_problems_scale_changes_no_p_value():
    """Relative differences have no unit: one problem's losses times 100 (its target times 100
    for a scale-equivariant model) leave every p-value and interval as it was."""
    columns = ["p_value_vs_random", "p_holm_vs_random", "rel_diff_pct", "rel_diff_pct_ci_low", "mean_rank"]
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
    base = {"outcome": "test", "blocks": 20, "problems": 2, "ties_vs_random": 0, "p_value_vs_random": 0.01,
            "p_holm_vs_random": 0.02, "survives_leave_one_problem_out": True}
    table = pd.DataFrame([
        {"outcome": "test", "strategy": "random", "blocks": 20, "problems": 2, "mean_rank": 2.0},
        {**base, "strategy": "x", "mean_rank": 1.0, "wins_vs_random": 15, "losses_vs_random": 5, "rel_diff_pct": -1.0,
         "rel_diff_pct_ci_low": -1.5, "rel_diff_pct_ci_high": -0.5, "verdict": "better"},
        {**base, "strategy": "y", "mean_rank": 3.0, "wins_vs_random": 8, "losses_vs_random": 12, "rel_diff_pct": 0.1,
         "rel_diff_pct_ci_low": -0.2, "rel_diff_pct_ci_high": 1.4, "verdict": "cannot tell", "p_holm_vs_random": 0.3,
         "survives_leave_one_problem_out": False}])
    per = pd.DataFrame([{"problem": "a", "outcome": "test", "strategy": "x", "verdict": "better"},
                        {"problem": "b", "outcome": "test", "strategy": "x", "verdict": "cannot tell"}])
    validation = table.assign(outcome="validation", verdict=[None, "cannot tell", "cannot tell"])
    lines = suites.verdicts(table, per, "test", validation)
    assert lines[0].startswith("x beats random (pooled over 2 problems with equal weights, test loss")
    assert "-1.00% relative to random, interval -1.50% to -0.50%, p = 0.02 after Holm's correction" in lines[0]
    assert "better on a" in lines[0] and "cannot tell on b" in lines[0]
    assert "The pooled verdict does not hold on b" in lines[0]
    assert "On the validation outcome: cannot tell" in lines[0]
    assert lines[1].startswith("y vs random") and "cannot tell" in lines[1]
    assert "changes when one problem is left out" in lines[1] and "changes" not in lines[0]


def test_nemenyi_names_the_pairs_it_separates():
    blocks = hand_made()
    text = suites.nemenyi_lines(blocks, "test")[0]
    p = suites.nemenyi(blocks)
    separated = [(a, b) for a in blocks.columns for b in blocks.columns if a < b and p.loc[a, b] < 0.05]
    assert f"separates {len(separated)} pair" in text and "good from" in text


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
    assert all(exp.n_jobs == 2 for _, exp in with_overrides(suite, n_jobs=2).problems)


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
