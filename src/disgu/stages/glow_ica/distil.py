"""Distil Glow-ICA coordinates of real (or generated) images into a fast encoder, so codes need no Glow at inference.

Why: reading the codes through the Glow's exact inverse costs about 8 ms per 32x32 image on one
core, and the FactorVAE and beta-VAE scores alone draw about 300,000 images at the `cpu` preset's
sample sizes (40 minutes). The encoder (the contrastive stage's 5-conv network with a `CodeEncoder`
head) regresses the standardised coordinates `GlowICA.targets` of training images with MSE; the
head turns its predictions into the codes. Resumable like every stage (checkpoints, RNG state); under
DDP each rank draws its own batches and gradients are averaged, as in the other stages.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgu.atomic import write_json
from disgu.distributed import average_gradients, is_main, world
from disgu.errors import UserError
from disgu.stages.glow_ica.losses import distil_loss, to_unit
from disgu.models.encoder import CodeEncoder, save_encoder
from disgu.training.checkpoints import load_stage, save_stage
from disgu.training.logs import TrainingLog
from disgu.training.nan_guard import NonFiniteGuard
from disgu.training.progress import progress_bar
from disgu.training.stop import StopRequest


@dataclass
class ICAConfig:
    """Settings of the Glow-ICA frame (stage `ica`) and of its distillation into an encoder (stage `distil`)."""

    levels: str = "top"  # navigated levels whose latents are analysed ('top', 'all' or indices)
    n_components: int = 10
    fit_images: int = 4000  # the first images of the encoded sample fit the ICA and the groups
    images: int = 20_000  # training images encoded by the Glow (teacher='generated': Glow samples decoded)
    group_threshold: float = 0.1  # mutual information (nats, bias-corrected) above which two components share a group
    group_bins: int = 16
    circle_cv: float | None = 0.3  # groups whose radius varies less than this are circles (angle only); others
    #                                keep their components as codes too (None: every group is an angle alone)
    max_iter: int = 1000
    encode_chunk: int = 1000  # images per resumable chunk of Glow encoding
    teacher: str = "real"  # 'real': coordinates of training images through the Glow's inverse; 'generated':
    #                        Glow samples G(z) and the coordinates of z (Khrulkov et al.'s regression encoder)
    temperature: float = 0.7  # prior temperature of the samples when teacher='generated'
    steps: int = 3000  # encoder updates
    batch_size: int = 64
    lr: float = 3e-4
    heldout: int = 1000  # encoded images kept out of training for the held-out MSE
    checkpoint_every: int = 500
    log_every: int = 50


def check_ica_config(cfg: ICAConfig) -> None:
    """One-line errors for settings that cannot work together, before any stage spends time.

    Each field's own range (counts, rates, choices) is checked with every other setting by
    disgu.pipeline.config.validate_config.
    """
    if cfg.fit_images > cfg.images:
        raise UserError(f"ica.fit_images ({cfg.fit_images}) must not exceed ica.images ({cfg.images})")
    if not 0 <= cfg.heldout < cfg.images:
        raise UserError(f"ica.heldout: expected 0 <= heldout < ica.images ({cfg.images}), got {cfg.heldout}")


def train_distilled_encoder(images: np.ndarray, targets: np.ndarray, layout: list[int], cuts: list[float],
                            cfg: ICAConfig, out_dir: str | Path, seed: int, device: torch.device | str = "cpu",
                            progress: bool = True, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train a CodeEncoder on uint8 (N, H, W, C) images -> (N, T) coordinates; writes encoder.pt and summary.json."""
    out_dir = Path(out_dir)
    n_train = len(images) - cfg.heldout
    if n_train < 1:
        raise UserError(f"ica.heldout ({cfg.heldout}): leaves no training images of the {len(images)} there are")
    mean = targets[:n_train].mean(0)
    std = targets[:n_train].std(0).clip(1e-8)
    y = torch.from_numpy(((targets - mean) / std).astype(np.float32))
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    torch.manual_seed(seed + 3)
    encoder = CodeEncoder(images.shape[3], images.shape[1], layout, cuts).to(device)
    encoder.target_mean.copy_(torch.from_numpy(mean.astype(np.float32)))
    encoder.target_std.copy_(torch.from_numpy(std.astype(np.float32)))
    opt = torch.optim.Adam(encoder.parameters(), cfg.lr)
    gen = torch.Generator().manual_seed(seed * 1000 + 700 + world()[0])  # DDP: each rank its own batches
    start, extra = load_stage(out_dir, {"encoder": encoder}, {"opt": opt}, {"train": gen})
    guard = NonFiniteGuard(extra.get("nonfinite_steps", 0))
    recent: list[float] = extra.get("recent", [])

    def save(step: int) -> None:
        save_stage(out_dir, step, {"encoder": encoder}, {"opt": opt}, {"train": gen}, {"ica": asdict(cfg)},
                   {"recent": recent, "nonfinite_steps": guard.skipped})

    log = TrainingLog(out_dir, start)
    bar = progress_bar(cfg.steps, start, "distil", progress)
    t0 = time.perf_counter()
    with StopRequest() as stop:
        for step in range(start, cfg.steps):
            b = torch.randint(n_train, (cfg.batch_size,), generator=gen)
            loss = distil_loss(encoder, x[b].to(device), y[b].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(encoder.parameters())
            if guard.check(encoder.parameters()):
                opt.step()
            recent = (recent + [float(loss.detach())])[-100:]
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                log.write(done, mse=recent[-1])
                bar.set_postfix(mse=f"{np.mean(recent):.4f}")
            bar.update(1)
            stop.checkpoint_or_stop(done, cfg.steps, cfg.checkpoint_every, save, bar, "distil", out_dir, device)
    bar.close()
    heldout = None
    if cfg.heldout:
        encoder.eval()
        with torch.no_grad():
            pred = torch.cat([encoder.standardised_coordinates(to_unit(x[i : i + 256].to(device))).cpu()
                              for i in range(n_train, len(x), 256)])
        heldout = float(((pred - y[n_train:]) ** 2).mean())
    summary = {"steps": cfg.steps, "train_images": n_train, "heldout_images": cfg.heldout,
               "mse_of_last_100_steps": float(np.mean(recent)) if recent else None, "heldout_mse": heldout,
               "targets": int(targets.shape[1]), "codes": len(layout),
               "nonfinite_steps": guard.skipped, "train_seconds_this_session": time.perf_counter() - t0,
               **(info or {})}
    if is_main():
        save_encoder(out_dir / "encoder.pt", encoder)
        write_json(out_dir / "summary.json", summary)
    return summary
