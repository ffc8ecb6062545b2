"""Rows of an HDF5 dataset read lazily, with one file handle per process.

The file is opened at construction only to check it, then closed; a handle is opened again on the
first read in each process (a DataLoader worker forked from the parent opens its own) and is
dropped when the object is pickled.
h5py's fancy indexing needs sorted unique indices and is slow for scattered rows, so a request is
read as runs of nearby rows (disgu.data.rows). A contiguous, unfiltered dataset (as in the released
3dshapes.h5) is read straight from its byte offset with `os.pread`, which skips h5py's per-read cost.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from disgu.data.rows import FileRows, read_by_runs
from disgu.errors import UserError


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
        self._raw = _raw_rows(ds, self.path, f"{self.path}[{key}]")
        self.close()  # reopened on the first read, in whichever process reads

    def close(self) -> None:
        """Close this process's handle (a handle inherited through fork is left to its owner)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._pid = None, None

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
        if self._raw is not None:
            return self._raw.read(idx)
        ds = self._dataset()
        try:
            return read_by_runs(idx, self.shape[1:], self.dtype, lambda start, stop: ds[start:stop])
        except OSError as err:
            raise UserError(f"{self.path}[{self.key}]: cannot read rows, truncated or damaged? ({err})") from None

    def read_all(self) -> np.ndarray:
        """The whole dataset (for small ones such as labels); the file is closed again afterwards."""
        try:
            return self._dataset()[()]
        except OSError as err:
            raise UserError(f"{self.path}[{self.key}]: cannot read, truncated or damaged? ({err})") from None
        finally:
            self.close()


def _raw_rows(ds, path: Path, where: str) -> FileRows | None:
    """A FileRows over `ds` when its data sit contiguously and unfiltered in the file, else None."""
    import h5py

    if not FileRows.available() or ds.chunks is not None or ds.ndim == 0 or ds.dtype.kind not in "uifb":
        return None
    plist = ds.id.get_create_plist()
    if plist.get_layout() != h5py.h5d.CONTIGUOUS or plist.get_external_count() or plist.get_nfilters():
        return None
    offset = ds.id.get_offset()
    if offset is None:  # never written: h5py returns the fill value
        return None
    nbytes = int(np.prod(ds.shape, dtype=np.int64)) * ds.dtype.itemsize
    if offset + nbytes > path.stat().st_size:
        raise UserError(f"{where}: truncated file: the data need {nbytes} bytes from offset {offset}")
    return FileRows(path, offset, ds.shape, ds.dtype, where)
