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
def test_a_worker_imports_neither_optuna_nor_matplotlib():
    """What a worker process imports to run trials: the network (scikit-learn, which
    brings pandas) and NumPy, not the API, the strategies or the figures."""
    code = ("import sys, hpsearch.execution.backends, hpsearch.execution.objective; "
            "print(sorted(m for m in ('optuna', 'matplotlib', 'hpsearch.api', 'hpsearch.config', "
            "'hpsearch.search.strategies') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
