"""Generative models. Glow is the frozen G: Z -> I (decode) with its exact encoder f: I -> Z."""

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
from disgu.models.pretrained import (
    build_glow,
    export_glow,
    load_glow,
    load_pretrained_glow,
)

__all__ = [
    "Glow",
    "GlowConfig",
    "build_glow",
    "export_glow",
    "flatten_latents",
    "images_to_input",
    "input_to_images",
    "latent_dim",
    "load_glow",
    "load_pretrained_glow",
    "replace_levels",
    "select_levels",
    "unflatten_latents",
]
