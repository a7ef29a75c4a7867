"""The population crossover: measured on this machine once, cached per machine, read back."""

import json

from hpsearch.models import calibration


def test_the_crossover_is_measured_once_and_cached_per_machine(tmp_path, monkeypatch):
    calls = []
    real = calibration.measure
    monkeypatch.setattr(calibration, "measure", lambda: calls.append(1) or real(rows=512, rounds=1))
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


def test_calibrate_measures_again_and_data_info_shows_the_decision(data_dir, small_catalog, monkeypatch, capsys):
    """`hpsearch calibrate` measures now (the median over rounds, not one noisy round) and stores it;
    `hpsearch data info` says what was decided; a new hpsearch version measures again."""
    from hpsearch.cli import main

    assert main(["data", "info"]) == 0
    assert "population training: up to batch size 128" in capsys.readouterr().out  # the pinned entry
    monkeypatch.setattr(calibration, "measure", lambda: {32: 2.5, 64: 1.4, 128: 1.2, 256: 0.9})
    assert main(["calibrate"]) == 0
    out = capsys.readouterr().out
    assert "up to batch size 64" in out and "32: 2.50x, 64: 1.40x, 128: 1.20x" in out
    assert calibration.population_max_batch() == 64
    monkeypatch.setattr("hpsearch.__version__", "99.0")
    assert calibration.entry() is None  # another version: measured again on first use
    calibration.forget()


def test_the_speedup_is_the_median_of_its_rounds(monkeypatch):
    """One round slowed by another process does not decide: with the population's time 1, 1, 9 over three
    rounds (the networks alone 2 each) the speedup is 2, where the mean would give 1.1 and the best 2."""
    ticks = iter([])

    def clock():
        return next(ticks)

    seconds = []
    for together in (1.0, 1.0, 9.0):
        for _ in calibration.BATCHES:
            seconds += [0.0, 2.0, 0.0, together]  # alone: start, end; together: start, end
    ticks = iter(seconds)
    monkeypatch.setattr(calibration.time, "perf_counter", clock)
    speedups = calibration.measure(rows=64, rounds=3)
    assert speedups == {batch: 2.0 for batch in calibration.BATCHES}
