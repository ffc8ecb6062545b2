"""Glow training: exact resume, refused malicious checkpoints, NaN guard, SIGTERM, 2-process DDP."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from disgu.checkpoint import latest_checkpoint, load_checkpoint
from disgu.errors import UserError
from disgu.models import GlowConfig, load_glow
from disgu.stages.glow import GlowTrainConfig, train_glow


def _npz_dataset(path: Path, n: int = 96, res: int = 8) -> str:
    """A small structured bring-your-own dataset (gradients and blobs), uint8 NHWC."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:res, 0:res] / res
    imgs = np.empty((n, res, res, 3), dtype=np.uint8)
    for i in range(n):
        cx, cy = rng.uniform(0.2, 0.8, 2)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.03)
        imgs[i] = np.clip(np.stack([blob, xx * (i % 3) / 2, yy], -1) * 255, 0, 255).astype(np.uint8)
    np.savez(path, images=imgs)
    return str(path)


def _config(tmp_path: Path, out: str, **kw) -> GlowTrainConfig:
    data = tmp_path / "data.npz"
    if not data.exists():
        _npz_dataset(data)
    base = dict(
        dataset=str(data), out=str(tmp_path / out), model=GlowConfig(resolution=8, n_levels=2, n_steps=2, hidden=16),
        steps=8, batch_size=8, warmup_steps=3, checkpoint_every=4, eval_every=4, sample_every=100, eval_images=16,
        heldout_size=16, log_every=2, init_batch_size=32, progress=False, tensorboard=False, seed=3,
    )
    base.update(kw)
    return GlowTrainConfig(**base)


def _state(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def test_resume_from_mid_run_checkpoint_gives_identical_weights(tmp_path):
    full = train_glow(_config(tmp_path, "full"))
    assert full.summary["steps"] == 8
    mid = tmp_path / "full" / "checkpoints" / "ckpt-00000004.pt"
    assert mid.exists()  # what a kill after step 4 would leave behind

    resumed = train_glow(_config(tmp_path, "resumed"), resume=str(mid))
    assert resumed.summary["steps"] == 8
    a, b = _state(latest_checkpoint(tmp_path / "full")), _state(latest_checkpoint(tmp_path / "resumed"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and the weights really moved between step 4 and step 8
    assert any(not torch.equal(a[k], _state(mid)[k]) for k in a if a[k].is_floating_point())


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_checkpoint_that_would_run_code_is_refused(tmp_path, writer):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    payload = {"format": "disgu-checkpoint", "version": 1, "model": _RunsCode(marker)}
    if writer == "torch":
        torch.save(payload, bad)
    else:
        bad.write_bytes(pickle.dumps(payload))
    with pytest.raises(UserError, match="refused to load"):
        load_checkpoint(bad)
    with pytest.raises(UserError, match="refused to load"):
        load_glow(bad)
    assert not marker.exists()
    # through the command line: one line on stderr, exit status 2, nothing executed
    from click.testing import CliRunner

    from disgu.cli import cli

    res = CliRunner().invoke(cli, ["train-glow", "--out", str(tmp_path / "o"), "--resume", str(bad)])
    assert res.exit_code == 2, res.output
    assert "refused to load" in res.output
    assert not marker.exists()


def test_nonfinite_steps_are_skipped_and_restore_last_checkpoint(tmp_path, monkeypatch):
    from disgu.models.glow import Glow

    real = Glow.nll_bits_per_dim
    calls = {"n": 0}

    def poisoned(self, log_p, logdet):
        calls["n"] += 1
        out = real(self, log_p, logdet)
        return out * float("nan") if calls["n"] > 2 else out  # training steps 3.. are NaN

    monkeypatch.setattr(Glow, "nll_bits_per_dim", poisoned)
    cfg = _config(tmp_path, "nan", checkpoint_every=2, eval_every=1000, nan_restore_after=3, keep_checkpoints=10)
    with pytest.warns(UserWarning, match="non-finite steps in a row"):
        result = train_glow(cfg)
    s = result.summary
    assert s["nan_skipped"] == 6 and s["lr_restores"] == 2
    last = load_checkpoint(latest_checkpoint(tmp_path / "nan"))
    assert last["step"] == 8 and last["extra"]["lr_scale"] == 0.25
    good = _state(tmp_path / "nan" / "checkpoints" / "ckpt-00000002.pt")
    for k, v in last["model"].items():
        assert torch.isfinite(v.float()).all(), k
        assert torch.equal(v, good[k]), k  # no NaN step ever reached the weights


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    data = _npz_dataset(tmp_path / "data.npz")
    out = tmp_path / "run"
    exe = Path(sys.executable).parent / "disgu"
    cmd = [str(exe), "train-glow", "--dataset", data, "--out", str(out), "--resolution", "8", "--levels", "2",
           "--flow-steps", "1", "--hidden", "8", "--steps", "100000", "--batch-size", "4", "--checkpoint-every",
           "100000", "--eval-every", "100000", "--sample-every", "100000", "--heldout-size", "8", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    log = out / "log.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and "loss_bpd" in log.read_text()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "interrupted at step" in err
    ckpt = latest_checkpoint(out)
    assert ckpt is not None
    step = load_checkpoint(ckpt)["step"]
    assert 10 <= step < 100000
    resumed = subprocess.run([str(exe), "train-glow", "--out", str(out), "--resume", "--steps", str(step + 2),
                              "--no-progress"], check=False, capture_output=True, text=True, timeout=120, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(latest_checkpoint(out))["step"] == step + 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_batch(rank: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(100 + rank)
    return torch.randn(16, 3, 4, 4, generator=g) * (rank + 1) + 3 * rank  # very different data per rank


def _ddp_worker(rank: int, world: int, port: int, cfg: GlowTrainConfig, result_dir: str) -> None:
    from disgu.models.glow import ActNorm

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=rank, world_size=world)
    layer = ActNorm(3)
    layer(_rank_batch(rank))  # data-dependent init inside a forward, as a DDP-wrapped model would do it
    torch.save(layer.state_dict(), Path(result_dir) / f"actnorm{rank}.pt")

    result = train_glow(cfg)  # uses the process group already joined
    torch.save(result.model.state_dict(), Path(result_dir) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_two_process_ddp_keeps_replicas_identical(tmp_path):
    import torch.multiprocessing as mp

    from disgu.models.glow import ActNorm

    cfg = _config(tmp_path, "ddp", steps=4, checkpoint_every=4, device="cpu")
    mp.spawn(_ddp_worker, args=(2, _free_port(), cfg, str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    assert all(bool(v) for k, v in r0.items() if k.endswith("initialized"))
    assert load_checkpoint(latest_checkpoint(tmp_path / "ddp"))["extra"]["world_size"] == 2

    # actnorm init from different per-rank data: both ranks hold the statistics of the union
    a0 = torch.load(tmp_path / "actnorm0.pt", weights_only=True)
    a1 = torch.load(tmp_path / "actnorm1.pt", weights_only=True)
    pooled = ActNorm(3)
    pooled(torch.cat([_rank_batch(0), _rank_batch(1)]))
    alone = ActNorm(3)
    alone(_rank_batch(0))
    for k in ("bias", "log_scale"):
        assert torch.equal(a0[k], a1[k]), k
        assert torch.allclose(a0[k], pooled.state_dict()[k], atol=1e-5), k
        assert not torch.allclose(a0[k], alone.state_dict()[k], atol=1e-2), k


def test_export_to_safetensors_and_manifest(tmp_path):
    import json

    from disgu.models import export_glow, load_pretrained_glow

    train_glow(_config(tmp_path, "run", steps=4))
    ckpt = latest_checkpoint(tmp_path / "run")
    weights = export_glow(ckpt, "glow-test-8", tmp_path / "weights")
    manifest = json.loads((tmp_path / "weights" / "glow-test-8.json").read_text())
    assert manifest["steps"] == 4 and manifest["data_hash"] and manifest["git_revision"]
    assert manifest["heldout_bits_per_dim"] > 0 and manifest["command"]
    a, _ = load_glow(ckpt)
    b, config = load_glow(weights)
    assert config.resolution == 8
    x = torch.rand(3, 3, 8, 8) - 0.5
    with torch.no_grad():
        for ea, eb in zip(a.encode(x), b.encode(x)):
            assert torch.equal(ea, eb)
    with pytest.raises(UserError, match="no pretrained Glow"):
        load_pretrained_glow("no-such-dataset", 32)

    from click.testing import CliRunner
    from PIL import Image

    from disgu.cli import cli

    res = CliRunner().invoke(cli, ["sample", "--glow", str(weights), "--out", str(tmp_path / "grid.png"), "-n", "4"])
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "grid.png").size == (2 * 9 + 1, 2 * 9 + 1)
    from disgu.models import input_to_images
    from disgu.stages.glow.trainer import save_grid

    model, config = load_glow(weights)  # the grid is Glow.sample's: latents of the seed, decoded
    save_grid(input_to_images(model.sample(4, 0.7, generator=torch.Generator().manual_seed(0)), config.n_bits),
              tmp_path / "expected.png")
    expected, grid = (np.asarray(Image.open(tmp_path / name)) for name in ("expected.png", "grid.png"))
    assert np.array_equal(expected, grid)


def test_train_glow_takes_set_overrides_like_run(tmp_path):
    from disgu.cli.train_glow import build_train_config
    from disgu.errors import UserError

    opts = {"preset": "demo", "dataset": "shapes3d", "out": str(tmp_path / "g"),
            "overrides": ("lr=5e-4", "model.hidden=16", "amp=false")}
    cfg = build_train_config(opts, None)
    assert cfg.lr == 5e-4 and cfg.model.hidden == 16 and cfg.amp is False and cfg.model.n_levels == 3
    for bad, says in (("model.width=3", "--set model.width"), ("lr=fast", "--set lr=fast"), ("hidden", "--set 'hidden'")):
        with pytest.raises(UserError, match=says.replace(".", r"\.")):
            build_train_config({**opts, "overrides": (bad,)}, None)
