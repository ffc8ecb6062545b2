"""Pruning redundant directions before the contrastive stage, so that "another direction" is a true negative.

At CPU budgets many discovered directions move the same thing (the wall's colour, say); the
contrastive loss then pushes apart variations that are alike. Each direction's effect is
summarised as the mean |G(z + s n_d) - G(z - s n_d)| per pixel and channel over a few latents;
directions are visited from the strongest effect down, and one is kept only if its effect
map's cosine similarity to every kept one is at most `max_similarity`. A lever to measure
(`contrastive.prune_similarity`), off by default.
"""

from __future__ import annotations

import torch

from disgu.models.generator import FrozenGlow
from disgu.models.navigator import Navigator


@torch.no_grad()
def image_effects(frozen: FrozenGlow, navigator: Navigator, n_latents: int, shift: float, temperature: float,
                  seed: int) -> torch.Tensor:
    """(b, C*H*W) mean absolute pixel change of a +-shift move along each direction."""
    gen = torch.Generator().manual_seed(seed)
    z = [(temperature * torch.randn(n_latents, *s, generator=gen)).to(frozen.device) for s in frozen.shapes]
    dirs = navigator.directions().to(frozen.device)
    out = []
    for d in range(navigator.n_directions):
        step = shift * dirs[d].expand(n_latents, -1)
        plus = frozen.decode_shifted(z, step).nan_to_num(0.0).clamp(-0.5, 0.5)
        minus = frozen.decode_shifted(z, -step).nan_to_num(0.0).clamp(-0.5, 0.5)
        out.append((plus - minus).abs().mean(0).flatten())
    return torch.stack(out)


def select_distinct(effects: torch.Tensor, max_similarity: float, min_directions: int = 2) -> list[int]:
    """Greedy choice, strongest first, of directions whose effect maps are at most `max_similarity` alike.

    When fewer than `min_directions` pass, the least similar of the rest are added back.
    """
    strength = effects.norm(dim=1)
    unit = effects / strength[:, None].clamp_min(1e-12)
    order = torch.argsort(strength, descending=True).tolist()
    keep: list[int] = []
    for d in order:
        if not keep or float((unit[keep] @ unit[d]).max()) <= max_similarity:
            keep.append(d)
    rest = [d for d in order if d not in keep]
    while len(keep) < min(min_directions, len(order)) and rest:
        best = min(rest, key=lambda d: float((unit[keep] @ unit[d]).max()))
        keep.append(best)
        rest.remove(best)
    return sorted(keep)
