"""One rule for every verdict: better, worse, equivalent, or cannot tell.

Every comparison of a strategy with random search, pooled over a suite's problems or within
one problem or one run, is decided here and nowhere else; ``suite.csv``, ``problems.csv``,
``comparison.csv``, ``suite.md``, README's verdict block and ``hpsearch table check`` read
the ``verdict`` this module writes.

The unit is what is independent: a (problem, seed) pair whose split and network seeds no
other unit shares (repetitions that share a recorded seed, as a tabular replay's do, are
averaged into one unit first). The quantity is the relative difference of the loss to random
search's in the same unit, ``(loss - random's) / random's``: unitless, so a relative region of
practical equivalence applies to every problem alike; each problem's effect is also reported
in its own metric.

The test is the Wilcoxon signed-rank test in its normal approximation (ranks of the absolute
differences, ties averaged, a zero counting for neither side; its variance the sum of the
squared ranks of the non-zero differences). Over several problems it is stratified: each
problem's statistic is standardised within the problem and the P standardised statistics are
summed with equal weights, ``Z = sum(z_p) / sqrt(P)``, so each problem carries exactly 1/P of
the pooled statistic's variance whatever its noise, and a noisy problem cannot speak for the
others (van Elteren's weights would favour the problems with more units; here they have the
same number). The effect is the relative shift ``d`` that makes ``Z`` zero when subtracted
from every difference (the Hodges-Lehmann idea: within one problem, about the median of the
pairwise means), and its interval is the set of shifts the same test does not reject: the
interval excludes 0 exactly when the test rejects, so a p-value and an interval can never
tell two stories.

Holm's correction runs over a named family (the strategies compared with random search per
outcome; all per-problem comparisons of all problems together per outcome). A comparison's
interval is taken at the level that makes it consistent with its Holm-adjusted p-value,
``alpha * p / p_holm``: it excludes 0 exactly when ``p_holm < alpha``. Then, with a region of
practical equivalence of +-``rope`` (relative; ``[verdict] rope``, default 1%):

* ``equivalent``: the whole interval lies inside +-rope (pooled over problems, and each problem's
  own interval at the same level too: the common shift is what the test estimates, and a claim
  of equivalence over problems must hold in every one of them, Berger's intersection-union
  principle; a pooled interval inside +-rope with a problem's outside is decided as if there
  were no region: ``better``/``worse`` where it excludes 0, else ``cannot tell``);
* else ``better`` (lower loss) or ``worse``: the interval excludes 0;
* else ``cannot tell``.
"""

from __future__ import annotations

import numpy as np
from typing import Literal

from pydantic import Field, field_validator

from hpsearch.sections import Section, invalid

ALPHA = 0.05
ROPE = 0.01  # relative: 1% of the reference's loss
VERDICTS = ("better", "worse", "equivalent", "cannot tell")


class VerdictSection(Section):
    """``[verdict]``: ``rope``, the region of practical equivalence as a fraction of random search's
    loss (default 0.01, that is 1%; above 0 and below 1); for repetitions until decided
    (:mod:`hpsearch.results.sequential`): ``alpha``, the family-wise error over the run's comparisons,
    the ``reference`` strategy, the ``sequential`` method and, for ``betting``, its ``clip``."""

    rope: float = Field(ROPE, gt=0, lt=1, description="the region of practical equivalence, relative (0.01: 1%)")
    alpha: float = Field(0.05, gt=0, lt=1, description="family-wise error of the sequential decisions")
    reference: str = Field("random", description="the strategy every other is compared with")
    sequential: Literal["betting", "asymptotic"] = Field(
        "betting", description="betting: exact for the clipped differences; asymptotic: time-uniform CLT")
    clip: float = Field(0.05, gt=0, le=10, description="betting: relative differences clipped to +-clip")

    @field_validator("alpha", "clip", mode="before")
    @classmethod
    def _positive(cls, value, info):
        high = 1 if info.field_name == "alpha" else 10
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < high + (info.field_name == "clip"):
            raise invalid("", f"expected a number above 0 and {'below 1' if high == 1 else 'at most 10'}, got {value!r:.40}")
        return float(value)

    @field_validator("rope", mode="before")
    @classmethod
    def _fraction(cls, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise invalid("", f"expected a fraction above 0 and below 1 (0.01 is 1%), got {value!r:.40}")
        return float(value)


EXACT = 16  # up to this many non-zero differences in all, the test's p is exact (every sign pattern)


def _weights(groups: list[np.ndarray], shift: float) -> np.ndarray:
    """Each non-zero difference's weight in the pooled statistic ``Z = sum(sign * weight)``: its
    rank within its problem over the root of the problem's variance (the sum of its squared ranks),
    over the root of the number of problems."""
    from scipy import stats  # about 0.8 s to import: only where a comparison is decided

    parts = []
    for g in groups:
        x = np.asarray(g, dtype=float) - shift
        ranks = stats.rankdata(np.abs(x))
        signs = np.sign(x)
        variance = float(np.sum((ranks * (signs != 0)) ** 2))
        if variance > 0:
            parts.append(signs[signs != 0] * ranks[signs != 0] / np.sqrt(variance))
    return np.concatenate(parts) / np.sqrt(len(groups)) if parts else np.zeros(0)


def pooled_z(groups: list[np.ndarray], shift: float = 0.0) -> float:
    """Each group's (problem's) standardised signed-rank statistic, summed with equal weights."""
    return float(np.sum(_weights(groups, shift)))


def p_value(groups: list[np.ndarray], shift: float = 0.0) -> float:
    """Two-sided p of the stratified signed-rank test that the differences are shifted by ``shift``:
    exact (every sign pattern of the non-zero differences, each as likely under the null) for up to
    :data:`EXACT` of them, the normal approximation above."""
    from scipy import stats

    signed = _weights(groups, shift)
    if not len(signed):
        return 1.0
    observed = abs(float(np.sum(signed)))
    if len(signed) > EXACT:
        return float(min(1.0, 2 * stats.norm.sf(observed)))
    size = np.abs(signed)
    patterns = ((np.arange(2 ** len(size))[:, None] >> np.arange(len(size))) & 1) * 2 - 1
    null = np.abs(patterns @ size)
    return float(np.mean(null >= observed - 1e-12))


def _edge(groups: list[np.ndarray], level: float, inside: float, outside: float) -> float:
    """Between a shift the test does not reject (``inside``) and one it rejects, the boundary."""
    for _ in range(50):
        middle = (inside + outside) / 2
        inside, outside = (middle, outside) if p_value(groups, middle) > level else (inside, middle)
    return (inside + outside) / 2


def shift_interval(groups: list[np.ndarray], alpha: float) -> tuple[float, float, float]:
    """(estimate, low, high): the shift the statistic is centred on, and the shifts the test does not
    reject at two-sided level ``alpha`` (see the module doc)."""
    values = np.concatenate(groups)
    span = float(np.ptp(values)) + 1.0
    below, above = float(values.min()) - span, float(values.max()) + span
    low, high = below, above
    for _ in range(60):  # the estimate: where the pooled statistic changes sign
        middle = (low + high) / 2
        low, high = (middle, high) if pooled_z(groups, middle) > 0 else (low, middle)
    estimate = (low + high) / 2
    if p_value(groups, below) > alpha:  # too few units to reject any shift: none is ruled out
        return estimate, -np.inf, np.inf
    return estimate, _edge(groups, alpha, estimate, below), _edge(groups, alpha, estimate, above)


def decide(low: float, high: float, rope: float = ROPE) -> str:
    """The verdict of an interval of the relative difference (fractions, not percent)."""
    if -rope < low and high < rope:
        return "equivalent"
    if high < 0:
        return "better"
    if low > 0:
        return "worse"
    return "cannot tell"


def compare(family: dict, alpha: float = ALPHA, rope: float = ROPE) -> dict:
    """Decide a family of comparisons at once: ``family`` maps a name to its groups (one array of
    relative differences per problem). Returns, per name: p, p_holm, the estimate and its
    Holm-consistent interval (in percent) and the verdict."""
    from statsmodels.stats.multitest import multipletests

    names = list(family)
    p = np.array([p_value(family[n]) for n in names])
    adjusted = multipletests(p, method="holm")[1]  # Holm's adjusted p-values of the family
    out = {}
    for name, raw, held in zip(names, p, adjusted):
        level = alpha if held <= 0 else min(alpha * raw / held, alpha) if raw > 0 else alpha
        groups = family[name]
        estimate, low, high = shift_interval(groups, level)
        said = decide(low, high, rope)
        if said == "equivalent" and len(groups) > 1:  # equivalence over problems holds in each problem
            each = [shift_interval([g], level)[1:] for g in groups]
            if not all(decide(a, b, rope) == "equivalent" for a, b in each):
                said = decide(low, high, 0.0)  # then better or worse where it excludes 0, else cannot tell
        out[name] = {"p_value": float(raw), "p_holm": float(held), "estimate_pct": 100 * estimate,
                     "ci_low_pct": 100 * low, "ci_high_pct": 100 * high, "verdict": said}
    return out


def pct(value: float) -> str:
    """A percentage with its sign, two decimals, or two significant digits where two decimals
    would round it to zero (an interval ending at -0.0004% does exclude 0)."""
    return f"{value:+.2f}" if value == 0 or abs(value) >= 0.01 or not np.isfinite(value) else f"{value:+.2g}"


def sentence(strategy: str, row: dict, rope: float, scope: str) -> str:
    """A verdict in words, with the numbers it follows from (and nothing they contradict)."""
    interval = (f"{pct(row['estimate_pct'])}% relative to random, interval {pct(row['ci_low_pct'])}% to "
                f"{pct(row['ci_high_pct'])}%, p = {row['p_holm']:.2g} after Holm's correction")
    words = {"better": f"{strategy} beats random", "worse": f"random beats {strategy}",
             "equivalent": f"{strategy} is equivalent to random within +-{100 * rope:g}%",
             "cannot tell": f"{strategy} vs random: the data cannot tell"}[row["verdict"]]
    if row["verdict"] != "equivalent" and -100 * rope < row["ci_low_pct"] and row["ci_high_pct"] < 100 * rope:
        interval += f"; inside +-{100 * rope:g}% pooled, not in every problem"
    return f"{words} ({scope}): {interval}."
