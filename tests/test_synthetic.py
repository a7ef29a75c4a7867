"""The synthetic catalog the tests and benchmarks use: seeded, plausible, tidy layout."""

import pandas as pd

from hpsearch.data.synthetic import synthetic_events


def test_seeded_and_in_the_tidy_layout():
    a, b = synthetic_events(500, seed=3), synthetic_events(500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(synthetic_events(500, seed=4))
    assert {"time", "latitude", "longitude", "depth", "magnitude", "magnitude_type", "event_type"} <= set(a)
    assert a["time"].is_monotonic_increasing and a["time"].dt.year.between(1965, 2016).all()
    assert a["magnitude"].min() >= 5.5 and a["latitude"].abs().max() <= 60
