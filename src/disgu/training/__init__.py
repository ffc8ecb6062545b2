"""Training stages. Each stage reads the previous stage's saved output and writes its own."""

from disgu.training.glow_trainer import GlowTrainConfig, config_from_checkpoint, train_glow

__all__ = ["GlowTrainConfig", "config_from_checkpoint", "train_glow"]
