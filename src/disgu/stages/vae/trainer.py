"""Train a beta-VAE / FactorVAE / DIP-VAE baseline under a step or wall-time budget, resumably, on one process or under DDP.

One readable loop: draw a batch of dataset images, one optimiser step, log, checkpoint.
Every random draw of step t (batch indices, reparameterisation noise, FactorVAE shuffles)
comes from generators seeded by (seed, t, rank), so a run resumed from a checkpoint makes
exactly the same updates as an uninterrupted one. Under torchrun each rank draws its own batch
(rank 0 the one a single process draws) and gradients are averaged before each step.
Outputs in `out_dir` (the layout of every training stage, see disgu.training):

- `checkpoints/ckpt-<step>.pt`: model, optimiser(s), step, elapsed seconds, RNG, config (the last two kept);
- `log.jsonl` (one JSON object per logged step) and `tensorboard/`; `summary.json` when training stops;
- `run_info.json`: resolved config, seed, versions, git revision.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgu.atomic import write_json
from disgu.stages.vae.losses import discriminator_loss, vae_loss
from disgu.checkpoint import capture_rng_state, latest_checkpoint, load_checkpoint, load_state, restore_module
from disgu.data import ImageDataset, load_dataset
from disgu.distributed import (
    all_reduce_min,
    average_gradients,
    cleanup_distributed,
    is_main,
    setup_distributed,
    world,
)
from disgu.errors import UserError
from disgu.models.vae import DIP_DEFAULTS, BetaVAE, FactorVAE, build_model
from disgu.runinfo import write_run_info
from disgu.training.checkpoints import save_training_checkpoint
from disgu.training.logs import TrainingLog
from disgu.training.nan_guard import NonFiniteGuard
from disgu.training.progress import BudgetBar, progress_bar
from disgu.training.stop import StopRequest

DEFAULT_STEPS = 300_000  # disentanglement_lib's training_steps, used when no budget is given
KEEP_CHECKPOINTS = 2
NONFINITE_LIMIT = 5  # consecutive skipped (non-finite) steps after which the run stops: the lr is too high


@dataclass
class BaselineConfig:
    """Everything that defines a baseline run; saved in run_info.json and in every checkpoint."""

    model: str = "beta-vae"  # beta-vae | factor-vae | dip-vae-i | dip-vae-ii
    dataset: str = "shapes3d"
    data_path: str | None = None
    resolution: int | None = None  # None: the dataset's native size
    latent_dim: int = 10
    beta: float = 5.0  # beta-VAE only
    gamma: float = 9.0  # FactorVAE only
    lambda_od: float | None = None  # DIP-VAE only: weight of the off-diagonal covariance (None: the type's default)
    lambda_d: float | None = None  # DIP-VAE only: weight of the diagonal's distance to 1 (None: the type's default)
    lr: float = 1e-4  # disentanglement_lib default, both models
    batch_size: int = 64
    steps: int | None = None  # stop after this many steps ...
    minutes: float | None = None  # ... or this much training wall time, whichever comes first
    seed: int = 0
    checkpoint_every: int = 1000
    checkpoint_minutes: float = 5.0  # also checkpoint at least this often in wall time
    log_every: int = 50
    device: str = "auto"
    threads: int | None = None  # torch CPU threads; None leaves torch's default

    # Fields that may change when a run is resumed (the budget, bookkeeping, where it runs).
    RESUMABLE_CHANGES = ("steps", "minutes", "checkpoint_every", "checkpoint_minutes", "log_every", "device", "threads")

    def __post_init__(self) -> None:
        """A DIP-VAE's lambdas default to its type's (10 / 100 for I, 1 / 1 for II), so run_info.json shows them."""
        if self.model in ("dip-vae-i", "dip-vae-ii"):
            od, d = DIP_DEFAULTS[self.model.rsplit("-", 1)[1]]
            self.lambda_od = od if self.lambda_od is None else self.lambda_od
            self.lambda_d = d if self.lambda_d is None else self.lambda_d

    def validate(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise UserError(f"--steps: expected a positive integer, got {self.steps}")
        if self.minutes is not None and not self.minutes > 0:
            raise UserError(f"--minutes: expected a positive number, got {self.minutes}")
        if self.batch_size < 2:
            raise UserError(f"--batch-size: expected at least 2, got {self.batch_size}")
        if self.latent_dim < 1:
            raise UserError(f"--latent-dim: expected a positive integer, got {self.latent_dim}")
        if not self.lr > 0:
            raise UserError(f"--lr: expected a positive number, got {self.lr}")
        if self.seed < 0:
            raise UserError(f"--seed: expected a non-negative integer, got {self.seed}")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"--threads: expected a positive integer, got {self.threads}")
        for name in ("lambda_od", "lambda_d"):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if value is not None and not (number and 0 <= value < float("inf")):
                raise UserError(f"--{name.replace('_', '-')}: expected a number >= 0, got {value}")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise UserError("--checkpoint-every and --log-every: expected positive integers")

    @property
    def max_steps(self) -> int | None:
        """The step budget: --steps, else unlimited under --minutes, else disentanglement_lib's 300,000."""
        if self.steps is not None:
            return self.steps
        return None if self.minutes is not None else DEFAULT_STEPS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BaselineConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class TrainResult:
    step: int
    elapsed_s: float
    last_scalars: dict[str, float]
    checkpoint: Path | None


# ----------------------------------------------------------------------------- data


def open_dataset(cfg: BaselineConfig) -> ImageDataset:
    """The configured dataset, at the model's resolution (native when it is a power of two)."""
    ds = load_dataset(cfg.dataset, data_path=cfg.data_path, resolution=cfg.resolution)
    h, w, _ = ds.image_shape
    if h != w:
        raise UserError(f"dataset {cfg.dataset!r}: images are {h}x{w}; pass --resolution to make them square")
    return ds


def images_to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1], as disentanglement_lib feeds its VAEs."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255.0)


def batch_indices(num_images: int, batch_size: int, seed: int, step: int, rank: int = 0) -> np.ndarray:
    """The images of step `step` on `rank`: a function of (seed, step, rank) only, so resuming replays it exactly."""
    return np.random.default_rng([seed, step, 0, *([rank] if rank else [])]).integers(num_images, size=batch_size)


def step_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """A CPU generator for the noise of step `step` on `rank` (reparameterisation, shuffles)."""
    entropy = [seed, step, 1, *([rank] if rank else [])]
    return torch.Generator().manual_seed(int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]))


# ----------------------------------------------------------------------------- model and optimisers


def make_model(cfg: BaselineConfig, channels: int, resolution: int) -> BetaVAE:
    torch.manual_seed(cfg.seed)
    return build_model(cfg.model, resolution=resolution, channels=channels, latent_dim=cfg.latent_dim,
                       beta=cfg.beta, gamma=cfg.gamma, lambda_od=cfg.lambda_od, lambda_d=cfg.lambda_d)


def make_optimizers(model: BetaVAE, cfg: BaselineConfig) -> dict[str, torch.optim.Optimizer]:
    """Adam as in disentanglement_lib: (0.9, 0.999) for the VAE; (0.5, 0.9) for FactorVAE's discriminator."""
    if isinstance(model, FactorVAE):
        return {
            "vae": torch.optim.Adam(model.vae_parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8),
            "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=cfg.lr, betas=(0.5, 0.9), eps=1e-8),
        }
    return {"vae": torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)}


def _update(loss: torch.Tensor, opt: torch.optim.Optimizer, guard: NonFiniteGuard) -> None:
    """Backward, average over ranks, step unless a gradient is not finite."""
    params = [p for group in opt.param_groups for p in group["params"]]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(params)
    if guard.check(params):
        opt.step()


def train_step(model: BetaVAE, optimizers: dict[str, torch.optim.Optimizer], x: torch.Tensor,
               gen: torch.Generator, guard: NonFiniteGuard | None = None) -> dict[str, float]:
    """One update (for FactorVAE: the VAE, then the discriminator on the same batch). Returns scalars."""
    guard = guard if guard is not None else NonFiniteGuard()
    model.train()
    noise = torch.randn(x.shape[0], model.latent_dim, generator=gen).to(x.device)
    out = vae_loss(model, x, noise)
    _update(out.loss, optimizers["vae"], guard)
    scalars = {"loss": out.loss.item(), "recon": out.recon.item(), "kl": out.kl.item()}
    if out.dip is not None:
        scalars["dip"] = out.dip.item()
    if isinstance(model, FactorVAE):
        # zero_grad in _update drops the gradient the VAE loss left on the discriminator
        d_loss = discriminator_loss(model.discriminator, out.z, gen)
        _update(d_loss, optimizers["discriminator"], guard)
        scalars["tc"] = out.tc.item()
        scalars["discriminator"] = d_loss.item()
    return scalars


# ----------------------------------------------------------------------------- resume


def check_resumable(saved: dict[str, Any], cfg: BaselineConfig, path: Path) -> None:
    """Refuse to continue a checkpoint trained with a different model, data or optimiser setting."""
    for key, value in cfg.to_dict().items():
        if key in BaselineConfig.RESUMABLE_CHANGES or key not in saved:
            continue
        if saved[key] != value:
            raise UserError(
                f"{path}: this output folder holds a run with {key}={saved[key]!r}, not {value!r}; "
                f"use another --out or the same settings to resume"
            )


def load_model_from_run(out_dir: str | Path, device: torch.device | str = "cpu") -> tuple[BetaVAE, BaselineConfig, int]:
    """The latest checkpointed model of a baseline run folder, with its config and step."""
    path = latest_checkpoint(out_dir)
    if path is None:
        raise UserError(f"{out_dir}: no baseline checkpoint found (expected checkpoints/ckpt-*.pt)")
    ckpt = load_checkpoint(path, map_location=device)
    try:
        cfg = BaselineConfig.from_dict(ckpt["config"])
    except (TypeError, ValueError) as err:
        raise UserError(f"{path}: its baseline config is not valid ({err})") from None
    extra = ckpt["extra"]
    model = restore_module(path, cfg.model, lambda: build_model(
        cfg.model, resolution=extra.get("resolution"), channels=extra.get("channels"), latent_dim=cfg.latent_dim,
        beta=cfg.beta, gamma=cfg.gamma, lambda_od=cfg.lambda_od, lambda_d=cfg.lambda_d), ckpt["model"])
    return model.to(device).eval(), cfg, int(ckpt["step"])


def _save(out_dir: Path, model: BetaVAE, optimizers: dict[str, torch.optim.Optimizer], cfg: BaselineConfig,
          step: int, elapsed: float, resolution: int, channels: int, guard: NonFiniteGuard) -> Path | None:
    return save_training_checkpoint(
        out_dir, step, keep=KEEP_CHECKPOINTS, model=model.state_dict(), config=cfg.to_dict(),
        optimizer={k: o.state_dict() for k, o in optimizers.items()}, rng=capture_rng_state(),
        extra={"elapsed_s": float(elapsed), "resolution": resolution, "channels": channels,
               "nonfinite_steps": guard.skipped},
    )


def _resume(out_dir: Path, cfg: BaselineConfig, model: BetaVAE, optimizers: dict[str, torch.optim.Optimizer],
            device: torch.device) -> tuple[int, float, NonFiniteGuard]:
    """(step, elapsed seconds, NaN guard) of the newest checkpoint in out_dir, restored into model and optimisers."""
    ckpt_path = latest_checkpoint(out_dir)
    if ckpt_path is None:
        return 0, 0.0, NonFiniteGuard(restore_after=NONFINITE_LIMIT)
    ckpt = load_checkpoint(ckpt_path, map_location=device)
    check_resumable(ckpt["config"], cfg, ckpt_path)
    load_state(model, ckpt["model"], ckpt_path, cfg.model)
    for k, o in optimizers.items():
        o.load_state_dict(ckpt["optimizer"][k])
    extra = ckpt["extra"]
    guard = NonFiniteGuard(extra.get("nonfinite_steps", 0), restore_after=NONFINITE_LIMIT)
    return int(ckpt["step"]), float(extra["elapsed_s"]), guard


# ----------------------------------------------------------------------------- the loop


def _go_on(step: int, max_steps: float, elapsed: float, budget_s: float, stop: StopRequest,
           device: torch.device) -> bool:
    """Whether to take another step; under DDP every rank gets the same answer (the first to finish decides)."""
    go = step < max_steps and elapsed < budget_s and not stop.requested
    if world()[1] == 1:
        return go
    return bool(all_reduce_min(torch.tensor([float(go)], device=device)).item())


def train(cfg: BaselineConfig, out_dir: str | Path, *, progress: bool = True, log: bool = True,
          dataset: ImageDataset | None = None, device: torch.device | None = None,
          on_step: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train (or resume) the baseline in `out_dir` until its step or wall-time budget is spent.

    `dataset` overrides the configured one (tests use tiny in-memory grids); `on_step` is
    called after every step with (step, scalars). Under torchrun the ranks train one model
    together (rank 0 writes the files). SIGTERM / Ctrl-C: checkpoint, then KeyboardInterrupt.
    """
    cfg.validate()
    out_dir = Path(out_dir)
    torch.set_flush_denormal(True)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    from disgu.runlock import run_folder_lock

    info = setup_distributed(cfg.device if device is None else str(device))
    try:
        with run_folder_lock(out_dir):  # one writer per folder: a second process on it is refused
            return _train(cfg, out_dir, info.device, info.rank, progress, log, dataset, on_step)
    finally:
        cleanup_distributed(info)


def _train(cfg: BaselineConfig, out_dir: Path, device: torch.device, rank: int, progress: bool, log_enabled: bool,
           dataset: ImageDataset | None, on_step: Callable[[int, dict[str, float]], None] | None) -> TrainResult:
    ds = dataset if dataset is not None else open_dataset(cfg)
    resolution, _, channels = ds.image_shape
    model = make_model(cfg, channels, resolution).to(device)
    optimizers = make_optimizers(model, cfg)
    step, elapsed, guard = _resume(out_dir, cfg, model, optimizers, device)
    if is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
        write_run_info(out_dir, cfg.to_dict(), cfg.seed)

    budget_s = cfg.minutes * 60.0 if cfg.minutes is not None else float("inf")
    max_steps = cfg.max_steps if cfg.max_steps is not None else float("inf")
    log = TrainingLog(out_dir, step, tensorboard=True) if log_enabled else None
    bar = (BudgetBar(budget_s, elapsed, cfg.model, progress) if cfg.minutes is not None
           else progress_bar(max_steps, step, cfg.model, progress, unit="step"))
    last: dict[str, float] = {}
    saved_step, last_save = step, time.perf_counter()
    try:
        with StopRequest() as stop:
            while _go_on(step, max_steps, elapsed, budget_s, stop, device):
                t0 = time.perf_counter()
                x = images_to_tensor(ds.images(batch_indices(len(ds), cfg.batch_size, cfg.seed, step, rank)), device)
                last = train_step(model, optimizers, x, step_generator(cfg.seed, step, rank), guard)
                if guard.restore_due():
                    raise RuntimeError(f"baseline loss was not finite for {NONFINITE_LIMIT} steps in a row at step "
                                       f"{step + 1}; lower --lr")
                step += 1
                elapsed += time.perf_counter() - t0
                if log is not None and (step % cfg.log_every == 0 or step == 1):
                    log.write(step, **last, elapsed_s=elapsed)
                if cfg.minutes is not None:
                    bar.update(elapsed)
                else:
                    bar.update(1)
                bar.set_postfix(step=step, loss=f"{last['loss']:.1f}", recon=f"{last['recon']:.1f}",
                                kl=f"{last['kl']:.2f}", refresh=False)
                if on_step is not None:
                    on_step(step, last)
                if step % cfg.checkpoint_every == 0 or time.perf_counter() - last_save > cfg.checkpoint_minutes * 60:
                    _save(out_dir, model, optimizers, cfg, step, elapsed, resolution, channels, guard)
                    saved_step, last_save = step, time.perf_counter()
    finally:
        bar.close()
        if log is not None:
            log.close()
    if step != saved_step or latest_checkpoint(out_dir) is None:
        _save(out_dir, model, optimizers, cfg, step, elapsed, resolution, channels, guard)
    result = TrainResult(step=step, elapsed_s=elapsed, last_scalars=last, checkpoint=latest_checkpoint(out_dir))
    if is_main():
        write_json(out_dir / "summary.json", {"steps": step, "elapsed_s": elapsed, "interrupted": stop.requested,
                                              "last_scalars": last, "nonfinite_steps": guard.skipped,
                                              "checkpoint": str(result.checkpoint)})
    if stop.requested:
        # Ctrl-C or SIGTERM between two steps: the work so far is saved; rerunning the command resumes.
        raise KeyboardInterrupt(f"stopped at step {step}; checkpoint saved in {out_dir}")
    return result
