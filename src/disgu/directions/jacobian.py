"""DS: the leading eigenvectors of the decoder's mean J^T J over prior samples (Ramesh et al. 2018; Wang & Ponce 2021).

A direction n moves the image by ||J(z) n|| to first order, so the eigenvectors of
M = mean_z J(z)^T J(z) are the latent directions that change images most, on average over the
prior. For a GAN the Jacobian is of G(z); here it is of the Glow's reverse pass x = G(z) with
respect to the navigated latent, the other levels held at their sampled values, at z ~ N(0, T^2 I).

The full Jacobian (3 x 32 x 32 by 768 at 32x32) is never formed. M V for a block of vectors V is
computed per batch of samples from one forward pass: with g(w) = J^T w (a backward pass kept
differentiable in w), J v = d(g . v)/dw, and J^T (J v) is one more backward pass; subspace
iteration with a Rayleigh-Ritz step then converges to the leading eigenvectors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from disgu.models.generator import FrozenGlow


def jtj_product(decode: Callable[[Tensor], Tensor], z: Tensor, vectors: Tensor) -> Tensor:
    """(d, m) sum over the batch of J_i^T J_i V, J_i the Jacobian of `decode` at row i of z (n, d)."""
    zt = z.detach().clone().requires_grad_(True)
    out = torch.zeros_like(vectors)
    with torch.enable_grad():
        y = decode(zt)
        w = torch.zeros_like(y, requires_grad=True)
        (g,) = torch.autograd.grad(y, zt, w, create_graph=True)  # J^T w, linear in w
        for j in range(vectors.shape[1]):
            v = vectors[:, j].to(zt.dtype).expand_as(zt)
            (jv,) = torch.autograd.grad(g, w, v, retain_graph=True)
            (jtjv,) = torch.autograd.grad(y, zt, jv, retain_graph=True)
            out[:, j] = jtjv.sum(0).to(out.dtype)
    return out


def leading_eigenvectors(matvec: Callable[[Tensor], Tensor], dim: int, k: int, iterations: int,
                         oversample: int = 4, seed: int = 0, progress: Callable[[int], None] | None = None
                         ) -> tuple[Tensor, Tensor]:
    """((dim, k) orthonormal columns, (k,) values): the top eigenpairs of a symmetric PSD operator.

    Subspace (block power) iteration with k + oversample vectors; the last product gives the
    Rayleigh-Ritz step. Each column's largest entry is positive.
    """
    m = min(dim, k + oversample)
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, m, generator=gen, dtype=torch.float64))
    for it in range(max(1, iterations)):
        y = matvec(q)
        if progress is not None:
            progress(it + 1)
        if it < iterations - 1:
            q, _ = torch.linalg.qr(y)
    h = q.T @ y
    values, vecs = torch.linalg.eigh((h + h.T) / 2)
    order = torch.argsort(values, descending=True)[:k]
    frame = q @ vecs[:, order]
    sign = torch.sign(frame.gather(0, frame.abs().argmax(0, keepdim=True)))
    return frame * sign, values[order]


def prior_batches(frozen: FrozenGlow, n_samples: int, temperature: float, seed: int, batch_size: int
                  ) -> list[list[Tensor]]:
    """The latents (one tensor per level) J^T J is averaged over: z ~ N(0, T^2 I), in batches, seeded."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for start in range(0, n_samples, batch_size):
        m = min(batch_size, n_samples - start)
        batches.append([(temperature * torch.randn(m, *s, generator=gen)).to(frozen.device) for s in frozen.shapes])
    return batches


def jacobian_directions(frozen: FrozenGlow, n_directions: int, n_samples: int, temperature: float, seed: int,
                        iterations: int = 10, oversample: int = 4, batch_size: int = 16,
                        progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """((nav_dim, k) orthonormal columns, (k,) eigenvalues of mean J^T J), largest first."""
    from tqdm.auto import tqdm

    batches = prior_batches(frozen, n_samples, temperature, seed, batch_size)

    def matvec(v: Tensor) -> Tensor:
        total = torch.zeros_like(v)
        vf = v.float().to(frozen.device)
        for z in batches:
            base = frozen.navigated(z)
            total += jtj_product(lambda shift, z=z: frozen.decode_shifted(z, shift), torch.zeros_like(base),
                                 vf).double().cpu()
        return total / n_samples

    with tqdm(total=iterations, desc="ds: subspace iteration", disable=not progress, dynamic_ncols=True) as bar:
        frame, values = leading_eigenvectors(matvec, frozen.nav_dim, n_directions, iterations, oversample, seed,
                                             progress=lambda _: bar.update(1))
    return frame.numpy(), values.numpy()
