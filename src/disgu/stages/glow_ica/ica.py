"""Independent components of latents: the unmixing that gives codes and the mixing columns that give directions.

Why ICA: the factors of datasets like Shapes3D vary independently and are far from Gaussian, which
is what independent component analysis recovers, while principal axes mix them (each principal axis
of the shipped Shapes3D Glow's top level moves a hue together with the geometry). Labels are never used.

Why a top-level module: the glow-ica stage reads codes from these components (`glow_ica.model`), the
discovery stage starts a navigator at their directions (`discovery.ica_base`) and the `ica` direction
baseline uses that start; none of those stages owns the fit, and none should import another.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from disgu.errors import UserError


@dataclass
class LatentICA:
    """s = (z - mean) @ unmixing.T; the latent direction of source k is mixing[:, k]."""

    mean: np.ndarray  # (a,)
    unmixing: np.ndarray  # (k, a)
    mixing: np.ndarray  # (a, k)
    n_iter: int
    converged: bool

    @property
    def n_components(self) -> int:
        return int(self.unmixing.shape[0])

    def sources(self, latents: np.ndarray) -> np.ndarray:
        """(n, a) latents -> (n, k) independent sources (unit variance on the fit sample)."""
        return (np.asarray(latents, np.float64) - self.mean) @ self.unmixing.T

    def directions(self) -> np.ndarray:
        """(k, a) unit latent directions: the mixing columns, each scaled to length 1."""
        m = self.mixing.T
        return m / np.linalg.norm(m, axis=1, keepdims=True).clip(1e-12)


def fit_latent_ica(latents: np.ndarray, n_components: int, seed: int, max_iter: int = 1000,
                   tol: float = 1e-4) -> LatentICA:
    """FastICA (scikit-learn, unit-variance whitening) on (n, a) latents; signs fixed for reproducibility.

    Each component's sign makes the largest entry of its mixing column positive, so the same
    latents and seed give the same frame on every run and every DDP rank.
    """
    from sklearn.decomposition import FastICA
    from sklearn.exceptions import ConvergenceWarning

    x = np.asarray(latents, np.float64)
    if x.ndim != 2 or len(x) <= n_components:
        raise UserError(f"ICA: expected more latents than components ({n_components}), got shape {x.shape}")
    if not 1 <= n_components <= x.shape[1]:
        raise UserError(f"ICA: n_components must lie in 1..{x.shape[1]} (the latent dimension), got {n_components}")
    ica = FastICA(n_components, whiten="unit-variance", max_iter=max_iter, tol=tol, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        ica.fit(x)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    mixing = ica.mixing_.copy()
    unmixing = ica.components_.copy()
    sign = np.sign(mixing[np.abs(mixing).argmax(0), np.arange(n_components)])
    sign[sign == 0] = 1
    return LatentICA(mean=ica.mean_.copy(), unmixing=unmixing * sign[:, None], mixing=mixing * sign[None, :],
                     n_iter=int(ica.n_iter_), converged=converged)
