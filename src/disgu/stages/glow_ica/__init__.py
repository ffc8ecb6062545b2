"""Glow-ICA: independent components of a Glow's exact latents, grouped into factor subspaces.

The training-free representation of the `cpu` preset (docs/method.md, "Glow-ICA"): fit FastICA
on the navigated latents f(x) of training images, group the components whose values depend on
each other, read one code per group, and distil those codes into a fast encoder.
"""

from disgu.stages.glow_ica.model import GlowICA
from disgu.stages.glow_ica.subspaces import GroupCodes, dependence_matrix, dependent_groups, fit_group_codes
from disgu.stages.glow_ica.ica import LatentICA, fit_latent_ica

__all__ = ["GlowICA", "GroupCodes", "LatentICA", "dependence_matrix", "dependent_groups", "fit_group_codes",
           "fit_latent_ica"]
