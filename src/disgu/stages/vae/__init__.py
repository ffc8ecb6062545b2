"""The VAE baselines' stage: beta-VAE / FactorVAE / DIP-VAE at the same budget as Dis-GU.

The networks are `disgu.models.vae`; this package holds their training loop and losses.
"""

from disgu.stages.vae.trainer import BaselineConfig, load_model_from_run, train

__all__ = ["BaselineConfig", "load_model_from_run", "train"]
