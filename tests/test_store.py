"""The JSON-lines store: durable appends, torn last lines, NaN as null."""

import json
import math

from hpsearch.execution.store import TrialStore

BASE = {"strategy": "random", "repetition": 0, "params": {}, "status": "ok"}


def test_append_and_read_back(tmp_path):
    store = TrialStore(tmp_path)
    store.append({**BASE, "trial": 0, "val_loss": math.nan, "curve": [1.0, math.inf]})
    store.append({**BASE, "trial": 1, "val_loss": 0.5})
    store.close()
    records = TrialStore(tmp_path).read()
    assert records == [{**BASE, "trial": 0, "val_loss": None, "curve": [1.0, None]}, {**BASE, "trial": 1, "val_loss": 0.5}]


def test_a_torn_last_line_is_skipped_and_cut_before_the_next_append(tmp_path):
    path = tmp_path / "trials.jsonl"
    path.write_text(json.dumps({**BASE, "trial": 0}) + "\n" + '{"trial": 1, "val')
    store = TrialStore(tmp_path)
    assert store.read() == [{**BASE, "trial": 0}] and store.damaged == []  # a torn tail is no damage
    store.append({**BASE, "trial": 1})
    store.close()
    assert [json.loads(line)["trial"] for line in path.read_text().splitlines()] == [0, 1]
    assert TrialStore(tmp_path / "none").read() == []


def test_damaged_lines_are_listed_with_their_numbers(tmp_path):
    good = '{"strategy":"random","repetition":0,"trial":0,"params":{},"status":"ok"}\n'
    (tmp_path / "trials.jsonl").write_text(good + "garbage\n" + '{"trial": "x"}\n' + "[1, 2]\n" + good)
    store = TrialStore(tmp_path)
    assert len(store.read()) == 2
    assert [d.split("trials.jsonl ", 1)[1] for d in store.damaged] == [
        "line 2: not JSON (Expecting value); skipped", "line 3: no valid 'strategy'; skipped",
        "line 4: not a trial record; skipped"]
