"""Anytime-valid sequential verdicts (hpsearch/results/sequential.py) and repetitions until decided."""

import numpy as np
import pandas as pd
import pytest

import hpsearch
from hpsearch.results import sequential


def test_the_betting_sequence_is_confseqs_to_the_last_bit():
    betting = pytest.importorskip("confseq.betting")  # its release predates NumPy 2: where it imports
    rng = np.random.default_rng(4)
    for _ in range(10):
        x = rng.beta(rng.uniform(0.5, 5), rng.uniform(0.5, 5), size=int(rng.integers(5, 80)))
        for mine, theirs in zip(sequential.betting_cs(x, 0.05), betting.betting_cs(x, alpha=0.05)):
            np.testing.assert_array_equal(mine, theirs)


def test_the_betting_sequence_covers_the_mean_at_every_repetition_also_on_skewed_data():
    """300 sequences of 100 skewed, bounded observations: the share whose interval ever misses
    the true mean stays under alpha (the asymptotic sequence's, on the same data, does not)."""
    rng = np.random.default_rng(5)
    misses = {"betting": 0, "asymptotic": 0}
    for _ in range(300):
        d = np.minimum(rng.exponential(0.02, 100), 0.05) - 0.02  # bounded in [-0.02, 0.03]
        mean = np.mean(np.minimum(rng.exponential(0.02, 200_000), 0.05)) - 0.02
        for method in misses:
            low, high = sequential.interval_path(d, 0.1, method)
            misses[method] += bool(np.any((low[9:] > mean) | (high[9:] < mean)))
    assert misses["betting"] / 300 <= 0.1
    assert misses["asymptotic"] > misses["betting"]


def test_the_decision_rule_keeps_its_first_decision():
    rng = np.random.default_rng(6)
    better = sequential.decide(rng.normal(-0.03, 0.005, 100), 0.05)
    assert better.decision == "better" and sequential.FIRST <= better.decided_at < 100
    quiet = sequential.decide(rng.normal(0, 0.0005, 100), 0.05)
    assert quiet.decision == "equivalent"
    noisy = sequential.decide(rng.normal(0, 0.2, 100), 0.05)
    assert noisy.decision == "cannot tell" and noisy.decided_at is None
    assert len(better.lower) == 100 and all(np.diff(better.upper) <= 1e-15)  # the running intersection
    # Bonferroni: each of K comparisons at alpha / K
    np.testing.assert_allclose(sequential.decide(np.full(12, -0.01), 0.025).upper,
                               sequential.decide_all({"x": np.full(12, -0.01), "y": np.zeros(12)}, 0.05)["x"].upper)


def config(**extra):
    return {"name": "seq", "seed": 3, "strategies": ["random", "optuna:RandomSampler"],
            "repetitions": {"max": 14, "until": "decided"}, "budget": {"trials": 6},
            "data": {"dataset": "diabetes"}, "model": {"batch_size": 64},
            "space": {"epochs": {"type": "int", "low": 2, "high": 10},
                      "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True}},
            "output": {"figures": "none"}, **extra}


@pytest.mark.slow
def test_a_run_until_decided_stops_when_every_comparison_is_decided_and_says_so(tmp_path, capsys):
    """A region of equivalence wider than the clipped differences can be: decided at the first look."""
    run = hpsearch.run(config(verdict={"rope": 0.5}), out=tmp_path / "r", quiet=False)
    assert sorted(run.trials["repetition"].unique()) == list(range(sequential.FIRST))  # stopped there, not at 14
    table = pd.read_csv(tmp_path / "r" / "comparison.csv").set_index("strategy")
    assert table.loc["optuna:RandomSampler", "decision"] == "equivalent"
    assert table.loc["optuna:RandomSampler", "decided_at"] == sequential.FIRST
    paths = pd.read_csv(tmp_path / "r" / "sequential.csv")
    assert len(paths) == sequential.FIRST and paths["decision"].iloc[-1] == "equivalent"
    assert f"decided after {sequential.FIRST} repetitions" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_search_by_two_implementations_is_never_better_or_worse(tmp_path, seed):
    run = hpsearch.run(config(seed=seed), out=tmp_path / "aa")
    table = pd.read_csv(tmp_path / "aa" / "comparison.csv").set_index("strategy")
    decision = table.loc["optuna:RandomSampler", "decision"]
    assert decision in ("equivalent", "cannot tell")
    assert decision == "equivalent" or run.trials["repetition"].max() + 1 == 14  # undecided: on to the cap


SUITE = """
name = "sseq"
seed = 4
strategies = ["random", "tpe"]
repetitions = { max = 12, until = "decided" }
[budget]
trials = 3
[verdict]
rope = 0.5
[output]
figures = "none"
[problems.diabetes]
data = { dataset = "diabetes" }
model = { batch_size = 64 }
space = { epochs = { type = "int", low = 2, high = 8 }, learning_rate = { type = "float", low = 0.01, high = 1.0, log = true } }
[problems.friedman1]
data = { dataset = "friedman1", n_samples = 300 }
model = { batch_size = 64 }
space = { epochs = { type = "int", low = 2, high = 8 }, learning_rate = { type = "float", low = 0.01, high = 1.0, log = true } }
"""


@pytest.mark.slow
def test_a_suite_until_decided_runs_waves_over_its_problems_and_resumes_to_the_same_stop(tmp_path, capsys):
    from hpsearch.cli import main

    (tmp_path / "s.toml").write_text(SUITE)
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "s")]) == 0
    said = capsys.readouterr().out
    assert f"every comparison with random decided after {sequential.FIRST} repetitions" in said
    summary = pd.read_csv(tmp_path / "s" / "summary.csv")
    assert summary.groupby("problem")["repetition"].max().tolist() == [sequential.FIRST - 1] * 2
    table = pd.read_csv(tmp_path / "s" / "suite.csv").set_index(["outcome", "strategy"])
    assert table.loc[("test", "tpe"), "decision"] == "equivalent" and table.loc[("test", "tpe"), "decided_at"] == 10
    assert (tmp_path / "s" / "sequential.csv").is_file()
    trials = (tmp_path / "s" / "trials.csv").read_text()
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "s")]) == 0  # resumed: nothing new
    assert "stored trials belong to no strategy" not in capsys.readouterr().out
    assert (tmp_path / "s" / "trials.csv").read_text().count("\n") == trials.count("\n")
