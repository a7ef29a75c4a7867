"""Tabular benchmarks, the table itself: recorded once (:class:`CurveRecorder`, run by
``hpsearch table record``), stored as ``table.npz`` and ``table.json``, read back and checked
field by field (:class:`Table`); ``[table]`` of a config declared (:class:`TableSection`).
Replay is :mod:`hpsearch.execution.tabular`.

Recording trains every point of a grid over the space, for S seeds, to the fidelity's bound,
and keeps per (point, seed, epoch) the validation loss, the test loss and the seconds the epoch
took. A table folder holds ``table.npz`` (arrays ``val``, ``test``, ``seconds`` of shape
(points, seeds, epochs), ``points``) and ``table.json`` (the header: the recorded config, the
levels, the seeds, the baselines of each seed's split, the versions and the machine).
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from hpsearch.data.dataset import Dataset
from hpsearch.data.metrics import TASKS, classification_scores, rmse
from hpsearch.errors import ConfigError
from hpsearch.execution.objective import fit_network
from hpsearch.files import atomic_file, refuse_link, write_atomic
from hpsearch.models.estimators import NETWORK, NETWORK_CLASSIFIER
from hpsearch.search.space import KINDS, Dimension
from hpsearch.search.trial import TrialResult, TrialSpec
from hpsearch.sections import Invalid, Section, invalid, number, show

ARRAYS = "table.npz"
HEADER = "table.json"
FORMAT = 1
#: the time a replayed run starts, in simulated time (results carry simulated times after it)
EPOCH_ZERO = datetime(2000, 1, 1, tzinfo=timezone.utc)


# -- recording ----------------------------------------------------------------------------
class CurveRecorder:
    """The objective of a recording: the network trained alone to ``params[fidelity]``,
    keeping each epoch's validation and test loss and the seconds the epoch took (its
    training and validation; the test scoring is not counted)."""

    def __call__(self, spec: TrialSpec, dataset: Dataset) -> TrialResult:
        test_curve, seconds = [], []
        last = [time.perf_counter()]

        def watch(net):
            def on_epoch(epoch: int, value: float) -> bool:
                seconds.append(time.perf_counter() - last[0])
                test_curve.append(_test_loss(net, dataset, spec.task))
                last[0] = time.perf_counter()
                return False
            return on_epoch

        net, result = fit_network(spec, dataset, watch)
        result.test_curve, result.epoch_seconds = test_curve, seconds
        result.test_loss = test_curve[-1] if test_curve else math.nan
        return result


def _test_loss(net, dataset: Dataset, task: str) -> float:
    """The loss on the test split of ``net`` as it is now, as a live trial's test score is computed."""
    y = np.asarray(dataset.y_test)
    with np.errstate(over="ignore", invalid="ignore"):
        if task == "classification":
            proba = net.predict_proba(dataset.X_test)
            return (classification_scores(proba, y, np.asarray(net.classes_))["log_loss"]
                    if np.all(np.isfinite(proba)) else math.nan)
        prediction = net.predict(dataset.X_test)
        return rmse(prediction, y) if np.all(np.isfinite(prediction)) else math.nan


def point_key(params: dict, names: list[str]) -> tuple:
    """A recorded point's identity: its values of ``names`` (what a grid proposes, exactly)."""
    return tuple(repr(params.get(n)) for n in names)


def grid_levels(space: tuple[Dimension, ...], fidelity: str, levels: dict, default: int = 8) -> dict[str, list]:
    """The recorded levels of every searched dimension but the fidelity: ``levels[name]`` points
    (a count, or the values) or ``default`` per numeric dimension; every choice of a categorical."""
    out = {}
    for dim in space:
        if dim.name == fidelity:
            continue
        given = levels.get(dim.name, default)
        if dim.kind == "categorical":
            out[dim.name] = list(dim.choices)
        elif isinstance(given, (list, tuple)):
            out[dim.name] = sorted(given)
        else:
            out[dim.name] = dim.grid_points(int(given))
    return out


def write_table(folder: Path, header: dict, records: list[dict], points: list[dict], seeds: int,
                bound: int) -> None:
    """``table.npz`` and ``table.json`` from the recording's trial records: one curve per
    (point, seed) up to ``bound``; a missing or short one is an error naming it."""
    names = sorted(points[0])
    index = {point_key(p, names): i for i, p in enumerate(points)}
    arrays = {k: np.full((len(points), seeds, bound), np.nan) for k in ("val", "test", "seconds")}
    arrays["seed"] = np.zeros((len(points), seeds), dtype=np.int64)  # the network seed of each curve
    seen = np.zeros((len(points), seeds), dtype=bool)
    for record in records:
        result = TrialResult.from_record(record)
        p = index.get(point_key(result.params, names))
        if p is None or not 0 <= result.repetition < seeds:
            continue
        for key, curve in (("val", result.val_curve), ("test", result.test_curve),
                           ("seconds", result.epoch_seconds)):
            values = np.array([math.nan if v is None else v for v in curve], dtype=float)[:bound]
            arrays[key][p, result.repetition, :len(values)] = values
        arrays["seed"][p, result.repetition] = result.seed
        seen[p, result.repetition] = True
    missing = np.argwhere(~seen)
    if len(missing):
        p, s = missing[0]
        raise ConfigError(f"{folder}: the recording has no curve of point {points[p]} seed {s} "
                          f"({len(missing)} missing); run `hpsearch table record` again to finish it")
    with atomic_file(folder / ARRAYS, binary=True) as handle:
        np.savez_compressed(handle, **arrays)
    header = {**header, "train_seconds": float(np.nansum(arrays["seconds"])), "points": points}
    write_atomic(folder / HEADER, json.dumps(header, indent=1, default=str) + "\n")


# -- the table ------------------------------------------------------------------------------
#: limits of what a table may hold (a table is data someone sent: it must not exhaust memory)
MAX_BYTES = 2 * 1024**3
MAX_CELLS = 10**8
MAX_SEEDS = 1000
MAX_LEVELS = 1000
#: the longest an epoch may have taken, in seconds (a day)
MAX_EPOCH_SECONDS = 86_400.0


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def header_problem(header, val, test, seconds, seed) -> str | None:
    """What is wrong with a table's header and arrays (the key named), or None. Every field a
    replay reads is checked here, so a replay never meets a missing key or a bad value."""
    if not isinstance(header, dict):
        return "the header is not a JSON object"
    if header.get("format") != FORMAT:
        return f"format: expected {FORMAT}, got {str(header.get('format'))[:40]!r}"
    missing = [k for k in ("config", "space", "levels", "fidelity", "bound", "seeds", "task", "baselines", "points")
               if k not in header]
    if missing:
        return f"no '{missing[0]}' key"
    config, space, levels = header["config"], header["space"], header["levels"]
    if not isinstance(config, dict) or not isinstance(config.get("data"), dict) \
            or not isinstance(config.get("model"), dict):
        return "config: expected a table with 'data' and 'model' tables"
    if not isinstance(space, dict) or not space or not all(
            isinstance(d, dict) and d.get("type") in KINDS for d in space.values()):
        return f"space: expected dimensions with a type ({', '.join(KINDS)})"
    for name, d in space.items():
        if d["type"] == "categorical":
            if not isinstance(d.get("choices"), list) or not d["choices"]:
                return f"space.{name}.choices: expected a non-empty list"
        elif not (_number(d.get("low")) and _number(d.get("high")) and d["low"] <= d["high"]) \
                or (d.get("log") and d["low"] <= 0):
            return f"space.{name}: expected numbers low <= high (above 0 on a log scale)"
    if header["fidelity"] not in space or space[header["fidelity"]]["type"] != "int":
        return f"fidelity: expected an int dimension of the space, got {str(header['fidelity'])[:40]!r}"
    if not isinstance(levels, dict) or set(levels) != set(space) - {header["fidelity"]}:
        return "levels: expected the recorded levels of every dimension but the fidelity"
    for name, values in levels.items():
        if not isinstance(values, list) or not 1 <= len(values) <= MAX_LEVELS:
            return f"levels.{name}: expected a list of 1 to {MAX_LEVELS} values"
        if space[name]["type"] != "categorical" and not all(_number(v) and (v > 0 or not space[name].get("log"))
                                                             for v in values):
            return f"levels.{name}: expected finite numbers (above 0 on a log scale)"
    if val.ndim != 3 or not val.shape == test.shape == seconds.shape or seed.shape != val.shape[:2]:
        return "its arrays do not have the same shape (points, seeds, epochs)"
    points, seeds, bound = val.shape
    if header["seeds"] != seeds or not 1 <= seeds <= MAX_SEEDS:
        return f"seeds: {str(header['seeds'])[:20]} in the header, {seeds} in the arrays (at most {MAX_SEEDS})"
    if header["bound"] != bound or bound < 1:
        return f"bound: {str(header['bound'])[:20]} in the header, {bound} epochs in the arrays"
    if header["task"] not in TASKS:
        return f"task: expected one of {', '.join(TASKS)}, got {str(header['task'])[:40]!r}"
    baselines = header["baselines"]
    if not isinstance(baselines, list) or len(baselines) != seeds or not all(
            isinstance(b, dict) and set(b) == BASELINE_KEYS and all(_number(v) for v in b.values()) for b in baselines):
        return f"baselines: expected {seeds} tables of {', '.join(sorted(BASELINE_KEYS))} (finite numbers)"
    names = sorted(levels)
    if not isinstance(header["points"], list) or len(header["points"]) != points or not all(
            isinstance(p, dict) and sorted(p) == names for p in header["points"]):
        return f"points: expected {points} points, each with {', '.join(names)}"
    recorded = ~np.isnan(seconds)
    if not np.all(recorded[:, :, 0]):
        return "seconds: every curve's first epoch must have taken some time"
    spent = seconds[recorded]
    if not np.all(np.isfinite(spent) & (spent > 0) & (spent <= MAX_EPOCH_SECONDS)):
        return f"seconds: every recorded epoch took a finite time above 0 and at most {MAX_EPOCH_SECONDS:,.0f} s"
    if np.any(np.isfinite(val) & ~recorded):
        return "seconds: an epoch with a loss has no time"
    return None


BASELINE_KEYS = {"baseline_val", "baseline_test", "reference_val", "reference_test"}
@dataclass
class Table:
    """A recorded table (see the module doc): arrays (points, seeds, epochs) and the header."""

    folder: Path
    header: dict
    val: np.ndarray
    test: np.ndarray
    seconds: np.ndarray
    seed: np.ndarray  # (points, seeds): the network seed each curve was trained with

    @classmethod
    def load(cls, folder: str | Path) -> "Table":
        folder = Path(folder)
        for name in (HEADER, ARRAYS):
            refuse_link(folder / name)
            if not (folder / name).is_file():
                raise ConfigError(f"{folder}: not a recorded table (no {name}); record one with "
                                  f"`hpsearch table record CONFIG --out {folder}`")
        for name in (HEADER, ARRAYS):
            if (folder / name).stat().st_size > MAX_BYTES:
                raise ConfigError(f"{folder / name}: {(folder / name).stat().st_size:,} bytes; a table file is "
                                  f"at most {MAX_BYTES:,}")
        try:
            header = json.loads((folder / HEADER).read_text(encoding="utf-8"))
            with np.load(folder / ARRAYS, allow_pickle=False) as arrays:
                for key in ("val", "test", "seconds", "seed"):
                    if arrays[key].size > MAX_CELLS:  # read from the file's header, before the data
                        raise ValueError(f"'{key}' holds {arrays[key].size:,} values")
                val, test, seconds = (np.asarray(arrays[k], dtype=float) for k in ("val", "test", "seconds"))
                seed = np.asarray(arrays["seed"], dtype=np.int64)
        except (ValueError, KeyError, OSError, UnicodeDecodeError, RecursionError, TypeError) as exc:
            raise ConfigError(f"{folder}: damaged table ({type(exc).__name__}: {str(exc)[:100]})") from None
        problem = header_problem(header, val, test, seconds, seed)
        if problem:
            raise ConfigError(f"{folder / HEADER}: damaged table: {problem[:300]}")
        return cls(folder, header, val, test, seconds, seed)

    @property
    def seeds(self) -> int:
        return self.val.shape[1]

    @property
    def bound(self) -> int:
        return self.val.shape[2]

    @property
    def fidelity(self) -> str:
        return self.header["fidelity"]

    @property
    def levels(self) -> dict[str, list]:
        return self.header["levels"]

    def space(self) -> tuple[Dimension, ...]:
        """The recorded space: each dimension's grid is its recorded levels."""
        return tuple(Dimension(name, d["type"], d.get("low"), d.get("high"), bool(d.get("log", False)),
                               tuple(d["choices"]) if "choices" in d else None,
                               grid=tuple(self.levels[name]) if name in self.levels else None)
                     for name, d in self.header["space"].items())

    def snap(self, params: dict) -> int:
        """The recorded point nearest ``params`` (log-scaled dimensions in log space)."""
        dims = {d.name: d for d in self.space()}
        chosen = {}
        for name, levels in self.levels.items():
            value, dim = params.get(name), dims[name]
            if dim.kind == "categorical":
                if value not in levels:
                    raise ValueError(f"{name} = {value!r} is not a recorded choice ({levels})")
                chosen[name] = value
                continue
            scale = np.log if dim.log else np.asarray
            distance = np.abs(scale(np.asarray(levels, dtype=float)) - scale(float(value)))
            chosen[name] = levels[int(np.argmin(distance))]
        return self._index[point_key(chosen, sorted(chosen))]

    @functools.cached_property
    def _index(self) -> dict:
        return {point_key(p, sorted(p)): i for i, p in enumerate(self.header["points"])}


Levels = number(int, f"an integer from 1 to {MAX_LEVELS}", ge=1, le=MAX_LEVELS)
Workers = number(int, "an integer >= 1", ge=1)
Seeds = number(int, f"an integer from 1 to {MAX_SEEDS}", ge=1, le=MAX_SEEDS)


class TableSection(Section):
    """``[table]`` (or ``table = "PATH"``): replay the recorded table at ``path`` (relative to the
    config) on ``workers`` simulated workers (default: the config's n_jobs); record with ``levels``
    per dimension (a count for every numeric one, or per name a count or the values) and ``seeds``."""

    path: str | None = Field(None, description="the folder of a recorded table: replay it")
    workers: Workers | None = Field(None, description="simulated workers")
    levels: Levels | dict[str, Levels | list[float]] | None = Field(None, description="levels to record")
    seeds: Seeds | None = Field(None, description="seeds to record")

    @model_validator(mode="before")
    @classmethod
    def _a_path_alone(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data

    @field_validator("path", mode="before")
    @classmethod
    def _folder(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value or "\0" in value:
            raise invalid("", f"expected the folder of a recorded table, got {show(value)}")
        return value

    @field_validator("levels", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> Any:
        for name, levels in (value.items() if isinstance(value, dict) else [("", value)]):
            if isinstance(levels, int) and not isinstance(levels, bool) and levels > MAX_LEVELS:
                raise invalid(str(name), f"at most {MAX_LEVELS} levels, got {levels:,}")
        if isinstance(value, dict):
            for name, levels in value.items():
                if isinstance(levels, list) and not (1 <= len(levels) <= MAX_LEVELS and all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in levels)):
                    raise invalid(str(name), f"expected 1 to {MAX_LEVELS} finite numbers, got {show(levels)}")
        elif not isinstance(value, int) or isinstance(value, bool):
            raise invalid("", f"expected a count such as 8 (every numeric dimension) or a table such as "
                          f"{{ hidden_width = 5, learning_rate = [0.01, 0.1] }}, got {show(value)}")
        return value

    def resolved(self, folder: Path, n_jobs: Any) -> dict:
        """As the run reads it: the path absolute, the workers given (default n_jobs)."""
        out: dict = {}
        if self.path is not None:
            out["path"] = str(Path(self.path) if Path(self.path).is_absolute() else folder / self.path)
            out["workers"] = self.workers or (n_jobs if isinstance(n_jobs, int) and n_jobs > 0 else 1)
        if self.levels is not None:
            out["levels"] = self.levels
        if self.seeds is not None:
            out["seeds"] = self.seeds
        return out


def replayed(raw: dict, path: str) -> dict:
    """The config of a replayed problem: its data, model and space are the recorded table's."""
    try:
        recorded = Table.load(path)
    except ConfigError as exc:
        raise Invalid("table.path", str(exc)) from None
    config = recorded.header["config"]
    model = config["model"]
    estimator = model.get("estimator", NETWORK)
    if estimator not in (NETWORK, NETWORK_CLASSIFIER) or "objective" in model:
        shown = str(model.get("objective", estimator))[:80]
        raise Invalid("table.path", f"the table names the model {shown!r}; tables record hpsearch's network "
                      f"only, and a replay imports nothing a table names")
    # the recorded model, described: nothing in a table grants a package
    view = {"data": config["data"], "model": {k: v for k, v in model.items() if k not in ("packages", "path")},
            "space": {d.name: d.to_dict() for d in recorded.space()}}
    for key, value in view.items():
        if key in raw and _written(raw[key]) != _written(value):
            raise Invalid(key, f"a replayed problem's {key} is its table's ({path}); leave it out")
    return {**raw, **view}


def _written(section: Any) -> Any:
    """A section as compared with its table's: one thread per pool is the default, written or not."""
    return {k: v for k, v in section.items() if (k, v) != ("threads", 1)} if isinstance(section, dict) else section
