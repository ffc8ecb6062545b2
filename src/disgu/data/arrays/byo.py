"""Bring your own dataset: an `.npz` or `.h5` with `images` and, optionally, `factors` and `factor_names`.

- `images`: (N, H, W, C) uint8 with C = 1 or 3, or (N, H, W) (a channel is added).
- `factors`: (N, F) integers, one row per image (any integer values: each factor's distinct values,
  sorted, become its classes 0..K-1 and its `factor_values`).
- `factor_names`: F strings (default factor_0, factor_1, ...).

When the factors form a full grid (N = K1 x ... x KF, every combination exactly once) the result is a
GroundTruthDataset, whatever order the rows are in. Factors that do not form a full grid give an
ImageDataset that still carries `.labels` (N, F) classes and `.factor_names`, enough for metrics that
work on labelled samples (MIG, DCI) but not for those that sample by factors. No factors: ImageDataset.
Images are read lazily (h5 rows on demand; npz memory-mapped where stored uncompressed).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from disgu.data.base import GroundTruthDataset, ImageDataset
from disgu.data.checks import check_dtype
from disgu.data.arrays.h5 import LazyH5Rows, h5_dataset, open_h5
from disgu.errors import UserError

EXPECTED = "images (N, H, W, C) uint8, optional factors (N, F) int and factor_names (F,)"


class _NpzImages:
    def __init__(self, path: Path):
        from disgu.data.arrays.npz import NpzArray, npz_member

        member = npz_member(path, "images", EXPECTED)
        self.shape, self.dtype = member.shape, member.dtype
        self._array = NpzArray(member)

    def read(self, idx: np.ndarray) -> np.ndarray:
        return self._array.read(idx)


def _read_npz_extras(path: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    from disgu.data.arrays.npz import load_small, npz_keys

    keys = npz_keys(path)
    factors = load_small(path, "factors") if "factors" in keys else None
    names = load_small(path, "factor_names") if "factor_names" in keys else None
    return factors, names


def _read_h5_extras(path: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    with open_h5(path) as f:
        h5_dataset(f, "images", EXPECTED)
        try:
            factors = f["factors"][()] if "factors" in f else None
            names = f["factor_names"][()] if "factor_names" in f else None
        except OSError as err:
            raise UserError(f"{path}: cannot read factors, truncated or damaged? ({err})") from None
    return factors, names


def _decode_names(names, num_factors: int, path: Path) -> tuple[str, ...]:
    if names is None:
        return tuple(f"factor_{i}" for i in range(num_factors))
    names = np.atleast_1d(np.asarray(names))
    out = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist())
    if names.ndim != 1 or len(out) != num_factors:
        raise UserError(f"{path}[factor_names]: expected {num_factors} names (one per factor column), got {len(out)}")
    return out


def grid_permutation(classes: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray | None:
    """If `classes` (N, F) hold every combination of `sizes` exactly once, return grid_to_file (None when
    the rows are already in grid order); otherwise raise ValueError."""
    n = len(classes)
    if n != int(np.prod(sizes, dtype=np.int64)):
        raise ValueError("not a full grid")
    grid = np.ravel_multi_index(tuple(classes.T), sizes)
    if np.array_equal(grid, np.arange(n)):
        return None
    grid_to_file = np.full(n, -1, dtype=np.int64)
    grid_to_file[grid] = np.arange(n)
    if (grid_to_file < 0).any():
        raise ValueError("a combination appears twice")
    return grid_to_file


class BYOGroundTruth(GroundTruthDataset):
    """A user's file whose factors form a full grid."""

    def __init__(self, source, path, names, sizes, values, native_shape, resolution, grid_to_file):
        self._source, self.path, self.name = source, path, path.stem
        super().__init__(names, sizes, values, native_shape, resolution, grid_to_file)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        return self._source.read(idx).reshape(idx.size, *self.native_shape)


class BYOImages(ImageDataset):
    """A user's file without a full factor grid; `labels` (N, F) classes or None, `factor_names` likewise."""

    def __init__(self, source, path, native_shape, resolution, labels=None, names=None, values=None):
        self._source, self.path, self.name = source, path, path.stem
        self.labels, self.factor_names, self.factor_values = labels, names, values
        super().__init__(source.shape[0], native_shape, resolution)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        return self._source.read(idx).reshape(idx.size, *self.native_shape)

    def describe(self) -> dict:
        d = super().describe()
        if self.labels is not None:
            d["factor_names"] = list(self.factor_names)
            d["factor_sizes"] = [len(v) for v in self.factor_values]
            d["full_grid"] = False  # labelled samples only: no index_of / sample_factors
        return d


def write_byo(path: str | os.PathLike, images: np.ndarray, factors: np.ndarray | None = None) -> Path:
    """Write `images` (and `factors`) as a bring-your-own `.npz` that `load_byo` reads back; returns the path.

    Stored uncompressed, so `load_byo` memory-maps the images instead of holding a second copy.
    This is how in-memory arrays reach the pipeline: its Glow trainer opens the data by name, so an
    array needs a file to be named by (and a run dir holding that file can be resumed from the shell).
    """
    from disgu.atomic import atomic_path

    path = Path(path)
    arrays = {"images": images} if factors is None else {"images": images, "factors": factors}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: numpy adds no second .npz
        np.savez(f, **arrays)
    return path


def load_byo(path: str | os.PathLike, resolution: int | None = None) -> ImageDataset:
    """Open a bring-your-own `.npz` / `.h5` (see the module docstring for the layout)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise UserError(f"{path}: no such file (expected an .npz or .h5 with {EXPECTED})")
    if suffix == ".npz":
        source = _NpzImages(path)
        factors, names = _read_npz_extras(path)
    elif suffix in (".h5", ".hdf5"):
        factors, names = _read_h5_extras(path)
        source = LazyH5Rows(path, "images")
    else:
        raise UserError(f"{path}: expected an .npz or .h5 file")

    where = f"{path}[images]"
    shape = source.shape
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3)):
        raise UserError(f"{where}: expected shape (N, H, W, C) with C = 1 or 3, or (N, H, W); got {tuple(shape)}")
    check_dtype(where, source.dtype, "uint8")
    native_shape = (shape[1], shape[2], shape[3] if len(shape) == 4 else 1)
    n = shape[0]
    if n == 0:
        raise UserError(f"{where}: holds no images")
    if factors is None:
        if names is not None:
            raise UserError(f"{path}: has factor_names but no factors (expected factors (N, F) int)")
        return BYOImages(source, path, native_shape, resolution)

    where = f"{path}[factors]"
    factors = np.asarray(factors)
    if factors.ndim == 1:
        factors = factors[:, None]
    check_dtype(where, factors.dtype, "integer")
    if factors.ndim != 2 or factors.shape[0] != n:
        raise UserError(f"{where}: expected shape ({n}, F), one row per image in images, got {factors.shape}")
    names = _decode_names(names, factors.shape[1], path)
    values, columns = [], []
    for col in factors.T:
        uniq, inverse = np.unique(col, return_inverse=True)
        values.append(uniq)
        columns.append(inverse.reshape(-1))
    classes = np.stack(columns, axis=1).astype(np.int64)
    sizes = tuple(len(v) for v in values)
    try:
        grid_to_file = grid_permutation(classes, sizes)
    except ValueError:
        return BYOImages(source, path, native_shape, resolution, classes, names, values)
    return BYOGroundTruth(source, path, names, sizes, values, native_shape, resolution, grid_to_file)
