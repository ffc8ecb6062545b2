"""The shared training layer: every stage stops on SIGTERM with a checkpoint and resumes to the same weights,
logs are cut back on resume, old stage-dir names still resume, and the baselines train under 2-process DDP."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from disgu.checkpoint import latest_checkpoint, load_checkpoint
from disgu.training.logs import TrainingLog


def _sigterm_after(module, name: str, calls: int, monkeypatch) -> None:
    """Wrap module.name so that the process gets SIGTERM during its `calls`-th call (as a scheduler would send it)."""
    real = getattr(module, name)
    count = {"n": 0}

    def wrapped(*args, **kwargs):
        count["n"] += 1
        if count["n"] == calls:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ----------------------------------------------------------------------------- SIGTERM, per stage


def test_discovery_stops_on_sigterm_with_a_checkpoint_and_resumes_exactly(tiny_glow, tmp_path, monkeypatch):
    from disgu.stages.discovery import trainer

    handler = signal.getsignal(signal.SIGTERM)
    cfg = trainer.DiscoveryConfig(n_directions=4, batch_size=4, steps=5, eval_every=100, eval_batches=1,
                                  checkpoint_every=100, log_every=1, nav_lr=1e-2, shift_range=2.0)
    trainer.train_discovery(tiny_glow, cfg, tmp_path / "whole", seed=3, progress=False)
    with monkeypatch.context() as m:
        _sigterm_after(trainer, "discovery_step", 2, m)
        with pytest.raises(KeyboardInterrupt, match="step 2"):
            trainer.train_discovery(tiny_glow, cfg, tmp_path / "parts", seed=3, progress=False)
    assert load_checkpoint(latest_checkpoint(tmp_path / "parts"))["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is handler  # the loop's handler is gone with the loop
    trainer.train_discovery(tiny_glow, cfg, tmp_path / "parts", seed=3, progress=False)
    _same_weights(load_checkpoint(tmp_path / "whole" / "navigator.pt")["model"],
                  load_checkpoint(tmp_path / "parts" / "navigator.pt")["model"])
    steps = [json.loads(ln)["step"] for ln in (tmp_path / "parts" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 5]  # each step once (the last one also has its held-out record)


def test_contrastive_stops_on_sigterm_with_a_checkpoint_and_resumes_exactly(tiny_glow, tmp_path, monkeypatch):
    from disgu.stages.contrastive import trainer
    from disgu.models import FrozenGlow, Navigator

    frozen = FrozenGlow(tiny_glow, (1,))
    cfg = trainer.ContrastiveConfig(out_dim=4, batch_size=2, n_positives=2, n_negatives=3, steps=4,
                                    checkpoint_every=100, log_every=1, shift_range=2.0, nav_lr=1e-2)

    def navigator():
        return Navigator(frozen.nav_dim, 3, "ortho", "random", generator=torch.Generator().manual_seed(0))

    trainer.train_contrastive(tiny_glow, navigator(), (1,), cfg, tmp_path / "whole", seed=0, progress=False)
    with monkeypatch.context() as m:
        _sigterm_after(trainer, "apply_update", 3, m)
        with pytest.raises(KeyboardInterrupt, match="step 3"):
            trainer.train_contrastive(tiny_glow, navigator(), (1,), cfg, tmp_path / "parts", seed=0, progress=False)
    assert load_checkpoint(latest_checkpoint(tmp_path / "parts"))["step"] == 3
    trainer.train_contrastive(tiny_glow, navigator(), (1,), cfg, tmp_path / "parts", seed=0, progress=False)
    _same_weights(load_checkpoint(tmp_path / "whole" / "encoder.pt")["model"],
                  load_checkpoint(tmp_path / "parts" / "encoder.pt")["model"])


def test_distil_stops_on_sigterm_with_a_checkpoint_and_resumes_exactly(tmp_path, monkeypatch):
    from disgu.stages.glow_ica import distil

    rng = np.random.default_rng(0)
    images = (rng.random((40, 16, 16, 3)) * 255).astype(np.uint8)
    targets = rng.standard_normal((40, 3))
    cfg = distil.ICAConfig(steps=5, batch_size=4, checkpoint_every=100, log_every=1, heldout=8)
    args = (images, targets, [1, 2], [0.0, 0.5], cfg)
    whole = distil.train_distilled_encoder(*args, tmp_path / "whole", 0, progress=False)
    with monkeypatch.context() as m:
        _sigterm_after(distil, "distil_loss", 2, m)
        with pytest.raises(KeyboardInterrupt, match="step 2"):
            distil.train_distilled_encoder(*args, tmp_path / "parts", 0, progress=False)
    resumed = distil.train_distilled_encoder(*args, tmp_path / "parts", 0, progress=False)
    assert resumed["heldout_mse"] == whole["heldout_mse"]
    _same_weights(load_checkpoint(tmp_path / "whole" / "encoder.pt")["model"],
                  load_checkpoint(tmp_path / "parts" / "encoder.pt")["model"])


@pytest.fixture(scope="module")
def squares(tmp_path_factory) -> str:
    """16 images of a bright square at 4 x 4 positions (a .npz dataset)."""
    images = np.full((16, 16, 16, 1), 30, dtype=np.uint8)
    for i in range(16):
        r, c = divmod(i, 4)
        images[i, r * 4:r * 4 + 4, c * 4:c * 4 + 4] = 230
    path = tmp_path_factory.mktemp("data") / "squares.npz"
    np.savez(path, images=images)
    return str(path)


def _baseline_data(path: str):
    from disgu.data import load_dataset

    return load_dataset(path)


def _baseline_cfg(**kw):
    from disgu.stages.vae.trainer import BaselineConfig

    base = dict(dataset="squares", batch_size=8, lr=1e-3, steps=6, checkpoint_every=100, log_every=1, device="cpu")
    return BaselineConfig(**{**base, **kw})


def test_baseline_stops_on_sigterm_with_a_checkpoint_and_resumes_exactly(tmp_path, squares):
    from disgu.stages.vae.trainer import load_model_from_run, train

    ds = _baseline_data(squares)

    def terminate(step, _):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt):
        train(_baseline_cfg(), tmp_path / "parts", dataset=ds, progress=False, on_step=terminate)
    assert json.loads((tmp_path / "parts" / "summary.json").read_text())["interrupted"] is True
    train(_baseline_cfg(), tmp_path / "parts", dataset=ds, progress=False)
    train(_baseline_cfg(), tmp_path / "whole", dataset=ds, progress=False)
    a, b = load_model_from_run(tmp_path / "parts"), load_model_from_run(tmp_path / "whole")
    assert a[2] == b[2] == 6
    _same_weights(a[0].state_dict(), b[0].state_dict())


# ----------------------------------------------------------------------------- logs and old stage dirs


def test_log_is_cut_back_to_the_resumed_step_and_drops_a_torn_line(tmp_path):
    log = TrainingLog(tmp_path, 0)
    for step in range(1, 6):
        log.write(step, loss=float(step))
    with (tmp_path / "log.jsonl").open("a") as f:
        f.write('{"step": 6, "lo')
    TrainingLog(tmp_path, 3).write(3, event="resume")
    rows = [json.loads(ln) for ln in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 3] and rows[-1]["event"] == "resume"


# ----------------------------------------------------------------------------- baselines under DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _baseline_ddp_worker(rank: int, world: int, port: int, data: str, out: str, result_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from disgu.stages.vae.trainer import load_model_from_run, train

    train(_baseline_cfg(model="factor-vae", steps=3), out, dataset=_baseline_data(data), progress=False)
    torch.save(load_model_from_run(out)[0].state_dict(), Path(result_dir) / f"rank{rank}.pt")


def test_baselines_train_under_two_process_ddp(tmp_path, squares):
    """gloo on CPU: each rank draws its own batches, the averaged gradients keep the replicas identical."""
    import torch.multiprocessing as mp

    from disgu.stages.vae.trainer import batch_indices, load_model_from_run, train

    assert not np.array_equal(batch_indices(16, 8, 0, 0, rank=0), batch_indices(16, 8, 0, 0, rank=1))
    out = tmp_path / "ddp"
    mp.spawn(_baseline_ddp_worker, args=(2, _free_port(), squares, str(out), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    _same_weights(r0, torch.load(tmp_path / "rank1.pt", weights_only=True))
    steps = [json.loads(ln)["step"] for ln in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # rank 0 alone writes

    # rank 0 draws what one process draws: the 2-process model differs from the 1-process one by rank 1's gradients
    train(_baseline_cfg(model="factor-vae", steps=3), tmp_path / "one", dataset=_baseline_data(squares),
          progress=False)
    one = load_model_from_run(tmp_path / "one")[0].state_dict()
    assert not torch.equal(one["encoder.mean.weight"], r0["encoder.mean.weight"])


def test_normal_shifts_keep_the_minimum_and_spread_like_a_gaussian():
    from disgu.errors import UserError
    from disgu.training.shifts import sample_shifts

    eps = sample_shifts(20_000, 6.0, 0.5, torch.Generator().manual_seed(0), distribution="normal")
    assert eps.abs().min() >= 0.5
    assert 5.7 < float(eps.std()) < 6.3 and float((eps.abs() > 6).float().mean()) > 0.25  # U(-6, 6) never exceeds 6
    with pytest.raises(UserError, match="shift distribution"):
        sample_shifts(3, 6.0, 0.5, distribution="cauchy")
