"""Contrastive disentanglement (module Theta_E): an encoder trained on variations along the discovered directions."""

from disgu.contrastive.encoder import ContrastiveEncoder, load_encoder, save_encoder
from disgu.contrastive.losses import contrastive_bce_loss, entropy_loss, variation
from disgu.contrastive.trainer import ContrastiveConfig, train_contrastive

__all__ = [
    "ContrastiveConfig",
    "ContrastiveEncoder",
    "contrastive_bce_loss",
    "entropy_loss",
    "load_encoder",
    "save_encoder",
    "train_contrastive",
    "variation",
]
