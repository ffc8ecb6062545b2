"""Baselines that Dis-GU is measured against: beta-VAE / FactorVAE at the same budget, and an untrained encoder."""

from disgu.baselines.beta_vae import BetaVAE, ConvEncoder, DeconvDecoder, FactorVAE, build_model
from disgu.baselines.trainer import BaselineConfig, load_model_from_run, train

__all__ = [
    "BaselineConfig", "BetaVAE", "ConvEncoder", "DeconvDecoder", "FactorVAE", "build_model",
    "load_model_from_run", "train",
]
