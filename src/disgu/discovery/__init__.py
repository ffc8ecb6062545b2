"""Direction discovery (learner Omega_LD): a navigator of orthonormal latent directions and a reconstructor."""

from disgu.discovery.generator import FrozenGlow, parse_levels
from disgu.discovery.latents import LatentSource
from disgu.discovery.navigator import Navigator
from disgu.discovery.reconstructor import build_reconstructor
from disgu.discovery.shifts import sample_directions, sample_shifts
from disgu.discovery.trainer import DiscoveryConfig, train_discovery

__all__ = [
    "DiscoveryConfig",
    "FrozenGlow",
    "LatentSource",
    "Navigator",
    "build_reconstructor",
    "parse_levels",
    "sample_directions",
    "sample_shifts",
    "train_discovery",
]
