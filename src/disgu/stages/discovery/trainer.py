"""Training loop of direction discovery (Omega_LD): navigator + reconstructor on pairs from the frozen Glow.

Loss (eq. 5, in losses.py): CE(d, d_hat) + eta * |eps - eps_hat|. The reference image G(z) does not depend on
the navigator and is decoded without gradients; G(z + eps n_d) is decoded with gradients that
reach the navigator through the frozen Glow. Pairs whose decode is broken (non-finite or
exploding pixels) are dropped from the batch and counted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from disgu.atomic import write_json
from disgu.stages.discovery.losses import clean_images, direction_loss
from disgu.distributed import average_gradients, is_main, sum_over_ranks, world
from disgu.errors import UserError
from disgu.models.generator import FrozenGlow, parse_levels
from disgu.models.glow import Glow
from disgu.models.latents import LatentSource
from disgu.models.navigator import Navigator, save_navigator
from disgu.models.reconstructor import build_reconstructor
from disgu.training.checkpoints import load_stage, save_stage
from disgu.training.logs import TrainingLog
from disgu.training.nan_guard import NonFiniteGuard
from disgu.training.progress import progress_bar
from disgu.training.shifts import device_generator, sample_directions, sample_shifts
from disgu.training.stop import StopRequest


@dataclass
class DiscoveryConfig:
    """Settings of the discovery stage; paper values unless a preset says otherwise."""

    n_directions: int = 64
    levels: str = "top"  # 'top', 'all', or comma-separated level indices
    navigator: str = "ortho"  # 'ortho' (orthonormal) or 'proj' (unit columns)
    navigator_base: str = "identity"  # 'identity' (LD), 'random', 'pca' or 'ica' (principal / independent axes
    #                                    of the images' latents)
    pca_images: int = 4000  # images encoded for the 'pca' and 'ica' bases
    init_scale: float = 1e-3
    reconstructor: str = "light"  # 'light' (CPU) or 'resnet18' (LD)
    shift_range: float = 6.0  # eps ~ U(-r, r)
    min_shift: float = 0.5  # |eps| >= min_shift
    latents: str = "prior"  # 'prior' z ~ N(0, T^2 I) or 'data' z = f(x)
    temperature: float = 0.7
    eta: float = 0.25
    lr: float = 1e-4
    nav_lr: float | None = None  # None: same as lr
    batch_size: int = 32
    steps: int = 10_000
    eval_every: int = 500
    eval_batches: int = 4
    checkpoint_every: int = 1000
    log_every: int = 50
    broken_limit: float = 1.5  # a decoded pixel beyond +-this (images lie in [-0.5, 0.5]) marks a broken pair


def build_navigator(cfg: DiscoveryConfig, frozen: FrozenGlow, seed: int, dataset=None) -> Navigator:
    g = torch.Generator().manual_seed(seed)
    base = cfg.navigator_base
    if base == "pca":
        if dataset is None:
            raise UserError("discovery.navigator_base=pca needs the training images (a dataset)")
        from disgu.stages.discovery.pca_base import principal_frame

        base = principal_frame(frozen, dataset, cfg.n_directions, cfg.pca_images, seed)
    elif base == "ica":
        if dataset is None:
            raise UserError("discovery.navigator_base=ica needs the training images (a dataset)")
        from disgu.stages.discovery.ica_base import independent_frame

        base = independent_frame(frozen, dataset, cfg.n_directions, cfg.pca_images, seed, cfg.navigator == "ortho")
    return Navigator(frozen.nav_dim, cfg.n_directions, cfg.navigator, base, cfg.init_scale, generator=g)


def _pair_batch(frozen: FrozenGlow, navigator: Navigator, source: LatentSource, cfg: DiscoveryConfig,
                gen: torch.Generator, with_grad: bool):
    device = frozen.device
    z = source.sample(cfg.batch_size, gen)
    d = sample_directions(cfg.batch_size, cfg.n_directions, gen, device)
    eps = sample_shifts(cfg.batch_size, cfg.shift_range, cfg.min_shift, gen, device)
    with torch.no_grad():
        x0 = frozen.decode(z)
    with torch.set_grad_enabled(with_grad):
        x1 = frozen.decode_shifted(z, navigator(d, eps))
    keep = ~(frozen.broken_mask(x0) | frozen.broken_mask(x1))
    return x0, x1, d, eps, keep


@torch.no_grad()
def heldout_accuracy(frozen: FrozenGlow, navigator: Navigator, reconstructor, source: LatentSource,
                     cfg: DiscoveryConfig, seed: int) -> dict[str, float]:
    """Reconstructor classification accuracy (RCA) and shift error on fixed held-out batches."""
    was_training = reconstructor.training
    reconstructor.eval()
    gen = torch.Generator().manual_seed(seed + 1_000_003)
    correct = total = 0
    abs_err = 0.0
    for _ in range(cfg.eval_batches):
        x0, x1, d, eps, keep = _pair_batch(frozen, navigator, source, cfg, gen, with_grad=False)
        if keep.sum() == 0:
            continue
        logits, eps_hat = reconstructor(clean_images(x0[keep]), clean_images(x1[keep]))
        correct += int((logits.argmax(1) == d[keep]).sum())
        abs_err += float((eps_hat - eps[keep]).abs().sum())
        total += int(keep.sum())
    reconstructor.train(was_training)
    return {"accuracy": correct / max(total, 1), "shift_mae": abs_err / max(total, 1),
            "chance": 1.0 / cfg.n_directions}


def discovery_step(frozen: FrozenGlow, navigator: Navigator, reconstructor: torch.nn.Module, source: LatentSource,
                   cfg: DiscoveryConfig, gen: torch.Generator, optimizers: list[torch.optim.Optimizer],
                   guard: NonFiniteGuard) -> tuple[dict[str, float] | None, list[float]]:
    """One update of reconstructor and navigator: (loss terms, or None when too few pairs survived; the
    [broken, all] pair counts summed over ranks). Every rank takes part in the gradient average, so a
    rank with too few pairs contributes zeros."""
    x0, x1, d, eps, keep = _pair_batch(frozen, navigator, source, cfg, gen, with_grad=True)
    n_keep = int(keep.sum())
    counts = sum_over_ranks([len(keep) - n_keep, len(keep)], frozen.device)
    ok = n_keep >= 2
    for opt in optimizers:
        opt.zero_grad(set_to_none=False)
    terms = None
    if ok:
        loss, ce, l1, acc = direction_loss(reconstructor, x0[keep], x1[keep], d[keep], eps[keep], cfg.eta)
        loss.backward()
        terms = {"loss": float(loss.detach()), "ce": float(ce.detach()), "shift_l1": float(l1.detach()),
                 "train_accuracy": float(acc)}
    params = list(reconstructor.parameters()) + list(navigator.parameters())
    average_gradients(params)
    if guard.check(params) and (ok or world()[1] > 1):
        for opt in optimizers:
            opt.step()
    return terms, counts


def train_discovery(glow: Glow, cfg: DiscoveryConfig, out_dir: str | Path, seed: int, dataset=None,
                    progress: bool = True) -> dict[str, Any]:
    """Train navigator + reconstructor; resumable from out_dir/checkpoints. Returns the summary dict.

    Writes out_dir/navigator.pt (navigator weights and what is needed to rebuild it),
    out_dir/summary.json and out_dir/log.jsonl. SIGTERM / Ctrl-C: checkpoint, then KeyboardInterrupt.
    """
    out_dir = Path(out_dir)
    rank, _ = world()
    frozen = FrozenGlow(glow, parse_levels(cfg.levels, len(glow.levels)), cfg.broken_limit)
    device = frozen.device
    navigator = build_navigator(cfg, frozen, seed, dataset).to(device)
    initial_dirs = navigator.directions()
    torch.manual_seed(seed)
    reconstructor = build_reconstructor(cfg.reconstructor, frozen.channels, cfg.n_directions).to(device)
    opt_rec = torch.optim.Adam(reconstructor.parameters(), lr=cfg.lr)
    opt_nav = torch.optim.Adam(navigator.parameters(), lr=cfg.nav_lr if cfg.nav_lr is not None else cfg.lr)
    gen = torch.Generator().manual_seed(seed * 1000 + rank)
    draws = device_generator(seed * 1000 + rank, device) if cfg.latents == "prior" else None  # None on the CPU
    generators = {"train": gen} if draws is None else {"train": gen, "draws": draws}
    source = LatentSource(glow, cfg.latents, cfg.temperature, dataset)
    modules = {"navigator": navigator, "reconstructor": reconstructor}
    optims = {"reconstructor": opt_rec, "navigator": opt_nav}
    start, extra = load_stage(out_dir, modules, optims, generators)
    counters = extra.get("counters", {"broken_pairs": 0, "pairs": 0, "skipped_steps": 0})
    guard = NonFiniteGuard(counters.get("nonfinite_steps", 0))
    history = extra.get("history", [])

    def save(step: int) -> None:
        save_stage(out_dir, step, modules, optims, generators, {"discovery": asdict(cfg)},
                   {"counters": {**counters, "nonfinite_steps": guard.skipped}, "history": history})

    log = TrainingLog(out_dir, start)
    t0 = time.perf_counter()
    bar = progress_bar(cfg.steps, start, "discovery", progress)
    reconstructor.train()
    with StopRequest() as stop:
        for step in range(start, cfg.steps):
            terms, counts = discovery_step(frozen, navigator, reconstructor, source, cfg, draws or gen,
                                           [opt_rec, opt_nav], guard)
            counters["broken_pairs"] += int(counts[0])
            counters["pairs"] += int(counts[1])
            if terms is None:
                counters["skipped_steps"] += 1
            done = step + 1
            if terms is not None and (done % cfg.log_every == 0 or done == cfg.steps):
                log.write(done, **terms, broken_pairs=counters["broken_pairs"])
                bar.set_postfix(loss=f"{terms['loss']:.3f}", acc=f"{terms['train_accuracy']:.2f}",
                                broken=counters["broken_pairs"])
            if done % cfg.eval_every == 0 or done == cfg.steps:
                ev = heldout_accuracy(frozen, navigator, reconstructor, source, cfg, seed)
                cos = (navigator.directions() * initial_dirs).sum(1).abs()
                ev.update({"step": done, "min_abs_cos_to_init": float(cos.min()),
                           "mean_abs_cos_to_init": float(cos.mean())})
                history.append(ev)
                log.write(done, heldout=ev)
                bar.set_postfix(rca=f"{ev['accuracy']:.3f}", broken=counters["broken_pairs"])
            bar.update(1)
            stop.checkpoint_or_stop(done, cfg.steps, cfg.checkpoint_every, save, bar, "discovery", out_dir, device)
    bar.close()
    summary = {
        "steps": cfg.steps,
        "heldout": history[-1] if history else None,
        "history": history,
        "broken_pairs": counters["broken_pairs"],
        "pairs": counters["pairs"],
        "broken_fraction": counters["broken_pairs"] / max(counters["pairs"], 1),
        "skipped_steps": counters["skipped_steps"],
        "nonfinite_steps": guard.skipped,
        "latent_dim": frozen.nav_dim,
        "levels": list(frozen.levels),
        "train_seconds_this_session": time.perf_counter() - t0,
    }
    if is_main():
        save_navigator(out_dir / "navigator.pt", navigator, asdict(cfg), frozen.levels)
        write_json(out_dir / "summary.json", summary)
    return summary


def save_initial_navigator(glow: Glow, cfg: DiscoveryConfig, out_dir: str | Path, seed: int,
                           dataset=None) -> dict[str, Any]:
    """out_dir/navigator.pt and summary.json of the navigator exactly as `train_discovery` would start it, untrained.

    DisCo has no discovery stage: its contrastive stage starts from this navigator and trains it with the encoder.
    """
    out_dir = Path(out_dir)
    frozen = FrozenGlow(glow, parse_levels(cfg.levels, len(glow.levels)), cfg.broken_limit)
    navigator = build_navigator(cfg, frozen, seed, dataset)
    summary = {"steps": 0, "trained": False, "navigator": cfg.navigator, "navigator_base": cfg.navigator_base,
               "init_scale": cfg.init_scale, "n_directions": cfg.n_directions, "latent_dim": frozen.nav_dim,
               "levels": list(frozen.levels), "heldout": None, "broken_fraction": None}
    if is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
        save_navigator(out_dir / "navigator.pt", navigator, asdict(cfg), frozen.levels)
        write_json(out_dir / "summary.json", summary)
    return summary

