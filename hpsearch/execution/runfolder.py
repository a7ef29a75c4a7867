"""What a run folder may hold, its lock and its manifest: hpsearch deletes and overwrites only its own.

A run folder is someone's folder first. hpsearch writes a known set of names
into it (:data:`OWNED`), lists what it wrote in ``manifest.json``, and:

* lists a name in the manifest *before* it writes it (:func:`claim`), and refuses to
  write a name that exists and is not listed: a user's ``report.html`` or ``_data/``
  in a folder without a manifest is theirs, whatever its name;
* refuses to run in a folder that holds anything else (a file it did not write,
  a symbolic link), with ``--force`` too: ``--force`` lets a changed config
  continue a run folder, it never makes a foreign file hpsearch's;
* takes the folder's lock before it creates a backend, a folder or a file, and
  holds it until every worker has ended; a refused run changes nothing (a
  folder it created for the lock alone is removed again);
* opens the files it appends to or truncates without following symbolic links.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import platform
import tomllib
from pathlib import Path
from typing import Callable

from hpsearch.errors import HpsearchError, RunError
from hpsearch.files import open_no_follow, refuse_link, write_atomic

LOCK_FILE = ".lock"
MANIFEST = "manifest.json"
STATES_FOLDER = "_states"
#: top-level names hpsearch writes in a run folder (a suite's folder too); folders end with "/"
OWNED = (
    "config.toml", "trials.jsonl", "trials.csv", "summary.csv", "run.json", "targets.csv", "report.html",
    "comparison.csv", "comparison.md", "comparison.tex", "curve_*.csv", "curve_*.png", "curve_*.pdf",
    "ecdf.csv", "ecdf.png", "ecdf.pdf", "hyperparameters.png", "hyperparameters.pdf", "optuna-journal.log",
    "suite.csv", "suite.md", "suite.tex", "friedman.json", "cd-diagram.png", "cd-diagram.pdf",
    "cd-diagram-*.png", "cd-diagram-*.pdf", "problems.csv", ".*.tmp", "*.tmp.png", "*.tmp.pdf",
    "table.json", "table.npz", "sequential.csv", "sequential.md", "sequential.png", "sequential.pdf",
    LOCK_FILE, MANIFEST,
)
OWNED_FOLDERS = (STATES_FOLDER, "_data", "_running", "problems", "record")
_FIGURES = ("png", "pdf")
#: the names a run or a suite may write, claimed (listed in the manifest) before the first is written;
#: exports (optuna-journal.log) are claimed by the export that writes them
RUN_NAMES = (
    "config.toml", "trials.jsonl", "trials.csv", "summary.csv", "run.json", "targets.csv", "report.html",
    "comparison.csv", "comparison.md", "comparison.tex", "ecdf.csv", "suite.csv", "suite.md", "suite.tex",
    "friedman.json", "problems.csv", "sequential.csv", "sequential.md", *OWNED_FOLDERS,
    *(f"curve_{x}.csv" for x in ("trials", "seconds", "epochs")),
    *(f"{stem}.{ext}" for ext in _FIGURES for stem in (
        "curve_trials", "curve_seconds", "curve_epochs", "ecdf", "hyperparameters", "cd-diagram", "sequential",
        "cd-diagram-validation")),
)
STATE_FILE = "[0-9]*-[0-9]*-[0-9]*.state*"  # checkpoints.trial_name + suffix (+ .tmp.npz while written)


def _owned(name: str, is_dir: bool) -> bool:
    if is_dir:
        return name in OWNED_FOLDERS
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in OWNED)


#: the manifest's format: 2 lists each name before it is written; 1 (no "format") listed what was there
MANIFEST_FORMAT = 2
#: names hpsearch creates only exclusively (mkstemp, O_EXCL): a leftover is never overwritten
_TEMPORARY = (".*.tmp",)


def _ours(entry: Path, listed: set[str]) -> bool:
    name, is_dir = entry.name, entry.is_dir()
    if name in (LOCK_FILE, MANIFEST):
        return not is_dir
    if not is_dir and any(fnmatch.fnmatchcase(name, pattern) for pattern in _TEMPORARY):
        return True
    return name in listed and _owned(name, is_dir)  # listed before it was written, of a name hpsearch writes


def foreign_entries(run_dir: Path) -> list[str]:
    """Entries of ``run_dir`` that hpsearch did not write: a name its manifest does not list (a
    folder without a manifest holds nothing of hpsearch's but its lock); a symbolic link, a hard
    link (a file with another name elsewhere) are always foreign. ``_states/`` is looked into (its
    files are the ones hpsearch deletes)."""
    run_dir = Path(run_dir)
    listed = set(read_manifest(run_dir))
    out = []
    for entry in sorted(run_dir.iterdir()):
        if entry.is_symlink():
            out.append(f"{entry.name} (a symbolic link)")
        elif entry.is_file() and entry.stat().st_nlink > 1:
            out.append(f"{entry.name} (a hard link to a file elsewhere)")
        elif not _ours(entry, listed):
            out.append(entry.name + ("/" if entry.is_dir() else ""))
    states = run_dir / STATES_FOLDER
    if states.is_dir() and not states.is_symlink():
        for entry in sorted(states.iterdir()):
            if entry.is_symlink() or entry.is_dir() or not fnmatch.fnmatchcase(entry.name, STATE_FILE):
                out.append(f"{STATES_FOLDER}/{entry.name}")
    return out


def check_only_ours(run_dir: Path) -> None:
    """Refuse (one line) a run folder holding anything hpsearch did not write."""
    foreign = foreign_entries(run_dir)
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise RunError(f"{run_dir} holds {', '.join(foreign[:3])}{more}, which hpsearch did not write; it writes and "
                       f"deletes only its own files: move them away or choose another --out")


def read_manifest(run_dir: Path) -> list[str]:
    """The names hpsearch wrote (or is about to write) in ``run_dir``: what its manifest lists;
    for a manifest of an earlier version (which listed what was there at the end), also the names
    hpsearch writes that are there; nothing without a manifest."""
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST
    if not path.is_file() or path.is_symlink():
        return []
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
        files = value.get("files", [])
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return []
    files = [f for f in files if isinstance(f, str)] if isinstance(files, list) else []
    if value.get("format") != MANIFEST_FORMAT and value.get("written_by") == "hpsearch":
        files += [e.name for e in run_dir.iterdir() if not e.is_symlink() and _owned(e.name, e.is_dir())
                  and e.name not in (LOCK_FILE, MANIFEST) and e.name not in files]
    return files


def claim(run_dir: Path, names) -> None:
    """List ``names`` (top-level names of ``run_dir``) in the manifest before hpsearch writes them.
    A name that exists and is not hpsearch's is refused, with one line naming it."""
    run_dir = Path(run_dir)
    listed = read_manifest(run_dir)
    new = [n for n in dict.fromkeys(names) if n not in listed]
    for name in new:
        path = run_dir / name
        if path.is_symlink():
            raise RunError(f"{path} is a symbolic link; hpsearch does not write through links "
                           f"(move it away or choose another folder)")
        if path.exists():
            raise RunError(f"{path} exists and hpsearch did not write it; it writes and deletes only its own "
                           f"files: move it away or choose another folder")
    if new or not (run_dir / MANIFEST).is_file():
        write_manifest(run_dir, listed + new)


def write_manifest(run_dir: Path, names: list[str] | None = None) -> None:
    """Write the manifest: ``names``, or what it lists now (in this version's format)."""
    run_dir = Path(run_dir)
    names = read_manifest(run_dir) if names is None else names
    write_atomic(run_dir / MANIFEST, json.dumps({"written_by": "hpsearch", "format": MANIFEST_FORMAT,
                                                  "files": sorted(set(names))}, indent=1) + "\n")


def remove_states(run_dir: Path) -> None:
    """Delete the saved states hpsearch wrote (and ``_states/`` when that leaves it empty)."""
    states = Path(run_dir) / STATES_FOLDER
    if not states.is_dir() or states.is_symlink():
        return
    for entry in states.iterdir():
        if not entry.is_symlink() and entry.is_file() and fnmatch.fnmatchcase(entry.name, STATE_FILE):
            entry.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        states.rmdir()


@contextlib.contextmanager
def locked(run_dir: Path):
    """Hold the run folder for this process: a second run on it exits 2 naming the holder,
    having changed nothing. The folder is created when missing, and removed again (with
    the lock file) when the body fails having written nothing else. The operating system
    releases the lock when the process ends, killed or not."""
    import fcntl

    run_dir = Path(run_dir)
    for folder in [run_dir, *run_dir.parents]:
        if folder.exists() and not folder.is_dir():
            raise RunError(f"--out {run_dir}: {folder} is a file; give a folder for the run")
    created = [folder for folder in [run_dir, *run_dir.parents] if not folder.exists()]
    run_dir.mkdir(parents=True, exist_ok=True)
    lock_path = run_dir / LOCK_FILE
    lock_existed = lock_path.exists() or lock_path.is_symlink()
    manifest_existed = (run_dir / MANIFEST).exists()
    fd = open_no_follow(lock_path, os.O_RDWR | os.O_CREAT)
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip()[:200] or "another process"
        handle.close()
        raise RunError(f"{run_dir} is in use by {holder}; wait for it to end, or choose another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()} on {platform.node()}")
    handle.flush()
    try:
        yield
    except BaseException:
        if not lock_existed and not any((run_dir / name).exists() for name in read_manifest(run_dir)):
            # refused before it wrote: leave nothing behind (a manifest of claims only included)
            if not manifest_existed:
                (run_dir / MANIFEST).unlink(missing_ok=True)
            lock_path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                for folder in created:  # deepest first, each only when empty
                    folder.rmdir()
        raise
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


# -- reading what a run wrote: damage is one line naming the file, never a traceback --------------
def damaged(path: Path, why: str) -> RunError:
    return RunError(f"{path}: damaged ({why[:120]}); `hpsearch run CONFIG --out {Path(path).parent}` "
                    f"rewrites the tables from trials.jsonl")


@contextlib.contextmanager
def reading(path: Path):
    """Turn what a damaged table does to its reader (a missing column, a value of the wrong kind)
    into one line naming the file."""
    try:
        yield
    except HpsearchError:
        raise
    except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise damaged(path, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


def read_csv(path: Path, required: tuple[str, ...] = ()):
    """A table hpsearch wrote (a pandas DataFrame), or None when it is not there."""
    import pandas as pd

    path = Path(path)
    refuse_link(path)
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path, encoding="utf-8")
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise damaged(path, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise damaged(path, f"no column '{missing[0]}'")
    return table


def read_json(path: Path) -> dict | None:
    """A JSON object hpsearch wrote (run.json, friedman.json), or None when it is not there."""
    path = Path(path)
    refuse_link(path)
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise damaged(path, f"{type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise damaged(path, "not a JSON object")
    return value


def read_text(path: Path) -> str:
    refuse_link(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise damaged(path, "not UTF-8 text") from None


# -- the run folder as one object --------------------------------------------------------------
TABLES = ("trials", "summary", "comparison")
#: columns a reader needs in each table hpsearch writes
REQUIRED = {"trials": ("strategy", "repetition", "trial", "status"), "summary": ("strategy", "repetition"),
            "comparison": ("strategy",), "suite": ("outcome", "strategy"), "problems": ("problem", "strategy")}
#: config keys that may change between a run and its resume: they do not change results
#: what a resume may change: the machine's keys, and the repetitions (a run goes on with more, or
#: a run until decided with another cap: the same sequences continue)
RESUMABLE_CHANGES = ("n_jobs", "backend", "scheduler", "population", "output", "description", "repetitions")


class RunFolder:
    """A run folder: its layout, its lock, its trial store and checkpoints, the check that
    a config may continue it, and the readers of what a run wrote.

    >>> folder = RunFolder("results/quickstart-20261130-120000")   # doctest: +SKIP
    >>> folder.table("summary"), folder.metric(), len(folder.records())   # doctest: +SKIP

    Readers never import anything a file names; damage is one line naming the file.
    """

    CONFIG = "config.toml"
    RUN = "run.json"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._store = None

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- writing: lock first, then only what hpsearch owns ---------------------------------
    def locked(self):
        """The folder's lock (see :func:`locked`): take it before anything else."""
        return locked(self.path)

    def resumes(self, config: dict, force: bool = False, resolve: Callable[[dict], dict] | None = None) -> bool:
        """True when the folder holds an earlier run of ``config`` (as ``Experiment.to_dict()``, the folder's
        as ``resolve`` reads it); a different one is refused unless ``force``; what hpsearch did not write, always."""
        config_path = self / self.CONFIG
        if not self.path.is_dir():
            return False
        check_only_ours(self.path)
        if not config_path.is_file():
            return False
        refuse_link(config_path)
        try:
            old = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise RunError(f"{config_path}: damaged ({str(exc)[:100]}); this run folder cannot be resumed, "
                           f"choose a new --out") from None
        with contextlib.suppress(HpsearchError, TypeError):  # a config this version refuses: compared as written
            old = resolve(old) if resolve else old
        changed = sorted(k for k in set(old) | set(config)
                         if k not in RESUMABLE_CHANGES and old.get(k) != config.get(k))
        if changed and not force:
            raise RunError(
                f"{self.path} holds a run of a different config (changed: {', '.join(changed)}); "
                f"choose a new --out, or pass --force to continue it with the new config")
        return True

    @property
    def store(self):
        """The trial store (``trials.jsonl``)."""
        from hpsearch.execution.store import TrialStore

        if self._store is None:
            self._store = TrialStore(self.path)
        return self._store

    def replay_store(self):
        """The store of a replay: records flushed one by one, synced when the run ends."""
        self.store.sync_each = False
        return self.store

    def checkpoints(self):
        from hpsearch.models.checkpoints import Checkpoints

        return Checkpoints(self.path)

    def claim(self, *names: str) -> None:
        claim(self.path, names)  # listed as hpsearch's before they are written

    def write_text(self, name: str, text: str) -> None:
        claim(self.path, [name])
        write_atomic(self / name, text)

    def write_json(self, name: str, value: dict) -> None:
        self.write_text(name, json.dumps(value, indent=2, default=str) + "\n")

    def write_manifest(self) -> None:
        write_manifest(self.path)

    def remove_states(self) -> None:
        remove_states(self.path)

    # -- reading -----------------------------------------------------------------------------
    def is_run(self) -> bool:
        return (self / self.CONFIG).is_file()

    def require_run(self) -> None:
        if not self.is_run():
            raise RunError(f"{self.path}: not an hpsearch run folder (no config.toml)")

    def config_text(self) -> str:
        self.require_run()
        return read_text(self / self.CONFIG)

    def records(self) -> list[dict]:
        """The stored trials, each (strategy, repetition, trial) once."""
        from hpsearch.execution.store import unique

        return unique(self.store.read())

    def table(self, name: str, missing_ok: bool = False):
        """A table the run wrote (``trials``, ``summary``, ``comparison``, ``suite``, ``problems``) as a
        DataFrame; when it is not there, a clean error (``missing_ok``: an empty DataFrame)."""
        if not self.path.is_dir():
            raise RunError(f"{self.path}: no such run folder")
        path = self / f"{name}.csv"
        frame = read_csv(path, REQUIRED.get(name, ()))
        if frame is None and missing_ok:
            import pandas as pd

            return pd.DataFrame()
        if frame is None:
            raise RunError(f"{path}: not found; is {self.path} a finished hpsearch run folder? "
                           f"(tables: {', '.join(TABLES)})")
        return frame

    def has(self, name: str) -> bool:
        return (self / name).is_file()

    def json(self, name: str = RUN) -> dict:
        """A JSON object the run wrote ({} when it is not there)."""
        return read_json(self / name) or {}

    def text(self, name: str) -> str:
        return read_text(self / name)

    def reading(self, name: str):
        """Turn what a damaged ``name`` does to its reader into one line (see :func:`reading`)."""
        return reading(self / name)

    def damaged(self, name: str, why: str) -> RunError:
        return damaged(self / name, why)

    def metric(self):
        """The run's metric, from its run.json (regression for runs that predate tasks)."""
        from hpsearch.data.metrics import metric_for

        task = self.json(self.RUN).get("task", "regression")
        if task not in ("regression", "classification"):
            raise self.damaged(self.RUN, f"task {str(task)[:40]!r}")
        return metric_for(task)
