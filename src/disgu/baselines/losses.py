"""The losses of the VAE baselines, as disentanglement_lib computes them (`vae.py`).

beta-VAE: recon + beta * KL. FactorVAE: recon + KL + gamma * TC, the total correlation TC of
q(z) estimated by a discriminator between q(z) and its dimension-wise shuffle (the density-ratio
trick), which is trained on its own cross-entropy (`discriminator_loss`). DIP-VAE (Kumar et al. 2018):
recon + KL + `dip_regularizer`, which pulls a covariance of the codes towards the identity.
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


# DIP-VAE's (lambda_od, lambda_d) per type, as disentanglement_lib sets them (lambda_d = 10 / 1 x lambda_od)
DIP_TYPES = ("i", "ii")
DIP_DEFAULTS = {"i": (10.0, 100.0), "ii": (1.0, 1.0)}


def dip_covariance(mean: torch.Tensor, log_var: torch.Tensor, dip_type: str) -> torch.Tensor:
    """The (d, d) covariance DIP-VAE regularises: Cov[mu] over the batch (type i), + E[Sigma] (type ii).

    Cov[mu] = E[mu mu^T] - E[mu] E[mu]^T, divided by the batch size as disentanglement_lib does;
    E[Sigma] is the batch mean of the diagonal posterior covariances diag(exp(log_var)).
    """
    if dip_type not in DIP_TYPES:
        raise ValueError(f"dip_type: expected one of {', '.join(DIP_TYPES)}, got {dip_type!r}")
    centred = mean - mean.mean(0, keepdim=True)
    cov = centred.T @ centred / mean.shape[0]
    if dip_type == "ii":
        cov = cov + torch.diag(log_var.exp().mean(0))
    return cov


def dip_regularizer(mean: torch.Tensor, log_var: torch.Tensor, dip_type: str, lambda_od: float,
                    lambda_d: float) -> torch.Tensor:
    """lambda_od * sum of the squared off-diagonal entries + lambda_d * sum of (diagonal - 1)^2 of
    `dip_covariance`: zero exactly when that covariance is the identity (the prior's)."""
    cov = dip_covariance(mean, log_var, dip_type)
    diag = torch.diagonal(cov)
    off = cov - torch.diag(diag)
    return lambda_od * off.pow(2).sum() + lambda_d * (diag - 1.0).pow(2).sum()
