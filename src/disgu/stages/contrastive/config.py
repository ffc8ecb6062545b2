"""The contrastive stage's settings, apart from its loop so that the losses can name them without a cycle."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ContrastiveConfig:
    """Settings of the contrastive stage; paper/DisCo values unless a preset says otherwise."""

    out_dim: int = 64  # D
    batch_size: int = 32  # B queries
    n_positives: int = 32  # N
    n_negatives: int = 64  # K
    tau: float = 1.0  # temperature of eq. 7 (DisCo's code: 1)
    hard_threshold: float = 0.95  # T
    entropy_weight: float = 1.0
    entropy_temperature: float = 1.0
    entropy_form: str = "sample"  # "sample": each variation's entropy (paper); "direction": of their mean
    lr: float = 1e-4
    nav_lr: float | None = None  # None: same as lr
    finetune_navigator: bool = True
    scale_weight: float = 0.0  # weight of code_scale_loss (0: off, as in the paper; the BCE never sets the scale)
    prune_similarity: float | None = None  # drop directions whose effect maps are more alike (None: keep all)
    prune_min_directions: int = 4
    prune_samples: int = 16
    shift_range: float = 6.0
    min_shift: float = 0.5
    shift_distribution: str = "uniform"  # eps = shift_range * U(-1, 1) (LD); "normal": * N(0, 1) (DisCo's code)
    encoder_widths: list[int] | None = None  # the 5 conv widths (None: 32-32-32-64-64; DisCo: 64-128-256-256-256)
    encoder_slope: float | None = None  # LeakyReLU slope (None: 0.2; DisCo: 0.01)
    encoder_init: str = "default"  # "default" (PyTorch's) | "kaiming" (DisCo's kaiming_normal, zero biases)
    latents: str = "prior"
    temperature: float = 0.7
    steps: int = 70_000
    checkpoint_every: int = 10_000
    log_every: int = 50
    broken_limit: float = 1.5
    bank: bool = False  # train E on a bank of pairs decoded once (needs finetune_navigator=False); steps = E updates
    bank_pairs_per_direction: int = 256  # pairs decoded per direction (at least batch_size + n_positives)
    bank_fill_batch: int = 64  # pairs decoded per fill chunk (the unit of resuming a killed fill)
