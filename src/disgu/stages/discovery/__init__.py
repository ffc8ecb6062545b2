"""Direction discovery (learner Omega_LD): train a navigator of latent directions against a reconstructor.

The networks (navigator, reconstructor, the frozen Glow) are in `disgu.models`; this package holds
the stage: its training loop, its loss, and the data-derived navigator starts.
"""

from disgu.stages.discovery.trainer import DiscoveryConfig, build_navigator, train_discovery

__all__ = ["DiscoveryConfig", "build_navigator", "train_discovery"]
