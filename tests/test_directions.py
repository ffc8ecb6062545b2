"""Direction baselines in the frozen Glow: CF, DS, GS, ICA, LD, the regression targets and encoder, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from disgu.cli import cli
from disgu.directions.closed_form import closed_form_directions
from disgu.directions.config import RegressionConfig
from disgu.directions.jacobian import jacobian_directions, jtj_product, leading_eigenvectors, prior_batches
from disgu.directions.regression import direction_coordinates, train_regression_encoder
from disgu.models import Glow
from disgu.models.generator import FrozenGlow


def _same_up_to_sign(a: np.ndarray, b: np.ndarray, tol: float = 1e-4) -> None:
    cos = np.abs(np.sum(a * b, 0)) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))
    np.testing.assert_allclose(cos, 1.0, atol=tol)


def _unit_columns(d: np.ndarray, dim: int, k: int) -> None:
    assert d.shape == (dim, k)
    np.testing.assert_allclose(np.linalg.norm(d, axis=0), 1.0, atol=1e-5)


# ----------------------------------------------------------------------------- CF


def _explicit_closed_form_map(glow: Glow) -> np.ndarray:
    """A = C S built column by column: the prior's scales, then the last step's W^-1 and actnorm inverse."""
    top = glow.levels[-1]
    step = top.steps[-1]
    c, h, w = glow.latent_shapes[-1]
    basis = torch.eye(c * h * w, dtype=torch.float64).reshape(-1, c, h, w)
    with torch.no_grad():
        log_sd = top.top_prior.chunk(2, 1)[1].double()
        w_inv = step.invconv.inverse_weight().double() * torch.exp(-step.actnorm.log_scale.double().view(-1))[:, None]
        cols = F.conv2d(torch.exp(log_sd) * basis, w_inv[:, :, None, None])
    return cols.flatten(1).T.numpy()


def test_cf_directions_are_the_eigenvectors_of_the_explicit_map(tiny_glow):
    a = _explicit_closed_form_map(tiny_glow)
    values, vectors = np.linalg.eigh(a.T @ a)
    order = np.argsort(-values)[:6]
    frame, got = closed_form_directions(tiny_glow, 6)
    _unit_columns(frame, a.shape[0], 6)
    np.testing.assert_allclose(frame.T @ frame, np.eye(6), atol=1e-10)
    np.testing.assert_allclose(got, values[order], rtol=1e-8)
    _same_up_to_sign(frame, vectors[:, order], tol=1e-6)
    # the decoder really starts with this map: the top level's reverse pass, couplings at their zero init
    assert np.all(frame[np.abs(frame).argmax(0), np.arange(6)] > 0)


def test_cf_directions_live_at_one_top_level_position(tiny_glow):
    frame, _ = closed_form_directions(tiny_glow, 5)
    c, h, w = tiny_glow.latent_shapes[-1]
    per_position = (frame.reshape(c, h * w, 5) ** 2).sum(0)  # a 1x1 conv does not mix positions
    assert ((per_position > 1e-12).sum(0) == 1).all()


# ----------------------------------------------------------------------------- DS


def _mlp():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 20)).double()
    return net.requires_grad_(False)


def test_jtj_product_equals_the_explicit_jacobian_product():
    net = _mlp()
    z = torch.randn(5, 6, dtype=torch.float64)
    v = torch.randn(6, 3, dtype=torch.float64)
    explicit = sum(j.T @ j for j in (torch.autograd.functional.jacobian(net, zi) for zi in z))
    torch.testing.assert_close(jtj_product(net, z, v), explicit @ v)


def test_ds_eigenvectors_match_the_explicit_jacobian_of_a_small_decoder():
    net = _mlp()
    z = torch.randn(8, 6, dtype=torch.float64)
    m = sum(j.T @ j for j in (torch.autograd.functional.jacobian(net, zi) for zi in z)) / len(z)
    values, vectors = torch.linalg.eigh(m)
    frame, got = leading_eigenvectors(lambda v: jtj_product(net, z, v) / len(z), 6, 3, iterations=200, oversample=2)
    torch.testing.assert_close(got, values.flip(0)[:3])
    _same_up_to_sign(frame.numpy(), vectors.flip(1)[:, :3].numpy(), tol=1e-8)


def test_ds_directions_of_a_tiny_glow_match_its_explicit_jacobian(glow8):
    frozen = FrozenGlow(glow8, (1,))
    frame, got = jacobian_directions(frozen, 2, n_samples=3, temperature=0.7, seed=0, iterations=80, oversample=3,
                                     batch_size=3, progress=False)
    _unit_columns(frame, frozen.nav_dim, 2)
    (z,) = prior_batches(frozen, 3, 0.7, 0, 3)
    m = torch.zeros(frozen.nav_dim, frozen.nav_dim, dtype=torch.float64)
    for i in range(3):
        zi = [t[i : i + 1] for t in z]
        j = torch.autograd.functional.jacobian(lambda s: frozen.decode_shifted(zi, s).flatten(),
                                               torch.zeros(1, frozen.nav_dim))
        j = j.reshape(-1, frozen.nav_dim).double()
        m += j.T @ j / 3
    values, vectors = torch.linalg.eigh(m)
    np.testing.assert_allclose(got, values.flip(0)[:2].numpy(), rtol=1e-3)
    _same_up_to_sign(frame, vectors.flip(1)[:, :2].numpy(), tol=1e-3)


# ----------------------------------------------------------------------------- regression targets and encoder


def test_targets_are_projections_for_an_orthonormal_frame_and_least_squares_otherwise():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50, 12))
    q, _ = np.linalg.qr(rng.standard_normal((12, 4)))
    np.testing.assert_allclose(direction_coordinates(z, q), z @ q, atol=1e-12)
    d = rng.standard_normal((12, 4))
    d /= np.linalg.norm(d, axis=0)
    c = rng.standard_normal((50, 4))
    np.testing.assert_allclose(direction_coordinates(c @ d.T, d), c, atol=1e-10)  # z = D c exactly -> c


@pytest.fixture(scope="module")
def tiny_data():
    from disgu.data import load_dataset

    return load_dataset("shapes3d", resolution=16)


def _frame(method: str, frozen: FrozenGlow, dataset, tmp_path) -> np.ndarray:
    from disgu.directions.discovered import discovered_directions
    from disgu.directions.independent import independent_directions
    from disgu.directions.principal import principal_directions

    if method == "gs":
        frame, variance = principal_directions(frozen, dataset, 3, 40, seed=0)
        assert np.all(np.diff(variance) <= 1e-9)  # largest variance first
        return frame
    if method == "cf":
        return closed_form_directions(frozen.glow, 3)[0]
    if method == "ds":
        return jacobian_directions(frozen, 3, 4, 0.7, 0, iterations=2, batch_size=2, progress=False)[0]
    if method == "ica":
        return independent_directions(frozen, dataset, 3, 40, seed=0)
    from disgu.models.navigator import Navigator, save_navigator

    nav = Navigator(frozen.nav_dim, 3, "ortho", "random", 0.01, generator=torch.Generator().manual_seed(0))
    save_navigator(tmp_path / "navigator.pt", nav, {}, frozen.levels)
    return discovered_directions(tmp_path / "navigator.pt", frozen.levels)


@pytest.mark.parametrize("method", ["gs", "cf", "ds", "ica", "ld"])
def test_each_method_gives_unit_directions_and_an_encoder_with_one_code_each(method, tiny_glow, tiny_data, tmp_path):
    frozen = FrozenGlow(tiny_glow, (1,))
    frame = _frame(method, frozen, tiny_data, tmp_path)
    _unit_columns(frame, frozen.nav_dim, 3)
    cfg = RegressionConfig(images=24, chunk=8, steps=2, batch_size=4, heldout=4, checkpoint_every=1, log_every=1)
    summary = train_regression_encoder(frozen, frame, cfg, tmp_path / "encoder", seed=0, progress=False)
    assert summary["steps"] == 2 and summary["codes"] == 3
    from disgu.models.encoder import load_encoder

    encoder = load_encoder(tmp_path / "encoder" / "encoder.pt")
    codes = encoder.encode_images(tiny_data.images(np.arange(5)))
    assert codes.shape == (5, 3) and np.isfinite(codes).all()


def test_the_encoder_learns_the_coordinates_of_generated_images(tiny_glow, tmp_path):
    """150 updates bring the held-out MSE of the standardised targets well below 1 (predicting the mean)."""
    frozen = FrozenGlow(tiny_glow, (1,))
    frame, _ = closed_form_directions(tiny_glow, 2)
    cfg = RegressionConfig(images=300, chunk=300, steps=150, batch_size=16, lr=1e-3, heldout=60,
                           checkpoint_every=150, log_every=50)
    summary = train_regression_encoder(frozen, frame, cfg, tmp_path, seed=0, progress=False)
    assert summary["heldout_mse"] < 0.6, summary  # 0.27 here


# ----------------------------------------------------------------------------- the command


def _baseline(*args: str):
    return CliRunner().invoke(cli, ["baseline", *args])


def test_baseline_cf_tiny_runs_end_to_end_and_a_rerun_skips_every_part(tmp_path):
    out = tmp_path / "cf"
    args = ["cf", "--dataset", "shapes3d", "--preset", "tiny", "--seed", "0", "--out", str(out), "--no-progress",
            "--device", "cpu", "--set", "evaluation.metrics=mig"]
    first = _baseline(*args)
    assert first.exit_code == 0, first.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["representation"] == "cf" and 0 <= metrics["mig"] <= 1
    with np.load(out / "directions" / "directions.npz", allow_pickle=False) as f:
        assert f["directions"].shape == (384, 4) and list(f["levels"]) == [1]
    info = json.loads((out / "run_info.json").read_text())
    assert info["config"]["model"] == "cf" and info["config"]["directions"]["n_directions"] == 4
    assert (out / "report.html").is_file() and (out / "encoder" / "encoder.pt").is_file()
    stamp = (out / "metrics.json").stat().st_mtime_ns
    again = _baseline(*args)
    assert again.exit_code == 0, again.output
    assert again.output.count("done already") == 3 and "already holds the scores" in again.output
    assert (out / "metrics.json").stat().st_mtime_ns == stamp
    other = _baseline(*args, "--set", "encoder.steps=5")
    assert other.exit_code == 2 and "other settings" in other.output and "encoder" in other.output


@pytest.mark.parametrize("args, expect", [
    (["cf", "--set", "directions.levels=all"], "directions.levels"),
    (["ds", "--set", "directions.jacobian_iterations=0"], "directions.jacobian_iterations"),
    (["gs", "--set", "encoder.heldout=99999"], "encoder.heldout"),
    (["ica", "--set", "directions.navigator=x.pt"], "directions.navigator"),
    (["ld", "--set", "directions.navigator=nowhere.pt"], "nowhere.pt"),
    (["cf", "--preset", "huge"], "--preset"),
])
def test_bad_settings_are_one_line_errors_before_anything_is_written(args, expect, tmp_path):
    out = tmp_path / "x"
    result = _baseline(*args[:1], "--dataset", "shapes3d", "--out", str(out), *args[1:])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and expect in lines[0], result.output
    assert not out.exists()
