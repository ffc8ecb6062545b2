"""disgu: generative disentangled representation learning (Glow + Dis-GU)."""

__version__ = "0.1.0"
