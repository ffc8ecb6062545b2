"""The loss of Glow-ICA distillation: the encoder regresses the standardised Glow-ICA coordinates of an image."""

from __future__ import annotations

from torch import Tensor

from disgu.models.encoder import CodeEncoder


def to_unit(images: Tensor) -> Tensor:
    """uint8 (N, C, H, W) -> float in [0, 1], the encoder's input."""
    return images.float() / 255.0


def distil_loss(encoder: CodeEncoder, images: Tensor, targets: Tensor) -> Tensor:
    """Mean squared error between the encoder's predictions on uint8 (N, C, H, W) images and the targets (N, T)."""
    return ((encoder.standardised_coordinates(to_unit(images)) - targets) ** 2).mean()
