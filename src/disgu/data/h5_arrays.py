"""Rows of an HDF5 dataset read lazily, with one file handle per process.

The handle is opened on first use in each process (a DataLoader worker forked from the parent
opens its own; the parent's is never shared), and is dropped when the object is pickled.
h5py's fancy indexing needs sorted unique indices and is slow for scattered rows, so a request is
sorted, split into runs of nearby rows, each run read as one slice, and put back in request order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from disgu.errors import UserError

# Rows between two requested rows that are cheaper to read through than to seek over.
MAX_GAP_ROWS = 8


def open_h5(path: str | os.PathLike):
    """Open an HDF5 file read-only, turning a missing or damaged file into a UserError."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file (expected an HDF5 .h5 file)")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise UserError(f"{path}: not a readable HDF5 file, truncated or damaged? ({err})") from None


def h5_dataset(f, key: str, expected: str = ""):
    """`f[key]`, or a UserError naming the file, the key, what was expected and what the file has."""
    import h5py

    obj = f.get(key)
    if not isinstance(obj, h5py.Dataset):
        want = f" ({expected})" if expected else ""
        raise UserError(f"{f.filename}: no dataset {key!r}{want}; the file has {sorted(f.keys())}")
    return obj


def contiguous_runs(sorted_unique: np.ndarray, max_gap: int = MAX_GAP_ROWS) -> list[tuple[int, int, int, int]]:
    """Split sorted unique row numbers into runs [(first_pos, end_pos, start_row, stop_row)].

    Rows closer than `max_gap` fall into one run, read as one slice start_row:stop_row.
    """
    if sorted_unique.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(sorted_unique) > max_gap + 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [sorted_unique.size]])
    return [(int(a), int(b), int(sorted_unique[a]), int(sorted_unique[b - 1]) + 1) for a, b in zip(starts, ends)]


class LazyH5Rows:
    """Read rows of `key` in the HDF5 file at `path`, opening the file once per process."""

    def __init__(self, path: str | os.PathLike, key: str):
        self.path = Path(path)
        self.key = key
        self._file = None
        self._pid: int | None = None
        ds = self._dataset()
        self.shape = tuple(int(s) for s in ds.shape)
        self.dtype = np.dtype(ds.dtype)

    def _dataset(self):
        if self._file is None or self._pid != os.getpid():
            # A handle inherited through fork is left alone: closing it could disturb the parent's.
            self._file = open_h5(self.path)
            self._pid = os.getpid()
        return h5_dataset(self._file, self.key)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    def read(self, idx: np.ndarray) -> np.ndarray:
        """Rows `idx` (any order, repeats allowed) as an array (len(idx), *row_shape)."""
        idx = np.asarray(idx, dtype=np.int64)
        uniq, inverse = np.unique(idx, return_inverse=True)
        out = np.empty((uniq.size, *self.shape[1:]), dtype=self.dtype)
        ds = self._dataset()
        try:
            for first, end, start, stop in contiguous_runs(uniq):
                block = ds[start:stop]
                out[first:end] = block[uniq[first:end] - start]
        except OSError as err:
            raise UserError(f"{self.path}[{self.key}]: cannot read rows, truncated or damaged? ({err})") from None
        return out[inverse.reshape(-1)]

    def read_all(self) -> np.ndarray:
        try:
            return self._dataset()[()]
        except OSError as err:
            raise UserError(f"{self.path}[{self.key}]: cannot read, truncated or damaged? ({err})") from None
