"""GS (GANSpace, Harkonen et al. 2020) in a Glow: the principal axes of the latents the training images occupy.

GANSpace runs PCA on the intermediate activations of sampled latents, because a GAN has no
encoder. A Glow has an exact one, so the axes are taken where the data lies: PCA of f(x) of
training images at the navigated levels (`discovery.pca_base.principal_frame`, the same frame
`navigator_base=pca` starts discovery from).
"""

from __future__ import annotations

import numpy as np

from disgu.models.generator import FrozenGlow


def principal_directions(frozen: FrozenGlow, dataset, n_directions: int, n_images: int, seed: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """((nav_dim, k) orthonormal columns, (k,) variance of the images' latents along each), largest first."""
    from disgu.stages.discovery.pca_base import encoded_sample, principal_frame

    frame = principal_frame(frozen, dataset, n_directions, n_images, seed).double()
    latents = encoded_sample(frozen, dataset, n_directions, n_images, seed, "principal")
    variance = ((latents - latents.mean(0)) @ frame).var(0)
    return frame.numpy(), variance.numpy()
