"""The Glow stage: maximum-likelihood training of the flow (the network is disgu.models.glow)."""

from disgu.stages.glow.trainer import GlowTrainConfig, GlowTrainResult, config_from_checkpoint, train_glow

__all__ = ["GlowTrainConfig", "GlowTrainResult", "config_from_checkpoint", "train_glow"]
