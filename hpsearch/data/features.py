"""Feature sets, train/validation/test splits and min-max scaling.

Numeric encoding of the challenge features (``challenge``):

* ``date``: the event time as a decimal year (1965.0 ... 2017.0), so that the
  catalog's slow trends are one smooth input;
* ``time``: the time of day as a fraction of the day (0 = midnight UTC);
* ``latitude``, ``longitude``: degrees as given.

``extended`` adds ``depth`` (km) and one-hot columns for the magnitude type
(MW, MB, MS, ...), the contributing network (``source``) and, when more than one
is kept, the event type. Categories with fewer than 20 training rows share an
``other`` column; categories are learned from the training split only. The
magnitude type is not the magnitude, but it does carry information about it
(body-wave scales saturate, so large events get MW): it is a legitimate input
known at the time of the event, and the reason ``extended`` is easier.

All columns are min-max scaled to [0, 1] with minima and maxima of the training
split only; validation and test rows may fall slightly outside.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hpsearch.data.dataset import ARRAYS, Dataset  # noqa: F401  (prepared splits are Datasets)
from hpsearch.errors import DataError

FEATURE_SETS = ("challenge", "extended")
SPLITS = ("random", "temporal")
MIN_CATEGORY_ROWS = 20




def encode_challenge(table: pd.DataFrame) -> pd.DataFrame:
    """Date, time of day, latitude, longitude as numbers (see module doc)."""
    time = table["time"]
    year = time.dt.year.to_numpy()
    start = pd.to_datetime(pd.Series(year.astype(str)), format="%Y", utc=True)
    end = pd.to_datetime(pd.Series((year + 1).astype(str)), format="%Y", utc=True)
    elapsed = (time.reset_index(drop=True) - start).dt.total_seconds()
    length = (end - start).dt.total_seconds()
    seconds_of_day = (time.dt.hour * 3600 + time.dt.minute * 60 + time.dt.second).to_numpy()
    return pd.DataFrame({
        "date": year + (elapsed / length).to_numpy(),
        "time": seconds_of_day / 86400.0,
        "latitude": table["latitude"].to_numpy(),
        "longitude": table["longitude"].to_numpy(),
    })


def one_hot(values: pd.Series, train_rows: np.ndarray, prefix: str, missing: str = "unknown",
             min_rows: int = MIN_CATEGORY_ROWS) -> pd.DataFrame:
    """One column per level seen at least ``min_rows`` times in training; the rest ``other``."""
    values = values.fillna(missing).reset_index(drop=True)
    counts = values.iloc[train_rows].value_counts()
    keep = sorted(counts[counts >= min_rows].index)
    mapped = values.where(values.isin(keep), "other")
    columns = keep + (["other"] if (mapped == "other").any() else [])
    return pd.DataFrame({f"{prefix}={c}": (mapped == c).to_numpy(dtype=float) for c in columns})


def build_features(table: pd.DataFrame, feature_set: str, train_rows: np.ndarray) -> pd.DataFrame:
    """The unscaled feature table; categories come from ``train_rows`` only."""
    features = encode_challenge(table)
    if feature_set == "challenge":
        return features
    depth = table["depth"].reset_index(drop=True)
    parts = [features, pd.DataFrame({"depth": depth.fillna(depth.iloc[train_rows].median())})]
    parts.append(one_hot(table["magnitude_type"], train_rows, "magnitude_type"))
    parts.append(one_hot(table["source"], train_rows, "source"))
    if table["event_type"].nunique(dropna=False) > 1:
        parts.append(one_hot(table["event_type"], train_rows, "event_type"))
    return pd.concat(parts, axis=1)


def split_rows(n: int, fractions: tuple[float, float, float], method: str,
               seed: np.random.SeedSequence | int | None,
               stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices of train, validation and test.

    ``random`` permutes with ``seed``; ``temporal`` expects rows sorted by time
    and gives the oldest to training, the newest to test. With ``stratify``
    (class labels), a random split keeps each class's share in every split (a
    class of at least 3 rows has a row in each).
    """
    if stratify is not None and method == "random":
        parts = _stratified(np.asarray(stratify), fractions, np.random.default_rng(seed))
    else:
        n_train = int(round(fractions[0] * n))
        n_val = int(round(fractions[1] * n))
        order = np.random.default_rng(seed).permutation(n) if method == "random" else np.arange(n)
        parts = tuple(np.sort(part) for part in np.split(order, [n_train, n_train + n_val]))
    sizes = [len(part) for part in parts]
    if sizes[0] < MIN_TRAIN_ROWS or min(sizes[1:]) < 1:
        raise DataError(f"{n} rows split {fractions[0]:g}/{fractions[1]:g}/{fractions[2]:g} give {sizes[0]} "
                        f"training, {sizes[1]} validation and {sizes[2]} test rows; a search needs at least "
                        f"{MIN_TRAIN_ROWS} training rows and one of each other (more data, or other data.fractions)")
    return parts


def _stratified(labels: np.ndarray, fractions, rng: np.random.Generator):
    parts: list[list[np.ndarray]] = [[], [], []]
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        k = len(rows)
        a = int(round(fractions[0] * k))
        b = int(round(fractions[1] * k))
        if k >= 3:
            a = min(max(a, 1), k - 2)
            b = min(max(b, 1), k - a - 1)
        for part, chunk in zip(parts, np.split(rows, [a, a + b])):
            part.append(chunk)
    return tuple(np.sort(np.concatenate(p)) for p in parts)


MIN_TRAIN_ROWS = 2


def min_max_scale(train: np.ndarray, *others: np.ndarray, names=None) -> list[np.ndarray]:
    """Scale every column to [0, 1] with the training minima and maxima (``names``: the
    columns, for the error when a column is not finite or its range overflows)."""
    with np.errstate(over="ignore", invalid="ignore"):
        low = train.min(axis=0)
        span = train.max(axis=0) - low
    bad = ~np.isfinite(span)
    if bad.any():
        column = int(np.flatnonzero(bad)[0])
        name = f"'{names[column]}'" if names is not None else f"{column}"
        raise DataError(f"feature {name} holds values that are not finite or whose range overflows "
                        f"(min {train[:, column].min():.3g}, max {train[:, column].max():.3g}); "
                        f"remove or rescale them")
    span[span == 0] = 1.0
    return [(a - low) / span for a in (train, *others)]


def prepare(table: pd.DataFrame, feature_set: str = "challenge", split: str = "random",
            fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
            seed: np.random.SeedSequence | int | None = 0, threshold: float | None = None) -> Dataset:
    """Cleaned catalog -> features -> split -> min-max scaling fit on train.

    The target is the magnitude, or with ``threshold`` the class
    ``magnitude >= threshold`` (1) or not (0), split stratified.
    """
    y = table["magnitude"].to_numpy(dtype=np.float64)
    if threshold is not None:
        y = (y >= threshold).astype(np.int64)
    train, val, test = split_rows(len(table), fractions, split, seed, y if threshold is not None else None)
    frame = build_features(table, feature_set, train)
    X = frame.to_numpy(dtype=np.float64)
    X_train, X_val, X_test = min_max_scale(X[train], X[val], X[test])
    return Dataset(X_train, y[train], X_val, y[val], X_test, y[test], tuple(frame.columns))
