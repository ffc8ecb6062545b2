"""The losses of the VAE baselines, as disentanglement_lib computes them (`vae.py`).

beta-VAE: recon + beta * KL. FactorVAE: recon + KL + gamma * TC, the total correlation TC of
q(z) estimated by a discriminator between q(z) and its dimension-wise shuffle (the density-ratio
trick), which is trained on its own cross-entropy (`discriminator_loss`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def bernoulli_recon_loss(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sigmoid cross-entropy summed over pixels, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over latents, averaged over the batch."""
    return (0.5 * (mean.pow(2) + log_var.exp() - log_var - 1.0)).sum(1).mean()


def total_correlation(logits: torch.Tensor) -> torch.Tensor:
    """TC estimate from the discriminator's logits on q(z): the mean of log D(z) / (1 - D(z))."""
    return (logits[:, 0] - logits[:, 1]).mean()


def shuffle_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Permute each latent dimension independently across the batch: a sample of prod_j q(z_j)."""
    n, d = z.shape
    perms = torch.stack([torch.randperm(n, generator=generator) for _ in range(d)], dim=1).to(z.device)
    return torch.gather(z, 0, perms)


def discriminator_loss(discriminator: nn.Module, z: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Cross-entropy telling q(z) (class 0) from the shuffled marginals (class 1); z is detached."""
    z = z.detach()
    logits_q = discriminator(z)
    logits_perm = discriminator(shuffle_dims(z, generator))
    zeros = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
    return 0.5 * (F.cross_entropy(logits_q, zeros) + F.cross_entropy(logits_perm, zeros + 1))
