"""Glow training: one loop, read top to bottom, that runs on a CPU, a GPU or under torchrun (DDP).

What a run writes into `out`:
  checkpoints/ckpt-<step>.pt   model, optimizer, step, RNG states, config (atomic; last few kept)
  samples/step-<step>.png      sample grids at temperature 0.7 (samples/latest.png is the newest)
  log.jsonl                    one JSON object per logged step / evaluation / event
  tensorboard/                 the same scalars for TensorBoard
  run_info.json, summary.json  config, seed, versions, git revision; final numbers

Reproducibility: the batch order and the dequantisation noise of step s on rank r are pure
functions of (seed, s, r), so a run resumed from a checkpoint takes exactly the steps the
uninterrupted run would have taken. `glow_step` is one update; checkpoints, the log, the stop on
SIGTERM, the progress bar and the NaN guard are the shared ones of disgu.training.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgu.atomic import atomic_path, write_json
from disgu.checkpoint import capture_rng_state, latest_checkpoint, load_checkpoint, restore_rng_state
from disgu.distributed import DistInfo, all_reduce_min, cleanup_distributed, setup_distributed
from disgu.errors import UserError
from disgu.models.glow import Glow, GlowConfig, images_to_input, input_to_images
from disgu.models.pretrained import checkpoint_glow_config
from disgu.runinfo import invoked_command
from disgu.training.checkpoints import save_training_checkpoint
from disgu.training.logs import TrainingLog
from disgu.training.nan_guard import NonFiniteGuard
from disgu.training.progress import progress_bar
from disgu.training.stop import StopRequest

_EVAL_NOISE_SEED = 20181  # fixed dequantisation noise for held-out bits/dim, comparable across evaluations
_SPLIT_SEED = 7  # the held-out split does not depend on the training seed
_INIT_STEP = 2**31 - 1  # noise-stream index of the actnorm-init batch (never a training step)


@dataclass
class GlowTrainConfig:
    """Every option of a Glow training run; saved in run_info.json and in every checkpoint."""

    dataset: str = "shapes3d"
    data_path: str | None = None
    out: str = "runs/glow"
    preset: str | None = None
    model: GlowConfig = field(default_factory=GlowConfig)
    steps: int = 1000  # total optimizer steps (a resumed run continues up to this number)
    batch_size: int = 32  # per process
    lr: float = 1e-3
    optimizer: str = "adam"  # "adam" or "adamax"
    warmup_steps: int = 200  # linear lr warm-up; Glow diverges without it
    grad_clip: float = 50.0  # max global gradient norm
    heldout_size: int = 2000  # images never trained on (at most 10% of the dataset)
    eval_every: int = 200
    eval_images: int = 512  # held-out images per intermediate evaluation (the final one uses all)
    sample_every: int = 200
    sample_count: int = 36
    sample_temperature: float = 0.7
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    log_every: int = 10
    init_batch_size: int = 256  # images for actnorm's data-dependent init (pooled over ranks)
    nan_restore_after: int = 5  # consecutive non-finite steps before restoring the last checkpoint
    lr_drop: float = 0.5  # lr factor applied at each such restore
    seed: int = 0
    device: str = "auto"
    amp: bool = False  # bf16 autocast for the coupling networks
    deterministic: bool = False  # deterministic GPU kernels, no TF32 (disgu.determinism)
    threads: int | None = None  # torch CPU threads; 1 avoids thrashing when another job holds a core
    progress: bool = True
    tensorboard: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GlowTrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"unknown Glow training options: {', '.join(sorted(unknown))}")
        d = dict(d)
        if isinstance(d.get("model"), dict):
            d["model"] = GlowConfig.from_dict(d["model"])
        return cls(**d)

    def validate(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "sample_every", "checkpoint_every", "log_every",
                     "init_batch_size", "nan_restore_after", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')}: expected a positive integer, got {getattr(self, name)}")
        if not self.lr > 0:
            raise UserError(f"--lr: expected a positive number, got {self.lr}")
        if self.optimizer not in ("adam", "adamax"):
            raise UserError(f"--optimizer: expected adam or adamax, got {self.optimizer!r}")


# ----------------------------------------------------------------------------- data


class BatchStream:
    """The images of step s on rank r: consecutive slices of per-epoch permutations of the train split."""

    def __init__(self, dataset, train_idx: np.ndarray, batch_size: int, seed: int, info: DistInfo):
        self.dataset, self.train_idx = dataset, train_idx
        self.batch_size, self.seed, self.info = batch_size, seed, info
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.train_idx))
        return self._perm

    def indices(self, step: int) -> np.ndarray:
        n = len(self.train_idx)
        start = (step * self.info.world_size + self.info.rank) * self.batch_size
        pos = np.arange(start, start + self.batch_size)
        out = np.empty(self.batch_size, dtype=np.int64)
        for epoch in np.unique(pos // n):
            sel = pos // n == epoch
            out[sel] = self.train_idx[self._permutation(int(epoch))[pos[sel] % n]]
        return out

    def images(self, step: int) -> np.ndarray:
        return self.dataset.images(self.indices(step))


def heldout_split(n: int, heldout_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices); the held-out set is fixed by _SPLIT_SEED, at most 10% of n."""
    n_held = min(heldout_size, n // 10)
    if n - n_held < 2:
        raise UserError(f"dataset has {n} images: too few to train a Glow")
    perm = np.random.default_rng(_SPLIT_SEED).permutation(n)
    return np.sort(perm[n_held:]), np.sort(perm[:n_held])


def data_hash(dataset) -> str:
    """sha256 of the dataset description and 256 evenly spaced images: identifies the training data."""
    h = hashlib.sha256(json.dumps(dataset.describe(), sort_keys=True).encode())
    idx = np.linspace(0, len(dataset) - 1, num=min(256, len(dataset))).astype(np.int64)
    h.update(np.ascontiguousarray(dataset.images(idx)).tobytes())
    return h.hexdigest()


def _noise_generator(seed: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(np.random.SeedSequence([seed, step, rank]).generate_state(1, dtype=np.uint64)[0] >> 1))
    return g


def _dequantized(images: np.ndarray, n_bits: int, device: torch.device, gen: torch.Generator) -> torch.Tensor:
    x = images_to_input(images, n_bits).to(device, non_blocking=True)
    return x + torch.rand(x.shape, generator=gen, device=device) / 2**n_bits


# ----------------------------------------------------------------------------- outputs


def save_grid(images: np.ndarray, path: Path, pad: int = 1) -> None:
    """Write uint8 NHWC images as a near-square grid PNG (atomically)."""
    from PIL import Image

    n, h, w, c = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = images[i]
    img = Image.fromarray(grid[..., 0] if c == 1 else grid)
    with atomic_path(path) as tmp:
        img.save(tmp)


# ----------------------------------------------------------------------------- training


def _make_optimizer(cfg: GlowTrainConfig, model: Glow) -> torch.optim.Optimizer:
    cls = torch.optim.Adamax if cfg.optimizer == "adamax" else torch.optim.Adam
    return cls(model.parameters(), lr=cfg.lr)


@torch.no_grad()
def evaluate_bits_per_dim(model: Glow, dataset, indices: np.ndarray, batch_size: int, device: torch.device) -> float:
    """Mean held-out bits/dim with fixed dequantisation noise (so evaluations are comparable)."""
    was_training = model.training
    model.eval()
    gen = _noise_generator(_EVAL_NOISE_SEED, 0, 0, device)
    total, count = 0.0, 0
    for start in range(0, len(indices), batch_size):
        x = _dequantized(dataset.images(indices[start: start + batch_size]), model.config.n_bits, device, gen)
        bpd = model.bits_per_dim(x, dequantize=False)
        total += bpd.double().sum().item()
        count += len(bpd)
    model.train(was_training)
    return total / max(count, 1)


def _write_samples(model: Glow, cfg: GlowTrainConfig, out: Path, step: int) -> Path:
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(cfg.seed + 1)
    model.eval()
    x = model.sample(cfg.sample_count, cfg.sample_temperature, generator=gen)
    model.train()
    imgs = input_to_images(x, cfg.model.n_bits)
    path = out / "samples" / f"step-{step:08d}.png"
    save_grid(imgs, path)
    save_grid(imgs, out / "samples" / "latest.png")
    return path


def _resolve_resume(resume: str | None, out: Path) -> Path | None:
    if resume is None:
        return None
    if resume == "auto":
        path = latest_checkpoint(out)
        if path is None:
            raise UserError(f"--resume: no checkpoint in {out / 'checkpoints'} (give the checkpoint path)")
        return path
    return Path(resume)


def config_from_checkpoint(path: str | Path) -> GlowTrainConfig:
    """The training config stored in a checkpoint (what `--resume` continues with)."""
    ckpt = load_checkpoint(path)
    train = ckpt["config"].get("train", {})
    if not isinstance(train, dict):
        raise UserError(f"{path}: checkpoint config['train'] is a {type(train).__name__}, expected a dict")
    train = {**train, "model": checkpoint_glow_config(ckpt, path)}
    return GlowTrainConfig.from_dict(train)


@dataclass
class GlowTrainResult:
    summary: dict[str, Any]  # also written to out/summary.json
    model: Glow  # the trained model (this process's replica under DDP)


@dataclass
class _Run:
    """Everything the loop works on, built by _start_run (fresh or from a checkpoint)."""

    cfg: GlowTrainConfig
    info: DistInfo
    out: Path
    dataset: Any
    held_idx: np.ndarray
    model: Glow
    net: torch.nn.Module  # the model, wrapped in DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    stream: BatchStream
    start_step: int
    state: dict[str, Any]  # lr_scale, restores: saved in every checkpoint
    guard: NonFiniteGuard
    extra: dict[str, Any]  # data_hash, commands, git_revision, world_size: saved in every checkpoint
    heldout_bpd: float | None
    heldout_images: int | None  # how many held-out images heldout_bpd was measured on
    resumed_from: Path | None  # the checkpoint this run continues


def train_glow(cfg: GlowTrainConfig, resume: str | None = None, command: list[str] | None = None) -> GlowTrainResult:
    """Train (or resume) a Glow as configured.

    `resume` is a checkpoint path, or "auto" for the newest checkpoint in cfg.out.
    """
    torch.set_flush_denormal(True)
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        from disgu.determinism import make_deterministic

        make_deterministic()
    from disgu.runlock import run_folder_lock

    with run_folder_lock(cfg.out):  # one writer per folder: a second process on it is refused
        return _train_glow(cfg, resume, command)


def _train_glow(cfg: GlowTrainConfig, resume: str | None, command: list[str] | None) -> GlowTrainResult:
    info = setup_distributed(cfg.device)
    try:
        run = _start_run(cfg, info, resume, command)
        log = TrainingLog(run.out, run.start_step, cfg.tensorboard)
        if run.resumed_from is not None:
            log.write(run.start_step, event="resume", checkpoint=str(run.resumed_from))
        interrupted, final_step = _train_loop(run, log)
        if interrupted:
            _save(run, final_step)
            log.write(final_step, event="interrupted")
            if info.is_main:
                print(f"disgu: interrupted at step {final_step}; checkpoint saved in {run.out / 'checkpoints'} "
                      f"(continue with --resume)", file=sys.stderr)
        log.close()
        summary = {
            "steps": final_step, "interrupted": interrupted, "heldout_bits_per_dim": run.heldout_bpd,
            "heldout_images": run.heldout_images, "nan_skipped": run.guard.skipped,
            "lr_restores": run.state["restores"],
            "checkpoint": str(latest_checkpoint(run.out)) if info.is_main else None,
            "data_hash": run.extra["data_hash"],
        }
        if info.is_main:
            write_json(run.out / "summary.json", summary)
        return GlowTrainResult(summary=summary, model=run.model)
    finally:
        cleanup_distributed(info)


def glow_step(run: _Run, step: int, stop: StopRequest) -> tuple[torch.Tensor, torch.Tensor, float, bool, bool]:
    """One update: (loss, grad norm, lr, applied, go on). A non-finite step (on any rank) is not applied."""
    cfg, device = run.cfg, run.info.device
    lr = cfg.lr * run.state["lr_scale"] * min(1.0, (step + 1) / cfg.warmup_steps)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    x = _dequantized(run.stream.images(step), cfg.model.n_bits, device,
                     _noise_generator(cfg.seed, step, run.info.rank, device))
    log_p, logdet, _ = run.net(x)
    loss = run.model.nll_bits_per_dim(log_p, logdet).mean()
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    flags = torch.stack([torch.isfinite(loss) & torch.isfinite(grad_norm),
                         torch.tensor(not stop.requested, device=device)]).float()
    ok, go_on = (bool(v) for v in all_reduce_min(flags).tolist())  # the same decisions on every rank
    if run.guard.record(ok):
        run.optimizer.step()
    else:  # never write a non-finite step into the weights
        run.optimizer.zero_grad(set_to_none=True)
    return loss, grad_norm, lr, ok, go_on


def _train_loop(run: _Run, log: TrainingLog) -> tuple[bool, int]:
    """Steps start_step..cfg.steps with logging, evaluation, samples and checkpoints: (interrupted, last step)."""
    cfg, is_main = run.cfg, run.info.is_main
    bar = progress_bar(cfg.steps, run.start_step, "glow", cfg.progress, unit="step")
    final_step, t_last, steps_since = run.start_step, time.perf_counter(), 0
    run.net.train()
    with StopRequest() as stop:
        for step in range(run.start_step, cfg.steps):
            loss, grad_norm, lr, ok, go_on = glow_step(run, step, stop)
            done = final_step = step + 1
            if not ok:
                log.write(done, event="nonfinite_step_skipped", nan_skipped=run.guard.skipped)
                if run.guard.restore_due():
                    _restore_last_good(run, log, done, bar)
            steps_since += 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                now = time.perf_counter()
                sps = steps_since / max(now - t_last, 1e-9)
                t_last, steps_since = now, 0
                loss_v = loss.item()
                log.write(done, loss_bpd=loss_v, lr=lr, grad_norm=float(grad_norm), steps_per_s=sps,
                          nan_skipped=run.guard.skipped)
                bar.set_postfix(loss=f"{loss_v:.3f}", heldout_bpd=f"{run.heldout_bpd:.3f}" if run.heldout_bpd else "-",
                                sps=f"{sps:.2f}", nan=run.guard.skipped, refresh=False)
            if is_main and (done % cfg.eval_every == 0 or done == cfg.steps):
                n_eval = len(run.held_idx) if done == cfg.steps else min(cfg.eval_images, len(run.held_idx))
                run.heldout_bpd = evaluate_bits_per_dim(run.model, run.dataset, run.held_idx[:n_eval],
                                                        2 * cfg.batch_size, run.info.device)
                run.heldout_images = n_eval
                log.write(done, heldout_bpd=run.heldout_bpd, heldout_images=n_eval)
            if is_main and (done % cfg.sample_every == 0 or done == cfg.steps):
                _write_samples(run.model, cfg, run.out, done)
            bar.update(1)
            if not go_on:
                bar.close()
                return True, final_step
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                _save(run, done)
    bar.close()
    return False, final_step


def _start_run(cfg: GlowTrainConfig, info: DistInfo, resume: str | None, command: list[str] | None) -> _Run:
    """Seed, load the data, build the model and optimiser, then restore the checkpoint or run actnorm's init."""
    from disgu.data import load_dataset

    device, out = info.device, Path(cfg.out)
    torch.manual_seed(cfg.seed + info.rank)
    np.random.seed(cfg.seed + info.rank)
    command = command if command is not None else invoked_command()
    dataset = load_dataset(cfg.dataset, data_path=cfg.data_path, resolution=cfg.model.resolution)
    ckpt_path = _resolve_resume(resume, out)
    ckpt = load_checkpoint(ckpt_path) if ckpt_path is not None else None
    h, w, c = dataset.image_shape
    if ckpt is not None:
        cfg.model = checkpoint_glow_config(ckpt, ckpt_path)
    elif c != cfg.model.in_channels:
        cfg.model = GlowConfig.from_dict({**cfg.model.to_dict(), "in_channels": c})
    if (h, w, c) != (cfg.model.resolution, cfg.model.resolution, cfg.model.in_channels):
        raise UserError(f"dataset {cfg.dataset!r} gives {h}x{w}x{c} images; the Glow expects "
                        f"{cfg.model.resolution}x{cfg.model.resolution}x{cfg.model.in_channels}")
    train_idx, held_idx = heldout_split(len(dataset), cfg.heldout_size)

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = Glow(cfg.model).to(device)
    model.set_amp(torch.bfloat16 if cfg.amp else None)
    optimizer = _make_optimizer(cfg, model)
    stream = BatchStream(dataset, train_idx, cfg.batch_size, cfg.seed, info)
    state = {"lr_scale": 1.0, "restores": 0}
    start_step, saved = 0, {}
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start_step, saved = ckpt["step"], ckpt["extra"]
        state.update({k: saved[k] for k in state if k in saved})
        if ckpt.get("rng") is not None and info.world_size == 1:
            restore_rng_state(ckpt["rng"])
    else:
        init_idx = np.random.default_rng([cfg.seed, 10**6, info.rank]).choice(
            train_idx, size=min(cfg.init_batch_size // info.world_size or 1, len(train_idx)), replace=False)
        gen = _noise_generator(cfg.seed, _INIT_STEP, info.rank, device)
        model.initialize(_dequantized(dataset.images(init_idx), cfg.model.n_bits, device, gen))

    net = model
    if info.distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    d_hash = data_hash(dataset) if info.is_main else None
    if ckpt is not None and info.is_main and saved.get("data_hash") not in (None, d_hash):
        warnings.warn(f"--resume: the data differ from those {ckpt_path} was trained on (data hash changed)")
    extra = {"data_hash": d_hash, "commands": [*saved.get("commands", []), command],  # the first, then each resume
             "git_revision": _git_revision(), "world_size": info.world_size}
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        from disgu.runinfo import write_run_info

        write_run_info(out, cfg, cfg.seed, name="run_info.json" if ckpt is None else
                       f"run_info-resume-{start_step:08d}.json")
    return _Run(cfg=cfg, info=info, out=out, dataset=dataset, held_idx=held_idx, model=model, net=net,
                optimizer=optimizer, stream=stream, start_step=start_step, state=state,
                guard=NonFiniteGuard(saved.get("nan_skipped", 0), cfg.nan_restore_after), extra=extra,
                heldout_bpd=saved.get("heldout_bits_per_dim"), heldout_images=saved.get("heldout_images"),
                resumed_from=ckpt_path)


def _save(run: _Run, step: int) -> Path | None:
    """Checkpoint the model, optimiser, RNG states and counters (main rank; never non-finite weights)."""
    if not run.info.is_main:
        return None
    if not all(torch.isfinite(p).all() for p in run.model.parameters()):
        warnings.warn(f"step {step}: weights are not finite; checkpoint not written")
        return None
    cfg = run.cfg
    return save_training_checkpoint(
        run.out, step, keep=cfg.keep_checkpoints, model=run.model.state_dict(),
        config={"model": cfg.model.to_dict(), "train": {k: v for k, v in cfg.to_dict().items() if k != "model"}},
        optimizer=run.optimizer.state_dict(), rng=capture_rng_state(),
        extra={"nan_skipped": run.guard.skipped, **run.state, "heldout_bits_per_dim": run.heldout_bpd,
               "heldout_images": run.heldout_images, **run.extra},
    )


def _restore_last_good(run: _Run, log: TrainingLog, step: int, bar) -> None:
    """After repeated non-finite steps: reload the newest checkpoint's weights and lower the lr."""
    cfg, state = run.cfg, run.state
    state["lr_scale"] *= cfg.lr_drop
    state["restores"] += 1
    path = latest_checkpoint(run.out)
    msg = f"step {step}: {cfg.nan_restore_after} non-finite steps in a row; "
    if path is not None:
        ckpt = load_checkpoint(path, map_location=next(run.model.parameters()).device)
        run.model.load_state_dict(ckpt["model"])
        run.optimizer.load_state_dict(ckpt["optimizer"])
        msg += f"restored {path.name} and lowered the lr to {cfg.lr * state['lr_scale']:.3g}"
    else:
        msg += f"no checkpoint yet; lowered the lr to {cfg.lr * state['lr_scale']:.3g}"
    warnings.warn(msg)
    if not bar.disable:
        bar.write("disgu: warning: " + msg)
    log.write(step, event="nan_restore", lr_scale=state["lr_scale"], checkpoint=str(path) if path else None)


def _git_revision() -> str:
    from disgu.runinfo import git_revision

    return git_revision()
