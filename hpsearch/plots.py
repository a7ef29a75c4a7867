"""Figures for papers: anytime curves and hyperparameter scatter plots (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a screen
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from hpsearch.space import Dimension

X_LABELS = {"trials": "trials", "seconds": "training seconds (one worker)", "epochs": "epochs trained"}
RATIO_LABEL = "validation RMSE / predict-the-mean RMSE"


def _save(fig, path: Path) -> None:
    """Save through a temporary file: a figure is whole or absent."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp)
    tmp.replace(path)


def ratio_label(metric) -> str:
    """The y label of the figures: the validation loss relative to the trivial predictor's."""
    baseline = "predict-the-mean" if metric.baseline == "mean" else "class-prior"
    return f"validation {metric.label} / {baseline} {metric.label}"


def _colours(order: list[str]) -> dict[str, str]:
    """One colour per strategy, the same in every figure of a run (config order)."""
    return {name: f"C{i % 10}" for i, name in enumerate(order)}


def anytime_plot(curve: pd.DataFrame, x: str, path: Path, title: str, order: list[str],
                 label: str = RATIO_LABEL) -> Path:
    """Best-so-far validation RMSE relative to each repetition's mean baseline.

    Dividing by the baseline of the same split (paired) takes the split-to-split
    spread out of the band, which would otherwise hide any difference between
    strategies; the CSV beside the plot also has the raw RMSE.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=150)
    colours = _colours(order)
    for strategy in order:
        c = curve[curve["strategy"] == strategy]
        if c.empty:
            continue
        ax.plot(c[x], c["ratio_mean"], label=strategy, lw=1.6, drawstyle="steps-post", color=colours[strategy])
        ax.fill_between(c[x], c["ratio_low"], c["ratio_high"], color=colours[strategy], alpha=0.15,
                        lw=0, step="post")
    ax.axhline(1.0, color="0.3", ls="--", lw=1, label="predict the mean")
    lows = curve["ratio_low"].to_numpy()
    _zoom(ax, np.append(curve["ratio_mean"].to_numpy(), np.nanquantile(lows, 0.1) if lows.size else np.nan), 1.0)
    if x != "trials" and (curve[x] > 0).any():
        ax.set_xscale("log")
    ax.set_xlabel(X_LABELS[x])
    ax.set_ylabel("best so far: " + label, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def _zoom(ax, values: np.ndarray, baseline: float) -> None:
    """Show the interesting range: from the best value to a little above the baseline."""
    finite = values[np.isfinite(values)]
    if finite.size:
        low = float(finite.min())
        high = max(baseline, float(np.quantile(finite, 0.5)))
        pad = (high - low) * 0.1 or 0.001
        ax.set_ylim(low - pad, high + pad)


def hyperparameter_plots(trials: pd.DataFrame, space: tuple[Dimension, ...], path: Path,
                         title: str, order: list[str], label: str = RATIO_LABEL) -> Path:
    """Validation RMSE (relative to the mean baseline of its split, column ``val_ratio``)
    against each hyperparameter, every strategy's trials."""
    dims = list(space)
    fig, axes = plt.subplots(1, len(dims), figsize=(3.2 * len(dims), 3.2), dpi=150, sharey=True,
                             squeeze=False)
    ok = trials[trials["status"] == "ok"]
    colours = _colours(order)
    for ax, dim in zip(axes[0], dims):
        for strategy in order:
            t = ok[ok["strategy"] == strategy]
            x = t[dim.name]
            if dim.kind == "categorical":
                codes = {c: i for i, c in enumerate(dim.choices)}
                x = x.map(lambda v: codes.get(v, codes.get(str(v), np.nan)))
                x = x + np.random.default_rng(0).uniform(-0.15, 0.15, len(x))  # jitter, fixed
            ax.scatter(x, t["val_ratio"], s=9, alpha=0.6, label=strategy, lw=0, color=colours[strategy])
        if dim.kind == "categorical":
            ax.set_xticks(range(len(dim.choices)), [str(c) for c in dim.choices])
        elif dim.log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.axhline(1.0, color="0.3", ls="--", lw=1)
        ax.set_xlabel(dim.name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(label, fontsize=8)
    _zoom(axes[0][0], ok["val_ratio"].to_numpy(dtype=float), 1.0)
    axes[0][-1].legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path
