"""A prepared split on disk: what workers read."""

import subprocess
import sys

import numpy as np
import pytest

from hpsearch.data.dataset import ARRAYS, Dataset


def test_a_split_saved_is_read_back_memory_mapped(tmp_path):
    rng = np.random.default_rng(0)
    data = Dataset(*(rng.normal(size=(5, 3)) if name.startswith("X") else rng.normal(size=5) for name in ARRAYS),
                   feature_names=("a", "b", "c"))
    back = Dataset.load(data.save(tmp_path / "split"))
    assert back.feature_names == ("a", "b", "c") and isinstance(back.X_train, np.memmap)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(back, name), getattr(data, name))


@pytest.mark.slow
def test_a_worker_imports_neither_scikit_learn_nor_optuna_nor_matplotlib():
    """What a worker process imports to train network trials, alone and in a population
    (and a diverging one): NumPy, not scikit-learn (about 1 s of a worker's start, with
    pandas and SciPy), the API, the strategies or the figures."""
    code = ("import sys, numpy as np, hpsearch.execution.backends as b, hpsearch.execution.objective as o\n"
            "from hpsearch.execution.worker import Together, run_trials\n"
            "from hpsearch.data.dataset import Dataset\n"
            "from hpsearch.search.trial import TrialSpec\n"
            "X = np.random.default_rng(0).random((90, 3)); y = X.sum(axis=1)\n"
            "data = Dataset(X, y, X, y, X, y, feature_names=['a', 'b', 'c'])\n"
            "specs = [TrialSpec('random', 0, i, i, {'learning_rate': lr, 'epochs': 3}, i, 'rep0', {'batch_size': 16})\n"
            "         for i, lr in enumerate([0.1, 1e9])]\n"
            "results = run_trials(o.train_and_score, specs[:1], data) + run_trials(Together(o.train_and_score), specs, data)\n"
            "assert [r.status for r in results] == ['ok', 'ok', 'diverged'], [r.status for r in results]\n"
            "print(sorted(m for m in ('sklearn', 'pandas', 'scipy', 'optuna', 'matplotlib', 'hpsearch.api', "
            "'hpsearch.config', 'hpsearch.search.strategies') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_the_driver_of_a_network_run_imports_neither_scikit_learn_nor_scipy(small_catalog, tmp_path):
    """A network run's driver checks the config, prepares the data and its baselines
    (least squares in NumPy), runs the search on process workers and writes its tables
    without scikit-learn, and a run of one strategy without SciPy either (its statistics
    compare strategies): about 1.5 s of imports off the quickstart's fixed cost."""
    config = tmp_path / "run.toml"
    config.write_text('name = "t"\nn_jobs = 2\nstrategies = ["random"]\n[budget]\ntrials = 6\n'
                      '[model]\nbatch_size = 64\n[output]\nfigures = "none"\n')
    code = ("import sys\nfrom hpsearch.cli import main\n"
            f"main(['run', {str(config)!r}, '--out', {str(tmp_path / 'out')!r}, '--quiet'])\n"
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
