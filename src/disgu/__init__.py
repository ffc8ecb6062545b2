"""disgu: generative disentangled representation learning (Glow + Dis-GU)."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy: `import disgu` stays light (no torch) until DisGU is used.
    if name == "DisGU":
        from disgu.disgu_estimator import DisGU

        return DisGU
    raise AttributeError(f"module 'disgu' has no attribute {name!r}")
