"""The one DDP approach of every training stage: read torchrun's environment, pick gloo (CPU) or nccl (GPU),
know your rank, average gradients.

A plain `python` or `disgu` run is world size 1 and never touches torch.distributed, so the
same training code runs on one CPU, one GPU or under `torchrun --nproc_per_node N`. Each rank
draws its own batches; gradients are averaged over ranks before each optimiser step (by
`average_gradients`, or by `DistributedDataParallel` for the Glow), and rank 0 alone writes files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from disgu.errors import UserError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False  # True when setup_distributed created the process group (and should end it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(device: str | None, local_rank: int = 0) -> torch.device:
    """'auto'/None -> cuda:<local_rank> when available, else cpu; anything else is checked."""
    if device in (None, "auto"):
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserError(f"--device: expected cpu, cuda, cuda:N or auto, got {device!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
    return dev


DEFAULT_TIMEOUT_MINUTES = 30.0


def collective_timeout() -> timedelta:
    """How long a rank waits in one collective before the job is ended: DISGU_DIST_TIMEOUT_MINUTES, default 30.

    Every collective of the training stages follows a step or a checkpoint that takes seconds; a longer
    wait means a rank died or hangs, and the job should end instead of holding its GPUs.
    """
    raw = os.environ.get("DISGU_DIST_TIMEOUT_MINUTES", "")
    try:
        minutes = float(raw) if raw else DEFAULT_TIMEOUT_MINUTES
    except ValueError:
        minutes = -1.0
    if not minutes > 0:
        raise UserError(f"DISGU_DIST_TIMEOUT_MINUTES: expected a number of minutes > 0, got {raw!r}")
    return timedelta(minutes=minutes)


def setup_distributed(device: str | None = None) -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (gloo on CPU, nccl on GPU), with collective_timeout()."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    owns = False
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world_size,
                                timeout=collective_timeout())
        owns = True
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, owns_group=owns)


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True on the rank that writes files and prints (rank 0; the only one outside torchrun)."""
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
    though the decoded pixels look fine: such a step must be skipped, not written into the weights.
    Called after average_gradients, so every rank reaches the same decision. One reduction on the
    gradients' device and one read back: a GPU waits once per step, not once per parameter.
    """
    flags = [torch.isfinite(p.grad).all() for p in params if p.grad is not None]
    return bool(torch.stack(flags).all()) if flags else True


def sum_over_ranks(values: Sequence[float], device: torch.device | str) -> list[float]:
    """Each value summed over ranks (unchanged on one process), reduced on `device`, the model's.

    NCCL reduces only CUDA tensors: the values travel on the device the model is on, whatever the backend.
    """
    if world()[1] == 1:
        return [float(v) for v in values]
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_min(t: torch.Tensor) -> torch.Tensor:
    """Element-wise minimum over ranks (identity when not distributed); used for agreed decisions."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return t


def leave_group(info: DistInfo) -> None:
    """Before work that only rank 0 does (evaluation, traversals): meet once more, then end the group if it is ours.

    No rank then waits in a collective while rank 0 works for as long as an evaluation takes (longer than a
    collective's timeout at the paper's sizes); the other ranks can exit.
    """
    if info.distributed and dist.is_available() and dist.is_initialized():
        dist.barrier()
        if info.owns_group:
            dist.destroy_process_group()


def cleanup_distributed(info: DistInfo) -> None:
    """End the process group if setup_distributed started it (a caller's own group is left alone)."""
    if info.owns_group and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
