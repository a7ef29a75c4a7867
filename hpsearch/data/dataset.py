"""A prepared split: the arrays a trial trains and is scored on.

Kept apart from :mod:`hpsearch.data.features` (which needs pandas to build splits)
so that a worker process imports only NumPy to read one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

ARRAYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


@dataclass(frozen=True)
class Dataset:
    """Scaled arrays of one split, ready for training."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]

    def save(self, folder: Path) -> Path:
        """Write one ``.npy`` per array (workers memory-map them)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in ARRAYS:
            np.save(folder / f"{name}.npy", getattr(self, name))
        (folder / "features.txt").write_text("\n".join(self.feature_names) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> "Dataset":
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None)
                  for name in ARRAYS}
        names = tuple((folder / "features.txt").read_text().split())
        return cls(feature_names=names, **arrays)
