"""Train a beta-VAE / FactorVAE baseline under a step or wall-time budget, resumably.

One readable loop: draw a batch of dataset images, one optimiser step, log, checkpoint.
Every random draw of step t (batch indices, reparameterisation noise, FactorVAE shuffles)
comes from generators seeded by (seed, t), so a run resumed from a checkpoint makes
exactly the same updates as an uninterrupted one. Outputs in `out_dir`:

- `checkpoints/ckpt-<step>.pt`: model, optimiser(s), step, elapsed seconds, RNG, config (the last two kept);
- `scalars.jsonl` (one JSON object per logged step) and `tb/` (TensorBoard);
- `run_info.json`: resolved config, seed, versions, git revision.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgu.atomic import atomic_path
from disgu.baselines.beta_vae import BetaVAE, FactorVAE, build_model
from disgu.checkpoint import (
    capture_rng_state,
    checkpoint_name,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from disgu.data import ImageDataset, load_dataset
from disgu.errors import UserError
from disgu.runinfo import write_run_info

DEFAULT_STEPS = 300_000  # disentanglement_lib's training_steps, used when no budget is given
KEEP_CHECKPOINTS = 2


@dataclass
class BaselineConfig:
    """Everything that defines a baseline run; saved in run_info.json and in every checkpoint."""

    model: str = "beta-vae"  # beta-vae | factor-vae
    dataset: str = "shapes3d"
    data_path: str | None = None
    resolution: int | None = None  # None: the dataset's native size
    latent_dim: int = 10
    beta: float = 5.0  # beta-VAE only
    gamma: float = 9.0  # FactorVAE only
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


def batch_indices(num_images: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The images of step `step`: a function of (seed, step) only, so resuming replays it exactly."""
    return np.random.default_rng([seed, step, 0]).integers(num_images, size=batch_size)


def step_generator(seed: int, step: int) -> torch.Generator:
    """A CPU generator for the noise of step `step` (reparameterisation, shuffles)."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step, 1]).generate_state(1, np.uint64)[0]))


# ----------------------------------------------------------------------------- model and optimisers


def make_model(cfg: BaselineConfig, channels: int, resolution: int) -> BetaVAE:
    torch.manual_seed(cfg.seed)
    return build_model(cfg.model, resolution=resolution, channels=channels, latent_dim=cfg.latent_dim,
                       beta=cfg.beta, gamma=cfg.gamma)


def make_optimizers(model: BetaVAE, cfg: BaselineConfig) -> dict[str, torch.optim.Optimizer]:
    """Adam as in disentanglement_lib: (0.9, 0.999) for the VAE; (0.5, 0.9) for FactorVAE's discriminator."""
    if isinstance(model, FactorVAE):
        return {
            "vae": torch.optim.Adam(model.vae_parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8),
            "discriminator": torch.optim.Adam(model.discriminator.parameters(), lr=cfg.lr, betas=(0.5, 0.9), eps=1e-8),
        }
    return {"vae": torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)}


def train_step(model: BetaVAE, optimizers: dict[str, torch.optim.Optimizer], x: torch.Tensor,
               gen: torch.Generator) -> dict[str, float]:
    """One update (for FactorVAE: the VAE, then the discriminator on the same batch). Returns scalars."""
    model.train()
    noise = torch.randn(x.shape[0], model.latent_dim, generator=gen).to(x.device)
    out = model(x, noise)
    optimizers["vae"].zero_grad(set_to_none=True)
    out.loss.backward()
    optimizers["vae"].step()
    scalars = {"loss": out.loss.item(), "recon": out.recon.item(), "kl": out.kl.item()}
    if isinstance(model, FactorVAE):
        d_opt = optimizers["discriminator"]
        d_opt.zero_grad(set_to_none=True)  # drops the gradient the VAE loss left on the discriminator
        d_loss = model.discriminator_loss(out.z, gen)
        d_loss.backward()
        d_opt.step()
        scalars["tc"] = (out.loss.item() - out.recon.item() - out.kl.item()) / model.gamma
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
    cfg = BaselineConfig.from_dict(ckpt["config"])
    extra = ckpt["extra"]
    model = build_model(cfg.model, resolution=extra["resolution"], channels=extra["channels"],
                        latent_dim=cfg.latent_dim, beta=cfg.beta, gamma=cfg.gamma)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), cfg, int(ckpt["step"])


# ----------------------------------------------------------------------------- logging


class ScalarLog:
    """Scalars to JSON lines and TensorBoard; on resume both are cut back to the checkpoint's step."""

    def __init__(self, out_dir: Path, start_step: int, enabled: bool = True):
        self.path = out_dir / "scalars.jsonl"
        self.enabled = enabled
        self.writer = None
        if not enabled:
            return
        if self.path.exists():
            kept = [ln for ln in self.path.read_text().splitlines() if _logged_step(ln) <= start_step]
            with atomic_path(self.path) as tmp:
                tmp.write_text("".join(ln + "\n" for ln in kept))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out_dir / "tb"), purge_step=start_step + 1 if start_step else None)
        except ImportError:  # tensorboard is a dependency, but the JSON log is enough to go on
            self.writer = None

    def log(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **scalars}) + "\n")
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(f"baseline/{k}", v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _logged_step(line: str) -> float:
    """The step of a scalars.jsonl line; a torn or empty line (a crash mid-write) sorts last, so it is dropped."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")


class Progress:
    """A tqdm bar over steps, or over seconds when a --minutes budget is set (so its ETA is the budget's)."""

    def __init__(self, cfg: BaselineConfig, step: int, elapsed: float, enabled: bool):
        from tqdm.auto import tqdm

        self.by_time = cfg.minutes is not None
        if self.by_time:
            total = cfg.minutes * 60.0
            self.bar = tqdm(total=round(total), initial=min(round(elapsed), round(total)), unit="s",
                            desc=cfg.model, disable=not enabled, dynamic_ncols=True)
            self._shown = min(round(elapsed), round(total))
        else:
            self.bar = tqdm(total=cfg.max_steps, initial=step, unit="step", desc=cfg.model,
                            disable=not enabled, dynamic_ncols=True)

    def update(self, step: int, elapsed: float, scalars: dict[str, float] | None) -> None:
        if self.by_time:
            now = min(round(elapsed), self.bar.total)
            if now > self._shown:
                self.bar.update(now - self._shown)
                self._shown = now
        else:
            self.bar.update(1)
        if scalars is not None:
            self.bar.set_postfix(step=step, loss=f"{scalars['loss']:.1f}", recon=f"{scalars['recon']:.1f}",
                                 kl=f"{scalars['kl']:.2f}", refresh=False)

    def close(self) -> None:
        self.bar.close()


# ----------------------------------------------------------------------------- the loop


class StopRequest:
    """Turn the first Ctrl-C / SIGTERM into a request to stop after the current step (a second one aborts).

    Stopping between steps means the checkpoint written on the way out is a consistent state.
    Outside the main thread signals cannot be caught and this does nothing.
    """

    def __init__(self):
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopRequest:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _save(out_dir: Path, model: BetaVAE, optimizers: dict[str, torch.optim.Optimizer], cfg: BaselineConfig,
          step: int, elapsed: float, resolution: int, channels: int) -> Path:
    path = save_checkpoint(
        out_dir / "checkpoints" / checkpoint_name(step),
        model=model.state_dict(), config=cfg.to_dict(), step=step,
        optimizer={k: o.state_dict() for k, o in optimizers.items()}, rng=capture_rng_state(),
        extra={"elapsed_s": float(elapsed), "resolution": resolution, "channels": channels},
    )
    for old in list_checkpoints(out_dir)[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
    return path


def train(cfg: BaselineConfig, out_dir: str | Path, *, progress: bool = True, log: bool = True,
          dataset: ImageDataset | None = None, device: torch.device | None = None,
          on_step: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train (or resume) the baseline in `out_dir` until its step or wall-time budget is spent.

    `dataset` overrides the configured one (tests use tiny in-memory grids); `on_step` is
    called after every step with (step, scalars).
    """
    cfg.validate()
    out_dir = Path(out_dir)
    torch.set_flush_denormal(True)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    if device is None:
        from disgu.distributed import resolve_device

        device = resolve_device(cfg.device)
    ds = dataset if dataset is not None else open_dataset(cfg)
    resolution, _, channels = ds.image_shape
    model = make_model(cfg, channels, resolution).to(device)
    optimizers = make_optimizers(model, cfg)
    out_dir.mkdir(parents=True, exist_ok=True)

    step, elapsed = 0, 0.0
    ckpt_path = latest_checkpoint(out_dir)
    if ckpt_path is not None:
        ckpt = load_checkpoint(ckpt_path, map_location=device)
        check_resumable(ckpt["config"], cfg, ckpt_path)
        model.load_state_dict(ckpt["model"])
        for k, o in optimizers.items():
            o.load_state_dict(ckpt["optimizer"][k])
        step, elapsed = int(ckpt["step"]), float(ckpt["extra"]["elapsed_s"])
    write_run_info(out_dir, cfg.to_dict(), cfg.seed)

    budget_s = cfg.minutes * 60.0 if cfg.minutes is not None else float("inf")
    max_steps = cfg.max_steps if cfg.max_steps is not None else float("inf")
    logger = ScalarLog(out_dir, step, enabled=log)
    bar = Progress(cfg, step, elapsed, enabled=progress)
    last: dict[str, float] = {}
    saved_step, last_save = step, time.perf_counter()
    try:
        with StopRequest() as stop:
            while step < max_steps and elapsed < budget_s and not stop.requested:
                t0 = time.perf_counter()
                x = images_to_tensor(ds.images(batch_indices(len(ds), cfg.batch_size, cfg.seed, step)), device)
                scalars = train_step(model, optimizers, x, step_generator(cfg.seed, step))
                if not np.isfinite(scalars["loss"]):
                    raise RuntimeError(f"baseline loss became {scalars['loss']} at step {step + 1}; lower --lr")
                last = scalars
                step += 1
                elapsed += time.perf_counter() - t0
                if step % cfg.log_every == 0 or step == 1:
                    logger.log(step, {**last, "elapsed_s": elapsed})
                bar.update(step, elapsed, last)
                if on_step is not None:
                    on_step(step, last)
                if step % cfg.checkpoint_every == 0 or time.perf_counter() - last_save > cfg.checkpoint_minutes * 60:
                    _save(out_dir, model, optimizers, cfg, step, elapsed, resolution, channels)
                    saved_step, last_save = step, time.perf_counter()
    finally:
        bar.close()
        logger.close()
    if step != saved_step or latest_checkpoint(out_dir) is None:
        _save(out_dir, model, optimizers, cfg, step, elapsed, resolution, channels)
    if stop.requested:
        # Ctrl-C or SIGTERM between two steps: the work so far is saved; rerunning the command resumes.
        raise KeyboardInterrupt(f"stopped at step {step}; checkpoint saved in {out_dir}")
    return TrainResult(step=step, elapsed_s=elapsed, last_scalars=last, checkpoint=latest_checkpoint(out_dir))

