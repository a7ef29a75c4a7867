"""The earthquake catalog: readers, the local cache, and cleaning with a report.

Two layouts are read into one tidy table (:data:`TIDY_COLUMNS`):

* the Kaggle ``database.csv`` layout (``Date, Time, Latitude, ..., Status``);
* the USGS ComCat CSV layout that the FDSN event service returns for
  ``format=csv`` (``time, latitude, longitude, depth, mag, magType, ..., type``).

Importing keeps every row it can read (a row whose time cannot be parsed keeps
an empty time); cleaning happens when the catalog is loaded, so that the report
of what was dropped and why is always at hand (``hpsearch data info``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from hpsearch.errors import DataError
from hpsearch.files import write_atomic

TIDY_COLUMNS = [
    "time", "latitude", "longitude", "depth", "magnitude", "magnitude_type",
    "event_type", "source", "id", "status",
]
KAGGLE_COLUMNS = {
    "Latitude": "latitude", "Longitude": "longitude", "Depth": "depth",
    "Magnitude": "magnitude", "Magnitude Type": "magnitude_type", "Type": "event_type",
    "Source": "source", "ID": "id", "Status": "status",
}
COMCAT_COLUMNS = {
    "latitude": "latitude", "longitude": "longitude", "depth": "depth", "mag": "magnitude",
    "magType": "magnitude_type", "type": "event_type", "net": "source", "id": "id",
    "status": "status",
}
KAGGLE_REQUIRED = ["Date", "Time", "Latitude", "Longitude", "Magnitude"]
COMCAT_REQUIRED = ["time", "latitude", "longitude", "mag"]
CACHE_NAME = "catalog.csv"
NO_CATALOG = (
    "no earthquake catalog in {folder} (the data folder: $HPSEARCH_DATA, or ~/hpsearch_data "
    "when it is not set): run `hpsearch data fetch` to download it from the USGS, or "
    "`hpsearch data import FILE` to use a file you have"
)


def data_dir() -> Path:
    """The data cache: ``$HPSEARCH_DATA`` if set, else ``~/hpsearch_data`` (as
    scikit-learn's ``get_data_home``), whatever the working folder."""
    return Path(os.environ.get("HPSEARCH_DATA") or Path.home() / "hpsearch_data").expanduser()


# -- reading -----------------------------------------------------------------
def read_catalog_file(path: str | os.PathLike) -> tuple[pd.DataFrame, str]:
    """Read a Kaggle or ComCat CSV into the tidy layout; return (table, layout)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; expected a CSV catalog")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                          encoding="utf-8", on_bad_lines="skip", engine="python")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable CSV file ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:120]})") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    torn = int(len(raw) > 0 and _torn_last_line(path, len(raw.columns)))
    if torn:
        raw = raw.iloc[:-1]
    if raw.empty and (set(KAGGLE_REQUIRED) <= set(raw.columns) or set(COMCAT_REQUIRED) <= set(raw.columns)):
        raise DataError(f"{path}: the catalog has a header but no rows")
    if set(KAGGLE_REQUIRED) <= set(raw.columns):
        table, layout = tidy_kaggle(raw), "kaggle"
    elif set(COMCAT_REQUIRED) <= set(raw.columns):
        table, layout = tidy_comcat(raw), "comcat"
    else:
        shown = ", ".join(list(raw.columns)[:8]) or "none"
        raise DataError(
            f"{path}: unknown catalog layout (columns: {shown}); expected the Kaggle layout "
            f"({', '.join(KAGGLE_REQUIRED)}, ...) or the USGS ComCat CSV layout "
            f"({', '.join(COMCAT_REQUIRED)}, ...)"
        )
    if table.empty:
        raise DataError(f"{path}: the catalog has a header but no rows")
    if table["time"].isna().all() or table["magnitude"].isna().all():
        raise DataError(f"{path}: no row has a readable time and magnitude; is this a catalog?")
    table.attrs["torn_last_line"] = torn
    return table, layout


def _torn_last_line(path: Path, n_columns: int) -> bool:
    """True when the file ends inside its last row: no newline at the end *and* a last line that
    does not have every field (a file cut mid-write). A complete last row without a newline (the
    Kaggle file ends so) is a row like any other; a field cut short that still parses is caught
    by cleaning (it fails to parse as a time or a number)."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(size - 65536, 0))
        tail = handle.read()
    if tail.endswith((b"\n", b"\r")):
        return False
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    try:
        fields = next(csv.reader([last]), [])
    except csv.Error:  # an open quote: cut inside a quoted field
        return True
    return len(fields) != n_columns or last.count('"') % 2 == 1


def _numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def _finish(raw: pd.DataFrame, renames: dict[str, str], time: pd.Series) -> pd.DataFrame:
    table = pd.DataFrame({"time": time})
    for source, target in renames.items():
        table[target] = raw[source] if source in raw.columns else np.nan
    if not any(target == "event_type" and source in raw.columns for source, target in renames.items()):
        table["event_type"] = "earthquake"  # a catalog without a type column lists earthquakes
    for column in ("latitude", "longitude", "depth", "magnitude"):
        table[column] = _numeric(table[column])
    for column, case in (("magnitude_type", str.upper), ("event_type", str.lower), ("source", str.upper)):
        text = table[column].astype("string").str.strip()
        table[column] = text.map(case, na_action="ignore").astype(object).where(text.notna(), None)
    return table[TIDY_COLUMNS].reset_index(drop=True)


def tidy_kaggle(raw: pd.DataFrame) -> pd.DataFrame:
    """Kaggle layout: ``MM/DD/YYYY`` + ``HH:MM:SS``; 3 known rows carry ISO-8601 stamps."""
    stamp = raw["Date"].str.strip() + " " + raw["Time"].str.strip()
    time = pd.to_datetime(stamp, format="%m/%d/%Y %H:%M:%S", errors="coerce", utc=True)
    iso = time.isna() & raw["Date"].str.contains("T", na=False)
    time[iso] = pd.to_datetime(raw.loc[iso, "Date"], format="ISO8601", errors="coerce", utc=True)
    table = _finish(raw, KAGGLE_COLUMNS, time)
    table.attrs["iso_timestamps_parsed"] = int(time[iso].notna().sum())
    return table


def tidy_comcat(raw: pd.DataFrame) -> pd.DataFrame:
    """ComCat layout: ``time`` is ISO-8601 UTC, ``net`` is the contributing network."""
    time = pd.to_datetime(raw["time"].str.strip(), format="ISO8601", errors="coerce", utc=True)
    return _finish(raw, COMCAT_COLUMNS, time)


# -- the cache -----------------------------------------------------------------
_atomic_write_text = write_atomic


def save_catalog(table: pd.DataFrame, origin: dict, folder: Path | None = None) -> Path:
    """Store a tidy table in the cache, replacing the previous one atomically."""
    folder = data_dir() if folder is None else Path(folder)
    out = table.copy()
    out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path = folder / CACHE_NAME
    meta = dict(origin, rows=len(table), iso_timestamps_parsed=table.attrs.get("iso_timestamps_parsed", 0),
                torn_last_line=table.attrs.get("torn_last_line", 0),
                saved_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _atomic_write_text(path, out.to_csv(index=False))
    _atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    return path


def import_catalog(file: str | os.PathLike, folder: Path | None = None) -> tuple[Path, pd.DataFrame]:
    """Validate a catalog file and put it in the cache (the old one stays if this fails:
    the new one must parse and keep at least one earthquake after cleaning)."""
    table, layout = read_catalog_file(file)
    kept, report = clean(table)
    if kept.empty:
        raise DataError(f"{file}: no usable earthquake after cleaning ({'; '.join(report.lines())}); "
                        f"the catalog in the data folder is unchanged")
    digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()
    path = save_catalog(table, {"origin": str(Path(file).resolve()), "layout": layout,
                                "sha256": digest}, folder)
    return path, table


def load_raw(folder: Path | None = None) -> tuple[pd.DataFrame, dict]:
    """The cached tidy table (uncleaned) and its metadata."""
    folder = data_dir() if folder is None else Path(folder)
    path = folder / CACHE_NAME
    if not path.is_file():
        raise DataError(NO_CATALOG.format(folder=folder))
    table = pd.read_csv(path, dtype={"magnitude_type": str, "event_type": str, "source": str,
                                     "id": str, "status": str})
    table["time"] = pd.to_datetime(table["time"], format="ISO8601", utc=True, errors="coerce")
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return table, meta


# -- cleaning ------------------------------------------------------------------
@dataclass
class CleaningReport:
    """What cleaning did, row counts by reason."""

    rows_read: int = 0
    iso_timestamps_parsed: int = 0
    torn_last_line: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    excluded_event_types: dict[str, int] = field(default_factory=dict)
    rows_kept: int = 0
    notes: list[str] = field(default_factory=list)  # what the problem adds (the class balance)

    def lines(self) -> list[str]:
        out = [f"rows read: {self.rows_read}"]
        if self.iso_timestamps_parsed:
            out.append(f"ISO-8601 timestamps parsed (Kaggle quirk): {self.iso_timestamps_parsed}")
        if self.torn_last_line:
            out.append(f"dropped, a last line without its newline (a truncated file): {self.torn_last_line}")
        out += [f"dropped, {reason}: {n}" for reason, n in self.dropped.items() if n]
        out += [f"excluded, event type '{kind}': {n}" for kind, n in self.excluded_event_types.items()]
        out.append(f"rows kept: {self.rows_kept}")
        return out + self.notes


def clean(table: pd.DataFrame, event_types: list[str] | None = ("earthquake",),
          iso_timestamps_parsed: int = 0, torn_last_line: int = 0) -> tuple[pd.DataFrame, CleaningReport]:
    """Drop unusable rows and, by default, events other than earthquakes; count each.

    ``event_types=None`` keeps every type.
    """
    report = CleaningReport(rows_read=len(table) + torn_last_line, iso_timestamps_parsed=iso_timestamps_parsed,
                            torn_last_line=torn_last_line)
    rules = [
        ("unreadable time", table["time"].isna()),
        ("no magnitude", table["magnitude"].isna()),
        ("no coordinates", table["latitude"].isna() | table["longitude"].isna()),
        ("latitude/longitude out of range",
         ~table["latitude"].between(-90, 90) | ~table["longitude"].between(-180, 180)),
        ("magnitude not finite or outside -2..10", ~table["magnitude"].between(-2, 10)),
        ("depth outside -10..800 km", table["depth"].notna() & ~table["depth"].between(-10, 800)),
    ]
    keep = pd.Series(True, index=table.index)
    for reason, bad in rules:
        report.dropped[reason] = int((bad & keep).sum())
        keep &= ~bad
    if event_types is not None:
        wanted = {kind.lower() for kind in event_types}
        kinds = table["event_type"].fillna("unknown")
        other = keep & ~kinds.isin(wanted)
        report.excluded_event_types = {k: int(n) for k, n in kinds[other].value_counts().items()}
        keep &= ~other
    kept = table[keep].sort_values("time", kind="stable").reset_index(drop=True)
    report.rows_kept = len(kept)
    return kept, report


def load_catalog(event_types: list[str] | None = ("earthquake",),
                 folder: Path | None = None) -> tuple[pd.DataFrame, CleaningReport, dict]:
    """Load the cached catalog and clean it: (table, report, metadata)."""
    raw, meta = load_raw(folder)
    table, report = clean(raw, event_types, meta.get("iso_timestamps_parsed", 0), meta.get("torn_last_line", 0))
    if table.empty:
        raise DataError(f"the catalog in {data_dir() if folder is None else folder} has no "
                        f"usable rows after cleaning: " + "; ".join(report.lines()))
    return table, report, meta
