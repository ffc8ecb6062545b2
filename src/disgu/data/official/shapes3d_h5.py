"""The official Shapes3D file `3dshapes.h5`, read lazily: images stay on disk, rows are read on demand."""

from __future__ import annotations

import os

import numpy as np

from disgu.data.base import GroundTruthDataset
from disgu.data.checks import check_dtype, check_shape
from disgu.data.arrays.h5 import LazyH5Rows, h5_dataset, open_h5
from disgu.errors import UserError

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 480,000
EXPECTED = "3dshapes.h5 has images (480000, 64, 64, 3) uint8 and labels (480000, 6) float64"


def grid_label_values(labels: np.ndarray, sizes, where: str, order_hint: str) -> list[np.ndarray]:
    """Check that `labels` (N, F) enumerate the factor grid in mixed-radix order; return each factor's values.

    Values are told apart after rounding to 6 decimals, so float noise in a file does not split a class.
    """
    labels = np.asarray(labels, dtype=np.float64)
    rounded = np.round(labels, 6)
    values, classes = [], []
    for f, k in enumerate(sizes):
        uniq, first = np.unique(rounded[:, f], return_index=True)
        if uniq.size != k:
            raise UserError(f"{where}: factor {f} has {uniq.size} distinct label values, expected {k}")
        values.append(labels[first, f])  # the file's own values, not the rounded ones
        classes.append(np.searchsorted(uniq, rounded[:, f]))
    grid = np.ravel_multi_index(tuple(classes), tuple(sizes))
    if not np.array_equal(grid, np.arange(len(labels))):
        raise UserError(f"{where}: labels are not in the official grid order ({order_hint})")
    return values


class Shapes3DH5(GroundTruthDataset):
    """DeepMind's Shapes3D from `3dshapes.h5` (480,000 images, 64x64 RGB).

    Factors, in file order with orientation varying fastest: floor_hue 10, wall_hue 10,
    object_hue 10 (0.0..0.9), scale 8 (0.75..1.25), shape 4 (cube, cylinder, sphere, capsule),
    orientation 15 (-30..30 degrees). The label values are read from the file's `labels` and
    checked against the grid once at open; images are read row by row when asked for.
    """

    name = "shapes3d"

    def __init__(self, path: str | os.PathLike, resolution: int | None = None):
        _check_keys(path)
        self._rows = LazyH5Rows(path, "images")
        self.path = self._rows.path
        where = f"{self.path}[images]"
        check_shape(where, self._rows.shape, (NUM_IMAGES, 64, 64, 3), "(the official Shapes3D grid)")
        check_dtype(where, self._rows.dtype, "uint8")
        labels_rows = LazyH5Rows(self.path, "labels")
        where = f"{self.path}[labels]"
        check_shape(where, labels_rows.shape, (NUM_IMAGES, 6))
        check_dtype(where, labels_rows.dtype, "floating")
        values = grid_label_values(labels_rows.read_all(), FACTOR_SIZES, where, "orientation fastest")
        super().__init__(FACTOR_NAMES, FACTOR_SIZES, values, (64, 64, 3), resolution)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        return self._rows.read(idx)


def _check_keys(path) -> None:
    with open_h5(path) as f:
        h5_dataset(f, "images", EXPECTED)
        h5_dataset(f, "labels", EXPECTED)
