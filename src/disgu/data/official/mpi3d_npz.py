"""MPI3D `mpi3d_{toy,realistic,real}.npz`: images memory-mapped from the npz, labels implied by the order."""

from __future__ import annotations

import os

import numpy as np

from disgu.data.base import GroundTruthDataset
from disgu.data.checks import check_dtype, check_shape
from disgu.data.arrays.npz import NpzArray, npz_member
from disgu.errors import UserError

FACTOR_NAMES = (
    "object_color", "object_shape", "object_size", "camera_height", "background_color",
    "horizontal_axis", "vertical_axis",
)
# The current files have 6 colours and 6 shapes; the older release had 4 and 4. Told apart by image count.
LAYOUTS = {
    1036800: (6, 6, 2, 3, 3, 40, 40),
    460800: (4, 4, 2, 3, 3, 40, 40),
}
EXPECTED = "an MPI3D npz has images (1036800, 64, 64, 3) uint8 (older files: 460800 images)"


class MPI3DNpz(GroundTruthDataset):
    """MPI3D toy, realistic or real (the variant is taken from the file name).

    Factor classes are numbered in file order, the last (vertical_axis) fastest; the file holds no
    label values, so `factor_values` are the class numbers. An uncompressed npz is memory-mapped; a
    compressed one is decompressed once into the cache directory (see disgu.data.arrays.npz).
    """

    name = "mpi3d"

    def __init__(self, path: str | os.PathLike, resolution: int | None = None):
        member = npz_member(path, "images", EXPECTED)
        self.path = member.path
        where = f"{self.path}[images]"
        check_shape(where, member.shape, (None, 64, 64, 3))
        check_dtype(where, member.dtype, "uint8")
        n = member.shape[0]
        if n not in LAYOUTS:
            counts = " or ".join(f"{k} ({'x'.join(map(str, v))})" for k, v in LAYOUTS.items())
            raise UserError(f"{where}: {n} images, expected {counts}")
        stem = self.path.stem
        self.variant = stem if stem.startswith("mpi3d_") else "mpi3d"
        self._images = NpzArray(member)
        self._images.array  # map (or extract) now, so that a damaged file fails at open
        super().__init__(FACTOR_NAMES, LAYOUTS[n], None, (64, 64, 3), resolution)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        return self._images.read(idx)

    def describe(self) -> dict:
        d = super().describe()
        d["variant"] = self.variant
        return d
