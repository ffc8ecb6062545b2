"""Reading scattered rows of an on-disk array as a few contiguous slices.

Random access to a big file is dominated by per-read overhead (an h5py slice, a page fault that
drags in read-ahead), not by copying, so a request is sorted, nearby rows are merged into runs,
each run is read as one slice, and the rows are put back in the order asked (repeats allowed).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from disgu.errors import UserError

# Rows between two requested rows that are cheaper to read through than to seek over.
MAX_GAP_ROWS = 8


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


def read_by_runs(
    idx: np.ndarray, row_shape: tuple[int, ...], dtype: np.dtype, read_slice: Callable[[int, int], np.ndarray]
) -> np.ndarray:
    """Rows `idx` (any order) as (len(idx), *row_shape), where read_slice(start, stop) reads rows start:stop."""
    idx = np.asarray(idx, dtype=np.int64)
    uniq, inverse = np.unique(idx, return_inverse=True)
    out = np.empty((uniq.size, *row_shape), dtype=dtype)
    for first, end, start, stop in contiguous_runs(uniq):
        block = read_slice(start, stop)
        out[first:end] = block[uniq[first:end] - start]
    return out[inverse.reshape(-1)]


class FileRows:
    """Rows of a C-ordered array stored raw at byte `offset` of a file, read with `os.pread`.

    Used for an uncompressed npz member and a contiguous HDF5 dataset: each run of rows is one small
    read, without the read-ahead that page faults on a memory map drag in (about 50x slower for random
    rows of a cold file). The descriptor is opened once per process and dropped when pickled.
    """

    def __init__(self, path, offset: int, shape: tuple[int, ...], dtype: np.dtype, where: str):
        self.path, self.offset, self.shape, self.dtype = path, int(offset), tuple(shape), np.dtype(dtype)
        self.where = where
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self._fd: int | None = None
        self._pid: int | None = None

    @staticmethod
    def available() -> bool:
        return hasattr(os, "pread")

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": None}

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None and self._pid == os.getpid():
            os.close(self._fd)

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDONLY)  # an inherited descriptor is left to its owner
            self._pid = os.getpid()
        return self._fd

    def read_slice(self, start: int, stop: int) -> np.ndarray:
        size = (stop - start) * self.row_bytes
        data = os.pread(self._descriptor(), size, self.offset + start * self.row_bytes)
        if len(data) != size:
            raise UserError(f"{self.where}: truncated file: rows {start}..{stop - 1} are missing")
        return np.frombuffer(data, dtype=self.dtype).reshape(stop - start, *self.shape[1:])

    def read(self, idx: np.ndarray) -> np.ndarray:
        return read_by_runs(idx, self.shape[1:], self.dtype, self.read_slice)
