"""Baselines that Dis-GU is measured against: beta-VAE / FactorVAE at the same budget, and an untrained encoder.

The networks are `disgu.models.vae`; this package holds their training loop and losses.
"""

from disgu.baselines.trainer import BaselineConfig, load_model_from_run, train

__all__ = ["BaselineConfig", "load_model_from_run", "train"]
