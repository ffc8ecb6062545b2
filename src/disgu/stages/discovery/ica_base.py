"""A navigator start from the data: the independent components of f(x) at the navigated levels.

Why: the principal axes (`pca_base`) reach the object's geometry but each one also changes a hue;
independent components separate the factors far better (|cos| to label-derived directions 0.90 /
0.92 / 0.77 for scale / shape / orientation against 0.77 / 0.62 / 0.79, BENCHMARKS.md). ICA's
mixing columns need not be orthogonal: the `proj` navigator takes them as they are (unit length),
the `ortho` navigator takes their symmetric orthogonalisation M (M^T M)^(-1/2), the orthonormal
frame closest to them. Uses the training images only, never their labels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from disgu.models.generator import FrozenGlow


def symmetric_orthogonalisation(m: np.ndarray) -> np.ndarray:
    """The (a, b) matrix with orthonormal columns closest to m in Frobenius norm (m = U S V^T -> U V^T)."""
    u, _, vt = np.linalg.svd(m, full_matrices=False)
    return u @ vt


def independent_frame(frozen: FrozenGlow, dataset, n_directions: int, n_images: int, seed: int,
                      orthonormal: bool = True, batch_size: int = 256) -> Tensor:
    """(nav_dim, n_directions) unit columns: the independent components of the encoded images' latents."""
    from disgu.stages.discovery.pca_base import encoded_sample
    from disgu.stages.glow_ica.ica import fit_latent_ica

    latents = encoded_sample(frozen, dataset, n_directions, n_images, seed, "independent", batch_size).numpy()
    frame = fit_latent_ica(latents, n_directions, seed).directions().T
    if orthonormal:
        frame = symmetric_orthogonalisation(frame)
    return torch.from_numpy(frame).float()
