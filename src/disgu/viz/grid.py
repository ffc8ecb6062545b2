"""Tiling uint8 images into labelled sheets (Pillow only: no torchvision here)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from disgu.atomic import atomic_path


def tile(images: np.ndarray, ncols: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile uint8 (n, H, W, C) images into one (rows*H', ncols*W', 3) array with padding."""
    if images.ndim != 4:
        raise ValueError(f"expected (n, H, W, C) images, got shape {images.shape}")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    n, h, w, _ = images.shape
    nrows = max(1, -(-n // ncols))
    sheet = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), fill, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        sheet[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = images[i]
    return sheet


def labelled_rows(rows: Sequence[np.ndarray], labels: Sequence[str], scale: int = 2, label_width: int = 110) -> Image.Image:
    """One row of images per label, the label written at the left; rows may differ in length."""
    ncols = max(len(r) for r in rows)
    sheets = [tile(r, ncols) for r in rows]
    h, w = sheets[0].shape[0], sheets[0].shape[1]
    body = np.concatenate([np.pad(s, ((0, 0), (0, w - s.shape[1]), (0, 0)), constant_values=255) for s in sheets], 0)
    img = Image.fromarray(body)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    canvas = Image.new("RGB", (img.width + label_width, img.height), "white")
    canvas.paste(img, (label_width, 0))
    draw = ImageDraw.Draw(canvas)
    for i, label in enumerate(labels):
        draw.text((4, i * h * scale + h * scale // 2 - 6), label, fill=(0, 0, 0))
    return canvas


def save_image(image: Image.Image | np.ndarray, path: str | os.PathLike) -> None:
    """Atomically write a PNG (or any format Pillow infers from the suffix)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    with atomic_path(path) as tmp:
        image.save(tmp)
