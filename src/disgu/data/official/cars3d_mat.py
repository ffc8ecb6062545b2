"""Cars3D: a folder of `*_mesh.mat` files, one car each, read lazily with a small cache of files.

Each file's `im` is (128, 128, 3, 24, 4): height, width, RGB, azimuth, elevation. The factor order
is disentanglement_lib's (elevation 4, azimuth 24, car), the car varying fastest, cars numbered by
sorted file name. Images are 128x128 and resized to 64x64 unless another resolution is asked for.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from disgu.data.base import GroundTruthDataset
from disgu.data.checks import check_dtype, check_shape
from disgu.errors import UserError

FACTOR_NAMES = ("elevation", "azimuth", "car")
NUM_ELEVATIONS, NUM_AZIMUTHS = 4, 24
MESH_SHAPE = (128, 128, 3, NUM_AZIMUTHS, NUM_ELEVATIONS)
DEFAULT_RESOLUTION = 64
CACHED_FILES = 16  # about 4.7 MB each


class Cars3DFolder(GroundTruthDataset):
    """Cars3D from the folder of `*_mesh.mat` files (the official release has 183 cars, 17,568 images)."""

    name = "cars3d"

    def __init__(self, path: str | os.PathLike, resolution: int | None = None):
        self.path = Path(path)
        if not self.path.is_dir():
            raise UserError(f"{self.path}: expected the Cars3D folder holding the *_mesh.mat files")
        for folder in (self.path, self.path / "cars", self.path / "data" / "cars"):  # the release unpacks to data/cars
            self.car_files = sorted(folder.glob("*_mesh.mat"))
            if self.car_files:
                break
        if not self.car_files:
            raise UserError(f"{self.path}: no *_mesh.mat files (expected the Cars3D folder, 183 files)")
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._mesh(0)  # check the first file now, so a wrong folder fails at open
        super().__init__(
            FACTOR_NAMES,
            (NUM_ELEVATIONS, NUM_AZIMUTHS, len(self.car_files)),
            None,
            (128, 128, 3),
            DEFAULT_RESOLUTION if resolution is None else resolution,
        )

    def _mesh(self, car: int) -> np.ndarray:
        if car in self._cache:
            self._cache.move_to_end(car)
            return self._cache[car]
        import scipy.io

        file = self.car_files[car]
        try:
            mat = scipy.io.loadmat(file, variable_names=["im"])
        except (OSError, ValueError, TypeError, EOFError, scipy.io.matlab.MatReadError) as err:
            raise UserError(f"{file}: not a readable .mat file, truncated or damaged? ({err})") from None
        if "im" not in mat:
            raise UserError(f"{file}: no variable 'im' (expected im (128, 128, 3, 24, 4) uint8)")
        im = mat["im"]
        check_shape(f"{file}[im]", im.shape, MESH_SHAPE, "(height, width, RGB, azimuth, elevation)")
        check_dtype(f"{file}[im]", im.dtype, "uint8")
        self._cache[car] = im
        if len(self._cache) > CACHED_FILES:
            self._cache.popitem(last=False)
        return im

    def _read(self, idx: np.ndarray) -> np.ndarray:
        elevation, azimuth, car = np.unravel_index(idx, self.factor_sizes)
        out = np.empty((idx.size, 128, 128, 3), dtype=np.uint8)
        for c in np.unique(car):
            rows = np.flatnonzero(car == c)
            im = self._mesh(int(c))
            out[rows] = np.moveaxis(im[:, :, :, azimuth[rows], elevation[rows]], -1, 0)
        return out

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state
