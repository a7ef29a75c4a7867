"""Backends: in-process, loky and Dask behind one interface; worker deaths; the epoch channel.

The Dask tests use a LocalCluster on 127.0.0.1 with 2 worker processes.
"""

import os
import signal
from pathlib import Path
import sys
import threading
import time

import faults  # noqa: E402
import pandas as pd
import pytest
from test_objective import tiny_dataset  # noqa: E402

from hpsearch.cli import main  # noqa: E402
from hpsearch.execution.backends import (  # noqa: E402
    DIED,
    InProcessBackend,
    LokyBackend,
)
from hpsearch.execution.channel import ChannelServer, SocketChannel  # noqa: E402
from hpsearch.execution.objective import train_and_score  # noqa: E402
from hpsearch.search.trial import TrialSpec  # noqa: E402


def specs(n, **kw):
    return [TrialSpec("random", 0, t, t, {"epochs": 6, "learning_rate": 0.05 * (t + 1)}, 100 + t, "rep0",
                      {"batch_size": 16}, **kw) for t in range(n)]


def collect(backend, tasks, handler=None):
    import contextlib

    with backend:
        backend.share({"rep0": tiny_dataset()})
        with backend.channel(handler) if handler else contextlib.nullcontext():
            for task in tasks:
                backend.submit(task[0], task[1])
            results = []
            while backend.in_flight:
                results += backend.next_completed()
    return sorted(results, key=lambda r: r.trial)


def comparable(results):
    return [(r.trial, r.params, r.val_curve, r.status, r.message, r.epochs_trained) for r in results]


@pytest.mark.slow
def test_loky_and_in_process_give_the_same_results_and_clean_up(tmp_path):
    tasks = [(train_and_score, specs(5)[i:i + 2]) for i in (0, 2, 4)]  # tasks of several specs
    here = collect(InProcessBackend(), tasks)
    there = collect(LokyBackend(2, tmp_path), tasks)
    assert comparable(here) == comparable(there) and len(there) == 5
    assert not (tmp_path / "_data").exists() and not (tmp_path / "_running").exists()


@pytest.mark.slow
def test_loky_reports_a_worker_death_as_a_failed_trial_and_reruns_the_others(tmp_path):
    results = collect(LokyBackend(2, tmp_path), [(faults.dies_on_trial_3, [s]) for s in specs(6)])
    assert [r.trial for r in results] == list(range(6))
    assert results[3].status == "failed" and results[3].message.startswith(DIED)
    assert all(r.status == "ok" for r in results if r.trial != 3)


@pytest.mark.slow
def test_a_task_of_several_trials_whose_worker_dies_is_retried_one_trial_per_process(tmp_path):
    """A population whose worker dies: only the trial that kills it fails, not its mates."""
    results = collect(LokyBackend(2, tmp_path), [(faults.dies_on_trial_3, specs(6)[:4]),
                                                 (faults.dies_on_trial_3, specs(6)[4:])])
    assert [r.trial for r in results] == list(range(6))
    assert results[3].status == "failed" and results[3].message.startswith(DIED)
    assert all(r.status == "ok" for r in results if r.trial != 3)


@pytest.mark.slow
def test_the_epoch_channel_carries_reports_from_loky_workers_and_stops_them(tmp_path):
    heard = []

    def handler(key, epoch, value):
        heard.append((key[2], epoch))
        return epoch >= 2 and key[2] % 2 == 0  # stop the even trials after two epochs

    results = collect(LokyBackend(2, tmp_path), [(train_and_score, [s]) for s in specs(4, report_epochs=True)],
                      handler)
    assert [r.epochs_trained for r in results] == [2, 6, 2, 6]
    assert sorted(heard) == sorted([(t, e) for t in (0, 2) for e in (1, 2)] + [(t, e) for t in (1, 3)
                                                                                for e in range(1, 7)])


def test_a_socket_channel_fails_safe_when_the_driver_is_gone():
    server = ChannelServer(lambda key, epoch, value: True, "127.0.0.1")
    channel = server.address
    assert channel.report(("s", 0, 1), 1, 0.5) is True
    assert SocketChannel(channel.address, b"wrong key" * 4).report(("s", 0, 1), 1, 0.5) is False
    server.close()
    assert channel.report(("s", 0, 1), 2, 0.5) is False  # the trial goes on


distributed = pytest.importorskip("distributed")
from conftest import experiment, without_timing  # noqa: E402

from hpsearch.errors import RunError  # noqa: E402
from hpsearch.runner import run_experiment  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.mark.slow
@pytest.mark.parametrize("strategies", [["random"], ["grid"]])
def test_dask_trials_identical_to_loky(small_catalog, tmp_path, cluster, strategies):
    loky = run_experiment(experiment(strategies=strategies, n_jobs=2), tmp_path / "loky", progress=False)
    dask = run_experiment(experiment(strategies=strategies, n_jobs=2, backend="dask",
                                     scheduler=cluster.scheduler_address), tmp_path / "dask", progress=False)
    pd.testing.assert_frame_equal(without_timing(loky.trials), without_timing(dask.trials))
    pd.testing.assert_frame_equal(loky.summary.drop(columns="train_seconds"),
                                  dask.summary.drop(columns="train_seconds"))


@pytest.mark.slow
def test_the_data_is_scattered_once(small_catalog, tmp_path, cluster, monkeypatch):
    calls = []
    original = distributed.Client.scatter

    def counting(self, data, *args, **kwargs):
        calls.append(len(data) if isinstance(data, list) else 1)
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(distributed.Client, "scatter", counting)
    out = run_experiment(experiment(strategies=["random", "tpe"], repetitions=2, n_jobs=2, backend="dask",
                                    scheduler=cluster.scheduler_address), tmp_path / "s", progress=False)
    assert len(out.trials) == 32
    assert calls == [1, 1]  # each repetition's data set once, when first needed, for 32 trials and 4 test scorings


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing(small_catalog, tmp_path, cluster):
    # population = 1: trials end one by one (in populations of 8 both workers' trials could all be
    # stored before the killer looks, and the kill would come after the run)
    exp = dict(strategies=["random"], n_jobs=2, population=1, budget={"trials": 16}, model={"batch_size": 8},
               space={"epochs": {"type": "int", "low": 20, "high": 30},
                      "learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True}})
    loky = run_experiment(experiment(**exp), tmp_path / "loky", progress=False)
    out = tmp_path / "killed"
    with distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())

    finished_at_kill = []

    def kill_one():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            store = out / "trials.jsonl"
            if store.is_file() and store.read_text().count("\n") >= 3:
                os.kill(pids[0], signal.SIGKILL)
                finished_at_kill.append(store.read_text().count("\n"))
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one)
    killer.start()
    dask = run_experiment(experiment(**exp, backend="dask", scheduler=cluster.scheduler_address), out,
                          progress=False)
    killer.join()
    assert finished_at_kill and finished_at_kill[0] < 14  # killed while trials were running
    assert len(dask.trials) == 16 and (dask.trials["status"] == "ok").all()
    pd.testing.assert_frame_equal(without_timing(loky.trials), without_timing(dask.trials))


def test_unreachable_scheduler_exits_2_and_writes_nothing(small_catalog, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("hpsearch.execution.backends.CONNECT_TIMEOUT", 0.5)
    config = tmp_path / "c.toml"
    config.write_text('[budget]\ntrials = 2\n')
    out = tmp_path / "run"
    assert main(["run", str(config), "--scheduler", "tcp://127.0.0.1:9", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err and err.count("\n") == 1
    assert not out.exists()


def test_without_dask_installed_the_install_command_is_named(small_catalog, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(RunError, match=r"pip install 'hpsearch\[dask\]'"):
        run_experiment(experiment(backend="dask"), tmp_path / "n", progress=False)
    assert not (tmp_path / "n").exists()


@pytest.mark.parametrize("n_jobs,threads", [(1, 1), (2, 1), (2, 2)])
def test_every_thread_pool_of_a_worker_is_limited_whenever_it_is_created(tmp_path, n_jobs, threads):
    """scikit-learn's OpenMP pool, created after the worker started, has [model] threads too."""
    import faults

    import hpsearch

    run = hpsearch.run({"n_jobs": n_jobs, "budget": {"trials": 2}, "data": {"dataset": "diabetes"},
                        "model": {"threads": threads}, "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}}},
                       objective=faults.thread_pools, out=tmp_path / "o", figures="none")
    assert (run.trials["status"] == "ok").all(), run.trials["message"]
    assert (run.trials["val_rmse"] == threads).all()


@pytest.mark.slow
def test_your_objective_continues_from_its_state_on_dask_as_on_loky(tmp_path, cluster):
    """States of your function are written to the run folder, which Dask workers reach: Hyperband's
    promotions continue there as with loky, to the same trials."""
    import hpsearch

    config = {"name": "stateful", "strategies": ["hyperband"], "n_jobs": 2, "budget": {"epochs": 100},
              "data": {"dataset": "diabetes"}, "output": {"figures": "none"},
              "model": {"objective": "faults:stateful", "packages": ["faults"],
                        "path": str(Path(__file__).resolve().parent)},
              "space": {"epochs": {"type": "int", "low": 1, "high": 27},
                        "learning_rate": {"type": "float", "low": 0.01, "high": 1.0, "log": True}}}
    loky = hpsearch.run(config, out=tmp_path / "loky")
    dask = hpsearch.run({**config, "backend": "dask", "scheduler": cluster.scheduler_address}, out=tmp_path / "dask")
    assert (loky.trials["start_epoch"] > 0).any()
    pd.testing.assert_frame_equal(without_timing(loky.trials), without_timing(dask.trials))


@pytest.mark.slow
def test_asynchronous_strategies_on_dask_give_loky_s_trials(tmp_path, cluster):
    """On the virtual clock, ASHA and median stopping decide the same on a Dask cluster as with loky."""
    import hpsearch

    config = {"name": "v", "seed": 2, "n_jobs": 2, "strategies": ["asha", "median-stop"], "budget": {"epochs": 120},
              "data": {"dataset": "diabetes"}, "model": {"batch_size": 64}, "output": {"figures": "none"},
              "space": {"epochs": {"type": "int", "low": 1, "high": 27},
                        "learning_rate": {"type": "float", "low": 0.001, "high": 1.0, "log": True}}}
    loky = hpsearch.run(config, out=tmp_path / "loky")
    dask = hpsearch.run({**config, "backend": "dask", "scheduler": cluster.scheduler_address}, out=tmp_path / "dask")
    assert (loky.trials["status"] == "stopped").any()
    pd.testing.assert_frame_equal(without_timing(loky.trials), without_timing(dask.trials))
