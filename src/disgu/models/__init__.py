"""Every network of disgu, and the frozen Glow they are trained around.

glow.py / pretrained.py: the Glow, G: Z -> I (decode) with its exact encoder f: I -> Z, and its files.
generator.py: the frozen Glow as the generator G of Dis-GU (navigated levels, broken decodes).
latents.py: the starting latents z of a pair (prior or real images).
navigator.py: the navigator N of latent directions, and its file.
reconstructor.py: the reconstructor R of the discovery stage.
encoder.py: the encoder E (contrastive, or regressing codes), and its file.
vae.py: the beta-VAE / FactorVAE baselines' encoder, decoder and discriminator.
The stages (discovery, contrastive, glow_ica, baselines, directions) import these; their losses
and training loops stay in the stage packages.
"""

from disgu.models.encoder import CodeEncoder, ContrastiveEncoder, load_encoder, save_encoder
from disgu.models.generator import FrozenGlow, parse_levels
from disgu.models.glow import (
    Glow,
    GlowConfig,
    flatten_latents,
    images_to_input,
    input_to_images,
    latent_dim,
    replace_levels,
    select_levels,
    unflatten_latents,
)
from disgu.models.latents import LatentSource
from disgu.models.navigator import Navigator, load_navigator, save_navigator
from disgu.models.pretrained import (
    build_glow,
    export_glow,
    load_glow,
    load_pretrained_glow,
)
from disgu.models.reconstructor import build_reconstructor
from disgu.models.vae import BetaVAE, ConvEncoder, DeconvDecoder, FactorVAE, build_model

__all__ = [
    "BetaVAE",
    "CodeEncoder",
    "ContrastiveEncoder",
    "ConvEncoder",
    "DeconvDecoder",
    "FactorVAE",
    "FrozenGlow",
    "Glow",
    "GlowConfig",
    "LatentSource",
    "Navigator",
    "build_glow",
    "build_model",
    "build_reconstructor",
    "export_glow",
    "flatten_latents",
    "images_to_input",
    "input_to_images",
    "latent_dim",
    "load_encoder",
    "load_glow",
    "load_navigator",
    "load_pretrained_glow",
    "parse_levels",
    "replace_levels",
    "save_encoder",
    "save_navigator",
    "select_levels",
    "unflatten_latents",
]
