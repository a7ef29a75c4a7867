"""Hostile input: configs, data, run folders and state files that someone else made.

Each case asserts the exit status, one line on stderr and no traceback, and that
nothing outside the run folder changed (a refused run creates no run folder either).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import faults
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpsearch.cli import main

ZEN = "Beautiful is better than ugly"
RIDGE = 'estimator = "sklearn.linear_model.Ridge"\n[space.alpha]\ntype = "float"\nlow = 0.1\nhigh = 1.0\n'


def snapshot(folder: Path, skip: Path | None = None) -> dict:
    """Every file under ``folder`` (but ``skip``) with a hash of its bytes; links as their target."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_symlink():
            out[str(path)] = "-> " + os.readlink(path)
        elif path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def one_line_error(capsys, status: int, expected: int = 2, match: str = "") -> str:
    err = capsys.readouterr().err
    assert status == expected, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert match in lines[0], lines[0]
    return lines[0]


def table(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    out["y"] = 2 * out["a"] + rng.normal(size=n)
    return out


# -- bad data: one line, exit 2, no run folder ------------------------------------------------------
def _constant(value):
    return frame().assign(y=value)


def _column(name):
    return frame().rename(columns={"y": name})


BAD_DATA = {
    "one row": (lambda: frame(1), "y", "in every row; there is nothing to predict"),
    "five rows": (lambda: frame(5), "y", "a search needs at least 2 training rows"),
    "inf in a feature": (lambda: frame().assign(a=lambda f: f["a"].where(f.index != 3, np.inf)), "y",
                         "feature 'a' holds values that are not finite"),
    "a range that overflows": (lambda: frame().assign(a=lambda f: f["a"].where(f.index % 2 == 0, 1e308)
                                                      .where(f.index % 2 == 1, -1e308)), "y", "range overflows"),
    "a constant integer target": (lambda: _constant(3), "y", "the target 'y' is 3 in every row"),
    "a constant float target": (lambda: _constant(3.5), "y", "the target 'y' is 3.5 in every row"),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_is_one_line(tmp_path, capsys, case):
    make, target, match = BAD_DATA[case]
    table(tmp_path / "d.csv", make())
    (tmp_path / "c.toml").write_text(f'[data]\npath = "d.csv"\ntarget = "{target}"\n[model]\n{RIDGE}')
    before = snapshot(tmp_path)
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "--quiet", "--figures", "none"])
    one_line_error(capsys, status, match=match)
    assert not (tmp_path / "out").exists() and snapshot(tmp_path) == before


def test_a_repeated_header_is_refused(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,a,y\n" + "".join(f"{i},{i % 5},{i % 7 + i / 10}\n" for i in range(60)))
    (tmp_path / "c.toml").write_text(f'[data]\npath = "d.csv"\ntarget = "y"\n[model]\n{RIDGE}')
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "--quiet", "--figures", "none"])
    one_line_error(capsys, status, match="the column 'a' is named twice")


@pytest.mark.parametrize("data, match", [
    ('path = "d.csv"\ntarget = "y"\nfeatures = ["a", "a"]', "data.features: 'a' is named twice"),
    ('path = "loop1.csv"\ntarget = "y"', "data.path: cannot follow"),
    ('path = "d\\u0000.csv"\ntarget = "y"', "data.path: a file name cannot hold a NUL"),
])
def test_bad_data_configs_are_one_line(tmp_path, capsys, data, match):
    table(tmp_path / "d.csv", frame())
    os.symlink("loop2.csv", tmp_path / "loop1.csv")
    os.symlink("loop1.csv", tmp_path / "loop2.csv")
    (tmp_path / "c.toml").write_text(f"[data]\n{data}\n[model]\n{RIDGE}")
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "--quiet", "--figures", "none"])
    one_line_error(capsys, status, match=match)
    assert not (tmp_path / "out").exists()


def test_a_catalog_of_three_rows_is_one_line(data_dir, tmp_path, capsys):
    from conftest import synthetic_events, write_kaggle

    assert main(["data", "import", str(write_kaggle(tmp_path / "db.csv", synthetic_events(3)))]) == 0
    capsys.readouterr()
    (tmp_path / "c.toml").write_text("[budget]\ntrials = 2\n")
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "--quiet", "--figures", "none"])
    one_line_error(capsys, status, match="rows split")


def test_a_target_that_looks_like_mathtext_is_plain_text(tmp_path, capsys):
    name = "price $\\foo$ usd"
    table(tmp_path / "d.csv", _column(name))
    (tmp_path / "c.toml").write_text(f'[budget]\ntrials = 3\n[data]\npath = "d.csv"\ntarget = \'{name}\'\n'
                                     f"[model]\n{RIDGE}")
    assert main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "curve_trials.png").is_file() and (tmp_path / "out" / "report.html").is_file()


@pytest.mark.parametrize("strategy, options, match", [
    ("tpe", 'gamma = "..."', "strategy.tpe: the sampler of 'tpe' fails with these options"),
    ("tpe", "batch_size = 0", "batch_size: expected an integer >= 1"),
])
def test_bad_strategy_options_are_caught_before_any_trial(tmp_path, capsys, strategy, options, match):
    (tmp_path / "c.toml").write_text(f'strategies = ["{strategy}"]\n[strategy.{strategy}]\n{options}\n'
                                     f'[data]\ndataset = "diabetes"\n[model]\n{RIDGE}')
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "--quiet", "--figures", "none"])
    one_line_error(capsys, status, match=match)


# -- estimators: nothing imported that the config may not name --------------------------------------
OUTSIDE_THE_RULES = [
    ("this.X", "estimators are imported only from sklearn, hpsearch"),
    ("antigravity.Foo", "estimators are imported only from sklearn, hpsearch"),
    ("venv.__main__.X", "'venv.__main__.X'"),
    ("hpsearch.__main__.X", "a path through a dunder name"),
    ("multiprocessing.pool.Pool", "estimators are imported only from"),
    ("tempfile.TemporaryDirectory", "estimators are imported only from"),
    (".linear_model.Ridge", "expected a dotted path"),
    ("sklearn.cluster.KMeans", "is not a scikit-learn regressor or classifier"),
]
#: runs each config through the CLI in one fresh interpreter: its exit status, its stderr, and
#: whether a module with side effects on import (this, antigravity) got imported
_RUN_EACH = """
import contextlib, io, json, sys
from hpsearch.cli import main
for folder in sys.argv[1:]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(["run", folder + "/c.toml", "--out", folder + "/out", "--quiet"])
    print(json.dumps([status, err.getvalue(), sorted({"this", "antigravity"} & set(sys.modules))]))
"""


@pytest.mark.slow
def test_an_estimator_outside_the_rules_exits_2_before_any_import(tmp_path):
    folders = []
    for i, (path, _) in enumerate(OUTSIDE_THE_RULES):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "c.toml").write_text(f'[data]\ndataset = "diabetes"\n[model]\nestimator = "{path}"\n'
                                       f'[space.alpha]\ntype = "float"\nlow = 0.1\nhigh = 1.0\n')
        folders.append(folder)
    done = subprocess.run([sys.executable, "-c", _RUN_EACH, *map(str, folders)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    lines = done.stdout.splitlines()
    assert len(lines) == len(OUTSIDE_THE_RULES) and ZEN not in done.stdout + done.stderr, done.stderr
    for (path, match), line, folder in zip(OUTSIDE_THE_RULES, lines, folders):
        status, err, imported = json.loads(line)
        assert status == 2 and err.count("\n") == 1 and match in err and not imported, (path, err)
        assert sorted(p.name for p in folder.iterdir()) == ["c.toml"], path


def _finished_run(tmp_path: Path) -> Path:
    table(tmp_path / "d.csv", frame())
    (tmp_path / "c.toml").write_text(f'[budget]\ntrials = 3\n[data]\npath = "d.csv"\ntarget = "y"\n[model]\n{RIDGE}')
    assert main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "run"), "--quiet", "--figures", "none"]) == 0
    return tmp_path / "run"


READERS = [["show"], ["report"], ["export"], ["export", "--format", "optuna"], ["export", "--format", "latex"]]


@pytest.mark.slow
def test_reading_a_run_folder_that_names_any_module_imports_nothing(tmp_path):
    """Every reader of a run folder, in one fresh interpreter, on a folder whose config names `this`."""
    run = _finished_run(tmp_path)
    config = (run / "config.toml").read_text()
    (run / "config.toml").write_text(config.replace("sklearn.linear_model.Ridge", "this.X"))
    probe = ("import json, sys\nfrom hpsearch.cli import main\n"
             "for command in json.loads(sys.argv[1]):\n"
             "    status = main([*command, sys.argv[2]])\n"
             "    assert status == 0, (command, status)\n"
             "    assert 'this' not in sys.modules and 'sklearn.linear_model' not in sys.modules, ('imported', command)\n")
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(READERS), str(run)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ZEN not in done.stdout + done.stderr and "imported" not in done.stderr


@pytest.mark.slow
def test_load_reads_a_run_folder_without_importing_its_estimator(tmp_path):
    run = _finished_run(tmp_path)
    (run / "config.toml").write_text((run / "config.toml").read_text().replace("sklearn.linear_model.Ridge",
                                                                               "this.X"))
    probe = ("import sys, hpsearch\nrun = hpsearch.load(sys.argv[1])\nbest = run.best()\nlen(run.trials)\n"
             "assert 'this' not in sys.modules, 'imported'\n"
             "try:\n    run.best_estimator()\nexcept hpsearch.errors.HpsearchError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", probe, str(run)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "estimators are imported only from sklearn, hpsearch" in done.stdout and ZEN not in done.stdout


@pytest.mark.slow
def test_a_tampered_state_runs_no_code_and_fails_its_trial(tmp_path, capsys):
    """A stopped Hyperband run whose saved states were replaced by skops files holding
    builtins.exec (or eval, os.system) resumes with those trials failed, one line each."""
    import skops.io as sio

    from hpsearch.config import parse
    from hpsearch.runner import run_experiment

    raw = {"name": "hb", "seed": 3, "strategies": ["hyperband"], "budget": {"trials": 12},
           "data": {"dataset": "diabetes"}, "model": {"estimator": "sklearn.ensemble.HistGradientBoostingRegressor"},
           "space": {"max_iter": {"type": "int", "low": 3, "high": 27},
                     "learning_rate": {"type": "float", "low": 0.05, "high": 0.3}}}
    exp = parse(raw, "hb.toml")
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, run, progress=False, objective=faults.interrupted_at_first_promotion)
    states = sorted((run / "_states").glob("*.state"))
    assert states
    marker = tmp_path / "ran"
    for state, function in zip(states, [exec, eval, os.system] * len(states)):
        sio.dump({"code": function, "arg": f"open({str(marker)!r}, 'w')"}, str(state))
    output = run_experiment(exp, run, progress=False)
    assert not marker.exists()
    refused = output.trials[output.trials["message"].str.contains("refusing to load a saved state", na=False)]
    assert len(refused) >= 1 and (refused["status"] == "failed").all()
    assert refused["message"].str.count("\n").eq(0).all()


# -- run folders: the lock, links, foreign files, force -----------------------------------------------
SLOW = """
name = "slow"
n_jobs = 2
[budget]
trials = 30
[data]
dataset = "friedman1"
n_samples = 3000
[model]
batch_size = 8
[space.epochs]
type = "int"
low = 30
high = 40
[space.hidden_width]
type = "int"
low = 4
high = 8
[space.learning_rate]
type = "float"
low = 0.01
high = 0.1
"""


@pytest.mark.slow
def test_a_second_run_on_a_working_folder_exits_2_and_the_first_completes(tmp_path):
    config = tmp_path / "slow.toml"
    config.write_text(SLOW)
    out = tmp_path / "A"
    # the second run is imported before the first stores a trial, and starts the moment it does
    wait_then_run = ("import pathlib, sys, time\nimport hpsearch.runner\nfrom hpsearch.cli import main\n"
                     "while not pathlib.Path(sys.argv[1]).is_file():\n    time.sleep(0.01)\n"
                     "sys.exit(main(sys.argv[2:]))")
    second = subprocess.Popen([sys.executable, "-c", wait_then_run, str(out / "trials.jsonl"), "run", str(config),
                               "--out", str(out), "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    first = subprocess.Popen([sys.executable, "-m", "hpsearch", "run", str(config), "--out", str(out), "--quiet",
                              "--figures", "none"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    refused = second.communicate(timeout=120)[1]
    assert second.returncode == 2 and "is in use by process" in refused and refused.count("\n") == 1, refused
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert len(pd.read_csv(out / "trials.csv")) == 30


def test_a_symlinked_store_is_refused_and_its_target_untouched(tmp_path, capsys):
    run = _finished_run(tmp_path)
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text('{"not": "a store"}\nhalf a line')
    (run / "trials.jsonl").unlink()
    os.symlink(elsewhere, run / "trials.jsonl")
    before = elsewhere.read_bytes()
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(run), "--quiet", "--figures", "none"])
    one_line_error(capsys, status, match="a symbolic link")
    status = main(["show", str(run)])
    one_line_error(capsys, status, match="a symbolic link")
    assert elsewhere.read_bytes() == before


@pytest.mark.parametrize("force", [False, True])
def test_a_folder_with_foreign_files_is_refused_and_every_file_stays(tmp_path, capsys, force):
    run = _finished_run(tmp_path)
    (run / "_states").mkdir()
    (run / "_states" / "important.npz").write_bytes(b"precious")
    (run / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(run), "--quiet", "--figures", "none", "--trials", "5",
                   *(["--force"] if force else [])])
    one_line_error(capsys, status, match="which hpsearch did not write")
    assert snapshot(tmp_path) == before


def test_force_on_someone_elses_config_folder_refuses(tmp_path, capsys):
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "config.toml").write_text("name = 'theirs'\n")
    (folder / "data.bin").write_bytes(b"\0\1")
    before = snapshot(tmp_path)
    table(tmp_path / "d.csv", frame())
    (tmp_path / "c.toml").write_text(f'[data]\npath = "d.csv"\ntarget = "y"\n[model]\n{RIDGE}')
    before = snapshot(tmp_path)
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(folder), "--quiet", "--figures", "none", "--force"])
    one_line_error(capsys, status, match="config.toml, data.bin, which hpsearch did not write")
    assert snapshot(tmp_path) == before


# -- damaged run folders: one line naming the file -----------------------------------------------------
@pytest.mark.parametrize("name", ["run.json", "summary.csv", "comparison.csv", "trials.csv", "config.toml"])
@pytest.mark.parametrize("command", [["show"], ["report"], ["export"], ["export", "--format", "optuna"],
                                     ["compare"]])
def test_a_damaged_file_is_one_line_for_every_reader(tmp_path, capsys, name, command):
    run = _finished_run(tmp_path)
    (run / name).write_bytes(b"\x00\xff{[ garbage")
    capsys.readouterr()
    status = main([*command, str(run), *(["-o", str(tmp_path / "x.log")] if "optuna" in command else [])])
    if status != 0:
        one_line_error(capsys, status, match=name)


@pytest.mark.parametrize("name", ["run.json", "summary.csv", "comparison.csv", "trials.csv"])
def test_load_best_and_trials_of_a_damaged_folder(tmp_path, name):
    import hpsearch
    from hpsearch.errors import RunError

    run = _finished_run(tmp_path)
    (run / name).write_text("strategy,repetition\nrandom,zero\n")
    loaded = hpsearch.load(run)
    assert len(loaded.trials) == 3  # from the store when trials.csv is damaged
    try:
        loaded.best()
    except RunError as exc:
        assert name in str(exc) and "\n" not in str(exc)


def test_show_and_export_count_a_duplicated_store_line_once(tmp_path, capsys):
    run = _finished_run(tmp_path)
    lines = (run / "trials.jsonl").read_text().splitlines(keepends=True)
    (run / "trials.jsonl").write_text("".join(lines + lines[:1]))
    capsys.readouterr()
    assert main(["show", str(run)]) == 0
    assert "3 trials stored" in capsys.readouterr().out
    assert main(["export", str(run), "--format", "optuna", "-o", str(tmp_path / "j.log")]) == 0
    assert "wrote 3 trials in 1 study" in capsys.readouterr().out


def test_show_on_a_run_still_going_lists_its_trials_so_far(tmp_path, capsys):
    """README: `hpsearch show` gives the trials so far of a run that has not written its tables yet."""
    run = _finished_run(tmp_path)
    for name in ("summary.csv", "comparison.csv"):
        (run / name).unlink()
    capsys.readouterr()
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("3 trials stored (3 ok)") and "the trials so far" in out[1]
    assert out[2].split() == ["strategy", "repetition", "trials", "best", "val", "RMSE", "at"]
    cells = out[3].split()
    assert cells[:3] == ["random", "0", "3"] and cells[3] == f"{pd.read_csv(run / 'trials.csv')['val_rmse'].min():.4f}"
    assert cells[4].startswith("alpha=")


record_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                          st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                max_size=2))


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["val_loss", "seconds", "epochs_trained", "params", "val_curve", "scores", "trial",
                              "status", "config", "start_epoch", "message", "parent"]), value=record_values)
def test_a_tampered_store_line_is_skipped_and_the_rest_is_read(tmp_path_factory, field, value):
    from hpsearch.execution.store import TrialStore
    from hpsearch.config import read_run_config
    from hpsearch.results.export import to_optuna

    run = tmp_path_factory.mktemp("store")
    good = {"strategy": "random", "repetition": 0, "trial": 0, "config": 0, "seed": 1, "params": {"x": 1.0},
            "val_loss": 0.5, "status": "ok", "seconds": 0.1, "epochs_trained": 3, "val_curve": [0.6, 0.5],
            "scores": {}, "start_epoch": 0, "message": "", "parent": None}
    bad = {**good, "trial": 1, field: value}
    deep = "[" * 100_000 + "]" * 100_000
    (run / "trials.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n" + deep + "\n")
    store = TrialStore(run)
    records = store.read()
    assert records[0] == good and len(records) in (1, 2) and len(store.damaged) == 3 - len(records)
    from hpsearch.search.trial import TrialResult

    for record in records:  # what was read is usable: a result, a row
        TrialResult.from_record(record).row(["x"])
    (run / "config.toml").write_text('[space.x]\ntype = "float"\nlow = 0.0\nhigh = 2.0\n')
    to_optuna(run, read_run_config(run / "config.toml"), run / "j.log")


# -- the Python API --------------------------------------------------------------------------------
def test_numpy_scalars_in_a_config_dict_run(tmp_path):
    import hpsearch

    run = hpsearch.run({"data": {"dataset": "diabetes"}, "model": {"estimator": "sklearn.linear_model.Ridge"},
                        "space": {"alpha": {"type": "float", "low": np.float32(0.1), "high": np.float64(1.0)}},
                        "budget": {"trials": np.int64(2)}}, out=tmp_path / "r")
    assert len(run.trials) == 2


def test_a_refused_api_run_leaves_no_folder(tmp_path):
    import hpsearch
    from hpsearch.errors import HpsearchError

    with pytest.raises(HpsearchError, match="the target 'y' is 1.0 in every row"):
        table(tmp_path / "d.csv", _constant(1.0))
        hpsearch.run({"data": {"path": str(tmp_path / "d.csv"), "target": "y"}, "model": {
            "estimator": "sklearn.linear_model.Ridge"}, "space": {"alpha": {"type": "float", "low": 0.1,
                                                                            "high": 1.0}}}, out=tmp_path / "r")
    assert not (tmp_path / "r").exists()
    with pytest.raises(HpsearchError, match="keys are names"):
        hpsearch.run({"space": {1: {"type": "int", "low": 1, "high": 2}}}, out=tmp_path / "r", figures="none")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_an_unsearched_fidelity_takes_the_estimators_default(tmp_path, capsys):
    """README's snippet: HistGradientBoosting with max_iter neither fixed nor searched."""
    (tmp_path / "c.toml").write_text(
        'strategies = ["random", "hyperband"]\n[budget]\ntrials = 4\n[data]\ndataset = "diabetes"\n[model]\n'
        'estimator = "sklearn.ensemble.HistGradientBoostingRegressor"\nearly_stopping = false\n'
        '[space.learning_rate]\ntype = "float"\nlow = 0.05\nhigh = 0.3\n')
    assert main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r"), "--figures", "none"]) == 0
    assert "note: hyperband: max_iter is not searched; it schedules max_iter from 1 to 81" in capsys.readouterr().out
    trials = pd.read_csv(tmp_path / "r" / "trials.csv")
    assert (trials["status"] == "ok").all()
    assert (trials.loc[trials["strategy"] == "random", "epochs_trained"] == 100).all()  # HGB's default max_iter


def test_a_fixed_fidelity_is_bounded_like_a_searched_one(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('[data]\ndataset = "diabetes"\n[model]\n'
                                     'estimator = "sklearn.linear_model.SGDRegressor"\nmax_iter = 1000000000\n'
                                     '[space.alpha]\ntype = "float"\nlow = 0.0001\nhigh = 0.1\n')
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r"), "--quiet", "--figures", "none"])
    one_line_error(capsys, status, match="model.max_iter: at most 100,000 iterations per trial")


@pytest.mark.slow
def test_a_seconds_budget_ends_a_fit_that_cannot_stop(tmp_path, capsys):
    rng = np.random.default_rng(0)
    big = pd.DataFrame(rng.normal(size=(20000, 4)), columns=list("abcd")).assign(y=lambda f: f["a"] + 0.1)
    big["y"] += rng.normal(size=len(big))
    table(tmp_path / "big.csv", big)
    (tmp_path / "c.toml").write_text('[budget]\nseconds = 1.0\n[data]\npath = "big.csv"\ntarget = "y"\n'
                                     '[model]\nestimator = "sklearn.svm.SVR"\n[space.C]\ntype = "float"\n'
                                     'low = 0.1\nhigh = 10.0\n')
    start = time.monotonic()
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r"), "--quiet", "--figures", "none"])
    assert time.monotonic() - start < 30  # SVR on 14,000 rows fits for far longer
    assert status == 3
    trials = pd.read_csv(tmp_path / "r" / "trials.csv")
    assert (trials["status"] == "stopped").all() and trials["message"].str.contains("seconds budget").all()


def test_a_suite_whose_problem_fails_exits_3_naming_it(tmp_path, capsys):
    table(tmp_path / "d.csv", frame())  # a target below zero: a Poisson regression refuses it in every trial
    (tmp_path / "s.toml").write_text(
        'strategies = ["random"]\nrepetitions = 2\n[budget]\ntrials = 3\n'
        '[problems.fine]\ndata = {dataset = "diabetes"}\nmodel = {estimator = "sklearn.linear_model.Ridge"}\n'
        'space = {alpha = {type = "float", low = 0.1, high = 1.0}}\n'
        '[problems.broken]\ndata = {path = "d.csv", target = "y"}\n'
        'model = {estimator = "sklearn.linear_model.PoissonRegressor"}\n'
        'space = {alpha = {type = "float", low = 0.1, high = 1.0}}\n')
    status = main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "r"), "--quiet", "--figures", "none"])
    err = capsys.readouterr().err
    assert status == 3 and "no trial succeeded in problem broken" in err, err


# -- round two: tables, working folders and run folders grant nothing; user files never touched ---------
REFERENCE_TABLE = Path(__file__).resolve().parents[1] / "results" / "reference" / "tables" / "diabetes"
SENTINEL_PAYLOAD = "import pathlib, os\npathlib.Path(os.environ['SENTINEL']).write_text('ran')\n"


def _shared_table(tmp_path: Path, change) -> Path:
    """A copy of a recorded table with ``change(header)`` applied to its table.json."""
    folder = tmp_path / "T"
    folder.mkdir()
    (folder / "table.npz").write_bytes((REFERENCE_TABLE / "table.npz").read_bytes())
    header = json.loads((REFERENCE_TABLE / "table.json").read_text())
    change(header)
    (folder / "table.json").write_text(json.dumps(header).replace('"DEEP"', "[" * 100_000 + "]" * 100_000))
    return folder


def _replay(tmp_path: Path, capsys, expected: int = 2, match: str = "") -> str:
    (tmp_path / "r.toml").write_text('strategies = ["random"]\n[budget]\nseconds = 5\n[table]\npath = "T"\n')
    status = main(["run", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out"), "--quiet", "--figures", "none"])
    return one_line_error(capsys, status, expected, match)


@pytest.mark.parametrize("model", [{"packages": ["T"], "estimator": "T.payload.R"},
                                   {"packages": ["this"], "estimator": "this.R"},
                                   {"packages": ["T"], "objective": "T.payload:train"}])
def test_a_shared_table_imports_nothing_it_names(tmp_path, capsys, monkeypatch, model):
    monkeypatch.setenv("SENTINEL", str(tmp_path / "sentinel"))
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = _shared_table(tmp_path, lambda h: h["config"]["model"].update(model))
    (folder / "__init__.py").write_text(SENTINEL_PAYLOAD)
    (folder / "payload.py").write_text(SENTINEL_PAYLOAD)
    _replay(tmp_path, capsys, match="a replay imports nothing a table names")
    assert not (tmp_path / "sentinel").exists()
    assert ZEN not in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_a_table_that_lists_packages_for_the_network_grants_none(tmp_path, capsys, monkeypatch):
    """packages beside the network's own estimator: described, not granted; the replay runs."""
    monkeypatch.setenv("SENTINEL", str(tmp_path / "sentinel"))
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = _shared_table(tmp_path, lambda h: h["config"]["model"].update(packages=["T"], path="."))
    (folder / "__init__.py").write_text(SENTINEL_PAYLOAD)
    (tmp_path / "r.toml").write_text('strategies = ["random"]\n[budget]\ntrials = 3\n[table]\npath = "T"\n')
    assert main(["run", str(tmp_path / "r.toml"), "--out", str(tmp_path / "out"), "--quiet", "--figures", "none"]) == 0
    assert not (tmp_path / "sentinel").exists()
    assert "packages" not in (tmp_path / "out" / "config.toml").read_text()


def _delete(key):
    return lambda h: h.pop(key)


TAMPERED_TABLES = {
    "no config": (_delete("config"), "no 'config' key"),
    "no levels": (_delete("levels"), "no 'levels' key"),
    "no space": (_delete("space"), "no 'space' key"),
    "no baselines": (_delete("baselines"), "no 'baselines' key"),
    "no task": (_delete("task"), "no 'task' key"),
    "short baselines": (lambda h: h.update(baselines=h["baselines"][:2]), "baselines: expected 5"),
    "mis-keyed baselines": (lambda h: h.update(baselines=[{"x": 1}] * 5), "baselines: expected 5"),
    "string points": (lambda h: h.update(points="abc"), "points: expected"),
    "deep nesting": (lambda h: h.update(meta="DEEP"), "damaged table (RecursionError"),
    "a level of 1e9 values": (lambda h: h["levels"].update(hidden_width=list(range(2000))), "levels.hidden_width"),
    "a task of its own": (lambda h: h.update(task="poetry"), "task: expected one of"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED_TABLES))
def test_a_tampered_table_header_is_one_line(tmp_path, capsys, case):
    change, match = TAMPERED_TABLES[case]
    _shared_table(tmp_path, change)
    _replay(tmp_path, capsys, match=match)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("seconds", [0.0, -1.0, np.nan, np.inf, 1e300])
def test_tampered_seconds_are_refused_before_a_seconds_budget_could_hang(tmp_path, capsys, seconds):
    _shared_table(tmp_path, lambda h: None)
    with np.load(tmp_path / "T" / "table.npz") as saved:
        arrays = dict(saved)
    arrays["seconds"] = np.full_like(arrays["seconds"], seconds)
    np.savez(tmp_path / "T" / "table.npz", **arrays)
    started = time.perf_counter()
    _replay(tmp_path, capsys, match="seconds")
    assert time.perf_counter() - started < 30


def test_a_run_folder_grants_itself_no_package(tmp_path, monkeypatch):
    import hpsearch
    from hpsearch.errors import ConfigError

    run = _finished_run(tmp_path)
    monkeypatch.setenv("SENTINEL", str(tmp_path / "sentinel"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evilrun").mkdir()
    (tmp_path / "evilrun" / "__init__.py").write_text("")
    (tmp_path / "evilrun" / "payload.py").write_text(SENTINEL_PAYLOAD + "class R: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = (run / "config.toml").read_text().replace(
        'estimator = "sklearn.linear_model.Ridge"', 'packages = ["evilrun"]\nestimator = "evilrun.payload.R"')
    (run / "config.toml").write_text(config)
    loaded = hpsearch.load(run)
    with pytest.raises(ConfigError, match=r"allow_packages=\[\"evilrun\"\]"):
        loaded.best_estimator()
    assert not (tmp_path / "sentinel").exists()


@pytest.mark.slow
@pytest.mark.parametrize("module", ["numpy", "joblib", "json"])
def test_modules_in_the_working_folder_never_run_in_the_workers(tmp_path, module):
    (tmp_path / f"{module}.py").write_text(f"open({str(tmp_path / 'sentinel')!r}, 'w').write('{module}')\n")
    (tmp_path / "c.toml").write_text('n_jobs = 2\n[budget]\ntrials = 4\n[data]\ndataset = "diabetes"\n'
                                     '[space.epochs]\ntype = "int"\nlow = 2\nhigh = 3\n'
                                     '[space.hidden_width]\ntype = "int"\nlow = 2\nhigh = 4\n'
                                     '[space.learning_rate]\ntype = "float"\nlow = 0.01\nhigh = 0.1\n')
    import shutil

    script = shutil.which("hpsearch")  # the console script: its sys.path starts with its own folder
    if script is None:
        pytest.skip("the hpsearch console script is not on PATH")
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    done = subprocess.run([script, "run", "c.toml", "--out", "out", "--quiet", "--figures", "none"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=240, env=environment)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "out" / "trials.csv").read_text().splitlines()) == 5
    assert not (tmp_path / "sentinel").exists()


@pytest.mark.parametrize("name", ["_data", "_running", "report.html", "summary.csv", "comparison.tex", "config.toml"])
def test_a_users_file_of_a_name_hpsearch_writes_is_never_touched(tmp_path, capsys, name):
    table(tmp_path / "d.csv", frame())
    (tmp_path / "c.toml").write_text(f'n_jobs = 2\n[budget]\ntrials = 3\n[data]\npath = "d.csv"\ntarget = "y"\n'
                                     f'[model]\n{RIDGE}')
    out = tmp_path / "out"
    out.mkdir()
    if name.startswith("_"):
        (out / name).mkdir()
        (out / name / "mine.txt").write_text("mine")
    else:
        (out / name).write_text("mine")
    before = snapshot(tmp_path)
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(out), "--quiet", "--figures", "none", "--force"])
    one_line_error(capsys, status, match=f"{name}{'/' if name.startswith('_') else ''}, which hpsearch did not write")
    assert snapshot(tmp_path) == before


def test_an_export_never_replaces_a_users_journal(tmp_path, capsys):
    run = _finished_run(tmp_path)
    (run / "optuna-journal.log").write_text("mine")
    before = snapshot(tmp_path)
    status = main(["export", str(run), "--format", "optuna"])
    one_line_error(capsys, status, match="optuna-journal.log exists and hpsearch did not write it")
    assert snapshot(tmp_path) == before


def test_a_hard_linked_store_is_refused(tmp_path, capsys):
    run = _finished_run(tmp_path)
    os.link(run / "trials.jsonl", tmp_path / "outside.jsonl")
    before = snapshot(tmp_path)
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(run), "--quiet", "--figures", "none"])
    one_line_error(capsys, status, match="trials.jsonl (a hard link to a file elsewhere)")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["table.json", "table.npz"])
def test_table_record_never_overwrites_a_users_file(tmp_path, capsys, name):
    (tmp_path / "c.toml").write_text('[data]\ndataset = "diabetes"\n[space.epochs]\ntype = "int"\nlow = 2\nhigh = 3\n'
                                     '[space.learning_rate]\ntype = "float"\nlow = 0.01\nhigh = 0.1\n')
    (tmp_path / "D").mkdir()
    (tmp_path / "D" / name).write_text("mine")
    before = snapshot(tmp_path)
    status = main(["table", "record", str(tmp_path / "c.toml"), "--out", str(tmp_path / "D"), "--seeds", "1",
                   "--levels", "2", "--quiet"])
    one_line_error(capsys, status, match=f"{name} exists and hpsearch did not write it")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("args,config,match", [
    (["--seeds", "1000000000"], "", "table.seeds: 1 to 1000 seeds"),
    (["--levels", "1000000000"], "", "1 to 1000 levels"),
    ([], "[table]\nlevels = 1000000000\n", "table.levels: at most 1000 levels"),
])
def test_table_record_is_under_the_limits_of_runs(tmp_path, capsys, args, config, match):
    (tmp_path / "c.toml").write_text(config + '[data]\ndataset = "diabetes"\n[space.epochs]\ntype = "int"\nlow = 2\n'
                                     'high = 3\n[space.learning_rate]\ntype = "float"\nlow = 0.01\nhigh = 0.1\n')
    status = main(["table", "record", str(tmp_path / "c.toml"), "--out", str(tmp_path / "D"), *args, "--quiet"])
    one_line_error(capsys, status, match=match)
    assert not (tmp_path / "D").exists()


@pytest.mark.parametrize("option,match", [("grid]\npoints = 1000000000000", "points: expected"),
                                          ("pbt]\npopulation_size = 1000000000", "population_size: expected")])
def test_huge_strategy_options_are_one_line(tmp_path, capsys, option, match):
    strategy = option.split("]")[0]
    (tmp_path / "c.toml").write_text(f'strategies = ["{strategy}"]\n[data]\ndataset = "diabetes"\n[strategy.{option}\n')
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o"), "--quiet"])
    one_line_error(capsys, status, match=match)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("how", ["sys.exit", "KeyboardInterrupt", "BaseException", "os._exit", "fork"])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_an_objective_that_ends_its_process_fails_its_trial_and_the_run_goes_on(tmp_path, how, n_jobs):
    import hpsearch

    run = hpsearch.run({"n_jobs": n_jobs, "strategies": ["random"], "budget": {"trials": 4},
                        "data": {"dataset": "diabetes"}, "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}}},
                       objective=getattr(faults, "misbehaving_" + how.replace(".", "_").lower()), out=tmp_path / "o",
                       figures="none")
    trials = run.trials.sort_values("trial")
    assert len(trials) == 4
    bad = trials[trials["x"] < 0.5]
    assert len(bad) and (bad["status"] == "failed").all(), trials[["x", "status", "message"]]
    assert (trials[trials["x"] >= 0.5]["status"] == "ok").all(), trials[["x", "status", "message"]]
    assert bad["message"].str.len().gt(0).all()


@pytest.mark.parametrize("make,match", [
    (lambda: (pd.DataFrame({"a": [[1, 2]] * 30, "y": range(30)}), "y"), "column 'a' holds a list in row 0"),
    (lambda: ((np.zeros((30, 2, 2)), np.arange(30.0)), None), "X must be 2-D"),
    (lambda: (pd.DataFrame({"a": range(30), "y": [np.inf] * 30}), "y"), "the target 'y' holds inf in row 0"),
    (lambda: ((np.zeros((20, 10_001)), np.arange(20.0)), None), "at most 10,000"),
])
def test_data_in_memory_is_checked_like_a_file(tmp_path, make, match):
    import hpsearch
    from hpsearch.errors import DataError

    data, target = make()
    started = time.perf_counter()
    with pytest.raises(DataError, match=match):
        hpsearch.run({"budget": {"trials": 2}}, data=data, target=target, out=tmp_path / "o")
    assert time.perf_counter() - started < 10
    assert not (tmp_path / "o").exists()


def test_a_function_given_earlier_is_no_permission_for_a_config(tmp_path, capsys):
    import hpsearch

    hpsearch.run({"budget": {"trials": 1}, "data": {"dataset": "diabetes"},
                  "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}}},
                 objective=faults.misbehaving_sys_exit, out=tmp_path / "given", figures="none")
    (tmp_path / "c.toml").write_text('[data]\ndataset = "diabetes"\n[model]\nobjective = "faults:misbehaving_sys_exit"\n'
                                     '[space.x]\ntype = "float"\nlow = 0.0\nhigh = 1.0\n')
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o"), "--quiet"])
    one_line_error(capsys, status, match="[model] packages")


def test_a_long_objective_path_is_a_short_line(tmp_path, capsys):
    (tmp_path / "c.toml").write_text(f'[data]\ndataset = "diabetes"\n[model]\nobjective = "{"a" * 20000}:f"\n'
                                     '[space.x]\ntype = "float"\nlow = 0.0\nhigh = 1.0\n')
    status = main(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "o"), "--quiet"])
    assert len(one_line_error(capsys, status)) < 1000
