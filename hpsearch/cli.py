"""The ``hpsearch`` command line.

Exit status: 0 success, 2 bad input (one line on stderr saying what and where),
3 a run in which no trial succeeded (every one failed or diverged; the tables are
written), 1 internal error, 130 interrupted (Ctrl-C; the run folder can be resumed).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from unittest import mock
from pathlib import Path

from hpsearch import commands as commands_module
from hpsearch.errors import HpsearchError, RunError
from hpsearch.execution.runfolder import RunFolder


class _Parser(argparse.ArgumentParser):
    """Misuse gets one line, like every other bad input (usage is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _integer(minimum: int, rule: str, also: tuple[int, ...] = ()):
    """An argparse type: an integer >= ``minimum`` (or one of ``also``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum and value not in also:
            raise argparse.ArgumentTypeError(f"must be {rule}, got {value}")
        return value

    return parse


_positive = _integer(1, ">= 1")
_n_jobs = _integer(1, ">= 1, or -1 for all cores", also=(-1,))
_seed = _integer(0, ">= 0")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hpsearch",
        description="Hyperparameter search and fair comparisons of search strategies: a NumPy network or "
                    "any scikit-learn estimator, on the USGS earthquake catalog or your own table.",
        epilog="Start with: hpsearch run experiments/quickstart.toml (the earthquake catalog is fetched on "
               "first use; hpsearch data import FILE uses a file you have). Exit status: 0 success, 2 bad input, 3 no trial succeeded, "
               "1 internal error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config = commands.add_parser("config", help="an experiment file: its JSON Schema, or resolved as run uses it",
                                 description="See what a config means before running it.")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    schema = config_commands.add_parser(
        "schema", help="print the JSON Schema (Draft 2020-12) of experiment files, for editors",
        description="Print the JSON Schema of experiment and suite files, generated from the sections each "
                    "part of hpsearch declares. Save it and point your editor at it (README: Configs in an editor).")
    schema.set_defaults(handler=commands_module.cmd_config_schema)
    show_config = config_commands.add_parser(
        "show", help="print the config with every default filled in, as run will use it",
        description="Print the fully resolved config as TOML (defaults filled in, paths absolute), without "
                    "reading the data: what `hpsearch run CONFIG` will do, and the text of its run folder's "
                    "config.toml.")
    show_config.add_argument("config", help="an experiment or suite TOML file")
    show_config.add_argument("--allow-package", action="append", default=[], metavar="PKG",
                             help="also allow estimators from this package (as for run)")
    show_config.set_defaults(handler=commands_module.cmd_config_show)

    run = commands.add_parser("run", help="run an experiment config (or resume its run folder)",
                              description="Run an experiment: every strategy, every repetition, "
                                          "then write trials.csv, summary.csv and the comparison.")
    run.add_argument("config", type=Path, help="experiment file (TOML), e.g. experiments/quickstart.toml")
    run.add_argument("--n-jobs", type=_n_jobs, help="parallel workers (-1: all cores); default from the config")
    run.add_argument("--out", type=Path, help="run folder; an existing one is resumed "
                                              "(default: results/NAME-DATE-TIME)")
    run.add_argument("--backend", choices=("loky", "dask"),
                     help="where trials run: loky processes here (default) or a Dask cluster")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler, e.g. tcp://host:8786 (with --backend dask; without it, "
                          "a local cluster of --n-jobs worker processes)")
    run.add_argument("--seed", type=_seed, help="root seed (overrides the config)")
    run.add_argument("--trials", type=_positive, help="trial budget per strategy and repetition")
    run.add_argument("--repetitions", type=_positive, help="repetitions (overrides the config; with "
                     "--until-decided, the most)")
    run.add_argument("--until-decided", action="store_true",
                     help="repetitions in waves until every comparison with random search is decided, "
                          "anytime-valid (README: How many repetitions?)")
    run.add_argument("--strategies", help="comma-separated strategies, e.g. random,grid,tpe")
    run.add_argument("--features", choices=("challenge", "extended"),
                     help="feature set (overrides the config's data.features)")
    run.add_argument("--allow-package", action="append", default=[], metavar="PACKAGE",
                     help="let [model] estimator come from PACKAGE as well as sklearn and hpsearch "
                          "(importing a package runs its code: name only packages you trust); repeatable")
    run.add_argument("--figures", metavar="FORMATS",
                     help="figure formats: png (default), pdf, png,pdf, or none (tables only; overrides "
                          "the config's [output] figures)")
    run.add_argument("--quiet", action="store_true", help="no progress bar, no notices")
    run.add_argument("--offline", action="store_true",
                     help="never reach the network: a missing earthquake catalog is an error, not fetched "
                          "(also HPSEARCH_OFFLINE=1)")
    run.add_argument("--force", action="store_true",
                     help="continue a run folder even though its config differs")
    run.set_defaults(handler=cmd_run)

    table = commands.add_parser("table", help="tabular benchmarks: record a problem once, replay it fast",
                                description="Record every point of a grid over a config's space (S seeds, "
                                            "curves to the fidelity's bound) as a table; a config with "
                                            "[table] path = DIR then replays it in simulated time.")
    table_commands = table.add_subparsers(dest="table_command", required=True, metavar="ACTION")
    record = table_commands.add_parser("record", help="record a config's problem as a table")
    record.add_argument("config", type=Path, help="experiment file (TOML) whose data, model and space to record "
                                                  "(a suite: each problem's, in OUT/NAME)")
    record.add_argument("--out", type=Path, required=True, help="the table's folder (an unfinished one is resumed)")
    record.add_argument("--seeds", type=_positive, help="seeds per point (default: [table] seeds, else 5)")
    record.add_argument("--levels", type=_positive,
                        help="levels per numeric dimension (default: [table] levels, else 8)")
    record.add_argument("--n-jobs", type=_n_jobs, help="parallel workers (-1: all cores); default from the config")
    record.add_argument("--quiet", action="store_true", help="no progress bar")
    record.set_defaults(handler=cmd_table_record)
    check = table_commands.add_parser("check", help="how well a replayed suite agrees with the live one")
    check.add_argument("replayed", type=Path, help="run folder of the suite replayed from tables")
    check.add_argument("live", type=Path, help="run folder of the same suite run live")
    check.set_defaults(handler=commands_module.cmd_table_check)

    data = commands.add_parser("data", help="get and inspect the earthquake catalog",
                               description="The catalog lives in the data folder: $HPSEARCH_DATA, "
                                           "or ~/hpsearch_data when it is not set.")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = data_commands.add_parser("fetch", help="download the catalog from the USGS FDSN event service")
    fetch.add_argument("--start", default="1965-01-01", help="first day (default 1965-01-01)")
    fetch.add_argument("--end", default="2016-12-31", help="last day, included (default 2016-12-31)")
    fetch.add_argument("--min-magnitude", type=float, default=5.5, help="default 5.5")
    fetch.add_argument("--url", help="FDSN event service query URL "
                                     "(default: the USGS service, or $HPSEARCH_FDSN_URL)")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(handler=commands_module.cmd_fetch)
    imp = data_commands.add_parser("import", help="validate a catalog file you have and cache it")
    imp.add_argument("file", type=Path, help="Kaggle database.csv or a USGS ComCat CSV")
    imp.set_defaults(handler=commands_module.cmd_import)
    info = data_commands.add_parser("info", help="rows, date range, magnitudes, what cleaning did")
    info.add_argument("--all-types", action="store_true", help="keep events other than earthquakes")
    info.set_defaults(handler=commands_module.cmd_info)

    calibrate = commands.add_parser("calibrate", help="measure where population training pays on this machine",
                                    description="Measure (about a second) up to which batch size training "
                                                "networks together beats one at a time here, and store it in "
                                                "the data folder; `hpsearch data info` shows the decision.")
    calibrate.set_defaults(handler=commands_module.cmd_calibrate)

    export = commands.add_parser("export",
                                 help="write a run's table as csv, md, latex or json, or an Optuna study",
                                 description="Write one table of a run folder in another format.")
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    export.add_argument("--format", default="csv", choices=("csv", "md", "latex", "json", "optuna"),
                        help="optuna: an Optuna JournalStorage file (one study per strategy and "
                             "repetition) for optuna-dashboard or optuna.load_study")
    export.add_argument("--table", default="comparison", choices=("trials", "summary", "comparison"),
                        help="default: comparison")
    export.add_argument("--columns", default="paper", choices=("paper", "all"),
                        help="latex comparison: the columns a paper needs (default: 7, with the baselines as rows) or all")
    export.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    export.set_defaults(handler=cmd_export)

    show = commands.add_parser("show", help="print a run's results (also of a run still going)",
                               description="The best configurations beside the baselines, and "
                                           "the trials by status, from a run folder.")
    show.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    show.set_defaults(handler=cmd_show)

    page = commands.add_parser("report", help="write a run's self-contained HTML report",
                               description="One HTML page with the comparison, the figures (embedded), the "
                                           "summary, the data and the config; runs write it as report.html.")
    page.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    page.add_argument("--output", "-o", type=Path, help="file to write (default: RUN_DIR/report.html)")
    page.set_defaults(handler=cmd_report)

    compare = commands.add_parser("compare", help="put several runs' comparisons side by side",
                                  description="One table with a row per (run, strategy), e.g. "
                                              "challenge vs extended features.")
    compare.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    compare.add_argument("--format", default="md", choices=("csv", "md", "latex", "json"))
    compare.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    compare.set_defaults(handler=cmd_compare)
    return parser


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        print(f"wrote {output}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    from hpsearch.results import export

    folder = RunFolder(args.run_dir)
    if args.format == "optuna":
        from hpsearch.config import read_run_config

        if not folder.is_run():
            raise RunError(f"{args.run_dir}: no finished trials to export (is it an hpsearch run folder?)")
        try:
            path, counts = export.to_optuna(args.run_dir, read_run_config(folder / folder.CONFIG), args.output)
        except ValueError as exc:  # a stored value Optuna refuses (outside its distribution, say)
            raise RunError(f"{args.run_dir}: cannot export to Optuna: {' '.join(str(exc).split())[:200]}") from None
        studies = f"{len(counts)} stud{'y' if len(counts) == 1 else 'ies'}"
        print(f"wrote {sum(counts.values())} trial{'' if sum(counts.values()) == 1 else 's'} in {studies} to {path}; "
              f"open with: optuna-dashboard {path}")
        return 0
    table = folder.table(args.table)
    caption = None
    paper = args.format == "latex" and args.table == "comparison" and args.columns == "paper"
    if args.table == "comparison":
        from hpsearch.config import read_run_config

        with folder.reading("comparison.csv"):
            caption = export.caption_for(table, read_run_config(folder / folder.CONFIG).data.target_name
                                         if folder.is_run() else "the target", paper)
    with folder.reading(f"{args.table}.csv"):
        if paper:
            text = export.latex_table(*export.paper_table(table, caption), f"tab:{args.table}")
        else:
            text = export.render(table, args.format, caption, f"tab:{args.table}" if args.format == "latex" else None)
    _emit(text, args.output)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from hpsearch.results import report

    folder = RunFolder(args.run_dir)
    records = folder.records()
    for problem in folder.store.damaged:
        print(f"note: {problem}")
    if not records and not folder.has("summary.csv"):
        folder.table("summary")  # raises the clean "not a run folder" error
    counts: dict[str, int] = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    print(f"{args.run_dir}: {len(records)} trials stored ("
          + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) + ")")
    if folder.has("summary.csv"):
        summary = folder.table("summary")
        with folder.reading("summary.csv"):
            print(report.results_text(summary, _param_names(folder)))
    elif records:  # a run still going (or stopped hard): its trials so far
        print("no summary yet (written when the run ends or stops); the trials so far:")
        print("\n".join(report.trials_so_far(records, _param_names(folder), folder.metric())))
    return 0


def _param_names(folder: RunFolder) -> list[str]:
    """The searched hyperparameters of a run folder, from its config."""
    from hpsearch.config import read_run_config

    return [d.name for d in read_run_config(folder / folder.CONFIG).space] if folder.is_run() else []


def cmd_report(args: argparse.Namespace) -> int:
    from hpsearch.config import read_run_config
    from hpsearch.files import write_atomic
    from hpsearch.results.html import html_report

    folder = RunFolder(args.run_dir)
    folder.require_run()
    if args.output is None:
        folder.claim("report.html")  # in the run folder: only hpsearch's own report is replaced
    output = args.output or folder / "report.html"
    write_atomic(output, html_report(folder, read_run_config(folder / folder.CONFIG)))
    print(f"wrote {output}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from hpsearch.results import export

    table = export.side_by_side(args.run_dirs)
    with RunFolder(".").reading("comparison.csv"):
        text = export.render(table, args.format)
    _emit(text, args.output)
    return 0


def _version() -> str:
    from hpsearch import __version__

    return __version__


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from hpsearch.config import Suite, load, with_overrides
    from hpsearch.runner import default_run_dir, run_experiment
    from hpsearch.suites import run_suite

    exp = load(args.config, suites=True, allow=tuple(args.allow_package))
    strategies = None
    if args.strategies is not None:
        strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    exp = with_overrides(exp, trials=args.trials, n_jobs=args.n_jobs, seed=args.seed, backend=args.backend,
                         scheduler=args.scheduler, repetitions=args.repetitions, strategies=strategies,
                         features=args.features, figures=args.figures, until_decided=args.until_decided)
    run_dir = args.out or default_run_dir(exp)
    signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's stop: like Ctrl-C, resumable
    runner = run_suite if isinstance(exp, Suite) else run_experiment
    try:  # --offline for this run only (an in-process caller's environment is left as it was)
        with mock.patch.dict(os.environ, {"HPSEARCH_OFFLINE": "1"} if args.offline else {}):
            output = runner(exp, run_dir, progress=not args.quiet, force=args.force)
    except KeyboardInterrupt:
        again = [a for a in sys.argv[1:] if a not in ("--force",)]
        if "--out" not in again:
            again += ["--out", str(run_dir)]
        stored = _stored_trials(Path(run_dir))
        if stored:
            print(f"\ninterrupted: {stored} finished trial{'s are' if stored > 1 else ' is'} stored in {run_dir}; "
                  f"resume with:\n  hpsearch {shlex.join(again)}", file=sys.stderr)
        else:
            print("\ninterrupted before any trial finished: nothing is stored", file=sys.stderr)
        return 130
    if output.resumed_trials:
        print(f"resumed {output.resumed_trials} finished trials from {run_dir}")
    print(output.text)
    shown = ("suite.md, friedman.json, cd-diagram.png, problems/NAME/" if isinstance(exp, Suite)
             else "comparison.md, curve_*.png")
    print(f"\nrun folder: {output.run_dir}  (trials.csv, summary.csv, {shown})")
    failed = [name for name, problem in getattr(output, "problems", {}).items()
              if not (problem.trials["status"] == "ok").any()]
    if failed:
        print(f"hpsearch: no trial succeeded in problem{'s' if len(failed) > 1 else ''} {', '.join(failed)} "
              f"(see problems/{failed[0]}/trials.csv); the suite's tables leave {'them' if len(failed) > 1 else 'it'} out",
              file=sys.stderr)
        return 3
    trials = output.trials
    if len(trials) and not (trials["status"] == "ok").any():
        common = trials["message"].fillna("").replace("", np.nan).dropna()
        reason = common.value_counts().index[0] if len(common) else "no message"
        print(f"hpsearch: no trial succeeded: {reason} ({len(trials)} trial{'' if len(trials) == 1 else 's'})", file=sys.stderr)
        return 3
    return 0


def _stored_trials(run_dir: Path) -> int:
    """Trials stored in a run folder (a suite's: in its problems' folders)."""
    folders = [run_dir, *sorted((run_dir / "problems").glob("*"))] if (run_dir / "problems").is_dir() else [run_dir]
    try:
        return sum(len(RunFolder(folder).records()) for folder in folders)
    except HpsearchError:
        return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_table_record(args: argparse.Namespace) -> int:
    from hpsearch.config import load, with_overrides
    from hpsearch.runner import record_table

    from hpsearch.config import Suite
    from hpsearch.execution.table import Table

    exp = with_overrides(load(args.config, suites=True), n_jobs=args.n_jobs)
    problems = exp.problems if isinstance(exp, Suite) else [(None, exp)]  # a suite: a table per problem
    signal.signal(signal.SIGTERM, _interrupt)
    for name, problem in problems:
        out = args.out / name if name else args.out
        try:
            record_table(problem, out, seeds=args.seeds, levels=args.levels, progress=not args.quiet)
        except KeyboardInterrupt:
            print(f"\ninterrupted: the recording resumes with the same command (run folder {out / 'record'})",
                  file=sys.stderr)
            return 130
        table = Table.load(out)
        spent = table.header["train_seconds"]
        spent = f"{spent:.1f}" if spent < 10 else f"{spent:,.0f}"  # a 0.2 s recording is not "0 s"
        print(f"recorded {table.val.shape[0]} points x {table.seeds} seeds x {table.bound} {table.fidelity} "
              f"({spent} s of training): {out}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except HpsearchError as exc:
        print(f"hpsearch: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `hpsearch data info | head -1`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a path the user gave: permissions, a file in the way, a name too long
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"hpsearch: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug: the traceback, and a status scripts can tell from bad input
        import traceback

        traceback.print_exc()
        print("hpsearch: internal error (a bug; finished trials are saved): please report it with "
              "the traceback above", file=sys.stderr)
        return 1
