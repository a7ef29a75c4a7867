"""Durable runs: worker death, SIGKILL and resume, Ctrl-C, failures, bad configs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import faults
import pandas as pd
import pytest
from conftest import ALL_STRATEGIES, experiment, without_timing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpsearch.config import TOP_KEYS, parse
from hpsearch.errors import ConfigError, RunError
from hpsearch.runner import run_experiment

# Trials of about 0.15 s, so that a signal lands while the run is going.
SLOW_CONFIG = """
name = "durable"
seed = 11
n_jobs = 2
strategies = ["random"]
[budget]
trials = 24
[model]
batch_size = 8
[space.epochs]
type = "int"
low = 60
high = 90
[space.hidden_width]
type = "int"
low = 4
high = 16
[space.learning_rate]
type = "float"
low = 0.01
high = 0.3
log = true
[output]
figures = "none"
"""


@pytest.mark.slow
def test_a_worker_that_dies_becomes_a_failed_trial(small_catalog, tmp_path):
    out = run_experiment(experiment(n_jobs=2), tmp_path / "d", progress=False,
                         objective=faults.dies_on_trial_3)
    t = out.trials.set_index("trial")
    assert len(t) == 8
    assert t.loc[3, "status"] == "failed" and "worker process died" in t.loc[3, "message"]
    assert (t.drop(index=3)["status"] == "ok").all()
    assert not (tmp_path / "d" / "_running").exists()


def test_max_failures_stops_the_run_and_keeps_what_finished(small_catalog, tmp_path):
    with pytest.raises(RunError, match="more than max_failures = 2"):
        run_experiment(experiment(max_failures=2, budget={"trials": 20}), tmp_path / "m",
                       progress=False, objective=faults.raises_on_even_trials)
    trials = pd.read_csv(tmp_path / "m" / "trials.csv")
    assert (trials["status"] == "failed").sum() == 3
    assert trials["message"].dropna().str.contains("MemoryError: pretend").all()


def _hpsearch(args, data_dir):
    env = dict(os.environ, HPSEARCH_DATA=str(data_dir))
    # A shell starts background jobs with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: give the child the default, as a terminal would.
    return subprocess.Popen([sys.executable, "-m", "hpsearch", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_lines(path, count, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().count("\n") >= count:
            return
        if process.poll() is not None:
            pytest.fail(f"the run ended before {count} trials: {process.communicate()}")
        time.sleep(0.01)
    pytest.fail("timed out")


@pytest.mark.slow
def test_sigkill_halfway_then_resume_equals_an_uninterrupted_run(small_catalog, data_dir, tmp_path):
    config = tmp_path / "durable.toml"
    config.write_text(SLOW_CONFIG)
    killed_dir = tmp_path / "killed"
    run = _hpsearch(["run", config, "--out", killed_dir, "--quiet", "--figures", "none"], data_dir)
    # the uninterrupted run alongside (1 worker: the trials are the same for any n_jobs)
    whole = _hpsearch(["run", config, "--out", tmp_path / "whole", "--quiet", "--figures", "none",
                       "--n-jobs", "1"], data_dir)
    _wait_for_lines(killed_dir / "trials.jsonl", 12, run)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    finished = (killed_dir / "trials.jsonl").read_text().count("\n")
    assert 12 <= finished < 24

    again = _hpsearch(["run", config, "--out", killed_dir, "--quiet", "--figures", "none"], data_dir)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert f"resumed {finished} finished trials" in stdout
    assert whole.wait(timeout=300) == 0, whole.communicate()
    a = pd.read_csv(tmp_path / "whole" / "trials.csv")
    b = pd.read_csv(killed_dir / "trials.csv")
    assert len(b) == 24
    pd.testing.assert_frame_equal(without_timing(a), without_timing(b))


STATEFUL_CONFIG = """
name = "stateful"
seed = 3
n_jobs = 2
strategies = ["hyperband"]
[budget]
epochs = 150
[data]
dataset = "diabetes"
[model]
objective = "faults:stateful"
packages = ["faults"]
path = "TESTS"
pause = 0.02
[space.epochs]
type = "int"
low = 1
high = 27
[space.learning_rate]
type = "float"
low = 0.01
high = 1.0
log = true
[output]
figures = "none"
""".replace("TESTS", str(Path(__file__).resolve().parent))


def _killed_and_whole(text: str, data_dir, tmp_path, lines: int, at_kill=None):
    """``text`` run twice: killed with SIGKILL once ``lines`` trials are stored (``at_kill(folder)``
    looks at it then) and resumed, and uninterrupted with one worker; both trials.csv."""
    config = tmp_path / "run.toml"
    config.write_text(text)
    killed = tmp_path / "killed"
    run = _hpsearch(["run", config, "--out", killed, "--quiet"], data_dir)
    whole = _hpsearch(["run", config, "--out", tmp_path / "whole", "--quiet", "--n-jobs", "1"], data_dir)
    _wait_for_lines(killed / "trials.jsonl", lines, run)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    if at_kill is not None:
        at_kill(killed)
    again = _hpsearch(["run", config, "--out", killed, "--quiet"], data_dir)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert whole.wait(timeout=300) == 0, whole.communicate()
    a, b = (pd.read_csv(folder / "trials.csv") for folder in (tmp_path / "whole", killed))
    pd.testing.assert_frame_equal(without_timing(a), without_timing(b))
    return a, b


@pytest.mark.slow
def test_your_objectives_states_survive_sigkill_and_the_resumed_run_equals_the_whole_one(data_dir, tmp_path):
    """Hyperband continues your function from its states; killed after its first promotions, the
    run resumes from the states written before the kill and ends as the uninterrupted run."""
    def at_kill(killed):
        assert 33 <= (killed / "trials.jsonl").read_text().count("\n") < 57
        assert list((killed / "_states").glob("*.state"))  # written before the kill, continued after it

    a, b = _killed_and_whole(STATEFUL_CONFIG, data_dir, tmp_path, 33, at_kill)  # first promotion: trial 27 of 57
    assert len(b) == 57 and (b["start_epoch"] > 0).sum() == (a["start_epoch"] > 0).sum() > 0
    killed = tmp_path / "killed"
    assert not (killed / "_states").exists() or not list((killed / "_states").iterdir())  # gone once complete


@pytest.mark.slow
def test_asynchronous_strategies_killed_and_resumed_end_as_the_uninterrupted_run(data_dir, tmp_path):
    """ASHA and median stopping on the virtual clock: killed with SIGKILL mid-run (2 workers) and
    resumed, the trials are those of an uninterrupted run with one worker."""
    text = STATEFUL_CONFIG.replace('strategies = ["hyperband"]', 'strategies = ["asha", "median-stop"]')
    a, _ = _killed_and_whole(text, data_dir, tmp_path, 40)
    assert len(a) > 40 and (a["status"] == "stopped").any() and (a["start_epoch"] > 0).any()


@pytest.mark.slow
def test_a_run_until_decided_killed_mid_wave_stops_where_the_uninterrupted_one_does(data_dir, tmp_path):
    text = (STATEFUL_CONFIG.replace('strategies = ["hyperband"]', 'strategies = ["random", "tpe"]\n'
                                    'repetitions = { max = 14, until = "decided" }')
            .replace("epochs = 150", "epochs = 12").replace("pause = 0.02", "pause = 0.01")
            .replace("[output]", "[verdict]\nrope = 0.5\n[output]"))
    a, _ = _killed_and_whole(text, data_dir, tmp_path, 20)
    assert a["repetition"].max() + 1 == 10  # decided at the first look: 10 repetitions of 14
    decided = [pd.read_csv(folder / "comparison.csv")[["strategy", "decision", "decided_at"]]
               for folder in (tmp_path / "whole", tmp_path / "killed")]
    pd.testing.assert_frame_equal(*decided)


@pytest.mark.slow
@pytest.mark.parametrize("sig, n_jobs", [(signal.SIGINT, "2"), (signal.SIGTERM, "1")])
def test_ctrl_c_writes_tables_exits_130_and_says_how_to_resume(small_catalog, data_dir, tmp_path, sig, n_jobs):
    config = tmp_path / "durable.toml"
    config.write_text(SLOW_CONFIG)
    out = tmp_path / "int"
    run = _hpsearch(["run", config, "--out", out, "--quiet", "--figures", "none", "--n-jobs", n_jobs], data_dir)
    _wait_for_lines(out / "trials.jsonl", 5, run)
    run.send_signal(sig)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    assert "resume with" in stderr and f"--out {out}" in stderr
    assert "Traceback" not in stderr
    stored = (out / "trials.jsonl").read_text().count("\n")
    assert len(pd.read_csv(out / "trials.csv")) == stored < 24  # (resuming: the SIGKILL test above)


# -- property-based: the validator accepts or raises ConfigError, nothing else ----------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                      st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
dimension = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["int", "float", "categorical", "bogus"]), "low": scalars, "high": scalars,
    "log": scalars, "choices": values, "grid": values})
space = st.dictionaries(st.sampled_from(["epochs", "hidden_width", "learning_rate", "batch_size",
                                         "activation", "dtype", "nonsense"]), dimension, max_size=3)
configs = st.fixed_dictionaries({}, optional={
    **{key: values for key in TOP_KEYS},
    "space": st.one_of(space, values),
    "budget": st.one_of(st.dictionaries(st.sampled_from(["trials", "epochs", "seconds", "x"]), scalars,
                                        max_size=2), values),
    "strategies": st.one_of(st.lists(st.sampled_from(["random", "grid", "tpe", "optuna:QMCSampler",
                                                      "optuna:Nope", "rnd"]), max_size=3), values),
})


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_the_validator_accepts_or_raises_a_clean_config_error(raw):
    try:
        exp = parse(raw, "generated.toml")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("generated.toml: ") and "\n" not in message
    else:
        assert parse(exp.to_dict(), "generated.toml") == exp


@settings(max_examples=100, deadline=None)
@given(low=st.integers(-5, 200), high=st.integers(-5, 200), log=st.booleans())
def test_generated_int_ranges(low, high, log):
    raw = {"space": {"epochs": {"type": "int", "low": low, "high": high, "log": log}}}
    if 1 <= low <= high:
        assert parse(raw, "g.toml").space[0].high == high
    else:
        with pytest.raises(ConfigError, match="g.toml: space.epochs"):
            parse(raw, "g.toml")


@pytest.mark.slow
def test_optuna_export_loads_with_the_same_finished_trials(small_catalog, tmp_path, capsys):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from hpsearch.cli import main

    run_experiment(experiment(strategies=["random", "tpe"], repetitions=2), tmp_path / "o", progress=False)
    assert main(["export", str(tmp_path / "o"), "--format", "optuna"]) == 0
    assert "optuna-dashboard" in capsys.readouterr().out
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "o" / "optuna-journal.log")))
    trials = pd.read_csv(tmp_path / "o" / "trials.csv")
    total = 0
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        finished = [t for t in study.trials if t.state.is_finished()]
        strategy, rep = summary.study_name.split("/rep")
        mine = trials[(trials.strategy == strategy) & (trials.repetition == int(rep))]
        assert len(finished) == len(mine)
        assert study.best_value == pytest.approx(mine["val_rmse"].min())
        assert study.metric_names == ["val_rmse"]
        starts = sorted(t.datetime_start for t in finished)
        assert starts[0] < starts[-1] and all(t.datetime_complete >= t.datetime_start for t in finished)
        total += len(finished)
    assert total == len(trials) == 32
    stamps = pd.to_datetime(trials["finished_at"], format="ISO8601", utc=True)
    assert stamps.notna().all() and (pd.to_datetime(trials["started_at"], format="ISO8601", utc=True) <= stamps).all()


def _children(pid):
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in __import__("pathlib").Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid):
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_workers_end_soon_after_their_run_is_killed(small_catalog, data_dir, tmp_path):
    config = tmp_path / "durable.toml"
    config.write_text(SLOW_CONFIG)
    run = _hpsearch(["run", config, "--out", tmp_path / "k", "--quiet", "--figures", "none"], data_dir)
    _wait_for_lines(tmp_path / "k" / "trials.jsonl", 3, run)
    workers = _children(run.pid)
    assert workers, "no worker processes found"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers), "worker processes outlived their run"


#: strategies whose decisions depend on which trial finished first (by design): a resume is valid
#: and complete, not identical
TIMING_DEPENDENT = ("asha", "tpe-hyperband", "median-stop")
RESUME_SPACE = {"epochs": {"type": "int", "low": 2, "high": 18},
                "hidden_width": {"type": "int", "low": 2, "high": 16},
                "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True}}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ALL_STRATEGIES)
def test_every_strategy_resumes_to_the_run_it_would_have_been(small_catalog, tmp_path, strategy):
    """One resume protocol for every strategy: a run interrupted at trial 7 of its second
    repetition and resumed gives the trials of an uninterrupted run (in one process the
    timing-dependent strategies are reproducible too)."""
    exp = experiment(strategies=[strategy], space=RESUME_SPACE, budget={"epochs": 150}, repetitions=2,
                     model={"batch_size": 64}, population=1)
    whole = run_experiment(exp, tmp_path / "whole", progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, tmp_path / "cut", progress=False, objective=faults.interrupted_at_trial_7)
    resumed = run_experiment(exp, tmp_path / "cut", progress=False)
    assert resumed.resumed_trials > 0
    if strategy in TIMING_DEPENDENT:  # a valid, complete run: both repetitions spent their budget
        t = resumed.trials
        assert set(t["repetition"]) == {0, 1} and t["status"].isin(("ok", "stopped", "diverged")).all()
        assert not t.duplicated(["repetition", "trial"]).any()
        spent = t.groupby("repetition")["epochs_trained"].sum()
        assert (spent >= 150).all() and (spent < 150 + 18).all()
        return
    pd.testing.assert_frame_equal(without_timing(whole.trials), without_timing(resumed.trials))
