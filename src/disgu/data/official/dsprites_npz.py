"""The official dSprites file `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`, without loading the images whole.

The official file is compressed (np.savez_compressed), so its 737,280 binary images cannot be
memory-mapped from the zip. They are decompressed once, packed 8 pixels to a byte (377 MB instead of
3 GB), into the cache directory ($DISGU_CACHE_DIR, else ~/.cache/disgu), and mapped from there;
the first open takes a few seconds, later ones are instant. An uncompressed npz (np.savez) is
mapped in place.

The official `latents_classes` has six columns; the first, colour, is constant (white, size 1) and
is dropped, leaving shape 3, scale 6, orientation 40, posX 32, posY 32 (posY fastest).
"""

from __future__ import annotations

import os

import numpy as np

from disgu.data.base import GroundTruthDataset
from disgu.data.checks import check_dtype, check_shape
from disgu.data.arrays.npz import NpzArray, extract_to_cache, load_small, npz_keys, npz_member
from disgu.errors import UserError

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280
EXPECTED = "the dSprites npz has imgs (737280, 64, 64) uint8 in {0, 1}, latents_classes and latents_values (737280, 6)"


def _pack(chunk: np.ndarray) -> np.ndarray:
    return np.packbits(chunk != 0, axis=-1)


def _open_packed(member) -> np.ndarray:
    return extract_to_cache(member, "packbits", _pack, (64, 8), np.uint8)


class DSpritesNpz(GroundTruthDataset):
    """dSprites from its official npz: one grey channel, pixels 0 or 255, 64x64."""

    name = "dsprites"

    def __init__(self, path: str | os.PathLike, resolution: int | None = None):
        member = npz_member(path, "imgs", EXPECTED)
        self.path = member.path
        where = f"{self.path}[imgs]"
        check_shape(where, member.shape, (NUM_IMAGES, 64, 64), "(the official dSprites grid)")
        check_dtype(where, member.dtype, "uint8")
        self._packed = member.compressed
        self._imgs = NpzArray(member, _open_packed) if self._packed else NpzArray(member)
        self._imgs.array  # map (or unpack into the cache) now, so that a damaged file fails at open
        keys = npz_keys(self.path)
        if "latents_classes" in keys:
            self._check_classes(load_small(self.path, "latents_classes"))
        values = None
        if "latents_values" in keys:
            values = self._values(load_small(self.path, "latents_values"))
        super().__init__(FACTOR_NAMES, FACTOR_SIZES, values, (64, 64, 1), resolution)

    def _check_classes(self, classes: np.ndarray) -> None:
        where = f"{self.path}[latents_classes]"
        check_shape(where, classes.shape, (NUM_IMAGES, 6), "(colour, shape, scale, orientation, posX, posY)")
        check_dtype(where, classes.dtype, "integer")
        if (classes[:, 0] != 0).any():
            raise UserError(f"{where}: expected a constant colour column 0 (one colour), found other values")
        grid = classes[:, 1:]
        if (grid < 0).any() or (grid >= np.asarray(FACTOR_SIZES)).any():
            raise UserError(f"{where}: classes out of range for factor sizes {FACTOR_SIZES}")
        if not np.array_equal(np.ravel_multi_index(tuple(grid.T), FACTOR_SIZES), np.arange(NUM_IMAGES)):
            raise UserError(f"{where}: rows are not in the official grid order (posY fastest)")

    def _values(self, latents_values: np.ndarray) -> list[np.ndarray]:
        where = f"{self.path}[latents_values]"
        check_shape(where, latents_values.shape, (NUM_IMAGES, 6))
        check_dtype(where, latents_values.dtype, "floating")
        values = []
        for f, k in enumerate(FACTOR_SIZES):
            classes = np.zeros((k, len(FACTOR_SIZES)), dtype=np.int64)
            classes[:, f] = np.arange(k)
            rows = np.ravel_multi_index(tuple(classes.T), FACTOR_SIZES)
            values.append(np.asarray(latents_values[rows, f + 1], dtype=np.float64))
        return values

    def _read(self, idx: np.ndarray) -> np.ndarray:
        rows = self._imgs.read(idx)
        if self._packed:
            rows = np.unpackbits(rows, axis=-1)
        return ((rows != 0).astype(np.uint8) * 255)[..., None]
