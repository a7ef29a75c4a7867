"""BOHB: Hyperband's brackets with configurations from a model (Falkner, Klein, Hutter 2018).

The schedule is Hyperband's (``min_epochs``, ``max_epochs``, ``eta``,
``brackets``), run synchronously: a bracket's configurations are drawn when it
starts, after every result of the brackets before it has been told. The model is
the paper's (Falkner et al. 2018, section 4.1, and its code, hpbandster): with
N_min = ``min_points_in_model`` (default d + 1 for d searched dimensions), a
budget (epochs) has a model once it holds N >= N_min + 2 results; a new
configuration comes from the model of the largest such budget. Its N results are
ranked; the best N_l = max(N_min, ceil(q N)) are "good" and the worst
N_g = max(N_min, N - N_l) are "bad" (q = ``top_n_percent`` / 100; the two sets
overlap while N is small, as in the paper). A product kernel density estimate is
fitted to each (Gaussian kernels on the unit-scaled numeric dimensions,
log-scaled where the dimension is, Scott's bandwidth, at least
``min_bandwidth``; an Aitchison-Aitken kernel on categorical ones);
``num_samples`` candidates are drawn around good points from normals with the
good bandwidth times ``bandwidth_factor``, truncated to [0, 1] as hpbandster does,
and the one with the largest ratio l(x) / g(x) is proposed. A share
``random_fraction`` of the configurations stays random, drawn as Hyperband draws
them. Every draw comes from the configuration's own seed: a run is identical for
any number of workers and after a resume.

Options (the paper's defaults): ``min_epochs``, ``max_epochs``, ``eta`` (3),
``brackets``, ``random_fraction`` (1/3), ``min_points_in_model`` (d + 1),
``top_n_percent`` (15), ``bandwidth_factor`` (3), ``min_bandwidth`` (1e-3),
``num_samples`` (64).
"""

from __future__ import annotations

import math

import numpy as np

from hpsearch.search.strategies._hyperband import HyperbandOptions, HyperbandStrategy
from hpsearch.search.trial import TrialResult
from hpsearch.sections import number

CANDIDATES = 64
MIN_BANDWIDTH = 1e-3
CATEGORY_BANDWIDTH = 0.2
Fraction = number(float, "a number from 0 to 1", ge=0, le=1)
Percent = number(float, "a number from 1 to 99", ge=1, le=99)
Factor = number(float, "a number > 0", ge=1e-6, le=1e6)
Bandwidth = number(float, "a number in (0, 1]", ge=1e-12, le=1)
Points = number(int, "an integer >= 1", ge=1, le=10**6)
Samples = number(int, "an integer >= 1", ge=1, le=10**5)


class BOHBOptions(HyperbandOptions):
    """``[strategy.bohb]``: Hyperband's rungs, and the model that proposes configurations
    (defaults from Falkner et al., 2018)."""

    random_fraction: Fraction = 1 / 3
    min_points_in_model: Points | None = None
    top_n_percent: Percent = 15
    bandwidth_factor: Factor = 3
    min_bandwidth: Bandwidth = MIN_BANDWIDTH
    num_samples: Samples = CANDIDATES


class BOHBStrategy(HyperbandStrategy):
    Options = BOHBOptions

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.random_fraction = float(self.options.get("random_fraction", 1 / 3))
        self.min_points = int(self.options.get("min_points_in_model", len(self.searched) + 1))
        self.top_n_percent = float(self.options.get("top_n_percent", 15))
        self.bandwidth_factor = float(self.options.get("bandwidth_factor", 3))
        self.min_bandwidth = float(self.options.get("min_bandwidth", MIN_BANDWIDTH))
        self.num_samples = int(self.options.get("num_samples", CANDIDATES))
        self.observations: dict[int, list[tuple[np.ndarray, float]]] = {}  # budget -> (point, value)
        self.from_model: set[int] = set()

    def tell(self, result: TrialResult) -> None:
        super().tell(result)
        value = math.inf if result.value is None else result.value
        budget = int(result.params.get(self.fidelity, 0))
        self.observations.setdefault(budget, []).append((self._encode(result.params), value))

    def new_config(self) -> int:
        number = super().new_config()  # the random configuration (and its number)
        rng = self.rng(number, 1)
        budgets = [b for b, obs in self.observations.items() if len(obs) >= self.min_points + 2]
        if budgets and self.searched and rng.random() >= self.random_fraction:
            point = self.sample_model(self.observations[max(budgets)], rng)
            if point is not None:
                self.configs[number] = self._decode(point)
                self.from_model.add(number)
        return number

    # -- the model -----------------------------------------------------------------------
    def _encode(self, params: dict) -> np.ndarray:
        """A point in [0, 1]^d (categorical dimensions: the choice's index)."""
        out = []
        for dim in self.searched:
            value = params.get(dim.name)
            if dim.kind == "categorical":
                out.append(float(list(dim.choices).index(value)) if value in dim.choices else 0.0)
            else:
                low, high, v = (math.log(x) for x in (dim.low, dim.high, value)) if dim.log else \
                    (dim.low, dim.high, value)
                out.append(0.5 if high == low else (v - low) / (high - low))
        return np.array(out)

    def _decode(self, point: np.ndarray) -> dict:
        params = {}
        for dim, x in zip(self.searched, point):
            if dim.kind == "categorical":
                params[dim.name] = dim.choices[int(round(x))]
                continue
            low, high = (math.log(dim.low), math.log(dim.high)) if dim.log else (dim.low, dim.high)
            value = low + float(np.clip(x, 0, 1)) * (high - low)
            value = math.exp(value) if dim.log else value
            params[dim.name] = int(min(max(round(value), dim.low), dim.high)) if dim.kind == "int" else value
        return params

    def split(self, observations: list) -> tuple[np.ndarray, np.ndarray]:
        """(good, bad) points of a budget's observations, as the paper splits them (module doc)."""
        ranked = sorted(observations, key=lambda o: o[1])
        n = len(ranked)
        n_good = max(self.min_points, int(math.ceil(self.top_n_percent / 100 * n)))
        n_bad = max(self.min_points, n - n_good)
        good = np.array([p for p, v in ranked[:n_good] if math.isfinite(v)])
        bad = np.array([p for p, _ in ranked[n - n_bad:]])
        return good, bad

    def sample_model(self, observations: list, rng: np.random.Generator) -> np.ndarray | None:
        """The candidate with the largest l(x) / g(x), or None without good and bad points."""
        good, bad = self.split(observations)
        if len(good) == 0 or len(bad) == 0:
            return None
        categorical = np.array([d.kind == "categorical" for d in self.searched])
        sizes = np.array([len(d.choices) if d.kind == "categorical" else 0 for d in self.searched])
        bw_good = self._bandwidths(good) * self.bandwidth_factor
        candidates = good[rng.integers(len(good), size=self.num_samples)].copy()
        numeric = ~categorical
        if numeric.any():  # a normal around a good point, truncated to [0, 1] (hpbandster's truncnorm)
            centre = candidates[:, numeric]
            scale = np.broadcast_to(bw_good[numeric], centre.shape)
            from scipy.stats import truncnorm  # here: importing scipy.stats costs most of a second

            candidates[:, numeric] = truncnorm.rvs(-centre / scale, (1 - centre) / scale, loc=centre, scale=scale,
                                                   random_state=rng)
        for j in np.flatnonzero(categorical):  # keep the good point's choice, or take another
            switch = rng.random(self.num_samples) < CATEGORY_BANDWIDTH
            candidates[switch, j] = rng.integers(sizes[j], size=switch.sum())
        ratio = (_density(candidates, good, self._bandwidths(good), categorical, sizes)
                 / np.maximum(_density(candidates, bad, self._bandwidths(bad), categorical, sizes), 1e-32))
        return candidates[int(np.argmax(ratio))]

    def _bandwidths(self, points: np.ndarray) -> np.ndarray:
        """Scott's rule per dimension, at least ``min_bandwidth``."""
        n, d = points.shape
        spread = points.std(axis=0, ddof=1) if n > 1 else np.zeros(d)
        return np.maximum(spread * n ** (-1.0 / (d + 4)), self.min_bandwidth)


def _density(x: np.ndarray, points: np.ndarray, bandwidth: np.ndarray, categorical: np.ndarray,
             sizes: np.ndarray) -> np.ndarray:
    """Product-kernel density of ``points`` at each row of ``x``."""
    diff = x[:, None, :] - points[None, :, :]
    numeric = np.exp(-0.5 * (diff[..., ~categorical] / bandwidth[~categorical]) ** 2) / bandwidth[~categorical]
    kernel = np.prod(numeric, axis=2)
    for j in np.flatnonzero(categorical):
        same = np.isclose(diff[..., j], 0)
        other = CATEGORY_BANDWIDTH / max(sizes[j] - 1, 1)
        kernel = kernel * np.where(same, 1 - CATEGORY_BANDWIDTH, other)
    return kernel.mean(axis=1)
