"""The encoder E whose output on real images is the disentangled representation.

DisCo's design: 5 convs with LeakyReLU(0.2), the first 7x7 (stride 1), then 4x4 stride-2 convs
down to 4x4 spatial, then FC 256 -> FC 256 -> D. At 64x64 that is 7x7 + four stride-2 convs.
Smaller inputs need fewer halvings to reach 4x4, so the missing stride-2 convs are replaced by
3x3 stride-1 convs (32x32: 7x7, 3x3, three 4x4/2): still 5 convs, same head. Inputs are images
in [0, 1], NCHW.

The contrastive stage trains a `ContrastiveEncoder`; the Glow-ICA distillation and the direction
baselines' regression train a `CodeEncoder` (the same network with a fixed head); evaluation reads
both through `load_encoder`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from disgu.errors import UserError

_CHANNELS = (32, 32, 32, 64, 64)
DISCO_CHANNELS = (64, 128, 256, 256, 256)  # DisCo's encoder widths
DISCO_SLOPE = 0.01  # DisCo's LeakyReLU slope


class ContrastiveEncoder(nn.Module):
    """The 5-conv encoder E: images in [0, 1] (N, C, H, W) -> codes (N, out_dim)."""

    def __init__(self, in_channels: int = 3, resolution: int = 64, out_dim: int = 64,
                 widths: tuple[int, ...] | list[int] | None = None, slope: float | None = None):
        super().__init__()
        n_down = round(math.log2(resolution)) - 2
        if resolution < 8 or 2 ** (n_down + 2) != resolution or n_down > 4:
            raise UserError(f"encoder: resolution must be 8, 16, 32 or 64, got {resolution}")
        widths = tuple(int(w) for w in (widths if widths is not None else _CHANNELS))
        if len(widths) != 5 or min(widths) < 1:
            raise UserError(f"encoder widths: expected 5 positive channel counts, got {list(widths)}")
        slope = 0.2 if slope is None else float(slope)
        if not 0 <= slope < 1:
            raise UserError(f"encoder slope: expected a LeakyReLU slope in [0, 1), got {slope}")
        self.in_channels, self.resolution, self.out_dim = in_channels, resolution, out_dim
        self.widths, self.slope = widths, slope
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 7, 1, 3), nn.LeakyReLU(slope)]
        cin = widths[0]
        for i, cout in enumerate(widths[1:]):
            if i < 4 - n_down:
                layers += [nn.Conv2d(cin, cout, 3, 1, 1), nn.LeakyReLU(slope)]
            else:
                layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(slope)]
            cin = cout
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * 16, 256), nn.LeakyReLU(slope), nn.Linear(256, 256),
                                  nn.LeakyReLU(slope), nn.Linear(256, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.convs(x))

    def config(self) -> dict[str, Any]:
        out = {"in_channels": self.in_channels, "resolution": self.resolution, "out_dim": self.out_dim}
        if self.widths != _CHANNELS or self.slope != 0.2:
            out.update(widths=list(self.widths), slope=self.slope)
        return out

    @torch.no_grad()
    def encode_images(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """uint8 (N, H, W, C) images at the encoder's resolution -> float32 codes (N, D).

        Batches of 64 in channels-last memory: 1.8x the throughput of contiguous batches of 512 on one
        CPU thread (the evaluation is mostly this loop; BENCHMARKS.md), same codes to float rounding.
        """
        if images.ndim != 4 or images.dtype != np.uint8:
            raise UserError(f"images: expected uint8 (N, H, W, C), got {images.dtype} {images.shape}")
        if images.shape[1:3] != (self.resolution, self.resolution):
            from disgu.data.resize import resize_images

            images = resize_images(images, self.resolution)
        c = images.shape[3]
        if c != self.in_channels:
            if c == 1:
                images = np.repeat(images, self.in_channels, axis=3)
            elif self.in_channels == 1 and c == 3:
                images = images.mean(axis=3, keepdims=True).round().astype(np.uint8)
            else:
                raise UserError(f"images: {c} channels, but the encoder takes {self.in_channels}")
        was = self.training
        self.eval()
        device = next(self.parameters()).device
        out = []
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i : i + batch_size]).to(device).permute(0, 3, 1, 2).float() / 255.0
            out.append(self(x.contiguous(memory_format=torch.channels_last)).cpu())
        self.train(was)
        return torch.cat(out).numpy() if out else np.zeros((0, self.code_dim), np.float32)

    @property
    def code_dim(self) -> int:
        """Length of a code (what `encode_images` returns per image)."""
        return self.out_dim


def init_encoder(encoder: nn.Module, scheme: str = "default") -> nn.Module:
    """Re-initialise the weights in place: "default" keeps PyTorch's, "kaiming" is DisCo's.

    DisCo draws every conv and linear weight from kaiming_normal (fan_in, gain sqrt 2) with zero
    biases. Why it matters: under PyTorch's default the untrained encoder's codes vary by about 3e-4
    per dim, below FactorVAE's 0.05 pruning threshold, and the BCE (which sees only normalised
    variations) never scales them up; under kaiming_normal they vary by about 0.2-0.5.
    """
    if scheme == "default":
        return encoder
    if scheme != "kaiming":
        raise UserError(f"encoder init: expected 'default' or 'kaiming', got {scheme!r}")
    for m in encoder.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return encoder


def codes_from_coordinates(t: Tensor, layout: list[int], cuts: list[float]) -> Tensor:
    """(n, sum(layout)) coordinates -> (n, len(layout)) codes.

    A width-1 entry passes through; a width-2 entry (u, v) is the angle atan2(v, u) - cut in [0, 2 pi).
    One function for the encoder's head and for codes computed from the Glow (`GroupCodes.codes`).
    """
    cols, j = [], 0
    for n, cut in zip(layout, cuts):
        if n == 1:
            cols.append(t[:, j : j + 1])
        else:
            cols.append(torch.remainder(torch.atan2(t[:, j + 1], t[:, j]) - cut, 2 * math.pi)[:, None])
        j += n
    return torch.cat(cols, 1)


class CodeEncoder(ContrastiveEncoder):
    """The same network, trained to regress given coordinates, with a fixed head that turns them into codes.

    The network predicts standardised coordinates (`layout`: 1 per single code, 2 per circular code);
    the head de-standardises them and reads each pair as the angle atan2(v, u) - cut in [0, 2 pi).
    A distilled Glow-ICA encoder (`disgu.stages.glow_ica.distil`) is one; its codes are the head's output.
    """

    def __init__(self, in_channels: int = 3, resolution: int = 64, layout: list[int] | None = None,
                 cuts: list[float] | None = None):
        layout = list(layout or [1])
        if any(n not in (1, 2) for n in layout):
            raise UserError(f"encoder layout: expected 1s and 2s, got {layout}")
        super().__init__(in_channels, resolution, sum(layout))
        self.layout = layout
        self.cuts = [float(c) for c in (cuts if cuts is not None else [0.0] * len(layout))]
        self.register_buffer("target_mean", torch.zeros(self.out_dim))
        self.register_buffer("target_std", torch.ones(self.out_dim))

    @property
    def code_dim(self) -> int:
        return len(self.layout)

    def standardised_coordinates(self, x: Tensor) -> Tensor:
        """The network's own output: the coordinates in the standardised units it is trained in."""
        return super().forward(x)

    def coordinates(self, x: Tensor) -> Tensor:
        """The regressed coordinates, de-standardised."""
        return self.standardised_coordinates(x) * self.target_std + self.target_mean

    def forward(self, x: Tensor) -> Tensor:
        return codes_from_coordinates(self.coordinates(x), self.layout, self.cuts)

    def config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "resolution": self.resolution, "layout": self.layout,
                "cuts": self.cuts}


def save_encoder(path: str | Path, encoder: ContrastiveEncoder, extra: dict[str, Any] | None = None) -> None:
    """Write the encoder's weights with the constructor arguments `load_encoder` rebuilds it from."""
    from disgu.checkpoint import save_checkpoint

    save_checkpoint(path, model=encoder.state_dict(), step=0, config={"encoder": encoder.config()}, extra=extra)


def load_encoder(path: str | Path, map_location: str | torch.device = "cpu") -> ContrastiveEncoder:
    """A saved ContrastiveEncoder, or a CodeEncoder when the saved config has a code layout."""
    from disgu.checkpoint import config_section, load_checkpoint, restore_module

    ckpt = load_checkpoint(path, map_location)
    cfg = config_section(ckpt, path, "encoder")
    enc = restore_module(path, "encoder", lambda: CodeEncoder(**cfg) if "layout" in cfg else ContrastiveEncoder(**cfg),
                         ckpt["model"])
    return enc.to(map_location).eval()
