"""Anytime-valid verdicts: a comparison decided as repetitions come in, valid whenever you look.

After each repetition (a *wave*: one repetition of every strategy on every problem) every
comparison of a strategy with the reference strategy (random search unless ``[verdict]
reference``) gets one more observation: the relative difference of its primary outcome to the
reference's in the same unit, ``(loss - reference's) / reference's`` (the test loss of the
configuration validation chose; in a suite, the mean over the problems of the wave, each problem
weighing 1/P), *clipped* to ``[-clip, clip]`` (``[verdict] clip``, default 0.5, fixed before any
data). The observations are assumed independent and identically distributed across waves
(each wave has its own splits and seeds; a tabular replay's waves that share a recorded seed
are not, which is why a replay's repetitions are capped at its seeds).

The interval is the *betting confidence sequence* of Waudby-Smith & Ramdas (2024, JRSS-B,
"Estimating means of bounded random variables by betting"), hedged, with the predictable
plug-in (empirical-Bernstein) bets, as ``confseq.betting.betting_cs`` computes it by default:
the clipped differences mapped to [0, 1], for each candidate mean m on a grid of 1,000 steps a
positive and a negative capital process ``prod(1 +- lambda_i (x_i - m))`` with bets truncated
to half of what keeps the capital positive, ``max(K+/2, K-/2)`` compared with ``1/a``. With
probability at least 1 - a the true mean lies in every interval at every repetition, however
many times one looks or wherever one stops (Ville's inequality); the running intersection is
taken. It assumes only bounded, independent observations with a common mean: no normality.

Clipping changes the quantity estimated: the mean of the clipped differences. It equals the mean
difference when no difference exceeds ``clip`` in size (a strategy 50% worse than random search
in one unit is rare), and it keeps the sign of a difference, so a decision about the clipped mean
is about the typical difference; a strategy that is far worse in rare units but slightly better
in most can look better clipped than its plain mean says.

Decisions, with the words and rule of :mod:`hpsearch.results.verdict`: ``equivalent`` once the
interval lies inside +-``rope``, else ``better``/``worse`` once it excludes 0, else ``cannot
tell``; a decided comparison keeps its first decision and ``decided_at`` (the repetition). The
family-wise error over the K comparisons of a run is controlled at ``alpha`` at every stopping
time by running each sequence at ``alpha / K`` (Bonferroni; with e-processes this is the
division of the level).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hpsearch.results.verdict import ROPE

CLIP = 0.5  # default [verdict] clip: differences beyond +-50% of the reference's loss count as +-50%
BREAKS = 1000  # the grid of candidate means, as confseq's default
PLANNED = 50  # the asymptotic sequence is tightest near this many observations
METHODS = ("asymptotic", "betting")


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


def interval_path(differences, alpha: float, method: str = "asymptotic", clip: float = CLIP,
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


def decide(differences, alpha: float, rope: float = ROPE, method: str = "asymptotic", clip: float = CLIP,
           planned: int = PLANNED) -> Decision:
    """The first decision the interval path reaches (module doc), at level ``alpha`` (already
    divided by the number of comparisons)."""
    lower, upper = interval_path(differences, alpha, method, clip, planned)
    out = Decision(lower=[float(v) for v in lower], upper=[float(v) for v in upper])
    for n, (low, high) in enumerate(zip(lower, upper), start=1):
        word = ("equivalent" if -rope < low and high < rope else "better" if high < 0 else "worse" if low > 0
                else None)
        if word is not None:
            out.decision, out.decided_at = word, n
            break
    return out


def decide_all(differences: dict, alpha: float = 0.05, rope: float = ROPE, method: str = "asymptotic",
               clip: float = CLIP, planned: int = PLANNED) -> dict:
    """Every comparison (name -> its differences in order), each at ``alpha / K`` (Bonferroni)."""
    level = alpha / max(len(differences), 1)
    return {name: decide(d, level, rope, method, clip, planned) for name, d in differences.items()}
