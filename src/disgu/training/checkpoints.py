"""The checkpoints/ folder of a stage dir: atomic writes by the main rank, the last N kept, the newest restored.

A checkpoint holds model state, optimiser state(s), step, RNG states, config and stage-specific
`extra` (see disgu.checkpoint for the file format and its `weights_only` loading). Stages with one
network (Glow, the VAEs) save its state_dict as is; stages with several (discovery, contrastive,
distil) go through `save_stage` / `load_stage`, which prefix each network's keys with its name and
store the sampling generators of the stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from disgu.checkpoint import (
    checkpoint_name,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_state,
    save_checkpoint,
)
from disgu.distributed import is_main, world

__all__ = ["latest_checkpoint", "load_checkpoint", "load_stage", "save_stage", "save_training_checkpoint"]


def save_training_checkpoint(stage_dir: Path, step: int, *, keep: int, model: dict[str, torch.Tensor],
                             config: dict[str, Any], optimizer: dict[str, Any] | None = None,
                             rng: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path | None:
    """Write stage_dir/checkpoints/ckpt-<step>.pt (main rank only) and delete all but the newest `keep`."""
    if not is_main():
        return None
    path = save_checkpoint(Path(stage_dir) / "checkpoints" / checkpoint_name(step), model=model, config=config,
                           step=step, optimizer=optimizer, rng=rng, extra=extra)
    for old in list_checkpoints(stage_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def save_stage(out_dir: Path, step: int, modules: dict[str, torch.nn.Module],
               optimizers: dict[str, torch.optim.Optimizer],
               generators: dict[str, torch.Generator], config: dict[str, Any], extra: dict[str, Any],
               keep: int = 2) -> None:
    """Checkpoint every network, optimiser and sampling generator of a stage (main rank), keep the last `keep`."""
    model = {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}
    opt = {name: o.state_dict() for name, o in optimizers.items()}
    rng = {name: g.get_state() for name, g in generators.items()}
    save_training_checkpoint(out_dir, step, keep=keep, model=model, config=config, optimizer=opt, rng=rng,
                             extra=extra)


def load_stage(out_dir: Path, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               generators: dict[str, torch.Generator]) -> tuple[int, dict[str, Any]]:
    """Restore the latest checkpoint of a stage, if any: (step, extra); (0, {}) when starting fresh.

    A generator the checkpoint does not hold keeps its seed: a GPU's draw generator (`device_generator`)
    when the run resumes on a GPU from a checkpoint written on the CPU.
    """
    path = latest_checkpoint(out_dir)
    if path is None:
        return 0, {}
    ckpt = load_checkpoint(path)
    for name, m in modules.items():
        prefix = name + "."
        load_state(m, {k[len(prefix):]: v for k, v in ckpt["model"].items() if k.startswith(prefix)}, path, name)
    for name, o in optimizers.items():
        o.load_state_dict(ckpt["optimizer"][name])
    rank = world()[0]
    for name, g in generators.items():
        if name not in ckpt["rng"]:
            continue
        g.set_state(ckpt["rng"][name])
        if rank:  # other ranks continue their own streams, derived from rank 0's state
            g.manual_seed(int(torch.randint(2**62, (1,), generator=g, device=g.device)) + rank)
    return int(ckpt["step"]), ckpt.get("extra", {})
