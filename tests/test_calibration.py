"""The population crossover: measured on this machine once, cached per machine, read back."""

import json

from hpsearch.models import calibration


def test_the_crossover_is_measured_once_and_cached_per_machine(tmp_path, monkeypatch):
    calls = []
    real = calibration.measure
    monkeypatch.setattr(calibration, "measure", lambda: calls.append(1) or real(rows=512, repeats=1))
    calibration.forget()
    first = calibration.population_max_batch(tmp_path)
    entry = json.loads((tmp_path / calibration.FILE).read_text())[calibration.machine_key()]
    assert first == entry["max_batch"] and first in (0, *calibration.BATCHES) and len(calls) == 1
    assert set(entry["speedups"]) == {str(b) for b in calibration.BATCHES}
    speedups = [entry["speedups"][str(b)] for b in calibration.BATCHES]
    assert all(s >= calibration.MARGIN for s, b in zip(speedups, calibration.BATCHES) if b <= first)
    calibration.forget()
    assert calibration.population_max_batch(tmp_path) == first and len(calls) == 1  # read, not measured


def test_another_machine_or_a_damaged_file_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setattr(calibration, "measure", lambda: {32: 3.0, 64: 2.0, 128: 1.1, 256: 2.0})
    (tmp_path / calibration.FILE).write_text(json.dumps({"another CPU": {"max_batch": 256}}))
    calibration.forget()
    assert calibration.population_max_batch(tmp_path) == 64  # 128 fails the margin: 256 does not count
    assert set(json.loads((tmp_path / calibration.FILE).read_text())) == {"another CPU", calibration.machine_key()}
    (tmp_path / calibration.FILE).write_text("{not json")
    calibration.forget()
    assert calibration.population_max_batch(tmp_path) == 64
    calibration.forget()
