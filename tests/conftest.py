"""Small catalogs built by the tests, and a data cache per test."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from hpsearch.config import parse
from hpsearch.data.catalog import import_catalog
from hpsearch.data.synthetic import synthetic_events  # noqa: F401  (tests import it from here)
from hpsearch.search.trial import TIMING_COLUMNS

KAGGLE_HEADER = ("Date,Time,Latitude,Longitude,Type,Depth,Depth Error,Depth Seismic Stations,"
                 "Magnitude,Magnitude Type,Magnitude Error,Magnitude Seismic Stations,Azimuthal Gap,"
                 "Horizontal Distance,Horizontal Error,Root Mean Square,ID,Source,Location Source,"
                 "Magnitude Source,Status").split(",")
COMCAT_HEADER = ("time,latitude,longitude,depth,mag,magType,nst,gap,dmin,rms,net,id,updated,place,"
                 "type,horizontalError,depthError,magError,magNst,status,locationSource,magSource").split(",")
PROJECT_CACHE = Path(__file__).resolve().parents[1] / "datasets"


def write_kaggle(path: Path, events: pd.DataFrame, iso_rows: tuple[int, ...] = ()) -> Path:
    rows = pd.DataFrame({c: "" for c in KAGGLE_HEADER}, index=events.index)
    rows["Date"] = events["time"].dt.strftime("%m/%d/%Y")
    rows["Time"] = events["time"].dt.strftime("%H:%M:%S")
    for i in iso_rows:  # the Kaggle quirk: ISO-8601 in both columns
        stamp = events["time"].iloc[i].strftime("%Y-%m-%dT%H:%M:%S.000Z")
        rows.iloc[i, 0] = rows.iloc[i, 1] = stamp
    rows["Latitude"], rows["Longitude"] = events["latitude"], events["longitude"]
    rows["Type"] = events["event_type"].str.title()
    rows["Depth"], rows["Magnitude"] = events["depth"], events["magnitude"]
    rows["Magnitude Type"], rows["ID"], rows["Source"] = events["magnitude_type"], events["id"], events["source"]
    rows["Status"] = "Reviewed"
    rows.to_csv(path, index=False)
    return path


def to_comcat(events: pd.DataFrame) -> pd.DataFrame:
    rows = pd.DataFrame({c: "" for c in COMCAT_HEADER}, index=events.index)
    rows["time"] = events["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    rows["latitude"], rows["longitude"], rows["depth"] = events["latitude"], events["longitude"], events["depth"]
    rows["mag"], rows["magType"] = events["magnitude"], events["magnitude_type"].str.lower()
    rows["net"], rows["id"], rows["type"] = events["source"].str.lower(), events["id"], events["event_type"]
    rows["status"] = "reviewed"
    return rows


SPACE = {
    "epochs": {"type": "int", "low": 2, "high": 12},
    "hidden_width": {"type": "int", "low": 2, "high": 16, "log": True},
    "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
}


#: every registered strategy, for tests parametrised over them all
ALL_STRATEGIES = sorted(__import__("hpsearch.search.strategies", fromlist=["BUILT_IN"]).BUILT_IN)


def compile_latex(tex: Path, fits: bool = True) -> None:
    """Compile ``tex`` (a generated table) with pdflatex inside a minimal document with booktabs;
    skip where pdflatex is absent (Debian: texlive-latex-base, texlive-latex-recommended). ``fits``:
    the table must fit the article's text width (pdflatex's "Overfull \\hbox" at most 5 pt)."""
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        pytest.skip("no pdflatex here (Debian packages texlive-latex-base texlive-latex-recommended)")
    document = tex.parent / f"doc-{tex.stem}.tex"
    document.write_text("\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage[utf8]{inputenc}"
                        "\\usepackage{booktabs}\\begin{document}"
                        f"\\input{{{tex.name}}}\\end{{document}}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                           document.name], cwd=tex.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
    log = document.with_suffix(".log").read_text(errors="replace")
    assert "Missing character" not in log, "a character the font does not have"
    if fits:  # an article's text width: nothing sticks out by more than 5 pt
        wide = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
        assert max(wide, default=0) <= 5, f"{tex.name}: {max(wide)} pt wider than the text"


def experiment(**overrides):
    raw = {"name": "t", "seed": 5, "n_jobs": 1, "budget": {"trials": 8}, "space": SPACE,
           "model": {"batch_size": 64},
           "output": {"figures": "none"}}  # tables only: a test that looks at figures asks for them
    raw.update(overrides)
    return parse(raw, "test.toml")


def without_timing(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=list(TIMING_COLUMNS))


def expected_ert(trials: pd.DataFrame, summary: pd.DataFrame, strategy: str, level: float = 0.9):
    """(success share, ERT) of ``strategy`` at ``level``, recomputed from trials.csv and
    summary.csv with the issue's definitions, written out independently of the code."""
    costs, successes = 0.0, 0
    repetitions = sorted(summary["repetition"].unique())
    for rep in repetitions:
        row = summary[summary.repetition == rep]
        base, best_any = row["baseline_mean_val_rmse"].iloc[0], row["best_val_rmse"].min()
        target = base - level * (base - best_any)
        mine = trials[(trials.strategy == strategy) & (trials.repetition == rep)].sort_values("trial")
        spent, reached = 0, False
        for _, trial in mine.iterrows():
            spent += trial["epochs_trained"]
            if trial["status"] == "ok" and trial["val_rmse"] <= target + 1e-12:
                reached = True
                break
        costs += spent if reached else mine["epochs_trained"].sum()
        successes += reached
    return successes / len(repetitions), (costs / successes if successes else float("inf"))


def train_fresh(params: dict, seed: int, model: dict, repetition: int = 0, root_seed: int = 5):
    """Train one network from scratch on repetition ``repetition``'s split of the cached catalog."""
    from hpsearch.data.catalog import load_catalog
    from hpsearch.data.features import prepare
    from hpsearch.execution.objective import train_and_score
    from hpsearch.search.trial import TrialSpec
    from hpsearch.seeds import split_seed

    table, _, _ = load_catalog()
    data = prepare(table, "challenge", "random", (0.7, 0.15, 0.15), split_seed(root_seed, repetition))
    return train_and_score(TrialSpec("x", repetition, 0, 0, params, seed, "rep0", model), data)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A data cache for this test: no catalog, and this machine's population crossover pinned at
    batch 128 (what the tests expect; tests/test_calibration.py measures the real one)."""
    import json

    from hpsearch.models.calibration import FILE, machine_key

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / FILE).write_text(json.dumps({machine_key(): {"max_batch": 128}}))
    monkeypatch.setenv("HPSEARCH_DATA", str(folder))
    return folder


@pytest.fixture
def small_catalog(data_dir, tmp_path) -> Path:
    """A 1,200-event synthetic Kaggle-layout catalog, imported into the cache."""
    path = write_kaggle(tmp_path / "database.csv", synthetic_events(1200), iso_rows=(5, 50))
    import_catalog(path)
    return path


@pytest.fixture
def real_catalog(monkeypatch) -> Path:
    """The project's data cache when it holds the real catalog (`.ci/run` imports it there)."""
    if not (PROJECT_CACHE / "catalog.csv").is_file():
        pytest.skip(f"no catalog.csv in {PROJECT_CACHE} (the tests on the real catalog read the project's own "
                    f"data folder, whatever HPSEARCH_DATA says): import it there with "
                    f"`HPSEARCH_DATA=datasets hpsearch data import FILE`, as .ci/run does")
    monkeypatch.setenv("HPSEARCH_DATA", str(PROJECT_CACHE))
    return PROJECT_CACHE


@pytest.fixture
def experiments() -> Path:
    return Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path, tmp_path_factory, monkeypatch):
    """Default run folders (results/...) land in the test's own folder, and no test reads or writes
    the user's data folder (~/hpsearch_data: a catalog, a calibration cached there): the data
    folder is the test's own, empty but for the population crossover pinned at batch 128."""
    import json

    from hpsearch.models.calibration import FILE, machine_key

    monkeypatch.chdir(tmp_path)
    folder = tmp_path_factory.mktemp("hpsearch_data")
    (folder / FILE).write_text(json.dumps({machine_key(): {"max_batch": 128}}))
    monkeypatch.setenv("HPSEARCH_DATA", str(folder))
    monkeypatch.setenv("HPSEARCH_OFFLINE", "1")  # a test never reaches the internet
