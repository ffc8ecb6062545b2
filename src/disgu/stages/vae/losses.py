"""The losses of the VAE baselines, as disentanglement_lib computes them (`vae.py`).

Reconstruction = sigmoid cross-entropy summed over pixels, KL of the diagonal Gaussian to N(0, I)
summed over latents, both averaged over the batch. beta-VAE: recon + beta * KL (beta = 5 in the
paper's table). FactorVAE: recon + KL + gamma * TC, the total correlation TC of q(z) estimated by
a discriminator between q(z) and its dimension-wise shuffle (the density-ratio trick; gamma = 9
here, as the paper states; disentanglement_lib's study sweeps it), which is trained on its own
cross-entropy (`discriminator_loss`). DIP-VAE (Kumar et al. 2018): recon + KL + `dip_regularizer`,
which pulls a covariance of the codes towards the identity. The networks are `disgu.models.vae`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from disgu.models.vae import DIP_TYPES, DIPVAE, BetaVAE, FactorVAE


@dataclass
class VAEOutput:
    """One forward pass: the loss to minimise and its parts, for logging."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    z: torch.Tensor
    mean: torch.Tensor
    log_var: torch.Tensor
    tc: torch.Tensor | None = None  # FactorVAE's total-correlation estimate
    dip: torch.Tensor | None = None  # DIP-VAE's regulariser, weights included


def vae_loss(model: BetaVAE, x: torch.Tensor, noise: torch.Tensor | None = None) -> VAEOutput:
    """The model's loss on images x in [0, 1]: recon + beta * KL, plus gamma * TC for a FactorVAE or the
    DIP regulariser for a DIP-VAE."""
    p = model(x, noise)
    recon = bernoulli_recon_loss(p.logits, x)
    kl = gaussian_kl(p.mean, p.log_var)
    out = VAEOutput(loss=recon + model.beta * kl, recon=recon, kl=kl, z=p.z, mean=p.mean, log_var=p.log_var)
    if isinstance(model, FactorVAE):
        out.tc = total_correlation(model.discriminator(p.z))
        out.loss = out.loss + model.gamma * out.tc
    if isinstance(model, DIPVAE):
        out.dip = dip_regularizer(p.mean, p.log_var, model.dip_type, model.lambda_od, model.lambda_d)
        out.loss = out.loss + out.dip
    return out


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
