"""The JSON-lines store: durable appends, torn last lines, NaN as null."""

import json
import math

import pytest

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


@pytest.mark.parametrize("sync_each, per_record, at_close", [(True, 1, 0), (False, 0, 1)])
def test_the_store_fsyncs_each_record_or_once_at_close(tmp_path, monkeypatch, sync_each, per_record, at_close):
    """Durability a kill test cannot see (written lines survive a killed process in the OS cache; a power cut
    loses what was not synced): one fsync per record when each is synced, one at close otherwise."""
    import hpsearch.execution.store as store_module

    calls = []
    real = store_module.os.fsync
    monkeypatch.setattr(store_module.os, "fsync", lambda fd: calls.append(fd) or real(fd))
    store = store_module.TrialStore(tmp_path, sync_each=sync_each)
    for trial in range(3):
        store.append({**BASE, "trial": trial, "val_loss": 0.5})
        assert len(calls) == per_record * (trial + 1)
    store.close()
    assert len(calls) == 3 * per_record + at_close
