"""The frozen Glow as the generator G of Dis-GU: decode latents shifted in the navigated levels.

Glow's weights never change here, but gradients flow through its reverse pass into whatever
produced the shift (the navigator). A shifted latent can leave the region where the reverse
pass is well behaved; `broken_mask` names the decodes that came back non-finite or with
pixels far outside the image range, so the stages can skip those pairs and count them.
Every stage that decodes or encodes through the Glow (discovery, contrastive, glow-ica, the
direction baselines, evaluation) uses this one wrapper, so it lives with the networks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from disgu.errors import UserError
from disgu.models.glow import Glow, flatten_latents, images_to_input, latent_dim, replace_levels, unflatten_latents


def parse_levels(spec: str | Sequence[int], n_levels: int) -> tuple[int, ...]:
    """'top' -> (n-1,), 'all' -> (0..n-1), '0,2' or [0, -1] -> those levels (non-negative, sorted)."""
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key == "top":
            return (n_levels - 1,)
        if key == "all":
            return tuple(range(n_levels))
        try:
            items = [int(s) for s in key.split(",") if s.strip()]
        except ValueError:
            raise UserError(f"levels: expected 'top', 'all' or comma-separated level indices, got {spec!r}") from None
    else:
        items = [int(i) for i in spec]
    out = set()
    for i in items:
        j = i + n_levels if i < 0 else i
        if not 0 <= j < n_levels:
            raise UserError(f"levels: level {i} out of range for a Glow with {n_levels} levels")
        out.add(j)
    if not out:
        raise UserError("levels: no level selected")
    return tuple(sorted(out))


class FrozenGlow:
    """A Glow with frozen weights plus the choice of navigated levels."""

    def __init__(self, glow: Glow, levels: Sequence[int], broken_limit: float = 1.5):
        self.glow = glow.eval()
        for p in self.glow.parameters():
            p.requires_grad_(False)
        self.levels = tuple(levels)
        self.shapes = glow.latent_shapes
        self.nav_dim = latent_dim(self.shapes, self.levels)
        self.broken_limit = float(broken_limit)
        self.n_bits = glow.config.n_bits
        self.resolution = glow.config.resolution
        self.channels = glow.config.in_channels
        self.merge_decodes: bool | None = None  # decode_many: None merges its calls on a GPU only

    @property
    def device(self) -> torch.device:
        return next(self.glow.parameters()).device

    def navigated(self, z_list: Sequence[Tensor]) -> Tensor:
        """(N, nav_dim) flat latent of the navigated levels."""
        return flatten_latents(z_list, self.levels)

    def encode_navigated(self, images: np.ndarray, batch_size: int = 64) -> Tensor:
        """(N, nav_dim) navigated latents f(x) of uint8 images (Glow's exact inverse, at the bins' centres)."""
        return self.navigated(encode_images(self.glow, images, batch_size))

    def decode(self, z_list: Sequence[Tensor]) -> Tensor:
        """G(z) of a latent list (one standardised tensor per level)."""
        return self.glow.decode(list(z_list))

    def decode_many(self, z_lists: Sequence[Sequence[Tensor]]) -> list[Tensor]:
        """G(z) of several latent lists. On a GPU in one call (one kernel launch per layer for all of them);
        on the CPU one call each, as its 1x1 convolutions round differently with the batch size, and a
        CPU run keeps the numbers of separate calls. `merge_decodes` (True/False) overrides the choice."""
        merge = self.merge_decodes if self.merge_decodes is not None else self.device.type != "cpu"
        if not merge or len(z_lists) < 2:
            return [self.decode(z) for z in z_lists]
        sizes = [len(z[0]) for z in z_lists]
        x = self.decode([torch.cat(level) for level in zip(*z_lists)])
        return list(x.split(sizes))

    def decode_shifted(self, z_list: Sequence[Tensor], shift: Tensor) -> Tensor:
        """G(z + shift), the shift (N, nav_dim) added to the navigated levels only."""
        return self.glow.decode(self.shifted(z_list, shift))

    def shifted(self, z_list: Sequence[Tensor], shift: Tensor) -> list[Tensor]:
        """z + shift as a latent list: the shift (N, nav_dim) added to the navigated levels only."""
        moved = self.navigated(z_list) + shift
        return replace_levels(z_list, self.levels, unflatten_latents(moved, self.shapes, self.levels))

    def broken_mask(self, x: Tensor) -> Tensor:
        """True for decodes that are non-finite or have a pixel beyond +-broken_limit (images lie in [-0.5, 0.5])."""
        flat = x.detach().flatten(1)
        finite = torch.isfinite(flat).all(1)
        big = flat.nan_to_num(0.0).abs().amax(1) > self.broken_limit
        return ~finite | big

    @staticmethod
    def to_unit(x: Tensor) -> Tensor:
        """Model space [-0.5, 0.5] -> [0, 1], clamped (non-finite pixels become 0)."""
        return (x.nan_to_num(0.0, 0.0, 0.0) + 0.5).clamp(0.0, 1.0)


def quantise(x: Tensor) -> Tensor:
    """Model-space NCHW decodes -> uint8 NHWC, as dataset images are stored: round(255 * to_unit(x)).

    Shared by the pair bank and the generated-image teachers, so both store decodes as real images are stored.
    """
    return torch.round(FrozenGlow.to_unit(x.detach()) * 255.0).to(torch.uint8).permute(0, 2, 3, 1).cpu()


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
