import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_events, to_comcat, write_kaggle

from hpsearch.data.catalog import clean, import_catalog, load_catalog, read_catalog_file
from hpsearch.errors import DataError


def test_kaggle_layout_parses_iso_rows_instead_of_dropping_them(tmp_path):
    events = synthetic_events(100)
    table, layout = read_catalog_file(write_kaggle(tmp_path / "k.csv", events, iso_rows=(3, 40, 77)))
    assert layout == "kaggle"
    assert table.attrs["iso_timestamps_parsed"] == 3
    assert table["time"].notna().all()
    assert (table["time"].dt.floor("s") == events["time"].dt.floor("s")).all()
    assert table["magnitude_type"].isin(["MW", "MB", "MS", "MWC"]).all()


def test_comcat_layout_reads_into_the_same_tidy_table(tmp_path):
    events = synthetic_events(50)
    kaggle, _ = read_catalog_file(write_kaggle(tmp_path / "k.csv", events))
    path = tmp_path / "c.csv"
    to_comcat(events).to_csv(path, index=False)
    comcat, layout = read_catalog_file(path)
    assert layout == "comcat"
    pd.testing.assert_frame_equal(comcat.drop(columns=["status", "time"]),
                                  kaggle.drop(columns=["status", "time"]))
    assert (comcat["time"].dt.floor("s") == kaggle["time"]).all()


def test_cleaning_counts_every_dropped_row():
    table = pd.DataFrame({
        "time": pd.to_datetime(["2000-01-01"] * 6 + [None] + ["2000-01-01"] * 4, utc=True),
        "latitude": [10, 10, np.nan, 95, 10, 10, 10, 10, 10, 10, 10],
        "longitude": [10, 10, 10, 10, 200, 10, 10, 10, 10, 10, 10],
        "depth": [10.0] * 9 + [900.0, np.nan], "magnitude": [6, np.nan, 6, 6, 6, 6, 6, np.inf, 1e308, 6, 6],
        "magnitude_type": "MW", "event_type": ["earthquake"] * 5 + ["nuclear explosion"] + ["earthquake"] * 5,
        "source": "US", "id": "x", "status": "r",
    })
    kept, report = clean(table)
    assert len(kept) == report.rows_kept == 2  # a missing depth is fine
    assert report.dropped == {"unreadable time": 1, "no magnitude": 1, "no coordinates": 1,
                              "latitude/longitude out of range": 2, "magnitude not finite or outside -2..10": 2,
                              "depth outside -10..800 km": 1}
    assert report.excluded_event_types == {"nuclear explosion": 1}
    kept_all, report_all = clean(table, event_types=None)
    assert len(kept_all) == 3 and report_all.excluded_event_types == {}


def test_no_catalog_names_both_ways_to_get_one(data_dir):
    with pytest.raises(DataError, match="hpsearch data fetch.*hpsearch data import FILE"):
        load_catalog()


@pytest.mark.parametrize("content, match", [
    (b"", "empty"),
    (",".join(["Date", "Time", "Latitude", "Longitude", "Magnitude"]).encode() + b"\n", "no rows"),
    (b"a,b,c\n1,2,3\n", "unknown catalog layout"),
    (bytes(range(256)) * 20, "not a readable CSV|unknown catalog layout"),
    (b"Date,Time,Latitude,Longitude,Magnitude\nfoo,bar,baz,qux,x\n", "no row has a readable time"),
])
def test_bad_catalog_files_are_refused_and_the_old_one_kept(small_catalog, tmp_path, content, match):
    before, _, _ = load_catalog()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    with pytest.raises(DataError, match=match):
        import_catalog(bad)
    after, _, _ = load_catalog()
    pd.testing.assert_frame_equal(before, after)


def test_missing_file(data_dir, tmp_path):
    with pytest.raises(DataError, match="no such file"):
        import_catalog(tmp_path / "nope.csv")


def test_some_unparsable_rows_are_imported_and_counted(data_dir, tmp_path):
    path = write_kaggle(tmp_path / "k.csv", synthetic_events(30))
    lines = path.read_text().splitlines()
    lines[4] = "13/45/1999,99:99:99" + lines[4][19:]
    path.write_text("\n".join(lines) + "\n")
    import_catalog(path)
    table, report, _ = load_catalog()
    assert report.dropped["unreadable time"] == 1
    assert len(table) == 29


@pytest.mark.parametrize("content", [b"", b"a,b\n1,2\n", bytes(range(256)) * 8])
def test_data_import_of_a_bad_file_exits_2_in_one_line(small_catalog, tmp_path, capsys, content):
    from hpsearch.cli import main

    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    assert main(["data", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hpsearch: error: {bad}") and err.count("\n") == 1
    assert main(["data", "info"]) == 0  # the catalog imported before is still there
    assert "events: 1200" in capsys.readouterr().out


@pytest.mark.slow
def test_the_data_folder_does_not_depend_on_the_working_folder(tmp_path):
    """With HPSEARCH_DATA unset, the catalog lives in ~/hpsearch_data, seen from any folder."""
    import os
    import subprocess
    import sys

    from conftest import synthetic_events, write_kaggle

    home, a, b = tmp_path / "home", tmp_path / "a", tmp_path / "b"
    for folder in (home, a, b):
        folder.mkdir()
    source = write_kaggle(a / "database.csv", synthetic_events(300))
    env = {k: v for k, v in os.environ.items() if k != "HPSEARCH_DATA"} | {"HOME": str(home)}

    def hpsearch(*args, cwd):
        return subprocess.run([sys.executable, "-m", "hpsearch", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120)

    imported = hpsearch("data", "import", str(source), cwd=a)
    assert imported.returncode == 0, imported.stderr
    info = hpsearch("data", "info", cwd=b)
    assert info.returncode == 0 and "events: 300 from" in info.stdout
    assert f"data folder: {home / 'hpsearch_data'}" in info.stdout
    env["HOME"] = str(tmp_path / "nobody")
    missing = hpsearch("data", "info", cwd=b)
    assert missing.returncode == 2 and "hpsearch_data" in missing.stderr and "$HPSEARCH_DATA" in missing.stderr


def test_a_failed_import_keeps_the_good_catalog(small_catalog, data_dir, tmp_path):
    """Only the five challenge columns: no type column means earthquakes; a file whose
    rows are all unusable is refused and the catalog in the cache stays as it was."""
    before = (data_dir / "catalog.csv").read_bytes()
    frame = synthetic_events(50)
    five = pd.DataFrame({"Date": frame["time"].dt.strftime("%m/%d/%Y"), "Time": frame["time"].dt.strftime("%H:%M:%S"),
                         "Latitude": frame["latitude"], "Longitude": frame["longitude"], "Magnitude": frame["magnitude"]})
    five.assign(Magnitude=np.inf).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="no usable earthquake after cleaning.*unchanged"):
        import_catalog(tmp_path / "bad.csv")
    assert (data_dir / "catalog.csv").read_bytes() == before
    five.to_csv(tmp_path / "five.csv", index=False)
    import_catalog(tmp_path / "five.csv")
    table, report, _ = load_catalog()
    assert len(table) == 50 and report.excluded_event_types == {}


def test_a_torn_last_line_is_dropped_and_counted(data_dir, tmp_path):
    path = write_kaggle(tmp_path / "database.csv", synthetic_events(30))
    text = path.read_text()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    path.write_text(text[:len(text) - 1 - len(last) // 2])  # cut mid-row, fields missing, no newline
    import_catalog(path)
    table, report, _ = load_catalog()
    assert len(table) == 29 and report.torn_last_line == 1 and report.rows_read == 30
    assert "dropped, a last line without its newline (a truncated file): 1" in report.lines()


def test_a_complete_last_row_without_a_newline_is_kept(data_dir, tmp_path):
    """The Kaggle file ends so: its last earthquake (2016-12-30) is a row like any other."""
    path = write_kaggle(tmp_path / "database.csv", synthetic_events(30))
    path.write_text(path.read_text().rstrip("\n"))
    import_catalog(path)
    table, report, _ = load_catalog()
    assert len(table) == 30 and report.torn_last_line == 0 and report.rows_read == 30
    assert not any("truncated" in line for line in report.lines())
