"""Saved network states: multi-fidelity strategies continue a trial from another's.

A state is one ``.state`` file (a zip) per trial in the run folder's ``_states/``, named
after (strategy, repetition, trial). Workers write them (atomically: whole or
absent) and read them; the driver deletes those the strategy will not continue
any more, and the whole folder once the run is complete.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

STATES_FOLDER = "_states"
SUFFIX = ".state"  # a zip: NumPy arrays (the network) or a skops file (a scikit-learn estimator)


def trial_name(strategy: str, repetition: int, trial: int) -> str:
    """A file-name-safe name of a trial (strategy names may hold ``:``)."""
    return f"{zlib.crc32(strategy.encode())}-{repetition}-{trial}"


def save_state(state: dict, path: str) -> None:
    """Write atomically: a state file is either whole or absent."""
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, **state)
    Path(tmp).replace(path)


def load_state(path: str) -> dict:
    with np.load(path) as saved:
        return dict(saved)


class Checkpoints:
    """The ``_states/`` folder of one run."""

    def __init__(self, run_dir: Path):
        self.folder = Path(run_dir) / STATES_FOLDER

    def path(self, strategy: str, repetition: int, trial: int | None) -> str | None:
        if trial is None:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        return str(self.folder / f"{trial_name(strategy, repetition, trial)}{SUFFIX}")

    def release(self, strategy: str, repetition: int, asked, needed: set[int]) -> None:
        """Delete the states of trials in ``asked`` that are not ``needed`` any more.

        Only trials asked for in this process count: during a resume the states
        of trials not asked for again yet are still to be used. A temporary file
        left by a crash while saving is deleted too.
        """
        if not self.folder.is_dir():
            return
        prefix = trial_name(strategy, repetition, 0).rsplit("-", 1)[0] + "-"
        for path in self.folder.glob(f"{prefix}*"):
            number = path.name.removesuffix(SUFFIX).rsplit("-", 1)[1]
            if not path.name.endswith(SUFFIX) or not number.isdigit():  # a temporary file
                path.unlink(missing_ok=True)
            elif int(number) in asked and int(number) not in needed:
                path.unlink(missing_ok=True)
