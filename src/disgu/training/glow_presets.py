"""Named Glow training presets sized for the machine they run on.

Each preset gives the Glow architecture and the training schedule; command-line options
override single fields. Step times measured on the 2-core CPU are in BENCHMARKS.md.
"""

from __future__ import annotations

from typing import Any

from disgu.errors import UserError

PRESETS: dict[str, dict[str, Any]] = {
    # A few minutes on 2 CPU cores: checks that everything runs and draws the layout of the scene.
    "demo": {
        "model": {"resolution": 32, "n_levels": 3, "n_steps": 4, "hidden": 64, "n_bits": 5},
        "steps": 600, "batch_size": 32, "lr": 1e-3, "warmup_steps": 100,
        "eval_every": 200, "sample_every": 200, "checkpoint_every": 200,
    },
    # The best Glow 2 CPU cores train in about 30 minutes; the shipped weights resume it for hours.
    "cpu": {
        "model": {"resolution": 32, "n_levels": 3, "n_steps": 8, "hidden": 128, "n_bits": 5},
        "steps": 4500, "batch_size": 32, "lr": 1e-3, "warmup_steps": 500,
        "eval_every": 500, "sample_every": 500, "checkpoint_every": 250,
    },
    # The paper-scale model (Kingma & Dhariwal's 64x64 setting, narrower than their 512 x 32 x 4 CelebA-HQ) for a GPU.
    "paper": {
        "model": {"resolution": 64, "n_levels": 4, "n_steps": 32, "hidden": 512, "n_bits": 5},
        "steps": 100_000, "batch_size": 64, "lr": 1e-3, "warmup_steps": 2000,
        "eval_every": 2000, "sample_every": 2000, "checkpoint_every": 1000,
    },
}


def preset(name: str) -> dict[str, Any]:
    """A deep copy of the named preset's overrides."""
    if name not in PRESETS:
        raise UserError(f"--preset: expected one of {', '.join(PRESETS)}, got {name!r}")
    p = PRESETS[name]
    return {**{k: v for k, v in p.items() if k != "model"}, "model": dict(p["model"])}
