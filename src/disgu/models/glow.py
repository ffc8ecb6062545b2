"""Glow (Kingma & Dhariwal 2018): an invertible flow with exact encode and decode.

Layout: L levels; each level squeezes (2x2 space -> channels), runs K flow steps
(actnorm -> invertible 1x1 conv -> affine coupling), then splits off half the channels,
whose prior is a Gaussian conditioned on the kept half. The last level has a learned
top prior instead of a split.

Conventions used everywhere in disgu:
- model input `x` is float NCHW in [-0.5, 0.5], quantised to `n_bits` (see `images_to_input`);
- `z_list[i]` is the latent of level i (0 = finest split, -1 = top);
- `encode` returns latents standardised by their priors, eps = (z - mean) / std, so they are
  comparable with N(0, I) samples; `decode` takes such a list and inverts exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

# Reverse-pass guards: a shifted latent can ask a coupling to divide by a scale that
# underflowed, or push activations towards float32 overflow. Neither happens on the
# forward pass of real data, so exact inversion there is unaffected.
_SCALE_FLOOR = 1e-6
_ACTIVATION_LIMIT = 1e4
_LOG_2PI = math.log(2 * math.pi)


@dataclass
class GlowConfig:
    """Everything needed to rebuild a Glow; saved in every checkpoint."""

    in_channels: int = 3
    resolution: int = 32
    n_levels: int = 3  # L
    n_steps: int = 8  # K, flow steps per level
    hidden: int = 128  # width of the coupling networks
    affine: bool = True  # affine coupling (sigmoid(h + 2) scale); False = additive
    n_bits: int = 5
    learn_top: bool = True

    def __post_init__(self) -> None:
        if self.n_levels < 1 or self.n_steps < 1 or self.hidden < 1 or self.in_channels < 1:
            raise ValueError(f"GlowConfig: n_levels, n_steps, hidden, in_channels must be >= 1, got {self}")
        if self.resolution % (2**self.n_levels) != 0:
            raise ValueError(
                f"GlowConfig: resolution {self.resolution} must be divisible by 2**n_levels = {2 ** self.n_levels}"
            )
        if not 1 <= self.n_bits <= 8:
            raise ValueError(f"GlowConfig: n_bits must be in 1..8, got {self.n_bits}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GlowConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"GlowConfig: unknown keys {sorted(unknown)}")
        return cls(**d)


# ----------------------------------------------------------------------------- layers


class ActNorm(nn.Module):
    """Per-channel affine y = (x + bias) * exp(log_scale), initialised from the first batch.

    The first batch (pooled over every DDP rank) sets zero mean and unit variance per channel.
    `initialized` is a buffer, so it travels with the state dict and a reloaded model never
    re-initialises.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))
        self._known_initialized = False  # host-side cache: no device sync per forward

    def _load_from_state_dict(self, *args, **kwargs):
        self._known_initialized = False
        super()._load_from_state_dict(*args, **kwargs)

    def is_initialized(self) -> bool:
        if not self._known_initialized:
            self._known_initialized = bool(self.initialized)
        return self._known_initialized

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        channels = x.shape[1]
        flat = x.detach().transpose(0, 1).reshape(channels, -1).double()
        stats = torch.cat([flat.sum(1), (flat * flat).sum(1), flat.new_tensor([flat.shape[1]])])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(stats)  # every rank gets the statistics of the union of the batches
        n = stats[-1]
        mean = stats[:channels] / n
        var = (stats[channels : 2 * channels] / n - mean * mean).clamp_min(0)
        self.bias.copy_((-mean).view(1, channels, 1, 1).to(self.bias))
        self.log_scale.copy_((-torch.log(var.sqrt() + 1e-6)).view(1, channels, 1, 1).to(self.log_scale))
        self.initialized.fill_(True)
        self._known_initialized = True

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not self.is_initialized():
            self.initialize(x)
        logdet = x.shape[2] * x.shape[3] * self.log_scale.sum()
        return (x + self.bias) * torch.exp(self.log_scale), logdet

    def reverse(self, y: Tensor) -> Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class InvConv2dLU(nn.Module):
    """Invertible 1x1 convolution W = P L (U + diag(sign * exp(log_s))), LU-parameterised.

    log|det W| = sum(log_s) costs nothing, and W stays invertible as long as log_s is finite.
    """

    def __init__(self, channels: int):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels, dtype=torch.float64))
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p.float())
        self.register_buffer("sign_s", torch.sign(s).float())
        self.lower = nn.Parameter(torch.tril(lower, -1).float())
        self.upper = nn.Parameter(torch.triu(upper, 1).float())
        self.log_s = nn.Parameter(torch.log(torch.abs(s)).float())

    def weight(self) -> Tensor:
        """The (C, C) matrix W."""
        eye = torch.eye(self.lower.shape[0], device=self.lower.device, dtype=self.lower.dtype)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def inverse_weight(self) -> Tensor:
        """W^-1, computed in float64 so that decode(encode(x)) stays exact to float32 precision."""
        return torch.linalg.inv(self.weight().double()).to(self.lower.dtype)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        w = self.weight()
        return F.conv2d(x, w[:, :, None, None]), x.shape[2] * x.shape[3] * self.log_s.sum()

    def reverse(self, y: Tensor) -> Tensor:
        return F.conv2d(y, self.inverse_weight()[:, :, None, None])


class ZeroConv2d(nn.Module):
    """3x3 conv starting at zero, output scaled by exp(3 * log_scale) (Glow's conv2d_zeros).

    Used for the last layer of every coupling network and for the priors, so an untrained
    model is the identity flow with a standard-normal prior.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.log_scale = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        # The exp(3 * log_scale) factor is folded into the kernel: one pass over x instead of two.
        scale = torch.exp(3 * self.log_scale)
        return F.conv2d(x, self.weight * scale[:, None, None, None], self.bias * scale, padding=1)


class AffineCoupling(nn.Module):
    """Keep x_a, transform x_b: y_b = (x_b + shift) * sigmoid(raw + 2) with (shift, raw) = NN(x_a).

    With `affine=False` it is additive: y_b = x_b + NN(x_a), log-det 0.
    """

    def __init__(self, channels: int, hidden: int, affine: bool = True):
        super().__init__()
        self.affine = affine
        self.n_keep = channels // 2
        n_change = channels - self.n_keep
        self.net = nn.Sequential(
            nn.Conv2d(self.n_keep, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(inplace=True),
            ZeroConv2d(hidden, 2 * n_change if affine else n_change),
        )
        for conv in (self.net[0], self.net[2]):
            nn.init.normal_(conv.weight, 0.0, 0.05)
            nn.init.zeros_(conv.bias)
        self.amp_dtype: torch.dtype | None = None  # set by Glow.set_amp; the net alone runs in low precision

    def _net(self, x_a: Tensor) -> Tensor:
        if self.amp_dtype is None:
            return self.net(x_a)
        with torch.autocast(device_type=x_a.device.type, dtype=self.amp_dtype):
            return self.net(x_a).float()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x_a, x_b = x[:, : self.n_keep], x[:, self.n_keep :]
        h = self._net(x_a)
        if not self.affine:
            return torch.cat([x_a, x_b + h], 1), x.new_zeros(x.shape[0])
        shift, raw = h.chunk(2, 1)
        log_scale = F.logsigmoid(raw + 2.0)
        y_b = (x_b + shift) * torch.exp(log_scale)
        return torch.cat([x_a, y_b], 1), log_scale.flatten(1).sum(1)

    def reverse(self, y: Tensor) -> Tensor:
        y_a, y_b = y[:, : self.n_keep], y[:, self.n_keep :]
        h = self._net(y_a)
        if not self.affine:
            x_b = y_b - h
        else:
            shift, raw = h.chunk(2, 1)
            x_b = y_b / torch.sigmoid(raw + 2.0).clamp_min(_SCALE_FLOOR) - shift
        return torch.cat([y_a, x_b.clamp(-_ACTIVATION_LIMIT, _ACTIVATION_LIMIT)], 1)


class FlowStep(nn.Module):
    """actnorm -> invertible 1x1 conv -> coupling.

    Once actnorm is initialised, actnorm and the 1x1 conv are applied as one conv with bias,
    W diag(s) x + W diag(s) b: the same maths, one pass over the activations instead of two.
    """

    def __init__(self, channels: int, hidden: int, affine: bool = True):
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.invconv = InvConv2dLU(channels)
        self.coupling = AffineCoupling(channels, hidden, affine)
        self._reverse_cache: tuple[tuple, tuple[Tensor, Tensor]] | None = None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not self.actnorm.is_initialized():
            x, ld_act = self.actnorm(x)
            x, ld_conv = self.invconv(x)
        else:
            scale = torch.exp(self.actnorm.log_scale).view(-1)
            w = self.invconv.weight() * scale[None, :]
            b = w @ self.actnorm.bias.view(-1)
            x = F.conv2d(x, w[:, :, None, None], b)
            hw = x.shape[2] * x.shape[3]
            ld_act = hw * self.actnorm.log_scale.sum()
            ld_conv = hw * self.invconv.log_s.sum()
        x, ld_coupling = self.coupling(x)
        return x, ld_coupling + (ld_act + ld_conv)

    def reverse(self, y: Tensor) -> Tensor:
        y = self.coupling.reverse(y)
        w_inv, bias = self.reverse_weights()
        return F.conv2d(y, w_inv, bias)

    def reverse_weights(self) -> tuple[Tensor, Tensor]:
        """(kernel, bias) of the inverted actnorm + 1x1 conv: (W diag(s))^-1 as a 1x1 kernel, and -b.

        The fp64 inverse is a solve (and on a GPU a host sync) per flow step and decode. When no gradient
        reaches these weights (a frozen Glow, or no_grad) it is kept until a weight changes: the key holds
        each tensor's version counter, which every in-place update (an optimiser step, load_state_dict)
        bumps, and its storage, which .to() replaces. The cached tensors are the ones computed afresh.
        """
        tensors = (self.invconv.lower, self.invconv.upper, self.invconv.log_s, self.invconv.perm,
                   self.invconv.sign_s, self.actnorm.log_scale, self.actnorm.bias)
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return self._inverse_kernel()
        key = tuple((t._version, t.data_ptr(), t.device, t.dtype) for t in tensors)
        if self._reverse_cache is None or self._reverse_cache[0] != key:
            with torch.no_grad():
                self._reverse_cache = (key, self._inverse_kernel())
        return self._reverse_cache[1]

    def _inverse_kernel(self) -> tuple[Tensor, Tensor]:
        inv_scale = torch.exp(-self.actnorm.log_scale).view(-1)
        w_inv = self.invconv.inverse_weight() * inv_scale[:, None]
        return w_inv[:, :, None, None], -self.actnorm.bias.view(-1)


def squeeze2x2(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, 4C, H/2, W/2), each 2x2 patch moved into channels."""
    n, c, h, w = x.shape
    x = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(n, c * 4, h // 2, w // 2)


def unsqueeze2x2(x: Tensor) -> Tensor:
    """Inverse of squeeze2x2."""
    n, c, h, w = x.shape
    x = x.view(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(n, c // 4, h * 2, w * 2)


def gaussian_log_p(z: Tensor, mean: Tensor, log_sd: Tensor) -> Tensor:
    """Per-sample log N(z; mean, exp(log_sd)^2), summed over all but the batch dimension."""
    eps = (z - mean) * torch.exp(-log_sd)
    return (-0.5 * _LOG_2PI - log_sd - 0.5 * eps * eps).flatten(1).sum(1)


class GlowLevel(nn.Module):
    """squeeze -> K flow steps -> split (prior conditioned on the kept half) or the top prior."""

    def __init__(self, in_channels: int, spatial: int, n_steps: int, hidden: int, affine: bool, top: bool,
                 learn_top: bool = True):
        super().__init__()
        channels = in_channels * 4
        self.top = top
        self.steps = nn.ModuleList(FlowStep(channels, hidden, affine) for _ in range(n_steps))
        if top:
            params = torch.zeros(1, 2 * channels, spatial // 2, spatial // 2)  # mean and log-std per position
            if learn_top:
                self.top_prior = nn.Parameter(params)
            else:
                self.register_buffer("top_prior", params)
            self.prior = None
        else:
            self.prior = ZeroConv2d(channels // 2, channels)

    def prior_params(self, kept: Tensor | None, batch: int) -> tuple[Tensor, Tensor]:
        """(mean, log_sd) of this level's latent given the kept half (None at the top level)."""
        if self.top:
            mean, log_sd = self.top_prior.expand(batch, -1, -1, -1).chunk(2, 1)
        else:
            mean, log_sd = self.prior(kept).chunk(2, 1)
        return mean, log_sd

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor, Tensor, Tensor, Tensor]:
        """Returns (kept half or None, logdet, z, prior mean, prior log_sd)."""
        x = squeeze2x2(x)
        logdet = x.new_zeros(x.shape[0])
        for step in self.steps:
            x, ld = step(x)
            logdet = logdet + ld
        if self.top:
            mean, log_sd = self.prior_params(None, x.shape[0])
            return None, logdet, x, mean, log_sd
        kept, z = x.chunk(2, 1)
        mean, log_sd = self.prior_params(kept, x.shape[0])
        return kept, logdet, z, mean, log_sd

    def reverse(self, kept: Tensor | None, eps: Tensor) -> Tensor:
        """Invert the level from the standardised latent eps (and the kept half from above)."""
        mean, log_sd = self.prior_params(kept, eps.shape[0])
        z = mean + torch.exp(log_sd) * eps
        x = z if self.top else torch.cat([kept, z], 1)
        for step in reversed(self.steps):
            x = step.reverse(x)
        return unsqueeze2x2(x)


# ----------------------------------------------------------------------------- model


class Glow(nn.Module):
    """The full multi-scale Glow. See the module docstring for the tensor conventions."""

    def __init__(self, config: GlowConfig):
        super().__init__()
        self.config = config
        levels = []
        channels, spatial = config.in_channels, config.resolution
        for i in range(config.n_levels):
            top = i == config.n_levels - 1
            levels.append(GlowLevel(channels, spatial, config.n_steps, config.hidden, config.affine, top,
                                    config.learn_top))
            channels, spatial = channels * 2, spatial // 2
        self.levels = nn.ModuleList(levels)

    # --- shapes -------------------------------------------------------------------------

    @property
    def latent_shapes(self) -> list[tuple[int, int, int]]:
        """(C, H, W) of each level's latent, finest first; they hold C*H*W of the input in total."""
        c, s = self.config.in_channels, self.config.resolution
        shapes = []
        for i in range(self.config.n_levels):
            c, s = c * 4, s // 2
            if i < self.config.n_levels - 1:
                shapes.append((c // 2, s, s))
                c //= 2
            else:
                shapes.append((c, s, s))
        return shapes

    @property
    def n_dims(self) -> int:
        return self.config.in_channels * self.config.resolution**2

    def _check_input(self, x: Tensor) -> None:
        want = (self.config.in_channels, self.config.resolution, self.config.resolution)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"Glow expects input of shape (N, {want[0]}, {want[1]}, {want[2]}), got {tuple(x.shape)}")

    # --- training / likelihood ----------------------------------------------------------

    def _flow(self, x: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor, Tensor]]]:
        self._check_input(x)
        logdet = x.new_zeros(x.shape[0])
        out = []
        h = x
        for level in self.levels:
            h, ld, z, mean, log_sd = level(h)
            logdet = logdet + ld
            out.append((z, mean, log_sd))
        return logdet, out

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        """Training pass: per-sample (log prior of the latents, log|det J|, raw latents z)."""
        logdet, levels = self._flow(x)
        log_p = sum(gaussian_log_p(z, mean, log_sd) for z, mean, log_sd in levels)
        return log_p, logdet, [z for z, _, _ in levels]

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Data-dependent actnorm init from batch x (pooled across DDP ranks when running distributed)."""
        self.forward(x)

    def is_initialized(self) -> bool:
        return all(m.is_initialized() for m in self.modules() if isinstance(m, ActNorm))

    def nll_bits_per_dim(self, log_p: Tensor, logdet: Tensor) -> Tensor:
        """Per-sample bits/dim of dequantised input: -(log_p + logdet) / (D ln 2) + n_bits."""
        return -(log_p + logdet) / (self.n_dims * math.log(2.0)) + self.config.n_bits

    def dequantize(self, x: Tensor) -> Tensor:
        """Add uniform noise of one quantisation bin: x is on the grid k / 2**n_bits - 0.5."""
        return x + torch.rand_like(x) / 2**self.config.n_bits

    def bits_per_dim(self, x: Tensor, dequantize: bool = True) -> Tensor:
        """Per-sample bits/dim of quantised input x (NLL / (D ln 2) + n_bits)."""
        if dequantize:
            x = self.dequantize(x)
        log_p, logdet, _ = self.forward(x)
        return self.nll_bits_per_dim(log_p, logdet)

    # --- exact encode / decode ------------------------------------------------------------

    def encode(self, x: Tensor) -> list[Tensor]:
        """Per-level latents standardised by their priors, eps = (z - mean) / std (finest first)."""
        _, levels = self._flow(x)
        return [(z - mean) * torch.exp(-log_sd) for z, mean, log_sd in levels]

    def decode(self, eps_list: Sequence[Tensor]) -> Tensor:
        """Exact inverse of encode: standardised latents -> x in model space ([-0.5, 0.5] for data)."""
        if len(eps_list) != len(self.levels):
            raise ValueError(f"decode expects {len(self.levels)} latents (one per level), got {len(eps_list)}")
        h = None
        for level, eps in zip(reversed(self.levels), reversed(list(eps_list))):
            h = level.reverse(h, eps)
        return h

    def sample_latents(self, n: int, temperature: float = 0.7, generator: torch.Generator | None = None
                       ) -> list[Tensor]:
        """Standardised latents drawn from N(0, T^2 I), one tensor per level."""
        device = next(self.parameters()).device
        return [temperature * torch.randn(n, *shape, device=device, generator=generator)
                for shape in self.latent_shapes]

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 0.7, generator: torch.Generator | None = None) -> Tensor:
        """n images in model space drawn at the given temperature (<= 0.7 is advised early in training)."""
        return self.decode(self.sample_latents(n, temperature, generator))

    def set_amp(self, dtype: torch.dtype | None) -> None:
        """Run the coupling networks (the bulk of the compute) in `dtype` (e.g. torch.bfloat16), the rest in fp32."""
        for m in self.modules():
            if isinstance(m, AffineCoupling):
                m.amp_dtype = dtype


# ----------------------------------------------------------------------------- latents


def _level_indices(n_levels: int, levels: Sequence[int] | None) -> list[int]:
    if levels is None:
        return list(range(n_levels))
    out = []
    for i in levels:
        j = i + n_levels if i < 0 else i
        if not 0 <= j < n_levels:
            raise ValueError(f"level {i} out of range for {n_levels} levels")
        out.append(j)
    return out


def select_levels(z_list: Sequence[Tensor], levels: Sequence[int] | None = (-1,)) -> list[Tensor]:
    """The latents of the given levels (negative indices count from the top; default: top only)."""
    return [z_list[i] for i in _level_indices(len(z_list), levels)]


def replace_levels(z_list: Sequence[Tensor], levels: Sequence[int], new: Sequence[Tensor]) -> list[Tensor]:
    """A copy of z_list with the given levels replaced by `new` (same order as `levels`)."""
    out = list(z_list)
    idx = _level_indices(len(z_list), levels)
    if len(idx) != len(new):
        raise ValueError(f"{len(idx)} levels selected but {len(new)} tensors given")
    for i, t in zip(idx, new):
        out[i] = t
    return out


def flatten_latents(z_list: Sequence[Tensor], levels: Sequence[int] | None = None) -> Tensor:
    """Concatenate the (selected) per-level latents into one (N, D) matrix."""
    chosen = select_levels(z_list, levels) if levels is not None else list(z_list)
    return torch.cat([z.flatten(1) for z in chosen], 1)


def unflatten_latents(flat: Tensor, shapes: Sequence[tuple[int, int, int]],
                      levels: Sequence[int] | None = None) -> list[Tensor]:
    """Inverse of flatten_latents: (N, D) -> list of (N, C, H, W) for the (selected) levels of `shapes`."""
    chosen = [shapes[i] for i in _level_indices(len(shapes), levels)]
    sizes = [int(np.prod(s)) for s in chosen]
    if flat.dim() != 2 or flat.shape[1] != sum(sizes):
        raise ValueError(f"expected (N, {sum(sizes)}) for latent shapes {chosen}, got {tuple(flat.shape)}")
    return [part.reshape(flat.shape[0], *s) for part, s in zip(flat.split(sizes, 1), chosen)]


def latent_dim(shapes: Sequence[tuple[int, int, int]], levels: Sequence[int] | None = None) -> int:
    """Number of latent dimensions in the selected levels (all levels by default)."""
    return sum(int(np.prod(shapes[i])) for i in _level_indices(len(shapes), levels))


# ----------------------------------------------------------------------------- images


def images_to_input(images: np.ndarray | Tensor, n_bits: int) -> Tensor:
    """uint8 NHWC images -> float NCHW on the n_bits grid, k / 2**n_bits - 0.5 (no noise)."""
    t = torch.as_tensor(images)
    if t.dtype != torch.uint8 or t.dim() != 4:
        raise ValueError(f"expected uint8 images (N, H, W, C), got {t.dtype} {tuple(t.shape)}")
    t = t.permute(0, 3, 1, 2).float()
    t = torch.floor(t / 2 ** (8 - n_bits))
    return t / 2**n_bits - 0.5


def input_to_images(x: Tensor, n_bits: int) -> np.ndarray:
    """Model-space float NCHW -> uint8 NHWC, each n_bits bin shown at its full-range grey level.

    Bin k covers [k, k + 1) / 2**n_bits - 0.5; a tolerance of 1e-3 bin keeps grid points that a
    round trip moved by float error in their own bin.
    """
    bins = 2**n_bits
    k = torch.floor((x.detach().float() + 0.5) * bins + 1e-3).clamp(0, bins - 1)
    img = torch.round(k * (255.0 / (bins - 1))).to(torch.uint8)
    return img.permute(0, 2, 3, 1).cpu().numpy()
