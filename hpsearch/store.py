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


class TrialStore:
    """Append-only store of finished trials in ``run_dir/trials.jsonl``."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / TRIALS_FILE
        self._handle = None

    def read(self) -> list[dict]:
        """Every complete record; a torn last line (crash while writing) is skipped."""
        if not self.path.is_file():
            return []
        records = []
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records

    def append(self, record: dict) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._repair_tail()
            self._handle = open(self.path, "a", encoding="utf-8")
        self._handle.write(json.dumps(_clean(record), separators=(",", ":")) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def _repair_tail(self) -> None:
        """Cut a torn last line so the next record starts on a line of its own."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
