"""Download the catalog from the USGS FDSN event web service.

The service answers at most 20,000 events per request, so the time range is
cut into pages (one year each by default). A page that comes back full, or that
the service refuses as over its limit (HTTP 400), is split in half and asked
again, so no request ever exceeds the limit whatever the magnitude range. Pages
are joined, duplicates (an event on a page boundary) removed by id, and the
result cached like an imported ComCat file.
"""

from __future__ import annotations

import io
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from hpsearch.data.catalog import CACHE_NAME, NO_CATALOG, data_dir, load_catalog, save_catalog, tidy_comcat
from hpsearch.errors import DataError

USGS_QUERY_URL = "https://earthquake.usgs.gov/fdsnws/event/1/query"
SERVICE_LIMIT = 20_000


def _day(text: str, option: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise DataError(f"{option}: expected a date as YYYY-MM-DD, got {text!r}") from None


def _get(url: str, params: dict, retries: int = 3, timeout: float = 60.0) -> tuple[int, str]:
    """(status, body) of one GET; network errors are retried with back-off."""
    full = f"{url}?{urllib.parse.urlencode(params)}"
    for attempt in range(retries):
        try:
            with urllib.request.urlopen(full, timeout=timeout) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", errors="replace")
            if exc.code in (400, 404, 204):
                return exc.code, body
            problem = f"HTTP {exc.code}"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            problem = str(getattr(exc, "reason", exc))
        if attempt + 1 < retries:
            time.sleep(0.5 * 2**attempt)
    raise DataError(f"cannot download from {url}: {problem} (after {retries} tries); "
                    f"check the network and try again (`hpsearch data fetch`), or use a file you have "
                    f"(`hpsearch data import FILE`)")


def fetch_pages(start: datetime, end: datetime, min_magnitude: float, url: str,
                page_days: int = 366, limit: int = SERVICE_LIMIT, progress: bool = True):
    """Yield one ComCat CSV page (a DataFrame of raw strings) per request."""
    windows = []
    cursor = start
    while cursor < end:
        windows.append((cursor, min(cursor + timedelta(days=page_days), end)))
        cursor = windows[-1][1]
    bar = tqdm(total=len(windows), unit="page", desc="fetch", disable=not progress)
    try:
        while windows:
            lo, hi = windows.pop(0)
            params = {"format": "csv", "starttime": lo.strftime("%Y-%m-%dT%H:%M:%S"),
                      "endtime": hi.strftime("%Y-%m-%dT%H:%M:%S"), "minmagnitude": min_magnitude,
                      "orderby": "time-asc", "limit": limit}
            status, body = _get(url, params)
            page = (pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False, na_values=[""])
                    if status == 200 and body.strip() else pd.DataFrame())
            too_many = status == 400 and "limit" in body.lower() or len(page) >= limit
            if too_many:
                if hi - lo <= timedelta(seconds=1):
                    raise DataError(f"more than {limit} events within one second at {lo}; "
                                    f"raise --min-magnitude")
                middle = lo + (hi - lo) / 2
                windows[:0] = [(lo, middle), (middle, hi)]
                bar.total += 1
                continue
            if status not in (200, 204, 404):
                raise DataError(f"{url} refused the request ({status}): {body.strip()[:200]}")
            bar.update(1)
            yield page
    finally:
        bar.close()


def fetch_catalog(start: str = "1965-01-01", end: str = "2016-12-31", min_magnitude: float = 5.5,
                  url: str | None = None, folder: Path | None = None, page_days: int = 366,
                  limit: int = SERVICE_LIMIT, progress: bool = True) -> tuple[Path, pd.DataFrame, int]:
    """Download events of ``min_magnitude`` and above from ``start`` to ``end`` (days, included).

    Returns the cache path, the tidy table and the number of requests made.
    """
    url = service_url(url)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https") or not urllib.parse.urlsplit(url).netloc:
        raise DataError(f"--url {url!r}: expected an http:// or https:// address of an FDSN event service")
    if not math.isfinite(min_magnitude) or not -2 <= min_magnitude <= 10:
        raise DataError(f"--min-magnitude {min_magnitude}: expected a magnitude from -2 to 10")
    first, last = _day(start, "--start"), _day(end, "--end") + timedelta(days=1)
    if first >= last:
        raise DataError(f"--start ({start}) must be before --end ({end})")
    pages = list(fetch_pages(first, last, min_magnitude, url, page_days, limit, progress))
    frames = [p for p in pages if not p.empty]
    if not frames:
        raise DataError(f"{url} returned no events from {start} to {end} with magnitude >= {min_magnitude}")
    raw = pd.concat(frames, ignore_index=True)
    if "id" in raw.columns:
        raw = raw.drop_duplicates(subset="id", keep="first")
    if "time" not in raw.columns or "mag" not in raw.columns:
        raise DataError(f"{url} did not answer in the ComCat CSV layout (columns: {', '.join(raw.columns[:8])})")
    table = tidy_comcat(raw.reset_index(drop=True))
    origin = {"origin": url, "layout": "comcat", "start": start, "end": end,
              "min_magnitude": min_magnitude, "requests": len(pages)}
    return save_catalog(table, origin, folder), table, len(pages)


def service_url(url: str | None = None) -> str:
    """The FDSN event service asked: ``url``, else ``$HPSEARCH_FDSN_URL``, else the USGS's."""
    return url or os.environ.get("HPSEARCH_FDSN_URL") or USGS_QUERY_URL


def offline() -> bool:
    """Whether hpsearch may reach the network on its own: not when ``HPSEARCH_OFFLINE`` is set
    (to anything but ``0`` or nothing; ``hpsearch run --offline`` sets it)."""
    return os.environ.get("HPSEARCH_OFFLINE", "").strip() not in ("", "0")


def ensure_catalog(progress: bool = True) -> None:
    """The earthquake catalog in the data folder, fetched first if it is not there (as
    scikit-learn's ``fetch_*`` download on first use): the same download, progress bar and
    cleaning report as ``hpsearch data fetch``. Offline, or when the service cannot be reached,
    one line names both routes (``hpsearch data fetch``, ``hpsearch data import FILE``)."""
    folder = data_dir()
    if (folder / CACHE_NAME).is_file():
        return
    if offline():
        raise DataError(NO_CATALOG.format(folder=folder) + " (not fetched now: HPSEARCH_OFFLINE is set)")
    url = service_url()
    if progress:
        print(f"no earthquake catalog in {folder}: fetching it once from {url} "
              f"(--offline or HPSEARCH_OFFLINE=1 not to)", flush=True)
    path, table, pages = fetch_catalog(url=url, progress=progress)
    if progress:
        print(fetched_words(path, table, pages), flush=True)


def fetched_words(path: Path, table: pd.DataFrame, pages: int) -> str:
    """What a fetch did, and the cleaning report of the catalog it cached."""
    _, report, _ = load_catalog()
    return f"fetched {len(table)} events in {pages} requests into {path}\ncleaning: {'; '.join(report.lines())}"
