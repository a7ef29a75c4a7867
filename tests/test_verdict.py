"""The one rule of every verdict: the test, its interval, Holm, equal problem weights, the words."""

import numpy as np
import pytest
from scipy import stats

from hpsearch.errors import ConfigError
from hpsearch.results import verdict


def test_one_problem_is_scipys_signed_rank_test_exact_and_approximate():
    rng = np.random.default_rng(0)
    small = rng.normal(-0.02, 0.03, 12)
    assert verdict.p_value([small]) == pytest.approx(stats.wilcoxon(small, method="exact").pvalue)
    large = rng.normal(-0.02, 0.03, 40)
    assert verdict.p_value([large]) == pytest.approx(
        stats.wilcoxon(large, method="approx", correction=False).pvalue)
    assert verdict.p_value([-0.01 * np.arange(1, 6)]) == pytest.approx(0.0625)  # 2 / 2^5: five units


@pytest.mark.parametrize("seed", range(6))
def test_the_interval_excludes_zero_exactly_when_the_test_rejects(seed):
    rng = np.random.default_rng(seed)
    groups = [rng.normal(rng.normal(0, 0.01), 0.02, n) for n in rng.integers(4, 30, rng.integers(1, 4))]
    for alpha in (0.01, 0.05, 0.2):
        estimate, low, high = verdict.shift_interval(groups, alpha)
        assert low <= estimate <= high
        assert (verdict.p_value(groups) <= alpha) == (not low < 0 < high), (alpha, low, high)


def test_holm_adjusted_intervals_agree_with_holm_p_values():
    rng = np.random.default_rng(3)
    family = {f"s{i}": [rng.normal(-0.004 * i, 0.01, 25)] for i in range(6)}
    decided = verdict.compare(family, rope=1e-6)  # no equivalence: better/worse iff Holm rejects
    p = np.array([verdict.p_value(g) for g in family.values()])
    expected, running = {}, 0.0  # Holm by hand: the k-th smallest times (m - k), never below the one before
    for k, i in enumerate(np.argsort(p)):
        running = max(running, min(1.0, (len(p) - k) * p[i]))
        expected[i] = running
    assert [d["p_holm"] for d in decided.values()] == pytest.approx([expected[i] for i in range(len(p))])
    for row in decided.values():
        assert (row["verdict"] in ("better", "worse")) == (row["p_holm"] < 0.05)
        assert (row["ci_high_pct"] < 0 or row["ci_low_pct"] > 0) == (row["p_holm"] < 0.05)


def test_every_problem_weighs_the_same_whatever_its_noise_or_scale():
    """A problem with differences 1000 times larger (a noisier problem, or another unit) carries 1/P of the
    pooled statistic's variance like any other; multiplying it changes no p-value."""
    rng = np.random.default_rng(1)
    quiet, loud, other = rng.normal(-0.001, 0.0005, 20), rng.normal(0.05, 0.3, 20), rng.normal(-0.002, 0.001, 20)
    groups = [quiet, loud, other]
    weights = verdict._weights(groups, 0.0)
    shares = [np.sum(w ** 2) for w in np.split(weights, 3)]
    assert shares == pytest.approx([1 / 3] * 3)
    assert verdict.p_value(groups) == pytest.approx(verdict.p_value([quiet, 1000 * loud, other]))


@pytest.mark.parametrize("low, high, rope, expected", [
    (-0.005, 0.004, 0.01, "equivalent"), (-0.005, -0.001, 0.01, "equivalent"), (-0.02, -0.001, 0.01, "better"),
    (0.001, 0.03, 0.01, "worse"), (-0.02, 0.003, 0.01, "cannot tell"), (-0.005, 0.004, 0.001, "cannot tell")])
def test_the_rule(low, high, rope, expected):
    assert verdict.decide(low, high, rope) == expected


def test_too_few_units_decide_nothing():
    decided = verdict.compare({"a": [np.array([-0.5, -0.4])]})  # two units: p is at least 0.5
    assert decided["a"]["verdict"] == "cannot tell" and decided["a"]["ci_low_pct"] == -np.inf


def test_the_words_follow_the_verdict():
    row = {"estimate_pct": -1.5, "ci_low_pct": -2.5, "ci_high_pct": -0.5, "p_holm": 0.003, "verdict": "better"}
    assert verdict.sentence("tpe", row, 0.01, "x").startswith("tpe beats random (x): -1.50% relative to random")
    assert "equivalent to random within +-1%" in verdict.sentence("tpe", {**row, "verdict": "equivalent"}, 0.01, "x")
    assert "cannot tell" in verdict.sentence("tpe", {**row, "verdict": "cannot tell"}, 0.01, "x")


@pytest.mark.parametrize("section, match", [({"rope": 0}, "above 0 and below 1"), ({"rope": "1%"}, "fraction"),
                                            ({"alfa": 0.1}, "verdict.alfa: unknown key; did you mean .alpha."), (3, "expected a table")])
def test_a_bad_verdict_section_names_the_key(section, match):
    from conftest import experiment

    with pytest.raises(ConfigError, match=match):
        experiment(verdict=section)
    assert experiment(verdict={"rope": 0.02}).rope == 0.02 and experiment().rope == 0.01


def test_equivalence_over_problems_holds_in_each_problem():
    """A quiet problem pins the common shift near 0; a noisy one allows 10%: pooled, that is not equivalence."""
    rng = np.random.default_rng(2)
    quiet = rng.normal(0, 0.0005, 30)
    noisy = rng.normal(0, 0.2, 30)
    both = verdict.compare({"s": [quiet, noisy]})["s"]
    assert -1 < both["ci_low_pct"] and both["ci_high_pct"] < 1  # the common shift's interval: inside +-1%
    assert both["verdict"] == "cannot tell"
    assert "inside +-1% pooled, not in every problem" in verdict.sentence("s", both, 0.01, "x")
    shifted = verdict.compare({"s": [quiet - 0.002, noisy - 0.002]})["s"]  # inside +-1% and excluding 0
    assert shifted["ci_high_pct"] < 0 and shifted["verdict"] == "better"
    assert verdict.compare({"s": [quiet, rng.normal(0, 0.0005, 30)]})["s"]["verdict"] == "equivalent"


def test_percentages_keep_their_sign_and_what_excludes_zero():
    assert [verdict.pct(v) for v in (0.0, -0.0004, 0.0004, -1.234, 12.0, -np.inf)] == [
        "+0.00", "-0.0004", "+0.0004", "-1.23", "+12.00", "-inf"]
