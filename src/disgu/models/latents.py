"""Where the starting latents z of a pair come from: the prior or real images.

Latents come from the prior, z ~ N(0, T^2 I) in every level (the paper), or from data:
z = f(x) of real images through Glow's exact encoder, standardised by its priors, so the
levels that are not navigated stay as encoded. The discovery and contrastive stages and the
pair bank all draw from one `LatentSource`, so it sits beside the generator it feeds.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from disgu.errors import UserError
from disgu.models.generator import encode_images
from disgu.models.glow import Glow


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
        """n starting latents, drawn with `generator` (prior) or from n random training images (data).

        Prior latents are drawn where the generator lives (a CUDA generator: on the GPU, no copy), then
        moved to the Glow's device; image indices are always drawn on the CPU (`generator` must be a CPU one).
        """
        if self.kind == "prior":
            shapes = self.glow.latent_shapes
            device = next(self.glow.parameters()).device
            return [(self.temperature * torch.randn(n, *s, generator=generator, device=generator.device)).to(device)
                    for s in shapes]
        idx = torch.randint(len(self.dataset), (n,), generator=generator, device="cpu").numpy()
        return self.encode_images(self.dataset.images(np.sort(idx)))

    def encode_images(self, images: np.ndarray) -> list[Tensor]:
        """Standardised latents f(x) of uint8 (N, H, W, C) images."""
        return encode_images(self.glow, images, self.encode_batch)
