"""A navigator start from the data: the principal axes of f(x) at the navigated levels (GANSpace's idea).

Why: at CPU budgets LD's objective is met by local recolourings, and from its identity or random
start the directions never reach the object's scale, shape or orientation, although a linear
top-level shift of the shipped Glow moves them (BENCHMARKS.md, "Where the geometry is"). The
principal axes of real images' latents already point along the factors with the largest
latent variation. Uses the training images only, never their labels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from disgu.errors import UserError
from disgu.models.generator import FrozenGlow


def encoded_sample(frozen: FrozenGlow, dataset, n_directions: int, n_images: int, seed: int, frame: str,
                   batch_size: int = 256) -> Tensor:
    """(n, nav_dim) float64 navigated latents of `n_images` training images drawn with `seed` (in index order).

    The sample a data-derived navigator frame (`frame`: 'principal', 'independent') is computed from;
    it must hold more images than the frame has directions.
    """
    n = min(int(n_images), len(dataset))
    if n <= n_directions:
        raise UserError(f"discovery.pca_images: the {frame} frame of {n_directions} directions needs more than "
                        f"{n_directions} images, got {n} (dataset of {len(dataset)})")
    idx = np.sort(np.random.default_rng(seed).choice(len(dataset), n, replace=False))
    with torch.no_grad():
        return torch.cat([frozen.encode_navigated(dataset.images(idx[i : i + batch_size])).double().cpu()
                          for i in range(0, n, batch_size)])


def principal_frame(frozen: FrozenGlow, dataset, n_directions: int, n_images: int, seed: int,
                    batch_size: int = 256) -> Tensor:
    """(nav_dim, n_directions) orthonormal columns: the top principal axes of the encoded images.

    Columns come in order of explained variance; each one's sign makes its largest entry positive,
    so the frame is the same on every run (and every DDP rank) for the same images.
    """
    flat = encoded_sample(frozen, dataset, n_directions, n_images, seed, "principal", batch_size)
    flat -= flat.mean(0)
    _, _, vh = torch.linalg.svd(flat, full_matrices=False)
    frame = vh[:n_directions].T
    largest = frame.gather(0, frame.abs().argmax(0, keepdim=True))
    return (frame * torch.sign(largest)).float()
