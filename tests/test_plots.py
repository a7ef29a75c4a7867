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
