"""The draw of a training pair's direction indices and shifts eps (the navigator's inputs).

Shifts follow LD: eps = r * U(-1, 1) (DisCo's code: r * N(0, 1), `distribution="normal"`), and a
shift smaller than `min_abs` in magnitude is pushed out to +-min_abs keeping its sign (the reference code's clamp only handled positive eps, so
small negative shifts became +0.5; here both signs are treated alike).

Why here: the discovery trainer, the contrastive trainer and the contrastive pair bank draw
their pairs the same way, and none of them owns the others; it is a piece of the training
recipe, not a network (the starting latents are `disgu.models.latents`).

Every draw is made where its generator lives (a CPU generator: on the CPU, the numbers as always;
a CUDA generator: on the GPU, no host work and no copy) and then moved to `device`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from disgu.errors import UserError


SHIFT_DISTRIBUTIONS = ("uniform", "normal")


def sample_shifts(n: int, max_abs: float, min_abs: float = 0.5, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu", distribution: str = "uniform") -> Tensor:
    """(n,) shifts max_abs * U(-1, 1) (or max_abs * N(0, 1)) with |eps| >= min_abs (pushed out, sign kept)."""
    if not 0 <= min_abs <= max_abs:
        raise UserError(f"shift range: expected 0 <= min_shift ({min_abs}) <= shift_range ({max_abs})")
    if distribution not in SHIFT_DISTRIBUTIONS:
        raise UserError(f"shift distribution: expected one of {', '.join(SHIFT_DISTRIBUTIONS)}, got {distribution!r}")
    if distribution == "normal":
        eps = max_abs * torch.randn(n, generator=generator, device=_where(generator))
    else:
        eps = max_abs * (2 * torch.rand(n, generator=generator, device=_where(generator)) - 1)
    sign = torch.where(eps < 0, -1.0, 1.0)
    return (sign * eps.abs().clamp_min(min_abs)).to(device)


def sample_directions(n: int, n_directions: int, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> Tensor:
    """(n,) direction indices uniform in 0..b-1."""
    return torch.randint(n_directions, (n,), generator=generator, device=_where(generator)).to(device)


def sample_other_directions(n: int, n_directions: int, exclude: int, generator: torch.Generator | None = None,
                            device: torch.device | str = "cpu") -> Tensor:
    """(n,) direction indices uniform over 0..b-1 without `exclude` (b must be >= 2)."""
    if n_directions < 2:
        raise UserError("contrastive training needs at least 2 directions (negatives move along other directions)")
    d = torch.randint(n_directions - 1, (n,), generator=generator, device=_where(generator))
    return (d + (d >= exclude).long()).to(device)


def device_generator(seed: int, device: torch.device | str) -> torch.Generator | None:
    """A generator on `device` for a stage's per-step draws (latents, directions, shifts), or None on the CPU,
    where the stage's own CPU generator draws them and the numbers stay what they always were."""
    device = torch.device(device)
    if device.type == "cpu":
        return None
    return torch.Generator(device=device).manual_seed(seed)


def _where(generator: torch.Generator | None) -> torch.device:
    """The device a draw with `generator` is made on (the default generator's: the CPU)."""
    return generator.device if generator is not None else torch.device("cpu")
