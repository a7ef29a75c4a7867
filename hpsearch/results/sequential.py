"""Anytime-valid verdicts: a comparison decided as repetitions come in, valid whenever you look.

After each repetition (a *wave*: one repetition of every strategy) every comparison of a
strategy with the reference strategy (random search unless ``[verdict] reference``) gets one more
observation: the relative difference of its primary outcome to the reference's in the same
repetition, ``(loss - reference's) / reference's`` (the test loss of the configuration validation
chose). The observations are assumed independent and identically distributed across repetitions
(each has its own split and seeds; a tabular replay's repetitions are capped at its recorded seeds
so that they are).

The default interval (``[verdict] sequential = "betting"``) is the *betting confidence sequence*
of Waudby-Smith & Ramdas (2024, JRSS-B, "Estimating means of bounded random variables by
betting"), hedged, with the predictable plug-in bets, exactly as ``confseq.betting.betting_cs``
computes it by default (a test and ``benchmarks/sequential.py`` compare them: identical): the
differences clipped to ``[-clip, clip]`` (``[verdict] clip``, default 0.05, fixed before the data
of a run) and mapped to [0, 1]; for each candidate mean m on a grid of 1,000 steps, a positive
and a negative capital process ``prod(1 +- lambda_i (x_i - m))``, bets truncated to half of what
keeps the capital positive, ``max(K+/2, K-/2)`` compared with ``1/a``; the running intersection.
With probability at least 1 - a the mean of the clipped differences lies in every interval at
every repetition, however often one looks and wherever one stops (Ville's inequality). It assumes
only independent observations with a common mean: no normality, no variance known.

Clipping is what makes the bound exact, and it changes the quantity estimated: the mean of the
clipped differences. It equals the mean difference when no difference exceeds ``clip`` (5%) in
size, and keeps every difference's sign, so better/worse are about the typical difference; on a
noisy problem (differences of 20% and more) the clipped mean is nearer 0 than the mean, and
"equivalent" there says that the clipped differences average inside +-rope. A wider clip keeps
the mean but widens the interval by the range: at 100 repetitions about 2 x clip x log(2K/alpha)
/ 100, so with clip 0.5 no comparison of the reference suite is decided at all.

``sequential = "asymptotic"`` is the asymptotic confidence sequence of Waudby-Smith, Arnold, Wu,
Wang & Ramdas (2024, Annals of Statistics), valid as the number of repetitions grows: tighter, but
on skewed differences its error at 100 repetitions is above alpha (measured: 9.8% in the A/A
benchmark at alpha 5%; 12.5% on exponential data in a test). No decision is taken before
``FIRST`` = 10 repetitions with either.

Decisions, with the words and rule of :mod:`hpsearch.results.verdict`: ``equivalent`` once the
interval lies inside +-``rope``, else ``better``/``worse`` once it excludes 0, else ``cannot
tell``; a decided comparison keeps its first decision and ``decided_at`` (the repetition). The
family-wise error over the K comparisons of a run is controlled at ``alpha`` at every stopping
time by running each sequence at ``alpha / K`` (Bonferroni: for e-processes, a division of the
level).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hpsearch.results.verdict import ROPE

CLIP = 0.05  # default [verdict] clip: differences beyond +-5% of the reference's loss count as +-5%
BREAKS = 1000  # the grid of candidate means, as confseq's default
PLANNED = 50  # the asymptotic sequence is tightest near this many observations
FIRST = 10  # no decision before this many repetitions (the asymptotic sequence's guarantee is asymptotic)
METHODS = ("betting", "asymptotic")  # the first is the default


def bets(x: np.ndarray, alpha: float) -> np.ndarray:
    """The predictable plug-in bets (confseq's ``lambda_predmix_eb``): each uses the mean and
    variance of the observations before it, regularised by one prior observation (1/2, 1/4)."""
    t = np.arange(1, len(x) + 1)
    mean = np.minimum((0.5 + np.cumsum(x)) / (t + 1), 1)
    var = (0.25 + np.cumsum((x - mean) ** 2)) / (t + 1)
    var_before = np.append(0.25, var[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt(2 * math.log(1 / alpha) / (t * np.log(1 + t) * var_before))
    return np.nan_to_num(out, nan=0.0)


def betting_cs(x, alpha: float, breaks: int = BREAKS) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends, after each observation, of the hedged betting confidence sequence
    for the mean of ``x`` in [0, 1] (module doc; without the running intersection, as confseq)."""
    x = np.asarray(x, dtype=float)
    grid = np.arange(0, 1 + 1 / breaks, step=1 / breaks)[:, None]
    positive, negative = bets(x, alpha / 2), bets(x, alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam_pos = np.maximum(np.minimum(positive[None, :], 0.5 / grid), -0.5 / (1 - grid))
        lam_neg = np.maximum(np.minimum(negative[None, :], 0.5 / (1 - grid)), -0.5 / grid)
        cap_pos = np.cumprod(1 + lam_pos * (x[None, :] - grid), axis=1)
        cap_neg = np.cumprod(1 - lam_neg * (x[None, :] - grid), axis=1)
    cap_pos[np.isnan(cap_pos)] = 0
    cap_neg[np.isnan(cap_neg)] = 0
    inside = np.maximum(cap_pos / 2, cap_neg / 2) <= 1 / alpha
    any_inside = inside.any(axis=0)
    first = np.where(any_inside, inside.argmax(axis=0), 0)
    last = np.where(any_inside, len(grid) - 1 - inside[::-1].argmax(axis=0), len(grid) - 1)
    grid = grid[:, 0]
    lower = np.where(any_inside, grid[first], 0.0)
    upper = np.where(any_inside, grid[last], 1.0)
    return np.maximum(0, lower - 1 / breaks), np.minimum(1, upper + 1 / breaks)


def asymptotic_cs(x, alpha: float, planned: int = PLANNED) -> tuple[np.ndarray, np.ndarray]:
    """The two-sided asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Wang & Ramdas
    (2024, Annals of Statistics, "Time-uniform central limit theory and asymptotic confidence
    sequences", Gaussian mixture boundary): ``mean_t +- sd_t * sqrt(2 (t r^2 + 1) / (t^2 r^2)
    * log(sqrt(t r^2 + 1) / alpha))``, ``r`` tuned to be tightest near ``planned`` observations.
    Before two observations, the whole line."""
    x = np.asarray(x, dtype=float)
    t = np.arange(1, len(x) + 1)
    mean = np.cumsum(x) / t
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (np.cumsum(x**2) - t * mean**2) / (t - 1)
    sd = np.sqrt(np.maximum(np.nan_to_num(var, nan=np.inf), 0))
    r2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / planned
    half = sd * np.sqrt(2 * (t * r2 + 1) / (t**2 * r2) * np.log(np.sqrt(t * r2 + 1) / alpha))
    return mean - half, mean + half


def interval_path(differences, alpha: float, method: str = METHODS[0], clip: float = CLIP,
                  planned: int = PLANNED) -> tuple[np.ndarray, np.ndarray]:
    """The running-intersection interval for the mean relative difference after each observation
    (``differences``: relative differences, in order; clipped to +-``clip`` for ``betting``)."""
    d = np.asarray(differences, dtype=float)
    if method == "betting":
        d = np.clip(d, -clip, clip)
        lower, upper = betting_cs((d + clip) / (2 * clip), alpha)
        lower, upper = lower * 2 * clip - clip, upper * 2 * clip - clip
    else:
        lower, upper = asymptotic_cs(d, alpha, planned)
    return np.maximum.accumulate(lower), np.minimum.accumulate(upper)


@dataclass
class Decision:
    """A comparison's sequential verdict: the decision, when, and the interval's path."""

    decision: str = "cannot tell"
    decided_at: int | None = None  # the repetition (1, 2, ...) at which it was decided
    lower: list = field(default_factory=list)
    upper: list = field(default_factory=list)

    @property
    def decided(self) -> bool:
        return self.decided_at is not None


def decide(differences, alpha: float, rope: float = ROPE, method: str = METHODS[0], clip: float = CLIP,
           planned: int = PLANNED) -> Decision:
    """The first decision the interval path reaches (module doc), at level ``alpha`` (already
    divided by the number of comparisons)."""
    lower, upper = interval_path(differences, alpha, method, clip, planned)
    out = Decision(lower=[float(v) for v in lower], upper=[float(v) for v in upper])
    for n, (low, high) in enumerate(zip(lower, upper), start=1):
        if n < FIRST:
            continue
        word = ("equivalent" if -rope < low and high < rope else "better" if high < 0 else "worse" if low > 0
                else None)
        if word is not None:
            out.decision, out.decided_at = word, n
            break
    return out


def decide_all(differences: dict, alpha: float = 0.05, rope: float = ROPE, method: str = METHODS[0],
               clip: float = CLIP, planned: int = PLANNED) -> dict:
    """Every comparison (name -> its differences in order), each at ``alpha / K`` (Bonferroni)."""
    level = alpha / max(len(differences), 1)
    return {name: decide(d, level, rope, method, clip, planned) for name, d in differences.items()}


def differences(outcomes: pd.DataFrame, reference: str) -> dict:
    """Each strategy's relative differences to ``reference``, repetition after repetition
    (``outcomes``: rows of strategy, repetition, loss; a repetition where either has no loss,
    such as a failed search, is left out)."""
    table = outcomes.pivot_table(index="repetition", columns="strategy", values="loss", aggfunc="first").sort_index()
    if reference not in table:
        return {}
    base = table[reference]
    out = {}
    for strategy in table.columns:
        if strategy != reference:
            d = ((table[strategy] - base) / base).to_numpy()
            out[strategy] = d[np.isfinite(d)]
    return out


def decisions(outcomes: pd.DataFrame, verdict: dict) -> dict:
    """The sequential decision of every strategy against ``verdict["reference"]`` (module doc)."""
    found = differences(outcomes, verdict.get("reference", "random"))
    return decide_all(found, verdict.get("alpha", 0.05), verdict.get("rope", ROPE),
                      verdict.get("sequential", METHODS[0]), verdict.get("clip", CLIP))


def decisions_over_problems(outcomes: dict, verdict: dict) -> dict:
    """A suite's decisions: each wave's observation the mean over the problems of its relative
    differences (each problem weighing 1/P), as far as every problem has the wave."""
    reference = verdict.get("reference", "random")
    per_problem = [differences(o, reference) for o in outcomes.values()]
    pooled = {}
    for strategy in per_problem[0] if per_problem else ():
        arrays = [found[strategy] for found in per_problem if strategy in found]
        n = min(len(a) for a in arrays)
        pooled[strategy] = np.mean([a[:n] for a in arrays], axis=0)
    return decide_all(pooled, verdict.get("alpha", 0.05), verdict.get("rope", ROPE),
                      verdict.get("sequential", METHODS[0]), verdict.get("clip", CLIP))


def sentences(found: dict, verdict: dict, ran: int, cap: int) -> list[str]:
    """What the sequential decisions say, and the compute they spent against the fixed design."""
    method = verdict.get("sequential", METHODS[0])
    how = (f"betting confidence sequence, differences clipped to +-{100 * verdict.get('clip', CLIP):g}%"
           if method == "betting" else "asymptotic confidence sequence")
    lines = [f"Repetitions until decided: each comparison with {verdict.get('reference', 'random')} on an "
             f"anytime-valid interval ({how}; family-wise error {verdict.get('alpha', 0.05):g} over "
             f"{len(found)} comparison{'s' if len(found) != 1 else ''}, region of equivalence "
             f"+-{100 * verdict.get('rope', ROPE):g}%; no decision before repetition {FIRST})."]
    for name, d in found.items():
        final = f"{100 * d.lower[-1]:+.2f}% to {100 * d.upper[-1]:+.2f}%" if d.lower else "no interval"
        lines.append(f"{name}: {d.decision}" + (f" at repetition {d.decided_at}" if d.decided else
                                                 f" after {len(d.lower)} repetitions") + f" (interval {final}).")
    lines.append(f"The run stopped after {ran} of at most {cap} repetitions: {100 * ran / cap:.0f}% of the "
                 f"compute of the fixed design of {cap}.")
    return lines


def paths_table(found: dict) -> pd.DataFrame:
    """``sequential.csv``: per comparison and repetition, the interval, and the decision once made."""
    rows = []
    for strategy, decision in found.items():
        for n, (low, high) in enumerate(zip(decision.lower, decision.upper), start=1):
            rows.append({"strategy": strategy, "repetition": n, "ci_low_pct": 100 * low, "ci_high_pct": 100 * high,
                         "decision": decision.decision if decision.decided and n >= decision.decided_at
                         else "cannot tell"})
    return pd.DataFrame(rows, columns=["strategy", "repetition", "ci_low_pct", "ci_high_pct", "decision"])
