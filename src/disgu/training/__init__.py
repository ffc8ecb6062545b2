"""Training stages. Each stage reads the previous stage's saved output and writes its own."""

from disgu.training.glow_trainer import (
    GlowTrainConfig,
    GlowTrainResult,
    config_from_checkpoint,
    train_glow,
)

__all__ = ["GlowTrainConfig", "GlowTrainResult", "config_from_checkpoint", "train_glow"]
