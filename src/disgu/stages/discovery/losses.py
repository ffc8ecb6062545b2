"""The loss of direction discovery (paper eq. 5): which direction was taken, and how far.

The reconstructor sees the image pair (G(z), G(z + eps n_d)) and predicts the direction d
(logits over the directions) and the shift eps; the loss is CE(d, d_hat) + eta * |eps - eps_hat|.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def clean_images(x: Tensor) -> Tensor:
    """Decoded images as the reconstructor may see them: NaN/inf to 0, clamped to the image range [-0.5, 0.5]."""
    return x.nan_to_num(0.0, 0.0, 0.0).clamp(-0.5, 0.5)


def direction_loss(reconstructor: torch.nn.Module, x0: Tensor, x1: Tensor, d: Tensor, eps: Tensor, eta: float
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(loss, cross-entropy, shift L1, accuracy) on pairs x0 = G(z), x1 = G(z + eps n_d)."""
    logits, eps_hat = reconstructor(clean_images(x0), clean_images(x1))
    ce = F.cross_entropy(logits, d)
    l1 = (eps_hat - eps).abs().mean()
    acc = (logits.argmax(1) == d).float().mean()
    return ce + eta * l1, ce, l1, acc
