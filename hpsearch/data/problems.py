"""Problems beyond the earthquake catalog: any table, and built-in data sets.

A table (CSV, or Parquet with pyarrow) names its ``target`` column; the features
are the listed columns or every other one. Cleaning is reported, never silent:
rows with a missing target are dropped and counted; missing feature values are
counted here and filled per split from the training rows (the median of a
numeric column, a ``missing`` level of a categorical one). Categorical columns
(the non-numeric ones unless listed) are one-hot encoded with levels learned
from the training split, rare levels (fewer training rows than 20, or than 1%
of them in a small table, at least 2) pooled as ``other``, as the earthquake
catalog's extended features are. Every column is then min-max scaled with the
training split's minima and maxima.

Built in: ``diabetes`` (scikit-learn's bundled copy, 442 patients, 10
features) and ``friedman1`` (``make_friedman1`` with ``n_samples`` and
``noise``, seeded by the experiment's seed: 5 informative features of 10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hpsearch.data.features import (
    MIN_CATEGORY_ROWS,
    Dataset,
    min_max_scale,
    one_hot,
    split_rows,
)
from hpsearch.errors import DataError

BUILT_IN = ("diabetes", "friedman1", "breast_cancer", "wine", "digits", "seed-toy")
#: the lesson's example: three binary inputs (the third always 1), the output is
#: the exclusive-or of the first two; its four rows train, validate and test at once
SEED_TOY = pd.DataFrame({"x1": [0, 0, 1, 1], "x2": [0, 1, 0, 1], "x3": [1, 1, 1, 1], "y": [0, 1, 1, 0]})


@dataclass
class TableReport:
    """What cleaning a table did."""

    rows_read: int = 0
    missing_target: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    categorical: tuple[str, ...] = ()
    rows_kept: int = 0
    task: str = ""
    classes: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"rows read: {self.rows_read}"] + ([f"task: {self.task}"] if self.task else [])
        if self.missing_target:
            out.append(f"dropped, missing target: {self.missing_target}")
        out += [f"missing values in '{c}': {n} (filled from the training split)" for c, n in self.missing.items() if n]
        if self.categorical:
            out.append(f"categorical (one-hot): {', '.join(self.categorical)}")
        out.append(f"rows kept: {self.rows_kept}")
        if self.classes:
            out.append("classes: " + ", ".join(f"{c}: {n}" for c, n in self.classes.items()))
        return out


@dataclass
class Table:
    """A cleaned table: raw feature columns, the numeric target, what cleaning did."""

    features: pd.DataFrame
    target: np.ndarray
    categorical: tuple[str, ...]
    report: TableReport
    meta: dict


#: ``data.path`` of a table given in memory: ``memory:`` and its fingerprint's hash
MEMORY = "memory:"
_IN_MEMORY: dict[str, pd.DataFrame] = {}
_FINGERPRINTS: dict[str, dict] = {}


def in_memory(data, target: str | None) -> tuple[str, str, dict]:
    """Register data given in memory (a DataFrame with ``target`` naming a column, or ``(X, y)``
    with X a DataFrame or an array and y a Series or an array); (its ``data.path``, its target
    column, its fingerprint: shape, columns, dtypes and a hash of the values)."""
    if isinstance(data, pd.DataFrame):
        if not isinstance(target, str) or target not in data.columns:
            shown = ", ".join(map(str, list(data.columns)[:20]))
            raise DataError(f"data: name the column to predict with target=..., one of: {shown}")
        frame = data
    elif isinstance(data, tuple) and len(data) == 2:
        X, y = data
        if not isinstance(X, pd.DataFrame):
            X = np.asarray(X)
            if X.ndim != 2:
                raise DataError(f"data: X must be 2-D (rows x columns), got shape {X.shape}")
            _check_width(X.shape[1])
            X = pd.DataFrame(X).rename(columns=lambda i: f"x{i}")
        name = target or (y.name if isinstance(y, pd.Series) and y.name is not None else "y")
        if name in X.columns:
            raise DataError(f"data: the target's name '{name}' is also a column of X; pass target=... to rename it")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise DataError(f"data: y must be one value per row of X ({len(X)} rows), got shape {y.shape}")
        frame, target = X.reset_index(drop=True).assign(**{name: y}), name
    else:
        raise DataError(f"data: expected a pandas DataFrame (with target=...) or (X, y), got {type(data).__name__}")
    if not all(isinstance(c, str) for c in frame.columns) or frame.columns.duplicated().any():
        raise DataError("data: column names must be distinct strings")
    _check_width(frame.shape[1] - 1)
    for column in frame.columns[frame.dtypes == object]:
        nested = frame[column].map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray)))
        if nested.any():
            row = int(np.flatnonzero(nested.to_numpy())[0])
            raise DataError(f"data: column '{column}' holds a {type(frame[column].iloc[row]).__name__} in row {row}; "
                            f"a cell holds one number or one category")
    y = frame[target]
    if pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y):
        values = y.to_numpy(dtype=float, na_value=np.nan)
        if np.isinf(values).any():
            row = int(np.flatnonzero(np.isinf(values))[0])
            raise DataError(f"data: the target '{target}' holds {values[row]} in row {row}; a target is finite "
                            f"(a missing value, NaN, drops its row)")
    import hashlib

    values = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.sha256(values.tobytes() + repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    key = digest.hexdigest()[:16]
    fingerprint = {"rows": len(frame), "columns": list(frame.columns),
                   "dtypes": [str(t) for t in frame.dtypes], "sha256": digest.hexdigest()}
    _IN_MEMORY[key] = frame
    _FINGERPRINTS[key] = fingerprint
    return MEMORY + key, target, fingerprint


#: the most feature columns a table may have (each is a network input, a column of every split)
MAX_COLUMNS = 10_000


def _check_width(columns: int) -> None:
    if columns > MAX_COLUMNS:
        raise DataError(f"data: {columns:,} feature columns; at most {MAX_COLUMNS:,} (select the columns to use)")


def fingerprint(path: str) -> dict | None:
    """The fingerprint of a table given in memory (``data.path`` ``memory:HASH``), or None."""
    return _FINGERPRINTS.get(path[len(MEMORY):]) if path.startswith(MEMORY) else None


def read_table(path: str) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame; DataError naming the file otherwise. A path
    ``memory:HASH`` is a table given in memory (:func:`in_memory`) in this process."""
    if path.startswith(MEMORY):
        frame = _IN_MEMORY.get(path[len(MEMORY):])
        if frame is None:
            raise DataError(f"data.path: {path} is a table that was given in memory to another process; "
                            f"pass the same data again (hpsearch.run(..., data=...)) to resume this run")
        return frame.copy()
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such data file (data.path is relative to the config's folder)")
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            try:
                return pd.read_parquet(file)
            except ImportError:
                raise DataError(f"{file}: reading Parquet needs pyarrow: pip install 'hpsearch[parquet]'") from None
        return _no_duplicate_columns(pd.read_csv(file), file)
    except DataError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{file}: not a readable table ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def _no_duplicate_columns(frame: pd.DataFrame, file: Path) -> pd.DataFrame:
    """pandas renames a repeated header ``a`` to ``a.1``: refuse it instead (which column is meant?)."""
    import csv

    with open(file, newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    seen = set()
    for name in header:
        if name in seen:
            raise DataError(f"{file}: the column '{name}' is named twice in the header; give each column "
                            f"its own name")
        seen.add(name)
    return frame


def built_in(name: str, n_samples: int, noise: float, seed: int) -> tuple[pd.DataFrame, str]:
    """(frame, target column) of a built-in data set."""
    from sklearn import datasets

    if name == "seed-toy":
        return SEED_TOY.copy(), "y"
    if name in ("diabetes", "breast_cancer", "wine", "digits"):
        frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
        return frame, "target"
    X, y = datasets.make_friedman1(n_samples=n_samples, noise=noise, random_state=seed)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(y=y)
    return frame, "y"


def clean_table(frame: pd.DataFrame, target: str, features: tuple[str, ...] | None,
                categorical: tuple[str, ...] | None, time: str | None, where: str,
                task: str = "auto", min_class_rows: int = 3, task_from: str = "") -> Table:
    """Check and clean a table (see module doc); sorted by ``time`` when given.

    ``task`` ``auto`` infers classification from a non-numeric target or an
    integer one with at most ``FEW_CLASSES`` values, and says so in the report.
    """
    columns = list(frame.columns)
    for name, what in [(target, "target")] + [(c, "feature") for c in features or ()] + \
            [(c, "categorical") for c in categorical or ()] + ([(time, "time")] if time else []):
        if name not in columns:
            shown = ", ".join(map(str, columns[:30])) + (", ..." if len(columns) > 30 else "")
            raise DataError(f"{where}: no {what} column '{name}'; the columns are: {shown}")
    report = TableReport(rows_read=len(frame))
    task, report.task = _task(frame[target], task, target, where)
    if task_from:
        report.task = f"{task} (inferred from {task_from}; set data.task to choose)"
    known = pd.to_numeric(frame[target], errors="coerce").dropna()
    if task == "regression" and known.nunique() == 1:  # (a classifier's single class is refused below)
        raise DataError(f"{where}: the target '{target}' is {known.iloc[0].item()!r} in every row; there is "
                        f"nothing to predict")
    if task == "regression":
        y = pd.to_numeric(frame[target], errors="coerce")
        keep = y.notna() & np.isfinite(y.fillna(0))
    else:
        keep = frame[target].notna()
    report.missing_target = int((~keep).sum())
    frame = frame[keep.to_numpy()]
    if time:
        frame = frame.assign(_order=pd.to_datetime(frame[time], errors="coerce", utc=True)) \
            .sort_values("_order", kind="stable").drop(columns="_order")
    names = list(features) if features else [c for c in frame.columns if c not in (target, time)]
    X = frame[names].reset_index(drop=True)
    if categorical is None:
        categorical = tuple(c for c in names if not pd.api.types.is_numeric_dtype(X[c])
                            and not pd.api.types.is_bool_dtype(X[c]))
    if X.empty:
        raise DataError(f"{where}: no rows left after cleaning: " + "; ".join(report.lines()))
    for column in names:
        if X[column].isna().all():
            raise DataError(f"{where}: the feature column '{column}' has no values; drop it from data.features")
        report.missing[column] = int(X[column].isna().sum())
    report.categorical = tuple(categorical)
    report.rows_kept = len(X)
    if task == "regression":
        values = pd.to_numeric(frame[target]).to_numpy(dtype=np.float64)
    else:
        values = class_labels(frame[target])
        report.classes = check_classes(values, where, min_class_rows)
    return Table(X, values, tuple(categorical), report, {"origin": where, "target": target, "task": task})


FEW_CLASSES = 10


def _task(y: pd.Series, task: str, target: str, where: str) -> tuple[str, str]:
    """(task, how it was chosen) for the target column ``y``."""
    numeric = pd.to_numeric(y, errors="coerce")
    non_numeric = bool((y.notna() & numeric.isna()).any())
    if task == "regression" and non_numeric:
        row = int(np.flatnonzero((y.notna() & numeric.isna()).to_numpy())[0])
        raise DataError(f"{where}: the target '{target}' is not numeric (row {row + 2}: {y.iloc[row]!r}); "
                        f"a regressor needs numbers (or set data.task = \"classification\")")
    if task != "auto":
        return task, f"{task} (data.task)"
    if non_numeric:
        return "classification", "classification (inferred: the target is not numeric; set data.task to choose)"
    values = numeric.dropna()
    distinct = values.nunique()
    if len(values) and np.all(values == np.round(values)) and distinct <= FEW_CLASSES:
        return "classification", (f"classification (inferred: an integer target with {distinct} values; "
                                  f"set data.task to choose)")
    return "regression", "regression (inferred: a numeric target; set data.task to choose)"


def class_labels(y: pd.Series) -> np.ndarray:
    """Labels as an array that saves without pickle: integers, or strings."""
    numeric = pd.to_numeric(y, errors="coerce")
    if numeric.notna().all() and np.all(numeric == np.round(numeric)):
        return numeric.to_numpy().astype(np.int64)
    return y.astype(str).to_numpy().astype(str)


def check_classes(labels: np.ndarray, where: str, min_rows: int = 3) -> dict:
    """Row counts per class; DataError for one class, or a class too small to split."""
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise DataError(f"{where}: the target has one class ({classes[0].item()!r}); classification needs two or more")
    small = [(c, n) for c, n in zip(classes, counts) if n < min_rows]
    if small:
        raise DataError(f"{where}: class {small[0][0].item()!r} has {small[0][1]} row(s); every class needs at least "
                        f"{min_rows} (a row in each of training, validation and test)")
    return {str(c): int(n) for c, n in zip(classes, counts)}


def prepare_table(table: Table, split: str, fractions: tuple[float, float, float],
                  seed: np.random.SeedSequence | int | None) -> Dataset:
    """Split (stratified for classes), fill from the training rows, one-hot, min-max
    scale (see module doc). The seed toy has no split: its rows are every split."""
    if table.meta.get("no_split"):
        train = val = test = np.arange(len(table.features))
    else:
        stratify = table.target if table.meta.get("task") == "classification" else None
        train, val, test = split_rows(len(table.features), fractions, split, seed, stratify)
    parts = []
    for column in table.features.columns:
        values = table.features[column]
        if column in table.categorical:
            rare = min(MIN_CATEGORY_ROWS, max(2, len(train) // 100))
            parts.append(one_hot(values.astype("string"), train, column, missing="missing", min_rows=rare))
        else:
            numeric = pd.to_numeric(values, errors="coerce").astype(float)
            median = numeric.iloc[train].median()
            parts.append(pd.DataFrame({column: numeric.fillna(0.0 if np.isnan(median) else median)}))
    frame = pd.concat(parts, axis=1)
    X = frame.to_numpy(dtype=np.float64)
    y = table.target
    X_train, X_val, X_test = min_max_scale(X[train], X[val], X[test], names=list(frame.columns))
    return Dataset(X_train, y[train], X_val, y[val], X_test, y[test], tuple(frame.columns))
