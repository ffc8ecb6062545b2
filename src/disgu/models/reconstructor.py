"""The reconstructor R: sees the pair (G(z), G(z + eps n_d)) and predicts d (logits) and eps.

`light` is a small strided CNN for CPU budgets (LD's LeNet-sized variant grown to colour
images); `resnet18` follows LD's choice, a ResNet-18 whose first conv takes the 6-channel pair.
Both are written here (no torchvision on CPU installs).
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from disgu.errors import UserError


class _Heads(nn.Module):
    def __init__(self, features: int, n_directions: int):
        super().__init__()
        self.logits = nn.Linear(features, n_directions)
        self.shift = nn.Linear(features, 1)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        return self.logits(h), self.shift(h).squeeze(1)


class LightReconstructor(nn.Module):
    """4 strided 3x3 convs (32-64-128-128) with BatchNorm, global average pool, FC 256, two heads."""

    def __init__(self, in_channels: int, n_directions: int, width: int = 32):
        super().__init__()
        chans = [2 * in_channels, width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for cin, cout in itertools.pairwise(chans):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(chans[-1], 256), nn.ReLU(inplace=True))
        self.heads = _Heads(256, n_directions)

    def forward(self, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
        return self.heads(self.features(torch.cat([x0, x1], 1)))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.skip(x))


class ResNet18Reconstructor(nn.Module):
    """ResNet-18 (2-2-2-2 basic blocks, 64..512 channels) on the 6-channel pair; a 3x3 stem for small images."""

    def __init__(self, in_channels: int, n_directions: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2 * in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True))
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.heads = _Heads(512, n_directions)

    def forward(self, x0: Tensor, x1: Tensor) -> tuple[Tensor, Tensor]:
        return self.heads(self.blocks(self.stem(torch.cat([x0, x1], 1))))


def build_reconstructor(kind: str, in_channels: int, n_directions: int) -> nn.Module:
    """The named reconstructor (`light` or `resnet18`) for pairs of `in_channels`-channel images."""
    if kind == "light":
        return LightReconstructor(in_channels, n_directions)
    if kind == "resnet18":
        return ResNet18Reconstructor(in_channels, n_directions)
    raise UserError(f"reconstructor: expected 'light' or 'resnet18', got {kind!r}")
