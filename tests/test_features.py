import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_events

from hpsearch.data.features import encode_challenge, min_max_scale, prepare, split_rows


def test_challenge_encoding():
    table = pd.DataFrame({"time": pd.to_datetime(["2000-01-01T00:00:00", "2001-07-02T12:00:00"], utc=True),
                          "latitude": [1.0, 2.0], "longitude": [3.0, 4.0]})
    encoded = encode_challenge(table)
    assert list(encoded.columns) == ["date", "time", "latitude", "longitude"]
    assert encoded["date"].iloc[0] == 2000.0
    assert encoded["date"].iloc[1] == pytest.approx(2001.5, abs=1e-9)
    assert encoded["time"].tolist() == [0.0, 0.5]


@pytest.mark.parametrize("method", ["random", "temporal"])
def test_splits_partition_the_rows(method):
    train, val, test = split_rows(1000, (0.7, 0.15, 0.15), method, seed=3)
    assert (len(train), len(val), len(test)) == (700, 150, 150)
    assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(1000))
    if method == "temporal":
        assert train.max() < val.min() and val.max() < test.min()
    else:
        assert not np.array_equal(train, np.arange(700))


def test_scaling_is_fit_on_training_rows_only():
    train = np.array([[0.0, 5.0], [10.0, 5.0]])
    test = np.array([[20.0, 6.0]])
    scaled_train, scaled_test = min_max_scale(train, test)
    assert scaled_train.min() == 0 and scaled_train.max() <= 1
    assert scaled_test.tolist() == [[2.0, 1.0]]


def test_extended_features_learn_categories_from_train():
    table = synthetic_events(500)
    data = prepare(table, "extended", "temporal", (0.7, 0.15, 0.15), seed=0)
    names = data.feature_names
    assert names[:5] == ("date", "time", "latitude", "longitude", "depth")
    assert any(n.startswith("magnitude_type=") for n in names)
    assert "magnitude" not in names
    assert data.X_train.min() == 0 and data.X_train.max() == 1
    challenge = prepare(table, "challenge", "random", (0.7, 0.15, 0.15), seed=0)
    assert challenge.X_train.shape == (350, 4)
