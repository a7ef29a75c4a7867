"""Tables from stored records: columns from the trial schema, the best per search."""

import numpy as np
import pandas as pd
import pytest

from hpsearch.data.prepared import Baselines
from hpsearch.results import report
from hpsearch.search.trial import TrialResult, table_columns


def records():
    out = []
    for strategy in ("tpe", "random"):
        for trial, value in enumerate([0.5, 0.3, None, 0.3]):
            out.append(TrialResult(strategy, 0, trial, trial, 7, {"learning_rate": 0.1 * (trial + 1)},
                                   val_loss=np.nan if value is None else value,
                                   status="ok" if value is not None else "diverged",
                                   epochs_trained=5, seconds=1.0).to_record())
    return out


def test_trials_table_columns_order_and_types():
    table = report.trials_table(records()[::-1], ["learning_rate"], ["random", "tpe"])
    assert list(table.columns) == table_columns(["learning_rate"])
    assert table["strategy"].tolist() == ["random"] * 4 + ["tpe"] * 4  # config order, not store order
    assert table["trial"].tolist() == [0, 1, 2, 3] * 2
    assert table["val_rmse"].dtype == float and np.isnan(table["val_rmse"].iloc[2])


def test_summary_picks_the_best_validation_lowest_trial_and_scores_its_test():
    trials = report.trials_table(records(), ["learning_rate"], ["random", "tpe"])
    test = TrialResult("random", 0, 1, 1, 7, {}, test_loss=0.31)
    summary = report.summary_table(trials, {("random", 0): test}, {0: Baselines(0.6, 0.61, 0.55, 0.56)},
                                   ["learning_rate"], ["random", "tpe"])
    random = summary.set_index("strategy").loc["random"]
    assert random.best_trial == 1 and random.learning_rate == pytest.approx(0.2)
    assert random.test_rmse == 0.31 and random.failures == 1 and random.trials == 4
    assert random.epochs_trained == 20 and random.baseline_mean_test_rmse == 0.61
    assert np.isnan(summary.set_index("strategy").loc["tpe", "test_rmse"])  # not scored
    text = report.results_text(summary.iloc[:1], ["learning_rate"])
    assert "predict the mean" in text and "0.6100" in text and "+49.18%" in text


def test_the_terminal_table_stays_aligned_for_any_magnitude():
    """Losses in the tens of thousands (house prices, say): every column as wide as its widest cell, two
    spaces between cells, nothing run together (was ``21186.3044 ± 114.748721111.6757 ± 297.7610``)."""
    rows = []
    for repetition, (val, test) in enumerate([(21186.3, 21111.6), (21300.2, 21500.7), (9.5, 9.25)]):
        for strategy in ("random", "a-rather-long-strategy-name"):
            rows.append({"strategy": strategy, "repetition": repetition, "best_val_rmse": val * (1 + repetition),
                         "test_rmse": test, "baseline_mean_val_rmse": 30000.0, "baseline_mean_test_rmse": 31000.0,
                         "linear_val_rmse": 25000.0, "linear_test_rmse": 25500.0, "trials": 4})
    text = report.results_text(pd.DataFrame(rows), [])
    table = text.splitlines()[1:]
    assert len({len(line) for line in table}) == 1  # right-aligned columns end together
    for line in table[1:]:
        cells = [c for c in line.strip().split("  ") if c]
        assert len(cells) == 4 and all(c.strip().count("±") == 1 for c in cells[1:3]), line


def test_write_csv_is_atomic(tmp_path):
    report.write_csv(pd.DataFrame({"a": [1.0 / 3]}), tmp_path / "t.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]
    assert pd.read_csv(tmp_path / "t.csv")["a"].iloc[0] == 1.0 / 3


@pytest.mark.slow
def test_the_report_renders_with_readable_figures_and_no_overflow(small_catalog, tmp_path):
    """report.html of a run with five searched dimensions (two rows of hyperparameter panels), in headless
    Chromium at 1280 px: every figure's smallest text at least 8 px high as shown, nothing wider than the page;
    the title is the experiment's, the subtitle what the run did."""
    import re
    import shutil
    import subprocess

    from conftest import experiment

    from hpsearch.runner import run_experiment

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no headless Chromium here (Debian package chromium)")
    from conftest import SPACE

    space = {**SPACE, "init_scale": {"type": "float", "low": 0.01, "high": 0.5, "log": True},
             "activation": {"type": "categorical", "choices": ["sigmoid", "tanh"]}}
    run_experiment(experiment(name="five-dims", strategies=["random", "tpe"], repetitions=3, output={"figures": "png"},
                              budget={"trials": 5}, description="a report a colleague can read", space=space),
                   tmp_path / "r", progress=False)
    page = (tmp_path / "r" / "report.html").read_text()
    assert "<h1>five-dims</h1>" in page and "<p class=lead>2 strategies (random, tpe), 3 repetitions" in page
    assert "Best validation RMSE so far against trials" in page and "3 repetitions" in page
    probe = ("<script>window.addEventListener('load', () => { const w = [...document.images].map(i => "
             "i.getBoundingClientRect().width / i.naturalWidth); document.body.setAttribute('data-widths', w.join(','));"
             "document.body.setAttribute('data-overflow', document.documentElement.scrollWidth - "
             "document.documentElement.clientWidth); });</script>")
    (tmp_path / "probe.html").write_text(page.replace("</body>", probe + "</body>"))
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update",
                           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,3000",
                           "--virtual-time-budget=5000", "--dump-dom", (tmp_path / "probe.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    widths = re.search(r'data-widths="([^"]*)"', done.stdout)
    overflow = re.search(r'data-overflow="([^"]*)"', done.stdout)
    assert widths and overflow, done.stderr[-500:]
    from hpsearch.results.plots import DPI, MIN_FONT

    scales = [float(w) for w in widths.group(1).split(",")]  # shown pixels per pixel of the PNG
    assert len(scales) == 5 and min(MIN_FONT / 72 * DPI * s for s in scales) >= 8, scales
    assert float(overflow.group(1)) <= 0


def test_the_reports_subtitle_says_what_the_run_did_not_what_the_file_said():
    from conftest import experiment

    from hpsearch.config import with_overrides
    from hpsearch.results.html import subtitle

    exp = experiment(description="Random search over 5 repetitions", repetitions=5, strategies=["random", "tpe"])
    exp = with_overrides(exp, repetitions=2)
    words = subtitle(exp, 16)
    assert words.startswith("2 strategies (random, tpe), 2 repetitions, a budget of 8 trials each, on the earthquake")
    assert words.endswith("16 trials stored.") and "5 repetitions" not in words
