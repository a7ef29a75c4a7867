"""Files written all or nothing, and never through a symbolic link.

A leaf module, like :mod:`hpsearch.errors`: every layer may import it, and it
imports nothing else of hpsearch.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from hpsearch.errors import RunError


@contextlib.contextmanager
def atomic_file(path: Path, binary: bool = False):
    """A file handle whose bytes become ``path`` when the block ends, all or nothing, synced.

    The temporary file beside ``path`` is created exclusively (``mkstemp``: ``O_EXCL``, so never
    through a link someone planted), renamed over ``path`` (which replaces a link, never writes
    through one), with the permissions a plain write would give (not mkstemp's 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` all or nothing (see :func:`atomic_file`)."""
    with atomic_file(path) as handle:
        handle.write(text)


def open_no_follow(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that refuses a symbolic link with a one-line RunError."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError:
        if Path(path).is_symlink():
            raise RunError(f"{path} is a symbolic link; hpsearch does not write through links "
                           f"(replace it with the file itself)") from None
        raise


def refuse_link(path: Path) -> None:
    if Path(path).is_symlink():
        raise RunError(f"{path} is a symbolic link; hpsearch does not read or write through links "
                       f"(replace it with the file itself)")
