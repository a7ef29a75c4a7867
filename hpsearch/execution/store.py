"""Durable trial records: one JSON line per finished trial, flushed and synced.

Why a JSON-lines file: appending a line and ``fsync`` is the cheapest durable
write there is, a half-written last line (a crash mid-write) is detected and
ignored on reading, and any tool reads it (``pandas.read_json(lines=True)``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from hpsearch.files import open_no_follow, refuse_link
from hpsearch.search.trial import CURVES

TRIALS_FILE = "trials.jsonl"


def _clean(value):
    """JSON has no NaN: store it as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


REQUIRED = {"strategy": str, "repetition": int, "trial": int, "params": dict, "status": str}
_NUMBER, _INTEGER, _TEXT = "a number", "an integer", "a string"
#: the type of each optional field of a record (TrialResult's; LEGACY names too)
FIELDS = {"config": _INTEGER, "seed": _INTEGER, "train_loss": _NUMBER, "val_loss": _NUMBER, "test_loss": _NUMBER,
          "train_rmse": _NUMBER, "val_rmse": _NUMBER, "test_rmse": _NUMBER, "parent": _INTEGER,
          "start_epoch": _INTEGER, "epochs_trained": _INTEGER, "message": _TEXT, "seconds": _NUMBER,
          "started_at": _TEXT, "finished_at": _TEXT}


def _is(value, kind: str) -> bool:
    if value is None or isinstance(value, bool):
        return value is None  # null: NaN, or a field not set
    if kind == _INTEGER:
        return isinstance(value, int)
    if kind == _NUMBER:
        return isinstance(value, (int, float))
    return isinstance(value, str)


def _not_a_record(record) -> str | None:
    """Why ``record`` is not a trial record, or None: every field is type-checked."""
    if not isinstance(record, dict):
        return "not a trial record"
    for key, kind in REQUIRED.items():
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            return f"no valid '{key}'"
    for key, kind in FIELDS.items():
        if key in record and not _is(record[key], kind):
            return f"'{key}' is not {kind}"
    for name, value in record["params"].items():
        if not (value is None or isinstance(value, (str, int, float, bool))):
            return f"params.{name} is not a number, a string or a boolean"
    for name in CURVES:
        if name in record and not (isinstance(record[name], list) and all(_is(v, _NUMBER) for v in record[name])):
            return f"'{name}' is not a list of numbers"
    if "scores" in record and not (isinstance(record["scores"], dict)
                                   and all(_is(v, _NUMBER) for v in record["scores"].values())):
        return "'scores' is not a table of numbers"
    return None


def unique(records: list[dict]) -> list[dict]:
    """The first record of each (strategy, repetition, trial), in file order: what a resume
    replays (a line stored twice, by a crash between storing and counting, counts once)."""
    seen: dict[tuple, dict] = {}
    for record in records:
        seen.setdefault((record["strategy"], record["repetition"], record["trial"]), record)
    return list(seen.values())


class TrialStore:
    """Append-only store of finished trials in ``run_dir/trials.jsonl``."""

    def __init__(self, run_dir: Path, sync_each: bool = True):
        self.path = Path(run_dir) / TRIALS_FILE
        self.sync_each = sync_each  # fsync every record (False: at close; for trials cheaply recomputed)
        self._handle = None
        self.damaged: list[str] = []  # what read() skipped, by line number

    def read(self) -> list[dict]:
        """Every complete record; a torn last line (crash while writing) is skipped
        silently, any other line that is not a trial record is skipped and listed
        in ``damaged``."""
        self.damaged = []
        refuse_link(self.path)
        if not self.path.is_file():
            return []
        records = []
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.endswith("\n"):
                    break
                problem = None
                try:
                    record = json.loads(line)
                    problem = _not_a_record(record)
                except json.JSONDecodeError as exc:
                    problem = f"not JSON ({exc.msg})"
                except RecursionError:
                    problem = "nested too deeply to be a trial record"
                if problem:
                    self.damaged.append(f"{self.path} line {number}: {problem}; skipped")
                else:
                    records.append(record)
        return records

    def append(self, record: dict) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._repair_tail()
            fd = open_no_follow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            self._handle = os.fdopen(fd, "a", encoding="utf-8")
        self._handle.write(json.dumps(_clean(record), separators=(",", ":")) + "\n")
        self._handle.flush()
        if self.sync_each:
            os.fsync(self._handle.fileno())

    def _repair_tail(self) -> None:
        """Cut a torn last line so the next record starts on a line of its own."""
        refuse_link(self.path)
        if not self.path.is_file():
            return
        with os.fdopen(open_no_follow(self.path, os.O_RDWR), "r+b") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)

    def close(self) -> None:
        if self._handle is not None:
            if not self.sync_each:  # the records not synced one by one
                os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
