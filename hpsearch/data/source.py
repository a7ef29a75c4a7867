"""``[data]``: where a problem's rows come from, declared (:class:`DataSection`) and resolved
(:class:`DataConfig`, what the rest of hpsearch reads).

``dataset``: ``earthquake`` (the catalog; ``features`` is a feature set), a built-in data set
(``diabetes``, ``friedman1``, ...), or a table: a CSV/Parquet file at ``path`` (relative to
the config), predicting ``target``; ``features`` is then a list of columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from hpsearch.data.features import FEATURE_SETS, SPLITS
from hpsearch.data.metrics import TASKS
from hpsearch.data.problems import BUILT_IN, MEMORY
from hpsearch.sections import Invalid, Section, invalid, show

#: built-in data sets whose task is classification
CLASSIFICATION_SETS = ("breast_cancer", "wine", "digits", "seed-toy")
EARTHQUAKE_ONLY = ("event_types", "threshold")
NOT_FOR_THE_CATALOG = ("target", "categorical", "time", "n_samples", "noise")


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from, resolved: paths absolute, defaults in place."""

    features: str | tuple[str, ...] | None = "challenge"
    split: str = "random"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    event_types: tuple[str, ...] | None = ("earthquake",)
    dataset: str = "earthquake"
    path: str | None = None
    target: str | None = None
    categorical: tuple[str, ...] | None = None
    time: str | None = None
    n_samples: int = 1000
    noise: float = 1.0
    task: str = "auto"  # regression | classification | auto (from the estimator or the target)
    threshold: float | None = None  # earthquake: classify magnitude >= threshold
    task_from: str = field(default="", compare=False)  # what the task was inferred from, when not data.task

    @property
    def target_name(self) -> str:
        """What is predicted, for captions."""
        if self.dataset == "earthquake":
            return "magnitude" if self.threshold is None else f"magnitude >= {self.threshold:g}"
        return f"the target ({self.target or self.dataset})"

    def to_dict(self) -> dict:
        out: dict[str, Any] = {}
        if self.dataset == "earthquake":
            out["features"] = self.features
        elif self.dataset == "table":
            out.update(path=self.path, target=self.target)
        else:
            out["dataset"] = self.dataset
        if self.dataset != "earthquake":
            for key in ("features", "categorical"):
                if getattr(self, key) is not None:
                    out[key] = list(getattr(self, key))
            if self.time is not None:
                out["time"] = self.time
            if self.dataset == "friedman1":
                out.update(n_samples=self.n_samples, noise=self.noise)
        out.update(split=self.split, fractions=list(self.fractions))
        if self.dataset == "earthquake":
            out["event_types"] = list(self.event_types) if self.event_types else "all"
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.task != "auto":
            out["task"] = self.task
        return out


def _names(value: Any) -> list[str]:
    """A non-empty list of distinct names (a single name is a list of one)."""
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise invalid("", f"expected a non-empty list of names, got {show(value)}")
    repeated = next((v for i, v in enumerate(value) if v in value[:i]), None)
    if repeated is not None:
        raise invalid("", f"'{repeated}' is named twice")
    return value


class DataSection(Section):
    """``[data]`` as written in the file."""

    dataset: Literal[("earthquake",) + BUILT_IN] | None = Field(
        None, description="the catalog (earthquake) or a built-in data set; leave out with path")
    path: str | None = Field(None, min_length=1, description="a .csv or .parquet file, relative to the config")
    target: str | None = Field(None, min_length=1, description="the column to predict (a table)")
    features: Literal[FEATURE_SETS] | list[str] | None = Field(
        None, description="the catalog: a feature set; a table or data set: the columns (default: all)")
    categorical: list[str] | None = Field(None, description="columns to one-hot encode (a table)")
    time: str | None = Field(None, min_length=1, description="the column that orders rows for split = temporal")
    split: Literal[SPLITS] = "random"
    fractions: list[float] = Field([0.7, 0.15, 0.15], description="train, validation, test: > 0, sum 1")
    event_types: Literal["all"] | list[str] = Field(["earthquake"], description="the catalog's event types kept")
    n_samples: int = Field(1000, ge=20, description="friedman1: rows drawn")
    noise: float = Field(1.0, ge=0, allow_inf_nan=False, description="friedman1: noise deviation")
    task: Literal[("auto",) + TASKS] = "auto"
    threshold: float | None = Field(None, allow_inf_nan=False, description="the catalog: classify magnitude >= it")

    @field_validator("features", "categorical", mode="before")
    @classmethod
    def _column_names(cls, value: Any) -> Any:
        return value if value in FEATURE_SETS or value == [] else _names(value)

    @field_validator("event_types", mode="before")
    @classmethod
    def _event_types(cls, value: Any) -> Any:
        return value if value == "all" else [t.lower() for t in _names(value)]

    @field_validator("fractions", mode="before")
    @classmethod
    def _fractions(cls, value: Any) -> Any:
        if (not isinstance(value, list) or len(value) != 3
                or not all(isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0 for f in value)
                or abs(sum(value) - 1) > 1e-9):
            raise invalid("", f"expected three numbers > 0 (train, validation, test) that sum to 1, got {show(value)}")
        return [float(f) for f in value]

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise invalid("", f"expected a file name, got {show(value)}")
        if "\x00" in value:
            raise invalid("", f"a file name cannot hold a NUL character, got {show(value)}")
        if not value.startswith(MEMORY) and Path(value).suffix.lower() not in (".csv", ".parquet", ".pq"):
            raise invalid("", f"expected a .csv or .parquet file, got '{value}'")
        return value

    @model_validator(mode="after")
    def _rules(self) -> "DataSection":
        given = self.model_fields_set
        if self.path is not None:
            self._table_rules(given)
        elif (self.dataset or "earthquake") == "earthquake":
            for key in NOT_FOR_THE_CATALOG:
                if key in given:
                    raise invalid(key, "is for tables and built-in data sets; the earthquake catalog predicts "
                                  "magnitude from a feature set (data.features)")
            if isinstance(self.features, list):
                raise invalid("features", f"expected one of {', '.join(map(repr, FEATURE_SETS))}, "
                              f"got {show(self.features)}")
            if self.threshold is not None and self.task not in ("auto", "classification"):
                raise invalid("threshold", "classifies magnitude >= threshold: it needs task = \"classification\"")
        else:
            unused = ("target", "categorical", "time") + EARTHQUAKE_ONLY + (
                ("n_samples", "noise") if self.dataset != "friedman1" else ())
            for key in unused:
                if key in given:
                    raise invalid(key, f"is not used by the built-in data set '{self.dataset}'")
            if self.split == "temporal":
                raise invalid("split", f"'temporal' needs a time column; '{self.dataset}' has none")
            self._listed_features()
        return self

    def _listed_features(self) -> None:
        if isinstance(self.features, str):
            raise invalid("features", f"expected a list of column names, got {show(self.features)} "
                          f"(feature sets are for the earthquake catalog)")

    def _table_rules(self, given: set) -> None:
        if "dataset" in given:
            raise invalid("dataset", "give either a dataset or a path, not both")
        if self.target is None:
            raise invalid("target", "name the column to predict, got None (NoneType)")
        for key in ("event_types", "n_samples", "noise", "threshold"):
            if key in given:
                raise invalid(key, "is not used by a table (data.path)")
        self._listed_features()
        if self.split == "temporal" and self.time is None:
            raise invalid("split", "'temporal' needs data.time, the column that orders the rows")
        if self.target in (self.features or ()):
            raise invalid("features", f"'{self.target}' is the target; it cannot be a feature too")

    def config(self, folder: Path) -> DataConfig:
        """The resolved data source (a table's path made absolute from the config's ``folder``)."""
        fractions = tuple(self.fractions)
        listed = tuple(self.features) if isinstance(self.features, list) else None
        if self.path is not None:
            path = self.path
            if not path.startswith(MEMORY):  # a DataFrame given to hpsearch.run(data=...), by its fingerprint
                try:
                    path = str((folder / path).resolve())
                except (OSError, RuntimeError) as exc:  # a symbolic link loop
                    raise Invalid("data.path", f"cannot follow '{self.path}' ({str(exc)[:100]})") from None
            categorical = tuple(self.categorical) if self.categorical is not None else None
            return DataConfig(listed, self.split, fractions, None, "table", path, self.target, categorical,
                              self.time, task=self.task)
        if (self.dataset or "earthquake") == "earthquake":
            threshold = None if self.threshold is None else float(self.threshold)
            events = None if self.event_types == "all" else tuple(self.event_types)
            task = "classification" if threshold is not None else self.task
            return DataConfig(self.features or "challenge", self.split, fractions, events, threshold=threshold,
                              task=task)
        return DataConfig(listed, self.split, fractions, None, self.dataset, n_samples=self.n_samples,
                          noise=float(self.noise), task=self.task)
