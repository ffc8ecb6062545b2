"""Multi-GPU correctness that CPU tests can check: collectives on the model's device, a collective timeout,
and no rank waiting in a collective while rank 0 evaluates alone.

NCCL reduces CUDA tensors only, and a CPU machine has no second device: running a step with a default
device that is not the model's (meta) makes every tensor created without an explicit device land
elsewhere than the model, as a CPU tensor does next to a model on a GPU.
"""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from disgu import distributed
from disgu.errors import UserError


def _fake_two_ranks(monkeypatch) -> list[torch.device]:
    """Pretend to be rank 0 of 2; record the device of every tensor handed to all_reduce (the sum is 2x)."""
    seen: list[torch.device] = []

    def all_reduce(t, *args, **kwargs):
        seen.append(t.device)
        if t.device.type != "meta":
            t.mul_(2)

    monkeypatch.setattr(distributed, "world", lambda: (0, 2))
    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    return seen


def test_discovery_step_reduces_on_the_model_device(tiny_glow, monkeypatch):
    from disgu.stages.discovery.trainer import DiscoveryConfig, build_navigator, discovery_step
    from disgu.models.generator import FrozenGlow
    from disgu.models.latents import LatentSource
    from disgu.models.reconstructor import build_reconstructor
    from disgu.training.nan_guard import NonFiniteGuard

    frozen = FrozenGlow(tiny_glow, (1,))
    cfg = DiscoveryConfig(n_directions=4, batch_size=4)
    navigator = build_navigator(cfg, frozen, 0)
    reconstructor = build_reconstructor("light", 3, 4)
    optimizers = [torch.optim.Adam(reconstructor.parameters()), torch.optim.Adam(navigator.parameters())]
    seen = _fake_two_ranks(monkeypatch)
    with torch.device("meta"):  # anything made without a device lands off the model's device
        _, counts = discovery_step(frozen, navigator, reconstructor, LatentSource(tiny_glow), cfg,
                                   torch.Generator().manual_seed(0), optimizers, NonFiniteGuard())
    assert seen and set(seen) == {frozen.device}
    assert counts[1] == 2 * cfg.batch_size  # the pair count went through the (fake) sum over two ranks


def test_contrastive_step_makes_its_tensors_on_the_model_device(tiny_glow):
    from disgu.stages.contrastive.trainer import ContrastiveConfig, contrastive_step
    from disgu.models import ContrastiveEncoder, FrozenGlow, Navigator
    from disgu.models.latents import LatentSource

    frozen = FrozenGlow(tiny_glow, (1,))
    navigator = Navigator(frozen.nav_dim, 4, "ortho", "identity", 1e-3, generator=torch.Generator().manual_seed(1))
    encoder = ContrastiveEncoder(3, 16, 4)
    cfg = ContrastiveConfig(out_dim=4, batch_size=2, n_positives=2, n_negatives=3, shift_range=2.0)
    with torch.device("meta"):
        loss, stats = contrastive_step(frozen, navigator, encoder, LatentSource(tiny_glow), cfg,
                                       torch.Generator().manual_seed(0))
    assert loss is not None and loss.device == frozen.device and stats["pairs"] == 7


def test_contrastive_training_sums_its_pair_counts_on_the_model_device(tiny_glow, tmp_path, monkeypatch):
    from disgu.stages.contrastive.trainer import ContrastiveConfig, train_contrastive
    from disgu.models import FrozenGlow, Navigator

    navigator = Navigator(FrozenGlow(tiny_glow, (1,)).nav_dim, 4, "ortho", "identity", 1e-3,
                          generator=torch.Generator().manual_seed(1))
    cfg = ContrastiveConfig(out_dim=4, batch_size=2, n_positives=2, n_negatives=3, shift_range=2.0, steps=2,
                            checkpoint_every=100, log_every=1)
    seen = _fake_two_ranks(monkeypatch)
    summary = train_contrastive(tiny_glow, navigator, (1,), cfg, tmp_path, seed=0, progress=False)
    assert set(seen) == {torch.device("cpu")}
    assert summary["pairs"] == 2 * 2 * 7  # two steps of 7 pairs, summed over two (fake) ranks


def test_process_group_gets_a_timeout(monkeypatch):
    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: calls.append(kw))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("DISGU_DIST_TIMEOUT_MINUTES", raising=False)
    info = distributed.setup_distributed("cpu")
    assert info.owns_group and calls[-1]["timeout"] == timedelta(minutes=distributed.DEFAULT_TIMEOUT_MINUTES)
    monkeypatch.setenv("DISGU_DIST_TIMEOUT_MINUTES", "5")
    distributed.setup_distributed("cpu")
    assert calls[-1]["timeout"] == timedelta(minutes=5) and calls[-1]["backend"] == "gloo"
    for bad in ("0", "soon"):
        monkeypatch.setenv("DISGU_DIST_TIMEOUT_MINUTES", bad)
        with pytest.raises(UserError, match="DISGU_DIST_TIMEOUT_MINUTES"):
            distributed.setup_distributed("cpu")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pipeline_worker(rank: int, world: int, port: int, out: str, flag_dir: str) -> None:
    """run_pipeline with stand-in stages: training stages meet in a collective; rank 0's evaluation waits
    until rank 1 has returned from run_pipeline, which it can only do if it waits for nothing."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from disgu.pipeline import run as run_module
    from disgu.pipeline.config import make_config
    from disgu.pipeline.stages import STAGES

    flags = Path(flag_dir)

    def train(ctx):
        t = torch.ones(1)
        dist.all_reduce(t)
        return {"ranks": int(t)}

    def evaluate(ctx):
        if rank == 0:
            deadline = time.monotonic() + 30
            while not (flags / "rank1-returned").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            (flags / "rank1-was-free").write_text(str((flags / "rank1-returned").exists()))
        return {}

    run_module.STAGE_FUNCTIONS = {**{s: train for s in STAGES}, "evaluation": evaluate, "traversal": lambda c: {}}
    cfg = make_config("tiny", dataset="shapes3d", device="cpu")
    run_module.run_pipeline(cfg, out, progress=False, dataset=object())
    if rank == 1:
        (flags / "rank1-returned").touch()
    if dist.is_initialized():
        dist.destroy_process_group()


def test_no_rank_waits_in_a_collective_while_rank_0_evaluates(tmp_path):
    import json

    import torch.multiprocessing as mp

    from disgu.pipeline.stages import done_marker

    out = tmp_path / "run"
    mp.spawn(_pipeline_worker, args=(2, _free_port(), str(out), str(tmp_path)), nprocs=2, join=True)
    assert (tmp_path / "rank1-was-free").read_text() == "True"
    assert json.loads(done_marker(out, "contrastive").read_text())["ranks"] == 2
    assert json.loads(done_marker(out, "evaluation").read_text())["world_size"] == 1
    assert done_marker(out, "traversal").is_file()
