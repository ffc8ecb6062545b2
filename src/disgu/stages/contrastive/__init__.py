"""Contrastive disentanglement (module Theta_E): an encoder trained on variations along the discovered directions.

The encoder network is `disgu.models.encoder`; this package holds the stage: its loop, losses, pair bank
and the pruning of alike directions.
"""

from disgu.stages.contrastive.losses import contrastive_bce_loss, entropy_loss, variation
from disgu.stages.contrastive.trainer import ContrastiveConfig, train_contrastive

__all__ = [
    "ContrastiveConfig",
    "contrastive_bce_loss",
    "entropy_loss",
    "train_contrastive",
    "variation",
]
