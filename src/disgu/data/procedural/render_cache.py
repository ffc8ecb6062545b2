"""A store of rendered buffers that fills itself on first use of each item and persists in cache_dir().

The procedural MPI3D and Cars3D have tens of thousands of distinct scenes; rendering them all before
the first image is shown would cost minutes, and a test or a short run touches only a few. So the
store is one memory-mapped file with a row per item and a trailing "done" byte: asking for items
renders the missing ones, writes their bytes and then their flags, and every later call (in this or
any other process) reads them back. Writers of the same item write the same bytes, so concurrent
processes need no lock. Where the cache folder is not writable the store lives in memory.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from disgu.data.cache import cache_dir


def source_key(*modules) -> str:
    """A short hash of the renderers' source, so a changed renderer never reads a stale cache."""
    h = hashlib.sha1()
    for module in modules:
        try:
            h.update(inspect.getsource(module).encode())
        except (OSError, TypeError):  # no source shipped: key on the installed package's version instead
            h.update(f"{module.__name__} {_installed_version()}".encode())
    return h.hexdigest()[:10]


def _installed_version() -> str:
    """disgu's version from its installed metadata: the data layer does not import the top package."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("disgu")
    except PackageNotFoundError:
        return "unknown"


class RenderCache:
    """`get(items)` -> uint8 (n, *item_shape), rendering missing items with `render(items)` first."""

    def __init__(self, name: str, num_items: int, item_shape: Sequence[int],
                 render: Callable[[np.ndarray], np.ndarray]):
        self.name, self.num_items = name, int(num_items)
        self.item_shape = tuple(int(s) for s in item_shape)
        self.render = render
        self._rows: np.ndarray | None = None

    @property
    def path(self) -> Path:
        return cache_dir() / f"{self.name}.npy"

    def get(self, items) -> np.ndarray:
        items = np.asarray(items, dtype=np.int64).ravel()
        rows = self._open()
        missing = np.unique(items[rows[items, -1] == 0])
        if missing.size:
            buffers = np.asarray(self.render(missing), dtype=np.uint8).reshape(len(missing), -1)
            rows[missing, :-1] = buffers  # bytes first, then the flags that publish them
            rows[missing, -1] = 1
        return rows[items, :-1].reshape(len(items), *self.item_shape)

    def fill(self, batch: int = 256, progress: bool = False) -> None:
        """Render every missing item (in batches), e.g. before timing random access."""
        from tqdm import tqdm

        rows = self._open()
        missing = np.flatnonzero(rows[:, -1] == 0)
        for start in tqdm(range(0, len(missing), batch), desc=f"rendering {self.name}", disable=not progress,
                          unit="batch", mininterval=2):
            self.get(missing[start : start + batch])

    def _open(self) -> np.ndarray:
        if self._rows is None:
            self._rows = self._map() if _writable(self.path.parent) else None
            if self._rows is None:
                self._rows = np.zeros(self._shape(), dtype=np.uint8)
        return self._rows

    def _shape(self) -> tuple[int, int]:
        return (self.num_items, int(np.prod(self.item_shape)) + 1)

    def _map(self) -> np.ndarray | None:
        path = self.path
        for _ in range(2):
            if not path.exists():
                _create(path, self._shape())
            try:
                rows = np.load(path, mmap_mode="r+", allow_pickle=False)
                if rows.shape == self._shape() and rows.dtype == np.uint8:
                    return rows
            except (OSError, ValueError):
                pass
            try:
                path.unlink()  # damaged or of another shape: start again
            except OSError:
                return None
        return None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_rows"] = None  # each process maps the file itself
        return state


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _create(path: Path, shape: tuple[int, int]) -> None:
    """Create an all-zero (sparse) array file; if another process created it first, keep theirs."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape).flush()
        try:
            os.link(tmp, path)  # atomic and never replaces a file another process already fills
        except FileExistsError:
            pass
        except OSError:
            if not path.exists():
                os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
