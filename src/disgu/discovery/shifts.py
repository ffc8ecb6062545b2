"""What a training pair is made of: direction indices, shifts eps, and the latents z they start from.

Shifts follow LD: eps = r * U(-1, 1), and a shift smaller than `min_abs` in magnitude is pushed
out to +-min_abs keeping its sign (the reference code's clamp only handled positive eps, so
small negative shifts became +0.5; here both signs are treated alike).

Latents come from the prior, z ~ N(0, T^2 I) in every level (the paper), or from data:
z = f(x) of real images through Glow's exact encoder, standardised by its priors, so the
levels that are not navigated stay as encoded.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from disgu.errors import UserError
from disgu.models.glow import Glow, images_to_input


def sample_shifts(n: int, max_abs: float, min_abs: float = 0.5, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> Tensor:
    """(n,) shifts uniform in [-max_abs, max_abs] with |eps| >= min_abs (pushed out, sign kept)."""
    if not 0 <= min_abs <= max_abs:
        raise UserError(f"shift range: expected 0 <= min_shift ({min_abs}) <= shift_range ({max_abs})")
    eps = max_abs * (2 * torch.rand(n, generator=generator) - 1)
    sign = torch.where(eps < 0, -1.0, 1.0)
    return (sign * eps.abs().clamp_min(min_abs)).to(device)


def sample_directions(n: int, n_directions: int, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> Tensor:
    """(n,) direction indices uniform in 0..b-1."""
    return torch.randint(n_directions, (n,), generator=generator).to(device)


def sample_other_directions(n: int, n_directions: int, exclude: int, generator: torch.Generator | None = None,
                            device: torch.device | str = "cpu") -> Tensor:
    """(n,) direction indices uniform over 0..b-1 without `exclude` (b must be >= 2)."""
    if n_directions < 2:
        raise UserError("contrastive training needs at least 2 directions (negatives move along other directions)")
    d = torch.randint(n_directions - 1, (n,), generator=generator)
    return (d + (d >= exclude).long()).to(device)


class LatentSource:
    """Draws starting latents z (a list, one standardised tensor per Glow level)."""

    def __init__(self, glow: Glow, kind: str = "prior", temperature: float = 0.7, dataset=None,
                 encode_batch: int = 64):
        if kind not in ("prior", "data"):
            raise UserError(f"latents: expected 'prior' or 'data', got {kind!r}")
        if kind == "data" and dataset is None:
            raise UserError("latents 'data' needs the training dataset")
        if temperature <= 0:
            raise UserError(f"temperature: expected > 0, got {temperature}")
        self.glow, self.kind, self.temperature, self.dataset = glow, kind, float(temperature), dataset
        self.encode_batch = encode_batch

    def sample(self, n: int, generator: torch.Generator) -> list[Tensor]:
        if self.kind == "prior":
            shapes = self.glow.latent_shapes
            device = next(self.glow.parameters()).device
            return [(self.temperature * torch.randn(n, *s, generator=generator)).to(device) for s in shapes]
        idx = torch.randint(len(self.dataset), (n,), generator=generator).numpy()
        return self.encode_images(self.dataset.images(np.sort(idx)))

    def encode_images(self, images: np.ndarray) -> list[Tensor]:
        return encode_images(self.glow, images, self.encode_batch)


@torch.no_grad()
def encode_images(glow: Glow, images: np.ndarray, batch_size: int = 64) -> list[Tensor]:
    """Standardised latents f(x) (one tensor per level) of uint8 (N, H, W, C) images, by Glow's exact inverse."""
    device = next(glow.parameters()).device
    x = images_to_input(images, glow.config.n_bits).to(device)
    if x.shape[1] != glow.config.in_channels:
        x = x.expand(-1, glow.config.in_channels, -1, -1) if x.shape[1] == 1 else x
    # Centre of the quantisation bin: the point the Glow was trained around.
    x = x + 0.5 / 2**glow.config.n_bits
    parts = [glow.encode(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return [torch.cat([p[level] for p in parts]) for level in range(len(parts[0]))]
