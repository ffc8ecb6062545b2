"""The dataset abstraction every stage reads: images on demand, and for ground-truth data the factor grid.

A ground-truth dataset is a full factorial grid of factors. Its images are stored in grid order
(last factor fastest, as in every official file), so the index of a factor tuple is its mixed-radix
number; a dataset whose file is in another order supplies the permutation instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from disgu.data.resize import resize_images


def _as_indices(indices, n: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim == 0:
        idx = idx.reshape(1)
    if idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"index out of range for a dataset of {n} images")
    return np.where(idx < 0, idx + n, idx).astype(np.int64)


class ImageDataset:
    """Images without labels: `len(ds)` and `ds.images(indices)` -> uint8 (n, H, W, C)."""

    name: str = "images"

    def __init__(self, num_images: int, native_shape: tuple[int, int, int], resolution: int | None = None):
        self._n = int(num_images)
        self.native_shape = tuple(int(s) for s in native_shape)
        self.resolution = resolution

    def __len__(self) -> int:
        return self._n

    @property
    def image_shape(self) -> tuple[int, int, int]:
        h, w, c = self.native_shape
        if self.resolution is None:
            return (h, w, c)
        return (self.resolution, self.resolution, c)

    def images(self, indices) -> np.ndarray:
        idx = _as_indices(indices, len(self))
        if idx.size == 0:
            return np.zeros((0, *self.image_shape), dtype=np.uint8)
        out = self._read(idx)
        if self.resolution is not None:
            out = resize_images(out, self.resolution)
        return out

    def _read(self, idx: np.ndarray) -> np.ndarray:
        """Native-resolution uint8 images (n, H, W, C) for valid non-negative indices."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "num_images": len(self), "image_shape": list(self.image_shape)}


class GroundTruthDataset(ImageDataset):
    """A full factorial grid of ground-truth factors.

    `factors(indices)` gives factor classes 0..K-1, `index_of(classes)` the inverse, and
    `factor_values` the real label values of each class (e.g. hues 0.0..0.9).
    """

    def __init__(
        self,
        factor_names: Sequence[str],
        factor_sizes: Sequence[int],
        factor_values: Sequence[np.ndarray] | None,
        native_shape: tuple[int, int, int],
        resolution: int | None = None,
        grid_to_file: np.ndarray | None = None,
    ):
        self.factor_names = tuple(str(n) for n in factor_names)
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        if len(self.factor_names) != len(self.factor_sizes):
            raise ValueError("factor_names and factor_sizes differ in length")
        if factor_values is None:
            factor_values = [np.arange(k, dtype=np.float64) for k in self.factor_sizes]
        self.factor_values = [np.asarray(v) for v in factor_values]
        n = int(np.prod(self.factor_sizes))
        # grid_to_file[g] = position in the file of the image whose grid (mixed-radix) index is g.
        self._grid_to_file = None
        self._file_to_grid = None
        if grid_to_file is not None:
            self._grid_to_file = np.asarray(grid_to_file, dtype=np.int64)
            self._file_to_grid = np.empty_like(self._grid_to_file)
            self._file_to_grid[self._grid_to_file] = np.arange(n)
        super().__init__(n, native_shape, resolution)

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def factors(self, indices) -> np.ndarray:
        idx = _as_indices(indices, len(self))
        if self._file_to_grid is not None:
            idx = self._file_to_grid[idx]
        return np.stack(np.unravel_index(idx, self.factor_sizes), axis=1).astype(np.int64)

    def index_of(self, factor_classes) -> np.ndarray:
        classes = np.asarray(factor_classes, dtype=np.int64)
        if classes.ndim == 1:
            classes = classes[None]
        if classes.ndim != 2 or classes.shape[1] != self.num_factors:
            raise ValueError(f"factor classes must have shape (n, {self.num_factors}), got {classes.shape}")
        sizes = np.asarray(self.factor_sizes)
        if (classes < 0).any() or (classes >= sizes).any():
            raise ValueError(f"factor classes out of range for factor sizes {self.factor_sizes}")
        idx = np.ravel_multi_index(tuple(classes.T), self.factor_sizes).astype(np.int64)
        if self._grid_to_file is not None:
            idx = self._grid_to_file[idx]
        return idx

    def factor_label_values(self, indices) -> np.ndarray:
        """The real label values (as in the official file) of the given images, (n, F) float."""
        classes = self.factors(indices)
        return np.stack([self.factor_values[i][classes[:, i]] for i in range(self.num_factors)], axis=1)

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        """Draw factor classes as disentanglement_lib does: one randint per factor, in factor order."""
        out = np.zeros((num, self.num_factors), dtype=np.int64)
        for i, k in enumerate(self.factor_sizes):
            out[:, i] = random_state.randint(k, size=num)
        return out

    def describe(self) -> dict:
        d = super().describe()
        d["factor_names"] = list(self.factor_names)
        d["factor_sizes"] = list(self.factor_sizes)
        return d
