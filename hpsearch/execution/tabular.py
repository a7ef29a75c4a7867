"""Tabular benchmarks: a problem recorded once, then replayed under simulated time.

Recording (:class:`CurveRecorder`, run by ``hpsearch table record``) trains every
point of a grid over the space, for S seeds, to the fidelity's bound, and keeps per
(point, seed, epoch) the validation loss, the test loss and the seconds the epoch
took. A table folder holds ``table.npz`` (arrays ``val``, ``test``, ``seconds`` of
shape (points, seeds, epochs), ``points``) and ``table.json`` (the header: the
recorded config, the levels, the seeds, the baselines of each seed's split, the
versions and the machine).

Replay (:class:`TableBackend`) answers a trial from the table instead of training
it: the proposal is snapped to the nearest recorded point (a log-scaled dimension in
log space, a categorical exactly), its seed is seed index ``repetition % S`` (whose
split the recording used), its curve is read up to the proposed fidelity (a
continuation reads on from ``start_epoch``: in a table a continued configuration is
the recorded one, so a PBT exploit that changes hyperparameters reads the new
point's curve from there, an approximation), and its cost is the recorded seconds.
Trials run on N *simulated* workers: a trial starts when a simulated worker is
free, every epoch ends at its recorded time, epoch reports reach the strategy in
simulated time order, and results in simulated finishing order; so a replayed run is
the same for any real ``n_jobs``, asynchronous strategies included.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from hpsearch.data.dataset import Dataset
from hpsearch.data.metrics import TASKS, classification_scores, metric_for, rmse
from hpsearch.errors import ConfigError
from hpsearch.execution.backends import Backend
from hpsearch.execution.objective import fit_network
from hpsearch.files import atomic_file, refuse_link, write_atomic
from hpsearch.search.space import KINDS, Dimension
from hpsearch.search.trial import TrialResult, TrialSpec

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


# -- replay in simulated time -------------------------------------------------------------------
@dataclass(order=True)
class _Event:
    time: float
    order: int
    trial: "_Running" = field(compare=False)


@dataclass
class _Running:
    spec: TrialSpec
    worker: int
    started: float
    point: int
    seed: int
    end: int  # the epoch it trains to
    epoch: int  # epochs done
    clock: float  # when its last epoch ended


class TableBackend(Backend):
    """Trials answered from a :class:`Table` on ``workers`` simulated workers (module doc).

    A wave's trials are queued in the order they are submitted and start as simulated
    workers free up; epoch reports and results come in simulated time order (ties:
    submission order). Nothing runs in another process, so the real ``n_jobs`` does not
    matter."""

    def __init__(self, table: Table, workers: int):
        self.table = table
        self.workers = workers
        self.now = 0.0  # simulated seconds since the run started
        self._queue: list[TrialSpec] = []
        self._events: list[_Event] = []
        self._free = list(range(workers))
        self._order = 0
        self._handler = None
        self._failed: dict[tuple, str] = {}  # trials the table cannot answer, and why
        self._limited: dict[tuple, int] = {}  # trials a seconds budget stops: the epochs they asked for

    def share(self, datasets):
        pass  # nothing is trained

    def submit(self, objective, specs):
        self._queue += list(specs)

    @property
    def in_flight(self) -> int:
        return len(self._queue) + len(self._events)

    @contextlib.contextmanager
    def channel(self, handler):
        self._handler = handler
        try:
            yield
        finally:
            self._handler = None

    def clock(self) -> str:
        """The simulated time now, as a result's timestamps are written (ISO-8601 UTC)."""
        return (EPOCH_ZERO + timedelta(seconds=self.now)).isoformat(timespec="microseconds")

    def next_completed(self) -> list[TrialResult]:
        while True:
            self._start_queued()
            event = heapq.heappop(self._events)
            self.now = event.time
            trial = event.trial
            if trial.point < 0:  # the table cannot answer it: failed, on no worker
                return [self._result(trial, stopped=False)]
            trial.epoch += 1
            trial.clock = event.time
            stop = False
            if trial.spec.report_epochs and self._handler is not None:
                stop = bool(self._handler(trial.spec.key, trial.epoch, self._value(trial, trial.epoch)))
            if stop or trial.epoch >= trial.end:
                self._free.append(trial.worker)
                self._free.sort()
                return [self._result(trial, stopped=stop and trial.epoch < trial.end)]
            self._push(trial)

    def _start_queued(self) -> None:
        while self._queue and self._free:
            spec = self._queue.pop(0)
            worker = self._free.pop(0)
            params = {**spec.model, **spec.params}
            try:
                point = self.table.snap(spec.params)
                end = int(params[self.table.fidelity])
            except (ValueError, KeyError, TypeError) as exc:
                self._free.insert(0, worker)
                self._push_failed(spec, f"not in the table: {exc}")
                continue
            if not spec.start_epoch < end <= self.table.bound:
                self._free.insert(0, worker)
                self._push_failed(spec, f"{self.table.fidelity} = {end} is outside the recorded 1..{self.table.bound}")
                continue
            seed = spec.repetition % self.table.seeds
            if spec.time_limit is not None:  # a seconds budget: stop after the epoch that passes it, as live
                spent = np.cumsum(np.nan_to_num(self.table.seconds[point, seed, spec.start_epoch:end]))
                over = np.flatnonzero(spent > spec.time_limit)
                if len(over):
                    self._limited[spec.key] = end
                    end = spec.start_epoch + int(over[0]) + 1
            trial = _Running(spec, worker, self.now, point, seed, end, spec.start_epoch, self.now)
            if not spec.report_epochs:  # one event at the end: nothing listens to its epochs
                seconds = float(self._seconds(trial)[spec.start_epoch:end].sum())
                trial.epoch = end - 1
                self._order += 1
                heapq.heappush(self._events, _Event(self.now + seconds, self._order, trial))
            else:
                self._push(trial)

    def _push(self, trial: _Running) -> None:
        self._order += 1
        heapq.heappush(self._events, _Event(trial.clock + self._seconds(trial)[trial.epoch], self._order, trial))

    def _push_failed(self, spec: TrialSpec, message: str) -> None:
        trial = _Running(spec, -1, self.now, -1, 0, 0, 0, self.now)
        self._order += 1
        self._failed[spec.key] = message
        heapq.heappush(self._events, _Event(self.now, self._order, trial))

    def _seconds(self, trial: _Running) -> np.ndarray:
        return np.nan_to_num(self.table.seconds[trial.point, trial.seed])  # after a divergence: none

    def _value(self, trial: _Running, epoch: int) -> float:
        return float(self.table.val[trial.point, trial.seed, epoch - 1])

    def _result(self, trial: _Running, stopped: bool) -> TrialResult:
        spec = trial.spec
        failed = self._failed.pop(spec.key, None)
        result = TrialResult.from_spec(spec, started_at=(EPOCH_ZERO + timedelta(seconds=trial.started)).isoformat(
            timespec="microseconds"))
        if failed is not None or trial.point < 0:
            result.status, result.message = "failed", failed or "not in the table"
            return result
        p, s, done = trial.point, trial.seed, trial.epoch
        result.seed = int(self.table.seed[p, s])  # the network seed of the recorded curve
        result.val_curve = [float(v) for v in self.table.val[p, s, spec.start_epoch:done]]
        result.epochs_trained = done - spec.start_epoch
        result.seconds = float(np.nansum(self.table.seconds[p, s, spec.start_epoch:done]))
        result.val_loss = float(self.table.val[p, s, done - 1])
        if spec.with_test:
            result.test_loss = float(self.table.test[p, s, done - 1])
        if not np.isfinite(result.val_loss):
            result.status, result.message = "diverged", f"non-finite loss by epoch {done} (recorded)"
        elif stopped:
            result.status = "stopped"
            result.message = f"stopped after epoch {done} of {trial.end} (the strategy stopped it)"
        elif spec.key in self._limited:
            result.status = "stopped"
            result.message = (f"stopped by the seconds budget after epoch {done} of {self._limited.pop(spec.key)} "
                              f"(simulated seconds)")
        return result


@dataclass
class TableProblem:
    """A table's problem, as a run needs it (:class:`hpsearch.data.prepared.Problem`'s
    interface): repetition r uses seed index r % S, whose split's baselines the header holds."""

    table: Table

    @property
    def task(self) -> str:
        return self.table.header["task"]

    @property
    def metric(self):
        return metric_for(self.task)

    @property
    def meta(self) -> dict:
        return {**self.table.header.get("meta", {}), "table": str(self.table.folder)}

    @property
    def cleaning(self):
        return _Lines(self.table.header.get("cleaning", []))

    @property
    def n_features(self) -> int:
        return int(self.table.header.get("n_features", 0))

    def dataset(self, repetition: int):
        return None

    def unit(self, repetition: int) -> int:
        """The independent unit of a repetition: the recorded seed it replays (r % S)."""
        return repetition % self.table.seeds

    def baselines(self, repetition: int):
        from hpsearch.data.prepared import Baselines

        return Baselines(**self.table.header["baselines"][repetition % self.table.seeds])


@dataclass
class _Lines:
    notes: list

    def lines(self) -> list:
        return list(self.notes)
