"""Every preset in one place: `disgu run`'s (a partial config tree per preset) and the Glow trainer's.

`disgu run --preset P` starts from RUN_PRESETS[P]; when it has to train a Glow it starts from the
Glow preset named by its `glow.train_preset` and applies the `glow` section's fields over it (the
`demo` run trains a smaller, shorter Glow than `disgu train-glow --preset demo`, to stay in its 10
minutes). `disgu train-glow --preset P` uses GLOW_PRESETS[P]. Plain data: importing this module
imports no torch, so `--help` stays fast. Step times measured on the 2-core CPU are in BENCHMARKS.md.
"""

from __future__ import annotations

from typing import Any

from disgu.errors import UserError

GLOW_PRESETS: dict[str, dict[str, Any]] = {
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


RUN_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "resolution": 64,
        "glow": {"train_preset": "paper"},
        # LD's and DisCo's navigators start from a random rotation (their random_init=True)
        "discovery": {"n_directions": 64, "reconstructor": "resnet18", "steps": 70_000, "eval_every": 1000,
                      "checkpoint_every": 10_000, "navigator_base": "random"},
        # DisCo's encoder (widths, LeakyReLU 0.01, kaiming_normal init) and shifts 6 * N(0, 1); D = 64 directions
        "contrastive": {"steps": 70_000, "checkpoint_every": 10_000, "encoder_widths": [64, 128, 256, 256, 256],
                        "encoder_slope": 0.01, "encoder_init": "kaiming", "shift_distribution": "normal"},
    },
    "cpu": {
        "resolution": 32,
        "representation": "glow-ica",
        "glow": {"train_preset": "cpu"},
        "ica": {"n_components": 10, "images": 20_000, "fit_images": 4000, "circle_cv": 0.3, "steps": 3000},  # = defaults
        "discovery": {"n_directions": 32, "nav_lr": 1e-3, "shift_range": 3.0, "steps": 2000, "eval_every": 250,
                      "checkpoint_every": 250},
        # DisCo's loss values (tau 1, entropy T 1), its kaiming init and D = the number of directions, as measured
        # on the testbed and through the Glow (docs/method.md); the narrow encoder stays, DisCo's is 6x slower
        "contrastive": {"shift_range": 3.0, "out_dim": 32, "encoder_init": "kaiming", "tau": 1.0,
                        "entropy_temperature": 1.0, "entropy_weight": 1.0, "lr": 3e-4, "steps": 500,
                        "checkpoint_every": 100, "log_every": 25},
        "evaluation": {"mig_train": 10_000, "dci_train": 10_000, "dci_test": 5000, "factor_vae_variance": 5000,
                       "factor_vae_train": 1000, "factor_vae_eval": 500, "beta_vae_train": 1000,
                       "beta_vae_eval": 500},
    },
    "demo": {
        "resolution": 32,
        "representation": "glow-ica",
        "ica": {"n_components": 10, "images": 6000, "fit_images": 4000, "circle_cv": 0.3, "heldout": 500, "steps": 600,
                "checkpoint_every": 200},
        "glow": {"train_preset": "demo", "steps": 300, "n_steps": 4, "hidden": 48, "eval_every": 100,
                 "checkpoint_every": 100, "heldout_size": 256},
        "discovery": {"n_directions": 16, "nav_lr": 1e-3, "shift_range": 3.0, "batch_size": 16, "steps": 150,
                      "eval_every": 50, "eval_batches": 2, "checkpoint_every": 50, "log_every": 10},
        "contrastive": {"out_dim": 16, "batch_size": 8, "n_positives": 8, "n_negatives": 16, "shift_range": 3.0,
                        "tau": 0.1, "entropy_temperature": 0.1, "entropy_weight": 1.0, "steps": 120,
                        "checkpoint_every": 40, "log_every": 10},
        "evaluation": {"mig_train": 2000, "dci_train": 1000, "dci_test": 500, "factor_vae_variance": 1000,
                       "factor_vae_train": 200, "factor_vae_eval": 100, "beta_vae_train": 200, "beta_vae_eval": 100,
                       "metric_batch": 32, "direction_samples": 16},
        "traversal": {"n_latents": 4, "n_shifts": 7},
    },
    "tiny": {
        "resolution": 16,
        "glow": {"source": "train", "train_preset": "demo", "steps": 4, "n_levels": 2, "n_steps": 1, "hidden": 8,
                 "batch_size": 8, "eval_every": 4, "checkpoint_every": 2, "heldout_size": 16},
        "ica": {"n_components": 4, "images": 64, "fit_images": 48, "group_threshold": 100.0, "encode_chunk": 16,
                "steps": 3, "batch_size": 8,
                "heldout": 8, "checkpoint_every": 2, "log_every": 1},
        "discovery": {"n_directions": 4, "batch_size": 4, "steps": 3, "eval_every": 3, "eval_batches": 1,
                      "checkpoint_every": 2, "log_every": 1, "shift_range": 3.0},
        "contrastive": {"out_dim": 4, "batch_size": 2, "n_positives": 2, "n_negatives": 4, "steps": 3,
                        "checkpoint_every": 2, "log_every": 1, "shift_range": 3.0},
        "evaluation": {"metrics": "mig,dci,factor_vae,beta_vae", "mig_train": 200, "dci_train": 100, "dci_test": 50,
                       "dci_estimator": "exact", "factor_vae_variance": 100, "factor_vae_train": 10,
                       "factor_vae_eval": 5, "beta_vae_train": 10, "beta_vae_eval": 5, "metric_batch": 4,
                       "direction_samples": 2},
        "traversal": {"n_latents": 2, "n_shifts": 3, "scale": 1},
    },
}

# The VAE baselines' training budget under a `disgu run` preset, so that they get the training wall time of
# Dis-GU's stages past the Glow: at `cpu` its `ica` and `distil` stages took 13.1-13.6 min on Shapes3D,
# 13.0-14.5 min on MPI3D and 13.0-13.7 min on Cars3D (one core each; BENCHMARKS.md); `demo` a few minutes. `paper` trains
# disentanglement_lib's 300,000 steps, as the paper's baseline rows; `tiny` two steps, for tests.
VAE_BUDGETS: dict[str, dict[str, Any]] = {"demo": {"minutes": 3.0}, "cpu": {"minutes": 15.0}, "paper": {},
                                          "tiny": {"steps": 2}}

PRESET_NAMES = ("demo", "cpu", "paper", "tiny")  # `disgu run --preset` choices, in the order --help shows them
assert set(PRESET_NAMES) == set(RUN_PRESETS) == set(VAE_BUDGETS)


def glow_preset(name: str) -> dict[str, Any]:
    """A deep copy of the named preset's overrides."""
    if name not in GLOW_PRESETS:
        raise UserError(f"--preset: expected one of {', '.join(GLOW_PRESETS)}, got {name!r}")
    p = GLOW_PRESETS[name]
    return {**{k: v for k, v in p.items() if k != "model"}, "model": dict(p["model"])}
