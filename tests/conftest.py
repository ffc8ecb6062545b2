"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest
import torch

from disgu.models import Glow, GlowConfig


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The test models are tiny: one thread is faster, and much faster when other jobs share the 2 cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def perturbed_glow(seed: int, resolution: int, n_steps: int, hidden: int, noise: float) -> Glow:
    """A 2-level Glow with its weights moved off their init by `noise`, so the reverse pass is not the identity."""
    torch.manual_seed(seed)
    glow = Glow(GlowConfig(resolution=resolution, n_levels=2, n_steps=n_steps, hidden=hidden))
    glow.initialize(torch.rand(16, 3, resolution, resolution) - 0.5)
    with torch.no_grad():
        for p in glow.parameters():
            p.add_(noise * torch.randn_like(p))
    return glow.eval()


@pytest.fixture(scope="module")
def tiny_glow() -> Glow:
    """A 16x16 Glow with its couplings moved off their zero init."""
    return perturbed_glow(seed=0, resolution=16, n_steps=2, hidden=16, noise=0.02)


@pytest.fixture(scope="module")
def glow8() -> Glow:
    """An 8x8 Glow whose full decoder Jacobian (192 x 96 at the top level) is cheap to form."""
    return perturbed_glow(seed=1, resolution=8, n_steps=1, hidden=8, noise=0.05)


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory):
    """A finished `disgu run --preset tiny` dir (two cheap metrics), built once per test process, for the
    report and explorer tests; tests only add files to it (report.html)."""
    from click.testing import CliRunner

    from disgu.cli import cli

    out = tmp_path_factory.mktemp("tiny-run") / "run"
    args = ["run", "--dataset", "shapes3d", "--preset", "tiny", "--seed", "0", "--out", str(out), "--no-progress",
            "--device", "cpu", "--set", "evaluation.metrics=mig,beta_vae"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out, result.output
