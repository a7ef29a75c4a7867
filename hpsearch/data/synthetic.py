"""A synthetic catalog in the tidy layout, for tests and benchmarks (never for results).

Magnitudes depend a little on depth, latitude and magnitude type, plus noise, so
that the extended features carry some signal and the challenge features little.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_events(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` events from 1965 to 2016 in the tidy catalog layout."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, 52 * 365.25 * 86400, n))
    time = pd.Timestamp("1965-01-01", tz="UTC") + pd.to_timedelta(seconds, unit="s")
    lat = rng.uniform(-60, 60, n)
    lon = rng.uniform(-180, 180, n)
    depth = rng.gamma(1.5, 40, n)
    mag_type = rng.choice(["MW", "MB", "MS", "MWC"], n, p=[0.4, 0.3, 0.1, 0.2])
    magnitude = 5.5 + np.round(np.abs(0.3 + 0.002 * depth + 0.003 * np.abs(lat)
                                      + 0.2 * (mag_type == "MW") + rng.normal(0, 0.25, n)), 1)
    return pd.DataFrame({"time": time, "latitude": lat.round(3), "longitude": lon.round(3),
                         "depth": depth.round(1), "magnitude": magnitude, "magnitude_type": mag_type,
                         "event_type": "earthquake", "source": rng.choice(["US", "ISCGEM"], n),
                         "id": [f"syn{i:06d}" for i in range(n)], "status": "reviewed"})
