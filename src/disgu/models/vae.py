"""The beta-VAE and FactorVAE networks as disentanglement_lib builds them: the yardstick Dis-GU has to beat.

Architecture (disentanglement_lib `conv_encoder` / `deconv_decoder`, 64x64 input):
encoder 4 convs (32, 32, 64, 64 channels, 4x4, stride 2, ReLU) -> FC 256 -> 2 x 10 (mean, log-variance);
decoder FC 256 -> FC 4*4*64 -> transposed convs (64, 32, 32, C; 4x4, stride 2) -> Bernoulli logits.
Other power-of-two resolutions keep the 4x4x64 bottleneck and drop the first convs
(32x32: 3 convs of 32, 64, 64 channels), so the FC layers and the latent are the same.

FactorVAE's discriminator: 6 fully connected layers of 1000 units (LeakyReLU 0.2), 2 logits, on z.

A model's forward pass returns what the losses need (`VAEPass`); the losses, weighted by the
model's beta (beta-VAE), gamma (FactorVAE) or lambda_od / lambda_d (DIP-VAE), are the baseline
stage's (`disgu.stages.vae.losses`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from disgu.errors import UserError

ENCODER_CHANNELS = (32, 32, 64, 64)  # disentanglement_lib conv_encoder, 64x64
BOTTLENECK = 4  # spatial size after the convs, at every resolution
HIDDEN = 256


def conv_channels(resolution: int) -> tuple[int, ...]:
    """Channels of the stride-2 convs that take `resolution` down to 4x4 (the last ones of the 64x64 stack)."""
    if resolution < 8 or resolution & (resolution - 1):
        raise UserError(f"--resolution: the beta-VAE needs a power of two >= 8, got {resolution}")
    n = int(math.log2(resolution // BOTTLENECK))
    if n <= len(ENCODER_CHANNELS):
        return ENCODER_CHANNELS[-n:]
    return (ENCODER_CHANNELS[0],) * (n - len(ENCODER_CHANNELS)) + ENCODER_CHANNELS


class ConvEncoder(nn.Module):
    """Image in [0, 1] (N, C, H, W) -> (mean, log-variance) of q(z|x), each (N, latent_dim)."""

    def __init__(self, resolution: int = 64, in_channels: int = 1, latent_dim: int = 10):
        super().__init__()
        chans = conv_channels(resolution)
        layers: list[nn.Module] = []
        c_in = in_channels
        for c in chans:
            layers += [nn.Conv2d(c_in, c, kernel_size=4, stride=2, padding=1), nn.ReLU()]
            c_in = c
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c_in * BOTTLENECK * BOTTLENECK, HIDDEN), nn.ReLU())
        self.mean = nn.Linear(HIDDEN, latent_dim)
        self.log_var = nn.Linear(HIDDEN, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(self.convs(x))
        return self.mean(h), self.log_var(h)


class DeconvDecoder(nn.Module):
    """Latent (N, latent_dim) -> Bernoulli logits (N, C, H, W), the mirror of ConvEncoder."""

    def __init__(self, resolution: int = 64, out_channels: int = 1, latent_dim: int = 10):
        super().__init__()
        chans = conv_channels(resolution)
        self.bottleneck_channels = chans[-1]
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, chans[-1] * BOTTLENECK * BOTTLENECK), nn.ReLU(),
        )
        outs = list(reversed(chans[:-1])) + [out_channels]
        layers: list[nn.Module] = []
        c_in = chans[-1]
        for i, c in enumerate(outs):
            layers.append(nn.ConvTranspose2d(c_in, c, kernel_size=4, stride=2, padding=1))
            if i < len(outs) - 1:
                layers.append(nn.ReLU())
            c_in = c
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.bottleneck_channels, BOTTLENECK, BOTTLENECK)
        return self.deconvs(h)


@dataclass
class VAEPass:
    """One pass through encoder, reparameterised sample and decoder."""

    logits: torch.Tensor  # Bernoulli logits of the reconstruction, (N, C, H, W)
    z: torch.Tensor
    mean: torch.Tensor
    log_var: torch.Tensor


class BetaVAE(nn.Module):
    """A VAE whose KL term is weighted by beta (beta = 1: the plain VAE)."""

    def __init__(self, resolution: int = 64, channels: int = 1, latent_dim: int = 10, beta: float = 5.0):
        super().__init__()
        self.resolution, self.channels, self.latent_dim, self.beta = resolution, channels, latent_dim, float(beta)
        self.encoder = ConvEncoder(resolution, channels, latent_dim)
        self.decoder = DeconvDecoder(resolution, channels, latent_dim)

    @torch.no_grad()
    def represent(self, x: torch.Tensor) -> torch.Tensor:
        """The representation that gets evaluated: the mean of q(z|x)."""
        return self.encoder(x)[0]

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> VAEPass:
        """Images x in [0, 1]; `noise` ~ N(0, I) of shape (N, latent_dim) makes the pass reproducible."""
        mean, log_var = self.encoder(x)
        if noise is None:
            noise = torch.randn_like(mean)
        z = mean + torch.exp(0.5 * log_var) * noise
        return VAEPass(logits=self.decoder(z), z=z, mean=mean, log_var=log_var)


class Discriminator(nn.Module):
    """FactorVAE's discriminator: 6 fully connected layers of 1000 units (LeakyReLU 0.2), 2 logits."""

    def __init__(self, latent_dim: int = 10, hidden: int = 1000, depth: int = 6):
        super().__init__()
        layers: list[nn.Module] = []
        d = latent_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
            d = hidden
        layers.append(nn.Linear(d, 2))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class FactorVAE(BetaVAE):
    """VAE + gamma * total correlation, the TC estimated by a density-ratio discriminator."""

    def __init__(self, resolution: int = 64, channels: int = 1, latent_dim: int = 10, gamma: float = 9.0):
        super().__init__(resolution, channels, latent_dim, beta=1.0)
        self.gamma = float(gamma)
        self.discriminator = Discriminator(latent_dim)

    def vae_parameters(self) -> list[nn.Parameter]:
        """Encoder and decoder parameters: what the VAE optimiser updates (the discriminator has its own)."""
        return [*self.encoder.parameters(), *self.decoder.parameters()]


# DIP-VAE's (lambda_od, lambda_d) per type, as disentanglement_lib sets them (lambda_d = 10 / 1 x lambda_od)
DIP_TYPES = ("i", "ii")
DIP_DEFAULTS = {"i": (10.0, 100.0), "ii": (1.0, 1.0)}


class DIPVAE(BetaVAE):
    """A plain VAE (beta = 1) whose loss adds the DIP regulariser of type `dip_type` (Kumar et al. 2018)."""

    def __init__(self, resolution: int = 64, channels: int = 1, latent_dim: int = 10, dip_type: str = "i",
                 lambda_od: float | None = None, lambda_d: float | None = None):
        super().__init__(resolution, channels, latent_dim, beta=1.0)
        od, d = DIP_DEFAULTS[dip_type]
        self.dip_type = dip_type
        self.lambda_od = float(od if lambda_od is None else lambda_od)
        self.lambda_d = float(d if lambda_d is None else lambda_d)


MODELS = {"beta-vae": BetaVAE, "factor-vae": FactorVAE, "dip-vae-i": DIPVAE, "dip-vae-ii": DIPVAE}


def build_model(name: str, *, resolution: int, channels: int, latent_dim: int = 10,
                beta: float = 5.0, gamma: float = 9.0, lambda_od: float | None = None,
                lambda_d: float | None = None) -> BetaVAE:
    """The named baseline (`beta-vae`, `factor-vae`, `dip-vae-i` or `dip-vae-ii`); None lambdas: the type's."""
    if name == "beta-vae":
        return BetaVAE(resolution, channels, latent_dim, beta=beta)
    if name == "factor-vae":
        return FactorVAE(resolution, channels, latent_dim, gamma=gamma)
    if name in ("dip-vae-i", "dip-vae-ii"):
        return DIPVAE(resolution, channels, latent_dim, name.rsplit("-", 1)[1], lambda_od, lambda_d)
    raise UserError(f"baseline model: expected one of {', '.join(MODELS)}, got {name!r}")
