"""Procedural dSprites: the official grid and order (posY fastest), drawn analytically on demand.

Each pixel centre is mapped into the sprite's own frame (undo position, rotation, scale) and
tested against the shape's implicit equation, so any image is drawn without a stored array.
"""

from __future__ import annotations

import numpy as np

from disgu.data.base import GroundTruthDataset

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
FACTOR_VALUES = [
    np.array([1.0, 2.0, 3.0]),  # square, ellipse, heart (the official latents_values)
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
]
SHAPE_NAMES = ("square", "ellipse", "heart")
SIZE = 64
_MARGIN, _SPAN, _HALF = 10.0, 44.0, 10.5  # pixel centre range and sprite half-size at scale 1


def _inside(shape: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Membership in the unit-sized sprite of each row's shape; x, y in the sprite frame."""
    square = np.maximum(np.abs(x), np.abs(y)) <= 0.8
    ellipse = (x / 1.0) ** 2 + (y / 0.5) ** 2 <= 1.0
    hx, hy = x * 1.15, -y * 1.15 + 0.25  # heart: (x^2 + y^2 - 1)^3 <= x^2 y^3, point up-side down fixed
    heart = (hx**2 + hy**2 - 1) ** 3 - hx**2 * hy**3 <= 0
    s = shape[:, None, None]
    return np.where(s == 0, square, np.where(s == 1, ellipse, heart))


class ProceduralDSprites(GroundTruthDataset):
    """dSprites drawn offline: 737,280 binary 64x64 images in the official factor order."""

    name = "dsprites"

    def __init__(self, resolution: int | None = None):
        super().__init__(FACTOR_NAMES, FACTOR_SIZES, FACTOR_VALUES, (SIZE, SIZE, 1), resolution)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        f = self.factors(idx)
        out = np.empty((len(f), SIZE, SIZE, 1), dtype=np.uint8)
        grid = np.arange(SIZE, dtype=np.float32) + 0.5
        for start in range(0, len(f), 4096):
            fb = f[start : start + 4096]
            scale = FACTOR_VALUES[1][fb[:, 1]][:, None, None] * _HALF
            theta = FACTOR_VALUES[2][fb[:, 2]][:, None, None]
            cx = (_MARGIN + _SPAN * FACTOR_VALUES[3][fb[:, 3]])[:, None, None]
            cy = (_MARGIN + _SPAN * FACTOR_VALUES[4][fb[:, 4]])[:, None, None]
            dx = grid[None, None, :] - cx
            dy = grid[None, :, None] - cy
            c, s = np.cos(theta), np.sin(theta)
            x = (c * dx + s * dy) / scale
            y = (-s * dx + c * dy) / scale
            out[start : start + len(fb), ..., 0] = _inside(fb[:, 0], x, y).astype(np.uint8) * 255
        return out
