"""MNIST in its idx files (`train-images-idx3-ubyte`, `t10k-images-idx3-ubyte`, optionally `.gz`).

An idx file is a big-endian header (magic: 0, 0, dtype code, number of dims; then one uint32 per
dim) followed by the raw array. Uncompressed files are memory-mapped, gzipped ones read once.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from pathlib import Path

import numpy as np

from disgu.data.base import ImageDataset
from disgu.errors import UserError

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # uint8 with 3 dims / uint8 with 1 dim
_IMAGE_FILE = re.compile(r"^(?P<split>.+)-images[-.]idx3-ubyte(?P<gz>\.gz)?$")


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    """The array in an idx file whose magic number must be `magic`; mapped when not gzipped."""
    path = Path(path)
    ndim = magic & 0xFF
    try:
        with _open(path) as fp:
            head = fp.read(4 + 4 * ndim)
            if len(head) < 4 or int.from_bytes(head[:4], "big") != magic:
                got = int.from_bytes(head[:4], "big") if len(head) >= 4 else None
                raise UserError(f"{path}: expected an idx file with magic number {magic}, got {got}")
            if len(head) < 4 + 4 * ndim:
                raise UserError(f"{path}: truncated idx header (expected {ndim} dimensions)")
            dims = tuple(int(d) for d in np.frombuffer(head[4:], dtype=">u4"))
            count = int(np.prod(dims, dtype=np.int64))
            if path.suffix == ".gz":
                data = fp.read(count + 1)
                if len(data) != count:
                    raise UserError(f"{path}: expected {count} bytes of data for shape {dims}, found {len(data)}")
                return np.frombuffer(data, dtype=np.uint8).reshape(dims)
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"{path}: cannot read the idx file, truncated or damaged? ({err})") from None
    size = path.stat().st_size - len(head)
    if size != count:
        raise UserError(f"{path}: expected {count} bytes of data for shape {dims}, found {size}")
    return np.memmap(path, dtype=np.uint8, mode="r", offset=len(head), shape=dims)


def find_image_files(path: Path) -> list[Path]:
    """Images idx files in a folder, train before t10k; a plain file is taken as it is."""
    if path.is_file():
        return [path]
    found: dict[str, Path] = {}
    for file in sorted(path.iterdir()):
        m = _IMAGE_FILE.match(file.name)
        if m and (m["split"] not in found or not m["gz"]):  # prefer the uncompressed copy
            found[m["split"]] = file
    order = sorted(found, key=lambda s: (not s.startswith("train"), s))
    return [found[s] for s in order]


def _labels_file(images_file: Path) -> Path | None:
    name = images_file.name.replace("-images", "-labels").replace("idx3", "idx1")
    for candidate in (name, name[:-3] if name.endswith(".gz") else name + ".gz"):
        if (images_file.parent / candidate).is_file():
            return images_file.parent / candidate
    return None


class MNISTIdx(ImageDataset):
    """MNIST digits (N, 28, 28, 1) from idx files, training set first; `labels` holds the digits when found.

    MNIST has no factor grid, so this is an unlabeled dataset for qualitative use.
    """

    name = "mnist"

    def __init__(self, path: str | os.PathLike, resolution: int | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise UserError(f"{self.path}: no such file or folder (expected the MNIST idx files)")
        files = find_image_files(self.path)
        if not files:
            raise UserError(
                f"{self.path}: no MNIST images file (expected train-images-idx3-ubyte and/or "
                "t10k-images-idx3-ubyte, optionally .gz)"
            )
        self.files = files
        self._parts = [read_idx(f, IMAGES_MAGIC) for f in files]
        shapes = {p.shape[1:] for p in self._parts}
        if len(shapes) != 1:
            raise UserError(f"{self.path}: the idx image files differ in image size: {sorted(shapes)}")
        self._starts = np.cumsum([0] + [len(p) for p in self._parts])
        self.labels = self._read_labels()
        h, w = shapes.pop()
        super().__init__(int(self._starts[-1]), (h, w, 1), resolution)

    def _read_labels(self) -> np.ndarray | None:
        labels = []
        for images_file, part in zip(self.files, self._parts):
            file = _labels_file(images_file)
            if file is None:
                return None
            lab = np.asarray(read_idx(file, LABELS_MAGIC))
            if len(lab) != len(part):
                raise UserError(
                    f"{file}: {len(lab)} labels, expected {len(part)} (one per image in {images_file.name})"
                )
            labels.append(lab)
        return np.concatenate(labels).astype(np.int64)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        part = np.searchsorted(self._starts, idx, side="right") - 1
        out = np.empty((idx.size, *self.native_shape[:2]), dtype=np.uint8)
        for p in np.unique(part):
            rows = np.flatnonzero(part == p)
            out[rows] = self._parts[p][idx[rows] - self._starts[p]]
        return out[..., None]
