"""The small commands of the ``hpsearch`` command line: the catalog (``data``), the machine
(``calibrate``), tables (``table check``) and configs (``config schema``, ``config show``).
The parser and the run commands are :mod:`hpsearch.cli`."""

from __future__ import annotations

import argparse
import json


def cmd_config_schema(args: argparse.Namespace) -> int:
    from hpsearch.config import schema

    print(json.dumps(schema(), indent=2))
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    """The resolved config, as ``run`` will use it and write it to the run folder's config.toml."""
    from hpsearch.config import load

    print(load(args.config, suites=True, allow=tuple(args.allow_package)).to_toml(), end="")
    return 0


def cmd_table_check(args: argparse.Namespace) -> int:
    from hpsearch.results.tabular import agreement

    print(agreement(args.replayed, args.live))
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from hpsearch.data.fetch import fetch_catalog, fetched_words

    path, table, pages = fetch_catalog(args.start, args.end, args.min_magnitude, url=args.url,
                                       progress=not args.quiet)
    print(fetched_words(path, table, pages))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from hpsearch.data.catalog import import_catalog

    path, table = import_catalog(args.file)
    print(f"imported {len(table)} rows from {args.file} into {path}")
    return cmd_info(argparse.Namespace(all_types=False))


def cmd_info(args: argparse.Namespace) -> int:
    from hpsearch.data.catalog import data_dir, load_catalog

    table, report, meta = load_catalog(None if args.all_types else ("earthquake",))
    m = table["magnitude"]
    print(f"data folder: {data_dir().resolve()}")
    print(f"catalog: {meta.get('origin', '?')} ({meta.get('layout', '?')} layout)")
    print(f"events: {len(table)} from {table['time'].min():%Y-%m-%d} to {table['time'].max():%Y-%m-%d}")
    print(f"magnitude: min {m.min():.2f}, max {m.max():.2f}, mean {m.mean():.4f}, "
          f"std {m.std():.4f}, median {m.median():.2f}")
    print("cleaning: " + "; ".join(report.lines()))
    from hpsearch.models import calibration

    print(calibration.describe(calibration.entry()))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from hpsearch.models import calibration

    print(calibration.describe(calibration.calibrate()))
    return 0
