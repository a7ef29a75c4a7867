"""`hpsearch data fetch` against a real HTTP server on 127.0.0.1 speaking FDSN."""

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
from conftest import synthetic_events, to_comcat

from hpsearch.cli import main
from hpsearch.data.catalog import load_catalog
from hpsearch.data.fetch import fetch_catalog

LIMIT = 40


class FdsnServer:
    """Serves ComCat CSV pages; like the USGS, refuses (400) a query over its limit."""

    def __init__(self, events: pd.DataFrame):
        self.events = events
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).items()}
                outer.requests.append(query)
                start = pd.Timestamp(query["starttime"], tz="UTC")
                end = pd.Timestamp(query["endtime"], tz="UTC")
                ev = outer.events
                hit = ev[(ev["time"] >= start) & (ev["time"] < end)
                         & (ev["magnitude"] >= float(query["minmagnitude"]))]
                if len(hit) > LIMIT:
                    body, status = f"Error 400: {len(hit)} matching events exceeds search limit of {LIMIT}", 400
                elif hit.empty:
                    body, status = "", 204
                else:
                    body, status = to_comcat(hit).to_csv(index=False), 200
                self.send_response(status)
                self.send_header("Content-Type", "text/csv")
                self.end_headers()
                self.wfile.write(body.encode())
                query["returned"] = len(hit) if status == 200 else 0
                query["status"] = status

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fdsnws/event/1/query"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_fetch_pages_under_the_service_limit(data_dir):
    events = synthetic_events(400)
    with FdsnServer(events) as server:
        path, table, pages = fetch_catalog("1965-01-01", "2016-12-31", 5.5, url=server.url,
                                           page_days=3650, limit=LIMIT, progress=False)
    assert all(r["returned"] <= LIMIT for r in server.requests)
    assert any(r["status"] == 400 for r in server.requests)  # a page was split
    assert len(server.requests) > pages
    assert len(table) == 400 and table["id"].is_unique
    cached, report, meta = load_catalog()
    assert len(cached) == 400 and meta["layout"] == "comcat"
    assert sorted(cached["id"]) == sorted(events["id"])


def test_fetch_respects_magnitude_and_dates(data_dir):
    events = synthetic_events(300)
    with FdsnServer(events) as server:
        _, table, _ = fetch_catalog("1990-01-01", "1999-12-31", 6.0, url=server.url, limit=LIMIT,
                                    progress=False)
    expected = events[(events["time"] >= "1990-01-01") & (events["time"] < "2000-01-01")
                      & (events["magnitude"] >= 6.0)]
    assert sorted(table["id"]) == sorted(expected["id"])


def test_fetch_command_and_unreachable_service(data_dir, capsys, monkeypatch):
    with FdsnServer(synthetic_events(120)) as server:
        assert main(["data", "fetch", "--url", server.url, "--quiet", "--start", "2000-01-01"]) == 0
    assert "fetched" in capsys.readouterr().out
    monkeypatch.setattr("hpsearch.data.fetch.time.sleep", lambda s: None)
    assert main(["data", "fetch", "--url", "http://127.0.0.1:9/query", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot download" in err and err.count("\n") == 1
    assert main(["data", "fetch", "--start", "2001-13-01", "--quiet"]) == 2
    assert "--start" in capsys.readouterr().err


def test_a_first_run_fetches_the_catalog_it_needs(data_dir, experiments, tmp_path, capsys, monkeypatch):
    """Two commands to a first result: install, then `hpsearch run`; the catalog comes on first use from
    $HPSEARCH_FDSN_URL (here a local server), unless told not to; unreachable, one line names both routes."""
    monkeypatch.delenv("HPSEARCH_OFFLINE", raising=False)
    quick = ["run", str(experiments / "quickstart.toml"), "--trials", "3", "--repetitions", "1", "--n-jobs", "1",
             "--strategies", "random", "--figures", "none"]
    monkeypatch.setattr("hpsearch.data.fetch.time.sleep", lambda s: None)
    monkeypatch.setenv("HPSEARCH_FDSN_URL", "http://127.0.0.1:9/fdsnws/event/1/query")
    assert main([*quick, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.splitlines()[-1]  # under the progress bar
    assert err.startswith("hpsearch: error: cannot download") and "`hpsearch data fetch`" in err
    assert "`hpsearch data import FILE`" in err
    with FdsnServer(synthetic_events(300)) as server:
        monkeypatch.setenv("HPSEARCH_FDSN_URL", server.url)
        assert main([*quick, "--out", str(tmp_path / "b"), "--offline"]) == 2
        assert "hpsearch data fetch" in capsys.readouterr().err and not server.requests
        assert main([*quick, "--out", str(tmp_path / "c")]) == 0
        assert server.requests
    out = capsys.readouterr().out
    assert "fetching it once from " + server.url in out and "fetched 300 events" in out and "rows kept: 300" in out
    assert len(pd.read_csv(tmp_path / "c" / "trials.csv")) == 3
    assert len(load_catalog()[0]) == 300
