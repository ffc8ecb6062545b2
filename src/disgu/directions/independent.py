"""ICA directions: the independent components of the latents the training images occupy.

The mixing columns of FastICA on f(x) (`discovery.ica_base.independent_frame`), each of unit
length and not orthogonalised: the regression encoder then predicts least-squares coordinates
pinv(D) z rather than projections D^T z.
"""

from __future__ import annotations

import numpy as np

from disgu.models.generator import FrozenGlow


def independent_directions(frozen: FrozenGlow, dataset, n_directions: int, n_images: int, seed: int) -> np.ndarray:
    """(nav_dim, k) unit columns: the independent components' latent directions."""
    from disgu.stages.discovery.ica_base import independent_frame

    return independent_frame(frozen, dataset, n_directions, n_images, seed, orthonormal=False).double().numpy()
