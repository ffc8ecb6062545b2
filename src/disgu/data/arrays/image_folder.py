"""A folder of images (e.g. Anime faces): every png/jpg/jpeg/bmp/webp under it, read with Pillow on demand."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from disgu.data.base import ImageDataset
from disgu.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _load_rgb(file: Path) -> Image.Image:
    try:
        with Image.open(file) as img:
            return img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise UserError(f"{file}: not a readable image, corrupt or truncated? ({err})") from None


class ImageFolderDataset(ImageDataset):
    """All images under `path` (recursive, sorted by path), as RGB of one common size.

    The common size is `resolution` x `resolution` when given, else the first image's size; images of
    another size are resized to it (area filter when shrinking, bicubic when enlarging).
    """

    name = "images"

    def __init__(self, path: str | os.PathLike, resolution: int | None = None):
        self.path = Path(path)
        if not self.path.is_dir():
            raise UserError(f"{self.path}: expected a folder of images ({', '.join(IMAGE_SUFFIXES)})")
        self.files = sorted(p for p in self.path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise UserError(f"{self.path}: no images found (expected {', '.join(IMAGE_SUFFIXES)} files in the folder)")
        if resolution is None:
            w, h = _load_rgb(self.files[0]).size
        else:
            _load_rgb(self.files[0])
            w = h = resolution
        super().__init__(len(self.files), (h, w, 3), resolution)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        h, w, _ = self.native_shape
        out = np.empty((idx.size, h, w, 3), dtype=np.uint8)
        for i, j in enumerate(idx):
            img = _load_rgb(self.files[j])
            if img.size != (w, h):
                shrink = img.size[0] > w or img.size[1] > h
                img = img.resize((w, h), Image.BOX if shrink else Image.BICUBIC)
            out[i] = np.asarray(img)
        return out
