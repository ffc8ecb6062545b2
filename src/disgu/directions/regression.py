"""The regression encoder of the direction baselines (Khrulkov et al. 2021): images G(z) -> z's coordinates along D.

Targets: the coordinates c of the navigated latent z in the frame D, D^T z when D's columns are
orthonormal, the least-squares pinv(D) z otherwise (ICA's unit columns are not orthogonal). The
images are Glow samples at temperature T decoded in resumable chunks
(`glow_ica.generated.decode_in_chunks`), and the encoder is the 5-conv network trained with MSE on
standardised targets (`glow_ica.distil.train_distilled_encoder`, one code per direction).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgu.directions.config import RegressionConfig
from disgu.models.generator import FrozenGlow


def is_orthonormal(directions: np.ndarray, atol: float = 1e-5) -> bool:
    d = np.asarray(directions, np.float64)
    return bool(np.allclose(d.T @ d, np.eye(d.shape[1]), atol=atol))


def direction_coordinates(latents: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(n, a) latents, (a, k) unit columns -> (n, k) coordinates: D^T z (orthonormal D) or pinv(D) z."""
    z = np.asarray(latents, np.float64)
    d = np.asarray(directions, np.float64)
    if z.ndim != 2 or d.ndim != 2 or z.shape[1] != d.shape[0]:
        raise ValueError(f"direction_coordinates: latents (n, {d.shape[0]}) expected, got {z.shape} and D {d.shape}")
    if is_orthonormal(d):
        return z @ d
    return z @ np.linalg.pinv(d).T


def train_regression_encoder(frozen: FrozenGlow, directions: np.ndarray, cfg: RegressionConfig, out_dir: Path,
                             seed: int, device: torch.device | str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Decode cfg.images Glow samples, regress their coordinates along D; writes out_dir/encoder.pt, summary.json."""
    from disgu.stages.glow_ica.distil import ICAConfig, train_distilled_encoder
    from disgu.stages.glow_ica.generated import decode_in_chunks

    images, latents, broken = decode_in_chunks(frozen, cfg.images, cfg.temperature, seed, out_dir / "generated",
                                               cfg.chunk, progress=progress)
    targets = direction_coordinates(latents, directions)
    k = targets.shape[1]
    trainer = ICAConfig(images=cfg.images, fit_images=1, heldout=min(cfg.heldout, len(images) - 1),
                        temperature=cfg.temperature, teacher="generated", steps=cfg.steps, batch_size=cfg.batch_size,
                        lr=cfg.lr, checkpoint_every=cfg.checkpoint_every, log_every=cfg.log_every)
    return train_distilled_encoder(images, targets, [1] * k, [0.0] * k, trainer, out_dir, seed, device, progress,
                                   info={"broken_decodes": broken, "orthonormal_directions": is_orthonormal(directions),
                                         "generated_images": len(images)})
