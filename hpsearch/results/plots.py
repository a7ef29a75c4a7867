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
MIN_FONT = 7  # points: the smallest text of any figure (tick labels, legends)
PANELS_PER_ROW = 3  # hyperparameter panels side by side: wider figures shrink their text on a page


def _colours(order: list[str]) -> dict[str, str]:
    """One colour per strategy, the same in every figure of a run (config order)."""
    return {name: f"C{i % 10}" for i, name in enumerate(order)}


def _wrapped(text: str, width: int) -> str:
    """A title broken into lines of at most ``width`` characters, so it is never cut at the edge."""
    import textwrap

    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def _legend_below(fig, handles: list, names: list[str], title: str | None = None) -> None:
    """The legend outside the data, under the axes (constrained layout makes room for it)."""
    from matplotlib.legend_handler import HandlerTuple

    fig.legend(handles, names, loc="outside lower center", ncol=2 if len(names) > 1 else 1, fontsize=MIN_FONT,
               frameon=False, title=title, title_fontsize=MIN_FONT, handler_map={tuple: HandlerTuple(ndivide=1)})


def _height(base: float, entries: int) -> float:
    """Figure height with room for a legend of ``entries`` in two columns under the axes."""
    return base + 0.16 * ((entries + 1) // 2) + 0.1


def anytime_plot(curve: pd.DataFrame, x: str, path: Path, title: str, order: list[str],
                 label: str = RATIO_LABEL, fidelity: str = "epochs") -> Path:
    """Best-so-far validation RMSE relative to each repetition's mean baseline.

    Dividing by the baseline of the same split (paired) takes the split-to-split
    spread out of the band, which would otherwise hide any difference between
    strategies; the CSV beside the plot also has the raw RMSE. Each strategy's legend
    swatch is its line over its band's colour.
    """
    shown = [s for s in order if (curve["strategy"] == s).any()]
    fig, ax = plt.subplots(figsize=(FIGSIZE[0], _height(FIGSIZE[1], len(shown) + 1)), dpi=DPI, layout="constrained")
    colours = _colours(order)
    repetitions = int(curve["n"].max()) if "n" in curve and len(curve) else 0
    handles = []
    for strategy in shown:
        c = curve[curve["strategy"] == strategy]
        line, = ax.plot(c[x], c["ratio_mean"], lw=1.4, drawstyle="steps-post", color=colours[strategy])
        every = (c["n"] >= repetitions).to_numpy() if "n" in c else None  # the band once all repetitions count
        ax.fill_between(c[x], c["ratio_low"], c["ratio_high"], where=every, color=colours[strategy],
                        alpha=0.15, lw=0, step="post")
        handles.append((matplotlib.patches.Patch(color=colours[strategy], alpha=0.15, lw=0), line)
                       if repetitions > 1 else line)
    handles.append(ax.axhline(1.0, color="0.3", ls="--", lw=1))
    lows = curve["ratio_low"].to_numpy()
    _zoom(ax, np.append(curve["ratio_mean"].to_numpy(), np.nanquantile(lows, 0.1) if lows.size else np.nan), 1.0)
    if x != "trials" and (curve[x] > 0).any():
        ax.set_xscale("log")
        _log_ticks(ax.xaxis, curve[x].to_numpy())
    ax.set_xlabel(f"{fidelity} trained" if x == "epochs" and fidelity != "epochs" else X_LABELS[x], fontsize=8)
    ax.set_ylabel("best so far: " + label, fontsize=MIN_FONT)
    ax.set_title(_wrapped(title, 45), fontsize=8)
    band = f"shaded: 95% bootstrap interval of the mean ({repetitions} repetitions)" if repetitions > 1 else None
    _legend_below(fig, handles, shown + [_baseline_name(label)], band)
    return _finish(fig, ax, path)


def _finish(fig, ax, path: Path) -> Path:
    """Small ticks, a light grid, saved (PNG and PDF) and closed."""
    ax.tick_params(labelsize=MIN_FONT)
    ax.grid(alpha=0.3)
    _literal_text(fig)
    _save(fig, path)
    plt.close(fig)
    return path


def _log_ticks(axis, values: np.ndarray) -> None:
    """Plain labels (0.01, 20, 500) on a log axis, at least 3 of them over the data's range:
    every decade, or 1-2-5 in each decade, or every integer multiple, whichever first gives 3."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    locator = matplotlib.ticker.LogLocator(base=10, numticks=30)
    if len(values):
        low, high = values.min(), values.max()
        decades = np.arange(np.floor(np.log10(low)) - 1, np.ceil(np.log10(high)) + 1)
        locator = matplotlib.ticker.MaxNLocator(nbins=4)  # under a decade: evenly spaced, 3.25, 3.5, ...
        for subs in ((1.0,), (1.0, 2.0, 5.0), tuple(float(m) for m in range(1, 10))):
            ticks = [m * 10 ** d for d in decades for m in subs]
            if sum(low * (1 - 1e-9) <= t <= high * (1 + 1e-9) for t in ticks) >= 3:
                locator = matplotlib.ticker.LogLocator(base=10, subs=subs, numticks=30)
                break
    axis.set_major_locator(locator)
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(matplotlib.ticker.LogLocator(base=10, subs=tuple(range(1, 10)), numticks=30))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def ecdf_plot(profile: pd.DataFrame, unit: str, path: Path, title: str, order: list[str]) -> Path:
    """The data profile: share of (repetition, target level) pairs reached against cost."""
    shown = [s for s in order if (profile["strategy"] == s).any()]
    fig, ax = plt.subplots(figsize=(FIGSIZE[0], _height(FIGSIZE[1], len(shown))), dpi=DPI, layout="constrained")
    colours = _colours(order)
    handles = [ax.plot(p["cost"], p["share"], drawstyle="steps-post", lw=1.4, color=colours[s])[0]
               for s, p in ((s, profile[profile["strategy"] == s]) for s in shown)]
    ax.set_xscale("log")
    _log_ticks(ax.xaxis, profile["cost"].to_numpy())
    ax.set_ylim(0, 1.02)
    first = profile.groupby("strategy")["share"].apply(lambda s: s[s > 0].iloc[0] if (s > 0).any() else 0)
    if len(first) and (first >= 1).all():
        ax.text(0.5, 0.5, "every target reached by the first evaluation", transform=ax.transAxes,
                ha="center", fontsize=8, color="0.3")
    ax.set_xlabel(f"{unit} trained" if unit not in ("seconds", "trials") else f"training {unit}", fontsize=8)
    ax.set_ylabel("share of (repetition, target) pairs\nreached (targets 50-99% of the gain)", fontsize=MIN_FONT)
    ax.set_title(_wrapped(title, 45), fontsize=8)
    _legend_below(fig, handles, shown)
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
    against each hyperparameter, every strategy's trials; at most :data:`PANELS_PER_ROW`
    panels a row, so the figure's text stays legible at a page's width."""
    dims = list(space)
    ok = trials[trials["status"] == "ok"]
    shown = [s for s in order if (ok["strategy"] == s).any()]
    columns = min(len(dims), PANELS_PER_ROW)
    rows = -(-len(dims) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, _height(2.2 * rows + 0.3, len(shown))), dpi=DPI,
                             sharey=True, squeeze=False, layout="constrained")
    colours = _colours(order)
    limits = _limits(ok["val_ratio"].to_numpy(dtype=float), 1.0)
    top = limits[1] if limits else np.inf
    above = int((ok["val_ratio"] > top).sum())
    handles = {}
    for ax, dim in zip(axes.flat, dims):
        for strategy in shown:
            t = ok[ok["strategy"] == strategy]
            x = t[dim.name]
            if dim.kind == "categorical":
                codes = {c: i for i, c in enumerate(dim.choices)}
                x = x.map(lambda v: codes.get(v, codes.get(str(v), np.nan)))
                x = x + np.random.default_rng(0).uniform(-0.15, 0.15, len(x))  # jitter, fixed
            inside = (t["val_ratio"] <= top).to_numpy()
            handles[strategy] = ax.scatter(x[inside], t["val_ratio"][inside], s=7, alpha=0.6, lw=0,
                                           color=colours[strategy])
            if (~inside).any():  # above the range: at the top edge, as triangles
                ax.scatter(x[~inside], np.full((~inside).sum(), top), s=14, marker="^", alpha=0.8, lw=0,
                           color=colours[strategy], clip_on=False)
        if dim.kind == "categorical":
            ax.set_xticks(range(len(dim.choices)), [str(c) for c in dim.choices])
        elif dim.log:
            ax.set_xscale("log")
            _log_ticks(ax.xaxis, ok[dim.name].to_numpy(dtype=float))
        ax.axhline(1.0, color="0.3", ls="--", lw=1)
        ax.set_xlabel(dim.name, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=MIN_FONT)
    for ax in axes.flat[len(dims):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(label, fontsize=MIN_FONT)
    if limits is not None:
        axes[0][0].set_ylim(*limits)
    _legend_below(fig, [handles[s] for s in shown if s in handles], [s for s in shown if s in handles])
    note = f"; {above} of {len(ok)} trials above the range, drawn at the top edge (\u25b2)" if above else ""
    fig.suptitle(_wrapped(title + note, 40 * columns), fontsize=8)
    _literal_text(fig)
    _save(fig, path)
    plt.close(fig)
    return path


def cd_diagram(ranks: pd.Series, p_values: pd.DataFrame, cd: float, path: Path, title: str) -> Path:
    """The critical-difference diagram: mean ranks (1 is best), strategies the Nemenyi
    test cannot tell apart joined by a bar, and the critical difference itself. Tied mean
    ranks are drawn a little apart (each label gives the exact rank), so no strategy hides
    behind another."""
    import scikit_posthocs

    names = {s: f"{s} ({r:.2f})" for s, r in ranks.items()}
    shown = _untied(ranks).rename(index=names)
    p_values = p_values.rename(index=names, columns=names)
    colours = {names[s]: c for s, c in _colours(list(ranks.index)).items()}
    fig, ax = plt.subplots(figsize=(1.6 * FIGSIZE[0], 1.2 + 0.3 * len(ranks)), dpi=DPI, layout="constrained")
    scikit_posthocs.critical_difference_diagram(shown, p_values, ax=ax, alpha=0.05, color_palette=colours,
                                                label_fmt_left="{label}", label_fmt_right="{label}",
                                                label_props={"fontsize": 8})
    ax.tick_params(labelsize=7)
    tied = " (tied ranks drawn side by side)" if ranks.duplicated().any() else ""
    ax.set_title(_wrapped(f"{title}\nmean rank (1 is best){tied}; a bar joins strategies Nemenyi cannot separate "
                          f"(alpha 0.05, CD = {cd:.2f})", 100), fontsize=7)
    _literal_text(fig)
    _save(fig, path)
    plt.close(fig)
    return path


def _untied(ranks: pd.Series) -> pd.Series:
    """Ranks to draw: equal ones spread around their value by 3% of the range each."""
    step = 0.03 * max(float(ranks.max() - ranks.min()), 1.0)
    out = ranks.astype(float).copy()
    for _, group in ranks.groupby(ranks.round(9)):
        if len(group) > 1:
            out[group.index] = group.iloc[0] + step * (np.arange(len(group)) - (len(group) - 1) / 2)
    return out


def sequential_plot(paths: pd.DataFrame, rope: float, path: Path, title: str) -> Path:
    """Each comparison's anytime-valid interval against the repetitions (``sequential.csv``), the
    region of practical equivalence shaded, the repetition it was decided at marked."""
    names = list(dict.fromkeys(paths["strategy"]))
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 1.9 * rows + 0.4), dpi=DPI,
                             layout="constrained", squeeze=False, sharey=True)
    finite = paths[["ci_low_pct", "ci_high_pct"]].replace([np.inf, -np.inf], np.nan)
    span = float(np.nanmax(np.abs(finite.to_numpy()))) if finite.notna().any().any() else 10 * rope * 100
    for ax, name in zip(axes.flat, names):
        mine = paths[paths["strategy"] == name]
        ax.axhspan(-100 * rope, 100 * rope, color="0.85", lw=0)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.fill_between(mine["repetition"], mine["ci_low_pct"].clip(-span, span), mine["ci_high_pct"].clip(-span, span),
                        step="post", color="C0", alpha=0.5, lw=0)
        decided = mine[mine["decision"] != "cannot tell"]
        if len(decided):
            ax.axvline(decided["repetition"].iloc[0], color="C3", lw=1, ls="--")
        word = decided["decision"].iloc[0] + f" at {decided['repetition'].iloc[0]}" if len(decided) else "cannot tell"
        ax.set_title(_wrapped(f"{name}: {word}", 30), fontsize=MIN_FONT)
        ax.tick_params(labelsize=MIN_FONT)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("difference to the reference, %", fontsize=MIN_FONT)
    for ax in axes[-1, :]:
        ax.set_xlabel("repetitions", fontsize=MIN_FONT)
    fig.suptitle(_wrapped(title, 30 * columns), fontsize=8)
    _literal_text(fig)
    _save(fig, path)
    plt.close(fig)
    return path
