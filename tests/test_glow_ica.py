"""Glow-ICA: independent components of latents, grouping of dependent ones, angle codes, the distilled encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from disgu.cli import cli
from disgu.stages.glow_ica import GlowICA, dependent_groups, fit_group_codes, fit_latent_ica
from disgu.stages.glow_ica.distil import ICAConfig, train_distilled_encoder
from disgu.metrics.mig import mig_from_samples
from disgu.models.encoder import CodeEncoder, load_encoder, save_encoder
from disgu.pipeline.config import make_config
from disgu.pipeline.stages import done_marker, planned_stages


def _mixed_sources(n: int = 4000, seed: int = 0):
    """A circular factor (angle of 8 values) and two independent non-Gaussian ones, linearly mixed into 12 dims."""
    rng = np.random.default_rng(seed)
    hue = rng.integers(8, size=n)
    theta = 2 * np.pi * hue / 8
    scale = rng.integers(6, size=n)
    shape = rng.integers(3, size=n)
    s = np.stack([np.cos(theta), np.sin(theta), (scale - 2.5) / 1.7, (shape - 1.0) / 0.8], 1)
    s = s + 0.05 * rng.standard_normal(s.shape)
    mix = rng.standard_normal((4, 12))
    return s @ mix + 0.01 * rng.standard_normal((n, 12)), np.stack([hue, scale, shape], 1)


def test_ica_frame_is_deterministic_with_unit_directions_and_takes_no_labels():
    z, _ = _mixed_sources()
    a = fit_latent_ica(z, 4, seed=0)
    b = fit_latent_ica(z, 4, seed=0)
    np.testing.assert_array_equal(a.unmixing, b.unmixing)
    np.testing.assert_allclose(np.linalg.norm(a.directions(), axis=1), 1.0, atol=1e-12)
    s = a.sources(z)
    np.testing.assert_allclose(s.std(0), 1.0, atol=0.02)
    # the largest entry of every mixing column is positive (sign convention)
    assert (a.mixing[np.abs(a.mixing).argmax(0), np.arange(4)] > 0).all()
    import inspect

    assert list(inspect.signature(fit_latent_ica).parameters) == ["latents", "n_components", "seed", "max_iter", "tol"]


def test_dependent_components_are_grouped_and_the_circle_becomes_one_angle_code():
    z, factors = _mixed_sources()
    ica = fit_latent_ica(z, 4, seed=0)
    s = ica.sources(z)
    groups = dependent_groups(s)
    assert sorted(len(g) for g in groups) == [1, 1, 2]  # cos and sin of the hue depend on each other
    codes = fit_group_codes(s)
    assert codes.n_codes == 3 and codes.n_targets == 4 and codes.layout().count(2) == 1
    c = codes.codes(codes.plane_coordinates(s))
    assert c.shape == (len(z), 3)
    angle = c[:, codes.layout().index(2)]
    assert angle.min() >= 0 and angle.max() < 2 * np.pi
    raw = mig_from_samples(s, factors)["mig"]
    merged = mig_from_samples(c, factors)["mig"]
    assert merged > raw + 0.2, (raw, merged)  # the hue is no longer split over two codes


def test_groups_that_are_no_circle_keep_their_components():
    z, _ = _mixed_sources()
    s = fit_latent_ica(z, 4, seed=0).sources(z)
    ring = fit_group_codes(s, circle_cv=0.3)  # cos/sin of one angle: a circle, the angle alone
    assert ring.layout().count(2) == 1 and ring.n_codes == 3
    keep = fit_group_codes(s, circle_cv=0.0)  # every group counts as "no circle": components stay beside the angle
    assert keep.n_codes == 5 and keep.n_targets == 6 and sorted(keep.layout()) == [1, 1, 1, 1, 2]
    c = keep.codes(keep.plane_coordinates(s))
    assert c.shape == (len(z), 5)
    grouped = next(g for g in keep.groups if len(g) == 2)
    pos = keep.layout().index(2)
    np.testing.assert_allclose(c[:, pos + 1 : pos + 3], s[:, grouped])  # the components themselves
    assert keep.code_cuts()[pos] == keep.cuts[keep.groups.index(grouped)]


def test_frame_saves_and_loads_without_pickle(tmp_path):
    z, _ = _mixed_sources(1000)
    frame = GlowICA.fit(z, (2,), 4, seed=1)
    frame.save(tmp_path / "frame.npz")
    back = GlowICA.load(tmp_path / "frame.npz")
    np.testing.assert_allclose(back.codes(z), frame.codes(z))
    assert back.levels == (2,) and back.groups.groups == frame.groups.groups
    (tmp_path / "bad.npz").write_bytes(b"not a frame")
    from disgu.errors import UserError

    with pytest.raises(UserError, match="bad.npz"):
        GlowICA.load(tmp_path / "bad.npz")


def test_code_encoder_head_turns_coordinate_pairs_into_angles(tmp_path):
    enc = CodeEncoder(3, 16, layout=[1, 2], cuts=[0.0, 1.0])
    assert enc.code_dim == 2 and enc.out_dim == 3
    x = torch.rand(5, 3, 16, 16)
    t = enc.coordinates(x)
    codes = enc(x)
    np.testing.assert_allclose(codes[:, 0].detach(), t[:, 0].detach())
    expected = torch.remainder(torch.atan2(t[:, 2], t[:, 1]) - 1.0, 2 * np.pi)
    np.testing.assert_allclose(codes[:, 1].detach(), expected.detach(), atol=1e-6)
    save_encoder(tmp_path / "e.pt", enc)
    back = load_encoder(tmp_path / "e.pt")
    assert isinstance(back, CodeEncoder) and back.layout == [1, 2]
    np.testing.assert_allclose(back(x).detach(), codes.detach(), atol=1e-6)
    images = (np.random.default_rng(0).random((4, 16, 16, 3)) * 255).astype(np.uint8)
    assert back.encode_images(images).shape == (4, 2)


def test_distillation_resumes_exactly(tmp_path):
    rng = np.random.default_rng(0)
    images = (rng.random((40, 16, 16, 3)) * 255).astype(np.uint8)
    targets = rng.standard_normal((40, 3))
    cfg = ICAConfig(steps=4, batch_size=4, checkpoint_every=2, log_every=1, heldout=8)
    straight = train_distilled_encoder(images, targets, [1, 2], [0.0, 0.5], cfg, tmp_path / "a", 0, progress=False)
    first = ICAConfig(**{**cfg.__dict__, "steps": 2})
    train_distilled_encoder(images, targets, [1, 2], [0.0, 0.5], first, tmp_path / "b", 0, progress=False)
    resumed = train_distilled_encoder(images, targets, [1, 2], [0.0, 0.5], cfg, tmp_path / "b", 0, progress=False)
    assert resumed["heldout_mse"] == straight["heldout_mse"]
    a = load_encoder(tmp_path / "a" / "encoder.pt").state_dict()
    b = load_encoder(tmp_path / "b" / "encoder.pt").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def tiny_ica_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ica") / "r"
    args = ["run", "--dataset", "shapes3d", "--preset", "tiny", "--seed", "0", "--out", str(out), "--no-progress",
            "--device", "cpu", "--set", "representation=glow-ica"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output + str(result.exception)
    return out, args


def test_glow_ica_run_goes_through_its_own_stages(tiny_ica_run):
    out, args = tiny_ica_run
    cfg = make_config("tiny")
    cfg.representation = "glow-ica"
    assert planned_stages(cfg) == ("glow", "ica", "distil", "evaluation", "traversal")
    for stage in planned_stages(cfg):
        assert done_marker(out, stage).is_file(), stage
    assert not (out / "discovery").exists() and not (out / "contrastive").exists()
    m = json.loads((out / "metrics.json").read_text())
    assert m["representation"] == "glow-ica" and "mig" in m and "glow_ica" in m
    assert (out / "traversals" / "index.json").is_file()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "done already" in again.output


def test_glow_ica_run_transforms_images(tiny_ica_run):
    from disgu import DisGU

    out, _ = tiny_ica_run
    model = DisGU.load(out)
    n_codes = json.loads((out / "ica" / "summary.json").read_text())["n_codes"]
    images = (np.random.default_rng(0).random((3, 16, 16, 3)) * 255).astype(np.uint8)
    assert model.transform(images).shape == (3, n_codes)


def test_bad_ica_settings_are_refused_before_any_stage(tmp_path):
    out = tmp_path / "r"
    args = ["run", "--dataset", "shapes3d", "--preset", "tiny", "--out", str(out), "--no-progress",
            "--set", "representation=glow-ica", "--set", "ica.fit_images=0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "ica.fit_images" in result.output
    bad = CliRunner().invoke(cli, ["run", "--dataset", "shapes3d", "--preset", "tiny", "--out", str(tmp_path / "s"),
                                   "--set", "representation=pixels"])
    assert bad.exit_code == 2 and "representation" in bad.output


def test_generated_teacher_decodes_the_same_sample_after_a_lost_chunk(tmp_path):
    from disgu.stages.glow_ica.generated import decode_in_chunks
    from disgu.models import Glow, GlowConfig
    from disgu.models.generator import FrozenGlow

    torch.manual_seed(0)
    glow = Glow(GlowConfig(in_channels=3, resolution=8, n_levels=2, n_steps=1, hidden=8))
    frozen = FrozenGlow(glow, (1,), broken_limit=1e9)  # an untrained Glow's decodes overshoot; keep them all
    images, latents, broken = decode_in_chunks(frozen, 20, 0.7, 3, tmp_path, chunk=8, batch_size=4, progress=False)
    assert images.dtype == np.uint8 and images.shape[1:] == (8, 8, 3)
    assert broken == 0 and len(images) == len(latents) == 20 and latents.shape[1] == frozen.nav_dim
    strict = FrozenGlow(glow, (1,), broken_limit=0.0)  # every decode counts as broken: dropped and counted
    assert decode_in_chunks(strict, 6, 0.7, 3, tmp_path / "strict", 8, 4, False)[2] == 6
    (tmp_path / "chunk_0001.npz").unlink()
    again = decode_in_chunks(frozen, 20, 0.7, 3, tmp_path, chunk=8, batch_size=4, progress=False)
    assert np.array_equal(again[0], images) and np.array_equal(again[1], latents)
    other = decode_in_chunks(frozen, 20, 0.7, 4, tmp_path / "other", chunk=8, batch_size=4, progress=False)
    assert not np.array_equal(other[1], latents)


def test_glow_ica_run_with_the_generated_teacher(tmp_path):
    out = tmp_path / "r"
    args = ["run", "--dataset", "shapes3d", "--preset", "tiny", "--seed", "0", "--out", str(out), "--no-progress",
            "--device", "cpu", "--set", "representation=glow-ica", "--set", "ica.teacher=generated"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output + str(result.exception)
    summary = json.loads((out / "distil" / "summary.json").read_text())
    assert summary["teacher"] == "generated" and summary["broken_decodes"] is not None
    assert sorted(p.name for p in (out / "distil" / "generated").iterdir())[0] == "chunk_0000.npz"
    bad = CliRunner().invoke(cli, ["run", "--dataset", "shapes3d", "--preset", "tiny", "--out", str(tmp_path / "s"),
                                   "--set", "representation=glow-ica", "--set", "ica.teacher=labels"])
    assert bad.exit_code == 2 and "ica.teacher" in bad.output
