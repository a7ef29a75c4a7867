"""The JSON-lines store: durable appends, torn last lines, NaN as null."""

import json
import math

from hpsearch.store import TrialStore


def test_append_and_read_back(tmp_path):
    store = TrialStore(tmp_path)
    store.append({"trial": 0, "val_rmse": math.nan, "curve": [1.0, math.inf]})
    store.append({"trial": 1, "val_rmse": 0.5})
    store.close()
    records = TrialStore(tmp_path).read()
    assert records == [{"trial": 0, "val_rmse": None, "curve": [1.0, None]}, {"trial": 1, "val_rmse": 0.5}]


def test_a_torn_last_line_is_skipped_and_cut_before_the_next_append(tmp_path):
    path = tmp_path / "trials.jsonl"
    path.write_text(json.dumps({"trial": 0}) + "\n" + '{"trial": 1, "val')
    store = TrialStore(tmp_path)
    assert store.read() == [{"trial": 0}]
    store.append({"trial": 1})
    store.close()
    assert path.read_text().splitlines() == ['{"trial": 0}', '{"trial":1}']
    assert TrialStore(tmp_path / "none").read() == []
