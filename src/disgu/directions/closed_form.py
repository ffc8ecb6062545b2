"""CF (closed-form factorisation, Shen & Zhou 2021) for a Glow: eigenvectors of A^T A for its first mixing map.

SeFa reads the weight A of the generator's first projection layer y = A z + b and takes the unit
n maximising ||A n||, i.e. the leading eigenvectors of A^T A: the latent directions the first
layer amplifies most. For this Glow the reverse pass of the top level, from the standardised
latent eps (flattened (C, h, w), a = C h w), applies in order

1. the learned prior's un-standardisation z = m + S eps, S = diag(exp(log_sd)) (per channel and position);
2. the last flow step's coupling inverse: the identity on the kept half of the channels, an
   elementwise rescaling and shift of the other half computed by a network from the kept half
   (non-linear in eps, the identity at its zero initialisation);
3. that step's invertible 1x1 conv and actnorm inverse, C = diag(exp(-log_scale)) W^-1 at every position
   (block-diagonal over positions), plus a bias;
4. the earlier flow steps, the unsqueeze and the lower levels.

The first linear map is S, but it is diagonal: A^T A = S^2 would give the coordinate axes, no
factorisation at all. Taking the reverse pass's linear skeleton (every coupling network at its
zero initialisation, so every coupling is the identity, as SeFa ignores the non-linearities after
its layer), the first map that mixes latent coordinates is C S, and CF uses A = C S.
A^T A = S C^T C S is block-diagonal over the top level's h x w positions (a 1x1 conv does not mix
positions), so its eigenvectors are those of the h w blocks of C x C, each living at one position;
ties between positions are broken by the learned prior's scales S.
"""

from __future__ import annotations

import numpy as np
import torch

from disgu.errors import UserError
from disgu.models.glow import Glow


def closed_form_map(glow: Glow) -> tuple[np.ndarray, np.ndarray]:
    """(scales (C, h w), mixing (C, C)): S's diagonal per position, and C = diag(exp(-log_scale)) W^-1, float64."""
    top = glow.levels[-1]
    step = top.steps[-1]
    with torch.no_grad():
        log_sd = top.top_prior.detach().chunk(2, 1)[1][0].double()  # (C, h, w)
        w_inv = step.invconv.inverse_weight().double()
        inv_scale = torch.exp(-step.actnorm.log_scale.detach().double().view(-1))
    scales = torch.exp(log_sd).flatten(1).cpu().numpy()
    return scales, (w_inv * inv_scale[:, None]).cpu().numpy()


def closed_form_directions(glow: Glow, n_directions: int) -> tuple[np.ndarray, np.ndarray]:
    """((C h w, k) orthonormal columns, (k,) eigenvalues): the leading eigenvectors of (C S)^T (C S).

    Columns in the flattened (C, h, w) order of the top-level latent, largest eigenvalue first; each
    column's largest entry is positive, so the frame is the same on every run.
    """
    scales, mixing = closed_form_map(glow)
    channels, positions = scales.shape
    dim = channels * positions
    if not 1 <= n_directions <= dim:
        raise UserError(f"cf: n_directions must lie in 1..{dim} (the top-level latent dimension), got {n_directions}")
    gram = mixing.T @ mixing
    values, vectors = [], []
    for p in range(positions):
        s = scales[:, p]
        block = s[:, None] * gram * s[None, :]
        val, vec = np.linalg.eigh((block + block.T) / 2)
        for j in range(channels):
            full = np.zeros(dim)
            full[np.arange(channels) * positions + p] = vec[:, j]
            values.append(val[j])
            vectors.append(full)
    order = np.argsort(-np.asarray(values), kind="stable")[:n_directions]
    frame = np.stack([vectors[i] for i in order], 1)
    sign = np.sign(frame[np.abs(frame).argmax(0), np.arange(n_directions)])
    return frame * sign, np.asarray(values)[order]


def check_top_level(levels: tuple[int, ...], n_levels: int) -> None:
    """CF's map acts on the top level alone; other levels' priors depend on the level above."""
    if tuple(levels) != (n_levels - 1,):
        raise UserError(f"cf: the closed-form map acts on the top level only; set directions.levels=top "
                        f"(got levels {list(levels)})")
