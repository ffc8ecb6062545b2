"""Resizing with an area filter, vectorised over a batch (no per-image Python loop on the fast path)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_images(images: np.ndarray, resolution: int) -> np.ndarray:
    """Resize uint8 (n, H, W, C) images to (n, resolution, resolution, C).

    Integer down-scaling averages blocks (exactly the area filter); other sizes use Pillow's
    BOX filter (area) for shrinking and bicubic for enlarging, one image at a time.
    """
    n, h, w, c = images.shape
    if (h, w) == (resolution, resolution):
        return images
    if h % resolution == 0 and w % resolution == 0:
        fh, fw = h // resolution, w // resolution
        area = fh * fw
        blocks = images.reshape(n, resolution, fh, resolution, fw, c)
        # one add per block offset: 8x faster than a strided sum over axes (2, 4) at 64 -> 32
        sums = np.zeros((n, resolution, resolution, c), np.uint16 if 255 * area + area // 2 < 2 ** 16 else np.uint32)
        for i in range(fh):
            for j in range(fw):
                sums += blocks[:, :, i, :, j]
        return ((sums + area // 2) // area).astype(np.uint8)  # rounded integer mean
    out = np.empty((n, resolution, resolution, c), dtype=np.uint8)
    shrink = resolution < max(h, w)
    for i in range(n):
        img = Image.fromarray(images[i, :, :, 0] if c == 1 else images[i])
        img = img.resize((resolution, resolution), Image.BOX if shrink else Image.BICUBIC)
        arr = np.asarray(img)
        out[i] = arr[..., None] if c == 1 else arr
    return out
