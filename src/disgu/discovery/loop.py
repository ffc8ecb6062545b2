"""Pieces every Dis-GU training stage shares: resumable checkpoints, a JSON-lines log, a progress bar, DDP.

DDP is a small branch: each rank draws its own batches (generator seeded with seed + rank),
gradients are averaged over ranks before each optimiser step, and rank 0 alone writes files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from disgu.checkpoint import checkpoint_name, latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return world()[0] == 0


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Average .grad over DDP ranks (no-op on one process)."""
    _, size = world()
    if size == 1:
        return
    for p in params:
        if not p.requires_grad:
            continue
        if p.grad is None:  # this rank skipped its batch: it still takes part in every all_reduce
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad /= size


def gradients_finite(params: Iterable[torch.nn.Parameter]) -> bool:
    """False when any gradient holds inf/NaN.

    A shift can land where Glow's reverse pass is fragile, and its gradient may then be inf/NaN even
    though the decoded pixels look fine: such a step must be skipped, not written into the navigator.
    Called after average_gradients, so every rank reaches the same decision.
    """
    return all(bool(torch.isfinite(p.grad).all()) for p in params if p.grad is not None)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if world()[1] > 1:
        dist.all_reduce(t)
    return t


def progress_bar(total: int, initial: int, desc: str, enabled: bool = True):
    """A tqdm bar (step, loss/metric in the postfix, ETA) shown on the main rank only."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=not (enabled and is_main()), dynamic_ncols=True,
                leave=True, mininterval=1.0)


class JsonlLog:
    """Append-only JSON lines (one record per logged step), written by the main rank."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def write(self, record: dict[str, Any]) -> None:
        if not is_main():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop records past `step` (a resumed run redoes those steps)."""
        if not self.path.is_file() or not is_main():
            return
        keep = [ln for ln in self.path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= step]
        self.path.write_text("".join(ln + "\n" for ln in keep))


def save_stage(out_dir: Path, step: int, modules: dict[str, torch.nn.Module],
               optimizers: dict[str, torch.optim.Optimizer],
               generators: dict[str, torch.Generator], config: dict[str, Any], extra: dict[str, Any],
               keep: int = 2) -> None:
    """Checkpoint every module, optimiser and sampling generator of a stage (main rank), keep the last `keep`."""
    if not is_main():
        return
    model = {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}
    opt = {name: o.state_dict() for name, o in optimizers.items()}
    rng = {name: g.get_state() for name, g in generators.items()}
    save_checkpoint(out_dir / "checkpoints" / checkpoint_name(step), model=model, config=config, step=step,
                    optimizer=opt, rng=rng, extra=extra)
    for old in list_checkpoints(out_dir)[:-keep]:
        old.unlink(missing_ok=True)


def load_stage(out_dir: Path, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               generators: dict[str, torch.Generator]) -> tuple[int, dict[str, Any]]:
    """Restore the latest checkpoint of a stage, if any: (step, extra); (0, {}) when starting fresh."""
    path = latest_checkpoint(out_dir)
    if path is None:
        return 0, {}
    ckpt = load_checkpoint(path)
    for name, m in modules.items():
        prefix = name + "."
        m.load_state_dict({k[len(prefix):]: v for k, v in ckpt["model"].items() if k.startswith(prefix)})
    for name, o in optimizers.items():
        o.load_state_dict(ckpt["optimizer"][name])
    rank = world()[0]
    for name, g in generators.items():
        g.set_state(ckpt["rng"][name])
        if rank:  # other ranks continue their own streams, derived from rank 0's state
            g.manual_seed(int(torch.randint(2**62, (1,), generator=g)) + rank)
    return int(ckpt["step"]), ckpt.get("extra", {})
