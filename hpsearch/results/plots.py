"""Figures for papers: anytime curves and hyperparameter scatter plots (matplotlib)."""

from __future__ import annotations

import contextlib
import contextvars
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a screen
import matplotlib.patches
import matplotlib.pyplot as plt
import matplotlib.text
import matplotlib.ticker
import numpy as np
import pandas as pd

from hpsearch.files import atomic_file
from hpsearch.search.space import Dimension

X_LABELS = {"trials": "trials", "seconds": "training seconds (one worker)", "epochs": "epochs trained"}
RATIO_LABEL = "validation RMSE\n/ predict-the-mean RMSE"


def _literal_text(fig) -> None:
    """Names come from users' data (a target called "price $\\foo$"): every text of a figure is
    printed as it is, never as mathtext, but the tick labels, whose formatters write mathtext
    on purpose (10^2 on a log axis)."""
    ticks = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ticks.add(id(axis.get_offset_text()))
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((id(tick.label1), id(tick.label2)))
    for text in fig.findobj(matplotlib.text.Text):
        if id(text) not in ticks:
            text.set_parse_math(False)


_FORMATS = contextvars.ContextVar("figure_formats", default=("png",))


@contextlib.contextmanager
def formats(names):
    """Figures drawn inside are saved in ``names`` (``png``, ``pdf``): the run's ``[output] figures``."""
    token = _FORMATS.set(tuple(names))
    try:
        yield
    finally:
        _FORMATS.reset(token)


def _save(fig, path: Path) -> None:
    """Save the figure in each of the formats asked for (PNG by default; a vector PDF beside it
    when asked), each through a temporary file (whole or absent)."""
    path = Path(path)
    for name in _FORMATS.get():
        with atomic_file(path.with_suffix(f".{name}"), binary=True) as handle:
            fig.savefig(handle, format=name)


def _baseline_name(label: str) -> str:
    return "class prior" if "class-prior" in label else "predict the mean"


def ratio_label(metric) -> str:
    """The y label of the figures: the validation loss relative to the trivial predictor's."""
    baseline = "predict-the-mean" if metric.baseline == "mean" else "class-prior"
    return f"validation {metric.label}\n/ {baseline} {metric.label}"


FIGSIZE = (3.6, 2.7)  # inches: one column of a paper, fonts of 7-8 points readable as printed
DPI = 200


def _colours(order: list[str]) -> dict[str, str]:
    """One colour per strategy, the same in every figure of a run (config order)."""
    return {name: f"C{i % 10}" for i, name in enumerate(order)}


def anytime_plot(curve: pd.DataFrame, x: str, path: Path, title: str, order: list[str],
                 label: str = RATIO_LABEL, fidelity: str = "epochs") -> Path:
    """Best-so-far validation RMSE relative to each repetition's mean baseline.

    Dividing by the baseline of the same split (paired) takes the split-to-split
    spread out of the band, which would otherwise hide any difference between
    strategies; the CSV beside the plot also has the raw RMSE.
    """
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    colours = _colours(order)
    repetitions = int(curve["n"].max()) if "n" in curve and len(curve) else 0
    for strategy in order:
        c = curve[curve["strategy"] == strategy]
        if c.empty:
            continue
        ax.plot(c[x], c["ratio_mean"], label=strategy, lw=1.4, drawstyle="steps-post", color=colours[strategy])
        every = (c["n"] >= repetitions).to_numpy() if "n" in c else None  # the band once all repetitions count
        ax.fill_between(c[x], c["ratio_low"], c["ratio_high"], where=every, color=colours[strategy],
                        alpha=0.15, lw=0, step="post")
    ax.axhline(1.0, color="0.3", ls="--", lw=1, label=_baseline_name(label))
    lows = curve["ratio_low"].to_numpy()
    _zoom(ax, np.append(curve["ratio_mean"].to_numpy(), np.nanquantile(lows, 0.1) if lows.size else np.nan), 1.0)
    if x != "trials" and (curve[x] > 0).any():
        ax.set_xscale("log")
        _decade_ticks(ax, curve[x].to_numpy())
    ax.set_xlabel(f"{fidelity} trained" if x == "epochs" and fidelity != "epochs" else X_LABELS[x], fontsize=8)
    ax.set_ylabel("best so far: " + label, fontsize=7)
    fig.subplots_adjust(left=0.2)
    ax.set_title(title, fontsize=8)
    handles, names = ax.get_legend_handles_labels()
    if repetitions > 1:
        handles.append(matplotlib.patches.Patch(color="0.5", alpha=0.3, lw=0))
        names.append(f"95% bootstrap interval of the mean ({repetitions} repetitions)")
    ax.legend(handles, names, fontsize=7, frameon=False)
    return _finish(fig, ax, path)


def _finish(fig, ax, path: Path) -> Path:
    """Small ticks, a light grid, saved (PNG and PDF) and closed."""
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    _literal_text(fig)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def _decade_ticks(ax, values: np.ndarray) -> None:
    """Major ticks at every decade; minor tick labels too where the range is under two decades."""
    values = values[np.isfinite(values) & (values > 0)]
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10))
    ax.xaxis.set_major_formatter(plain)
    if len(values) and np.log10(values.max() / values.min()) < 2:
        ax.xaxis.set_minor_locator(matplotlib.ticker.LogLocator(base=10, subs=(2, 5)))
        ax.xaxis.set_minor_formatter(plain)
    else:
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.tick_params(axis="x", which="both", labelsize=7)


def ecdf_plot(profile: pd.DataFrame, unit: str, path: Path, title: str, order: list[str]) -> Path:
    """The data profile: share of (repetition, target level) pairs reached against cost."""
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    colours = _colours(order)
    for strategy in order:
        p = profile[profile["strategy"] == strategy]
        if len(p):
            ax.plot(p["cost"], p["share"], drawstyle="steps-post", lw=1.4, label=strategy, color=colours[strategy])
    ax.set_xscale("log")
    _decade_ticks(ax, profile["cost"].to_numpy())
    ax.set_ylim(0, 1.02)
    first = profile.groupby("strategy")["share"].apply(lambda s: s[s > 0].iloc[0] if (s > 0).any() else 0)
    if len(first) and (first >= 1).all():
        ax.text(0.5, 0.5, "every target reached by the first evaluation", transform=ax.transAxes,
                ha="center", fontsize=8, color="0.3")
    ax.set_xlabel(f"{unit} trained" if unit not in ("seconds", "trials") else f"training {unit}", fontsize=8)
    ax.set_ylabel("share of (repetition, target) pairs\nreached (targets 50-99% of the gain)", fontsize=7)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    return _finish(fig, ax, path)


def _limits(values: np.ndarray, baseline: float) -> tuple[float, float] | None:
    """The interesting range: from the best value to a little above the baseline."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return None
    low = float(finite.min())
    high = max(baseline, float(np.quantile(finite, 0.5)))
    pad = (high - low) * 0.1 or 0.001
    return low - pad, high + pad


def _zoom(ax, values: np.ndarray, baseline: float) -> None:
    limits = _limits(values, baseline)
    if limits is not None:
        ax.set_ylim(*limits)


def hyperparameter_plots(trials: pd.DataFrame, space: tuple[Dimension, ...], path: Path,
                         title: str, order: list[str], label: str = RATIO_LABEL) -> Path:
    """Validation RMSE (relative to the mean baseline of its split, column ``val_ratio``)
    against each hyperparameter, every strategy's trials."""
    dims = list(space)
    fig, axes = plt.subplots(1, len(dims), figsize=(2.4 * len(dims), 2.6), dpi=DPI, sharey=True,
                             squeeze=False)
    ok = trials[trials["status"] == "ok"]
    colours = _colours(order)
    limits = _limits(ok["val_ratio"].to_numpy(dtype=float), 1.0)
    top = limits[1] if limits else np.inf
    above = int((ok["val_ratio"] > top).sum())
    for ax, dim in zip(axes[0], dims):
        for strategy in order:
            t = ok[ok["strategy"] == strategy]
            x = t[dim.name]
            if dim.kind == "categorical":
                codes = {c: i for i, c in enumerate(dim.choices)}
                x = x.map(lambda v: codes.get(v, codes.get(str(v), np.nan)))
                x = x + np.random.default_rng(0).uniform(-0.15, 0.15, len(x))  # jitter, fixed
            inside = (t["val_ratio"] <= top).to_numpy()
            ax.scatter(x[inside], t["val_ratio"][inside], s=7, alpha=0.6, label=strategy, lw=0,
                       color=colours[strategy])
            if (~inside).any():  # above the range: at the top edge, as triangles
                ax.scatter(x[~inside], np.full((~inside).sum(), top), s=14, marker="^", alpha=0.8, lw=0,
                           color=colours[strategy], clip_on=False)
        if dim.kind == "categorical":
            ax.set_xticks(range(len(dim.choices)), [str(c) for c in dim.choices])
        elif dim.log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.axhline(1.0, color="0.3", ls="--", lw=1)
        ax.set_xlabel(dim.name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(label, fontsize=7)
    if limits is not None:
        axes[0][0].set_ylim(*limits)
    for ax in axes[0]:
        ax.tick_params(labelsize=7)
        ax.xaxis.label.set_size(8)
    axes[0][-1].legend(fontsize=7, frameon=False)
    note = f"; {above} of {len(ok)} trials above the range, drawn at the top edge (\u25b2)" if above else ""
    fig.suptitle(title + note, fontsize=8)
    _literal_text(fig)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def cd_diagram(ranks: pd.Series, p_values: pd.DataFrame, cd: float, path: Path, title: str) -> Path:
    """The critical-difference diagram: mean ranks (1 is best), strategies the Nemenyi
    test cannot tell apart joined by a bar, and the critical difference itself."""
    import scikit_posthocs

    fig, ax = plt.subplots(figsize=(1.6 * FIGSIZE[0], 1.2 + 0.3 * len(ranks)), dpi=DPI)
    scikit_posthocs.critical_difference_diagram(ranks, p_values, ax=ax, alpha=0.05,
                                                color_palette=_colours(list(ranks.index)),
                                                label_fmt_left="{label} ({rank:.2f})",
                                                label_fmt_right="({rank:.2f}) {label}",
                                                label_props={"fontsize": 8})
    ax.tick_params(labelsize=7)
    ax.set_title(f"{title}\nmean rank (1 is best); a bar joins strategies Nemenyi cannot separate "
                 f"(alpha 0.05, CD = {cd:.2f})", fontsize=7)
    _literal_text(fig)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path
