"""Training loop of contrastive disentanglement (Theta_E), DisCo-style, from the discovered directions.

Per step one direction k: B queries and N positives are latents shifted along k, K negatives
are latents shifted along random other directions (decoded and encoded without gradients,
rebuilt every step). The navigator starts from the discovery stage and is fine-tuned jointly
(one Adam over navigator + encoder) unless frozen; when frozen, nothing is decoded with
gradients. Pairs with a broken decode are dropped and counted.

With `bank=True` (frozen navigator only) the pairs are decoded once into a bank (`bank.py`) and
each step draws its B + N + K pairs from it; both paths compute the loss with `pair_loss` (losses.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from disgu.atomic import write_json
from disgu.stages.contrastive.bank import BankSpec, PairBank, fill_bank, fill_stats, fingerprint, to_encoder_input
from disgu.stages.contrastive.config import ContrastiveConfig  # also re-exported: disgu.stages.contrastive.trainer.ContrastiveConfig
from disgu.stages.contrastive.losses import pair_loss
from disgu.distributed import average_gradients, is_main, sum_over_ranks, world
from disgu.errors import UserError
from disgu.models.encoder import ContrastiveEncoder, init_encoder, save_encoder
from disgu.models.generator import FrozenGlow
from disgu.models.glow import Glow
from disgu.models.latents import LatentSource
from disgu.models.navigator import Navigator, save_navigator
from disgu.training.checkpoints import load_stage, save_stage
from disgu.training.logs import TrainingLog
from disgu.training.nan_guard import NonFiniteGuard
from disgu.training.progress import progress_bar
from disgu.training.shifts import device_generator, sample_other_directions, sample_shifts
from disgu.training.stop import StopRequest


def build_encoder(cfg: ContrastiveConfig, channels: int, resolution: int) -> ContrastiveEncoder:
    """The stage's encoder E as the config sets it (widths, slope, init), for the stage and its testbed alike."""
    encoder = ContrastiveEncoder(channels, resolution, cfg.out_dim, cfg.encoder_widths, cfg.encoder_slope)
    return init_encoder(encoder, cfg.encoder_init)


def check_bank_config(cfg: ContrastiveConfig) -> None:
    """Refuse bank settings that cannot work, before anything is decoded."""
    if not cfg.bank:
        return
    if cfg.finetune_navigator:
        raise UserError("contrastive.bank=true needs contrastive.finetune_navigator=false "
                        "(the bank's pairs are decoded once, with the navigator as it is)")
    if cfg.bank_pairs_per_direction < cfg.batch_size + cfg.n_positives:
        raise UserError(f"contrastive.bank_pairs_per_direction: expected at least batch_size + n_positives "
                        f"({cfg.batch_size + cfg.n_positives}), got {cfg.bank_pairs_per_direction}")
    if cfg.bank_fill_batch < 1:
        raise UserError(f"contrastive.bank_fill_batch: expected >= 1, got {cfg.bank_fill_batch}")


def contrastive_step(frozen: FrozenGlow, navigator: Navigator, encoder: ContrastiveEncoder, source: LatentSource,
                     cfg: ContrastiveConfig, gen: torch.Generator, draws: torch.Generator | None = None
                     ) -> tuple[torch.Tensor | None, dict[str, float]]:
    """One step's loss (None when too few pairs survived the broken-decode guard) and its statistics.

    `gen` draws the direction k; `draws` (default `gen`) the latents, the negatives' directions and the
    shifts: on a GPU a generator there, so that nothing is drawn on the host and copied each step.
    The base images and the negatives are decoded without gradients by one `decode_many` (one call on a GPU).
    """
    device = frozen.device
    draws = gen if draws is None else draws
    b_n = cfg.batch_size + cfg.n_positives
    n_dirs = navigator.n_directions
    k = int(torch.randint(n_dirs, (1,), generator=gen, device=gen.device))
    z = source.sample(b_n + cfg.n_negatives, draws)
    dirs = torch.cat([torch.full((b_n,), k, dtype=torch.long, device=device),
                      sample_other_directions(cfg.n_negatives, n_dirs, k, draws, device)])
    eps = sample_shifts(len(dirs), cfg.shift_range, cfg.min_shift, draws, device, cfg.shift_distribution)
    z_qp = [t[:b_n] for t in z]
    z_neg = [t[b_n:] for t in z]
    grad_nav = cfg.finetune_navigator and torch.is_grad_enabled()
    with torch.no_grad():
        x_base, x_neg = frozen.decode_many([z, frozen.shifted(z_neg, navigator(dirs[b_n:], eps[b_n:]))])
    with torch.set_grad_enabled(grad_nav):
        x_qp = frozen.decode_shifted(z_qp, navigator(dirs[:b_n], eps[:b_n]))
    broken = frozen.broken_mask(x_base) | frozen.broken_mask(torch.cat([x_qp.detach(), x_neg]))
    shifted = torch.cat([x_qp, x_neg])
    return pair_loss(encoder, FrozenGlow.to_unit(x_base), FrozenGlow.to_unit(shifted), broken, cfg, k)


def bank_step(bank: PairBank, encoder: ContrastiveEncoder, cfg: ContrastiveConfig, gen: torch.Generator
              ) -> tuple[torch.Tensor | None, dict[str, float], torch.Tensor]:
    """contrastive_step on pairs from the bank: (loss, stats, the slots drawn). B + N distinct pairs along one
    direction k, K pairs along uniformly drawn other directions; no broken pairs (the fill replaced them)."""
    device = next(encoder.parameters()).device
    k = int(torch.randint(bank.n_directions, (1,), generator=gen))
    slots = bank.batch_slots(k, cfg.batch_size + cfg.n_positives, cfg.n_negatives, gen)
    base, shifted = bank.images(slots)
    broken = torch.zeros(len(slots), dtype=torch.bool, device=device)
    loss, stats = pair_loss(encoder, to_encoder_input(base, device), to_encoder_input(shifted, device), broken, cfg, k)
    return loss, stats, slots


def prepare_bank(frozen: FrozenGlow, navigator: Navigator, source: LatentSource, cfg: ContrastiveConfig,
                 out_dir: Path, seed: int, rank: int = 0, progress: bool = True) -> tuple[PairBank, dict[str, Any]]:
    """Fill (or finish filling) this rank's bank in out_dir/bank/rank<r> and open it: (bank, fill statistics)."""
    spec = BankSpec(navigator.n_directions, cfg.bank_pairs_per_direction, cfg.bank_fill_batch,
                    seed * 1000 + 700 + rank, cfg.shift_range, cfg.min_shift, cfg.latents, cfg.temperature,
                    (frozen.resolution, frozen.resolution, frozen.channels), fingerprint(frozen, navigator),
                    cfg.shift_distribution)
    directory = out_dir / "bank" / f"rank{rank}"
    manifest = fill_bank(directory, frozen, navigator, source, spec, progress)
    return PairBank(directory), fill_stats(manifest)


def apply_update(loss: torch.Tensor | None, opt: torch.optim.Optimizer, params: list[torch.nn.Parameter],
                 guard: NonFiniteGuard) -> None:
    """Backward, average over ranks, step unless a gradient is not finite. A rank without a loss (too few pairs)
    still takes part in the average, with zero gradients."""
    opt.zero_grad(set_to_none=False)
    if loss is not None:
        loss.backward()
    average_gradients(params)
    if guard.check(params) and (loss is not None or world()[1] > 1):
        opt.step()


def train_contrastive(glow: Glow, navigator: Navigator, levels, cfg: ContrastiveConfig, out_dir: str | Path,
                      seed: int, dataset=None, progress: bool = True,
                      navigator_settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train E (and fine-tune the navigator, or train from a pair bank); resumable.

    Writes encoder.pt, navigator.pt, summary.json, log.jsonl (and bank/ with cfg.bank).
    `navigator_settings` (the run's `discovery` section, a dict) is saved with the navigator.
    SIGTERM / Ctrl-C: checkpoint, then KeyboardInterrupt.
    """
    check_bank_config(cfg)
    out_dir = Path(out_dir)
    rank, _ = world()
    frozen = FrozenGlow(glow, levels, cfg.broken_limit)
    if frozen.nav_dim != navigator.latent_dim:
        raise UserError(f"navigator is for a {navigator.latent_dim}-dim latent, the Glow's levels {levels} have "
                        f"{frozen.nav_dim} dims (discovery and contrastive stages used different Glows?)")
    device = frozen.device
    navigator = navigator.to(device)
    pruned = _prune(frozen, navigator, cfg, seed) if cfg.prune_similarity is not None else None
    torch.manual_seed(seed + 1)
    encoder = build_encoder(cfg, frozen.channels, frozen.resolution).to(device)
    groups = [{"params": list(encoder.parameters()), "lr": cfg.lr}]
    if cfg.finetune_navigator:
        groups.append({"params": list(navigator.parameters()), "lr": cfg.nav_lr if cfg.nav_lr is not None else cfg.lr})
    else:
        navigator.requires_grad_(False)
    opt = torch.optim.Adam(groups)
    params = [p for g in groups for p in g["params"]]
    gen = torch.Generator().manual_seed(seed * 1000 + 500 + rank)
    draws = device_generator(seed * 1000 + 500 + rank, device) if cfg.latents == "prior" else None
    generators = {"train": gen} if draws is None else {"train": gen, "draws": draws}
    source = LatentSource(glow, cfg.latents, cfg.temperature, dataset)
    bank = bank_fill = seen = None
    if cfg.bank:
        bank, bank_fill = prepare_bank(frozen, navigator, source, cfg, out_dir, seed, rank, progress)
    modules = {"encoder": encoder, "navigator": navigator}
    start, extra = load_stage(out_dir, modules, {"opt": opt}, generators)
    counters = extra.get("counters", {"broken_pairs": 0, "pairs": 0, "skipped_steps": 0})
    guard = NonFiniteGuard(counters.get("nonfinite_steps", 0))
    recent: list[dict[str, float]] = extra.get("recent", [])
    log = TrainingLog(out_dir, start)
    if bank is not None:
        seen = extra.get("bank_seen")  # which slots E has trained on (this rank's bank; rank 0's is saved)
        if seen is None or seen.shape != (bank.n_slots,):
            seen = torch.zeros(bank.n_slots, dtype=torch.bool)
        counters.setdefault("bank_pair_draws", 0)
        log.write(start, bank=bank_fill)

    def save(step: int) -> None:
        state = {"counters": {**counters, "nonfinite_steps": guard.skipped}, "recent": recent}
        if bank is not None:
            state["bank_seen"] = seen
        save_stage(out_dir, step, modules, {"opt": opt}, generators, {"contrastive": asdict(cfg)}, state)

    t0 = time.perf_counter()
    bar = progress_bar(cfg.steps, start, "contrastive", progress)
    with StopRequest() as stop:
        for step in range(start, cfg.steps):
            if bank is None:
                loss, stats = contrastive_step(frozen, navigator, encoder, source, cfg, gen, draws)
            else:
                loss, stats, slots = bank_step(bank, encoder, cfg, gen)
                seen[slots] = True
                counters["bank_pair_draws"] += len(slots)
            tot = sum_over_ranks([stats["broken"], stats["pairs"]], device)
            counters["broken_pairs"] += int(tot[0])
            counters["pairs"] += int(tot[1])
            apply_update(loss, opt, params, guard)
            if loss is not None:
                recent = (recent + [stats])[-100:]
            else:
                counters["skipped_steps"] += 1
            done = step + 1
            if loss is not None and (done % cfg.log_every == 0 or done == cfg.steps):
                record = {**stats, "broken_pairs": counters["broken_pairs"]}
                if bank is not None:
                    record["bank_distinct_pairs_seen"] = int(seen.sum())
                log.write(done, **record)
                bar.set_postfix(loss=f"{stats['loss']:.3f}", gap=f"{stats['gap']:.3f}",
                                broken=counters["broken_pairs"])
            bar.update(1)
            stop.checkpoint_or_stop(done, cfg.steps, cfg.checkpoint_every, save, bar, "contrastive", out_dir, device)
    bar.close()
    loop_seconds = time.perf_counter() - t0
    summary = _summary(cfg, counters, guard, recent, navigator, pruned, loop_seconds)
    if bank is not None:
        summary["bank"] = _bank_summary(bank_fill, seen, counters, cfg.steps - start, loop_seconds)
    if is_main():
        save_encoder(out_dir / "encoder.pt", encoder)
        save_navigator(out_dir / "navigator.pt", navigator, navigator_settings or {}, frozen.levels)
        write_json(out_dir / "summary.json", summary)
    return summary


def _prune(frozen: FrozenGlow, navigator: Navigator, cfg: ContrastiveConfig, seed: int) -> dict[str, Any]:
    """Drop directions whose image effects are too alike (before E sees any): {'before', 'kept'}."""
    from disgu.stages.contrastive.prune import image_effects, select_distinct

    before = navigator.active.tolist()
    effects = image_effects(frozen, navigator, cfg.prune_samples, cfg.shift_range, cfg.temperature, seed + 5)
    navigator.keep_only(select_distinct(effects.cpu(), cfg.prune_similarity, cfg.prune_min_directions))
    return {"before": len(before), "kept": navigator.active.tolist()}


def _summary(cfg: ContrastiveConfig, counters: dict[str, int], guard: NonFiniteGuard, recent: list[dict[str, float]],
             navigator: Navigator, pruned: dict[str, Any] | None, loop_seconds: float) -> dict[str, Any]:
    keys = ("loss", "bce", "entropy", "pos_sim", "neg_sim", "gap", "flipped")
    last = {k: sum(r[k] for r in recent) / len(recent) for k in keys} if recent else {}
    return {"steps": cfg.steps, "mean_of_last_100_steps": last, "broken_pairs": counters["broken_pairs"],
            "pairs": counters["pairs"], "broken_fraction": counters["broken_pairs"] / max(counters["pairs"], 1),
            "skipped_steps": counters["skipped_steps"], "nonfinite_steps": guard.skipped,
            "directions": navigator.active.tolist(), "pruning": pruned, "train_seconds_this_session": loop_seconds}


def _bank_summary(bank_fill: dict[str, Any], seen: torch.Tensor, counters: dict[str, int], steps_this_session: int,
                  loop_seconds: float) -> dict[str, Any]:
    distinct = int(seen.sum())
    draws = counters["bank_pair_draws"]
    return {**bank_fill, "distinct_pairs_seen": distinct, "pair_draws": draws,
            "mean_reuse_per_pair": draws / distinct if distinct else None,
            "encoder_steps_this_session": steps_this_session,
            "encoder_steps_per_second": steps_this_session / loop_seconds if steps_this_session > 0 else None}
