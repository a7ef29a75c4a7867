"""Figures: files that open, one per call, even for strategies without data."""

import numpy as np
import pandas as pd
from PIL import Image

from hpsearch.config import parse
from hpsearch.results import comparison, plots


def curves():
    rows = []
    for strategy, shift in (("random", 0.0), ("tpe", -0.01)):
        for rep in range(3):
            for trial in range(10):
                rows.append({"strategy": strategy, "repetition": rep, "trial": trial,
                             "val_rmse": 0.45 - 0.002 * trial + shift + 0.001 * rep, "status": "ok",
                             "seconds": 0.1, "epochs_trained": 10})
    trials = pd.DataFrame(rows)
    return trials, comparison.progress_curves(trials, pd.Series({0: 0.45, 1: 0.45, 2: 0.45}))


def test_anytime_plot_draws_a_png(tmp_path):
    _, c = curves()
    for x in ("trials", "epochs"):
        path = plots.anytime_plot(comparison.anytime_table(c, x), x, tmp_path / f"{x}.png", "t",
                                  ["random", "tpe", "grid"])
        assert not path.with_suffix(".pdf").exists()  # PNG only by default
        with plots.formats(("png", "pdf")):
            plots.anytime_plot(comparison.anytime_table(c, x), x, tmp_path / f"{x}.png", "t", ["random", "tpe"])
        assert path.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"  # vector, beside the PNG, when asked
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 500
            pixels = np.asarray(image.convert("L"))
            assert pixels.std() > 5  # something is drawn


def test_hyperparameter_plots_one_panel_per_dimension(tmp_path):
    trials, _ = curves()
    space = parse({"space": {"learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
                             "activation": {"type": "categorical", "choices": ["sigmoid", "relu"]}}},
                  "t").space
    rng = np.random.default_rng(0)
    trials["learning_rate"] = rng.uniform(0.01, 1.0, len(trials))
    trials["activation"] = rng.choice(["sigmoid", "relu"], len(trials))
    trials["val_ratio"] = trials["val_rmse"] / 0.45
    one = plots.hyperparameter_plots(trials, space[:1], tmp_path / "one.png", "t", ["random", "tpe"])
    two = plots.hyperparameter_plots(trials, space, tmp_path / "two.png", "t", ["random", "tpe"])
    with Image.open(one) as a, Image.open(two) as b:
        assert b.size[0] > 1.5 * a.size[0]  # a panel per hyperparameter


def _drawn(monkeypatch, draw):
    """The matplotlib figure ``draw`` saves, kept open for a look (the files still written)."""
    kept = []
    real = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.append(fig) or real(fig, path))
    monkeypatch.setattr(plots.plt, "close", lambda fig=None: None)
    draw()
    fig = kept[-1]
    fig.canvas.draw()
    return fig


def _overlap(a, b) -> float:
    return max(0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0, min(a.y1, b.y1) - max(a.y0, b.y0))


def _labels(axis) -> list[str]:
    low, high = sorted(axis.get_view_interval())
    return [t.get_text() for t, v in zip(axis.get_ticklabels(), axis.get_ticklocs())
            if t.get_text() and low <= v <= high]


def test_legends_sit_outside_the_data_and_a_bands_swatch_is_its_colour(tmp_path, monkeypatch):
    _, c = curves()
    order = ["random", "tpe", "a-strategy-with-a-long-name", "grid", "hyperband", "asha", "bohb", "pbt"]
    table = comparison.anytime_table(c, "epochs")
    fig = _drawn(monkeypatch, lambda: plots.anytime_plot(table, "epochs", tmp_path / "e.png", "t " * 40, order))
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        assert _overlap(legend, ax.get_window_extent(renderer)) == 0
    assert fig.bbox.x0 <= legend.x0 and legend.x1 <= fig.bbox.x1 and fig.bbox.y0 <= legend.y0
    title = fig.axes[0].title.get_window_extent(renderer)
    assert fig.bbox.x0 <= title.x0 and title.x1 <= fig.bbox.x1  # a long title is wrapped, not cut
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["random", "tpe", "predict the mean"]
    assert "shaded: 95% bootstrap interval of the mean (3 repetitions)" == fig.legends[0].get_title().get_text()


def test_a_strategys_legend_swatch_shows_its_band_in_its_colour(tmp_path, monkeypatch):
    import matplotlib.colors as mc
    import matplotlib.patches as mp

    _, c = curves()
    table = comparison.anytime_table(c, "trials")
    fig = _drawn(monkeypatch, lambda: plots.anytime_plot(table, "trials", tmp_path / "t.png", "t", ["random", "tpe"]))
    drawn = [a for a in fig.legends[0].findobj(mp.Rectangle) if a.get_alpha() == 0.15]
    assert [mc.to_hex(r.get_facecolor()) for r in drawn] == [mc.to_hex("C0"), mc.to_hex("C1")]


def test_log_axes_label_at_least_three_ticks(tmp_path, monkeypatch):
    trials, _ = curves()
    for low, high in ((0.05, 0.3), (10, 40), (1e-4, 1.0), (3.0, 4.0)):
        space = parse({"space": {"learning_rate": {"type": "float", "low": low, "high": high, "log": True}}},
                      "t").space
        trials["learning_rate"] = np.geomspace(low, high, len(trials))
        trials["val_ratio"] = trials["val_rmse"] / 0.45
        fig = _drawn(monkeypatch, lambda: plots.hyperparameter_plots(trials, space, tmp_path / "h.png", "t",
                                                                     ["random", "tpe"]))
        labels = _labels(fig.axes[0].xaxis)
        assert len(labels) >= 3, (low, high, labels)
        assert all("$" not in t and "^" not in t for t in labels)  # plain numbers: 0.05, 20, not 10^{-1}


def test_every_text_of_every_figure_is_at_least_the_minimum_size(tmp_path, monkeypatch):
    import dataclasses

    import matplotlib.text

    trials, c = curves()
    names = ["learning_rate", "init_scale", "a", "b", "c"]
    one = parse({"space": {"learning_rate": {"type": "float", "low": 1.0, "high": 100.0, "log": True}}}, "t").space[0]
    space = tuple(dataclasses.replace(one, name=n) for n in names)  # five hyperparameters: two rows of panels
    for name in names:
        trials[name] = np.geomspace(1, 100, len(trials))
    trials["val_ratio"] = trials["val_rmse"] / 0.45
    draws = [lambda: plots.anytime_plot(comparison.anytime_table(c, "seconds"), "seconds", tmp_path / "a.png", "t",
                                        ["random", "tpe"]),
             lambda: plots.hyperparameter_plots(trials, space, tmp_path / "h.png", "t", ["random", "tpe"]),
             lambda: plots.cd_diagram(pd.Series({"a": 1.5, "b": 1.5}), pd.DataFrame(0.5, index=["a", "b"],
                                                                                    columns=["a", "b"]),
                                      1.0, tmp_path / "cd.png", "t")]
    for draw in draws:
        fig = _drawn(monkeypatch, draw)
        sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]
        assert min(sizes) >= plots.MIN_FONT
        assert fig.get_figwidth() <= 2.4 * plots.PANELS_PER_ROW  # never wider than 3 panels (a page's width)


def test_tied_mean_ranks_are_drawn_apart(tmp_path, monkeypatch):
    import matplotlib.collections

    ranks = pd.Series({"random": 2.5, "grid": 2.5, "tpe": 1.0, "asha": 4.0})
    p = pd.DataFrame(0.5, index=ranks.index, columns=ranks.index)
    fig = _drawn(monkeypatch, lambda: plots.cd_diagram(ranks, p, 1.5, tmp_path / "cd.png", "t"))
    xs = sorted(float(x) for col in fig.findobj(matplotlib.collections.PathCollection)
                for x in col.get_offsets()[:, 0])
    assert len(xs) == 4 and min(np.diff(xs)) > 0.05  # four markers, none on another
    texts = {t.get_text() for t in fig.findobj(matplotlib.text.Text)}
    assert {"random (2.50)", "grid (2.50)"} <= texts  # the exact rank in the label
