"""Direction discovery: navigator orthonormality, the |eps| >= 0.5 rule, gradients through the frozen Glow, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disgu.stages.discovery import DiscoveryConfig
from disgu.stages.discovery.losses import direction_loss
from disgu.stages.discovery.trainer import _pair_batch, build_navigator, train_discovery
from disgu.errors import UserError
from disgu.models import FrozenGlow, LatentSource, Navigator, build_reconstructor, load_navigator, parse_levels
from disgu.training.shifts import sample_other_directions, sample_shifts


def _orthonormality_error(m: torch.Tensor) -> float:
    return float((m.T @ m - torch.eye(m.shape[1])).abs().max())


@pytest.mark.parametrize("a,b", [(12, 12), (48, 8)])
def test_navigator_stays_orthonormal_after_optimizer_steps(a, b):
    torch.manual_seed(0)
    nav = Navigator(a, b, "ortho", "random", init_scale=1e-3, generator=torch.Generator().manual_seed(1))
    assert nav.square == (a == b)
    opt = torch.optim.Adam(nav.parameters(), lr=0.05)  # large steps: far from the start
    target = torch.randn(a, b)
    start = nav.matrix().detach().clone()
    for _ in range(30):
        opt.zero_grad()
        loss = ((nav.matrix() - target) ** 2).sum()
        loss.backward()
        opt.step()
    m = nav.matrix().detach()
    assert _orthonormality_error(m) < 1e-4
    assert (m - start).abs().max() > 0.1  # it did move


def test_navigator_small_init_starts_at_its_base_frame():
    nav = Navigator(20, 5, "ortho", "identity", init_scale=1e-3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(nav.matrix(), torch.eye(20, 5), atol=1e-2)
    sq = Navigator(6, 6, "ortho", "identity", init_scale=1e-3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(sq.matrix(), torch.eye(6), atol=1e-2)


def test_proj_navigator_has_unit_columns_and_shift_length_eps():
    nav = Navigator(30, 4, "proj", "random", init_scale=0.5, generator=torch.Generator().manual_seed(0))
    norms = nav.matrix().norm(dim=0)
    assert torch.allclose(norms, torch.ones(4), atol=1e-5)
    shift = nav(torch.tensor([0, 3]), torch.tensor([2.0, -1.5]))
    assert torch.allclose(shift.norm(dim=1), torch.tensor([2.0, 1.5]), atol=1e-5)


def test_navigator_rejects_bad_sizes():
    with pytest.raises(UserError):
        Navigator(4, 5)
    with pytest.raises(UserError):
        Navigator(4, 2, kind="pca")


def test_shifts_keep_abs_at_least_min_for_both_signs():
    eps = sample_shifts(200_000, 6.0, 0.5, torch.Generator().manual_seed(0))
    assert eps.abs().min() >= 0.5
    assert eps.abs().max() <= 6.0
    # The raw draws in (-0.5, 0) must become -0.5 (not +0.5 as in the reference clamp): equal mass at both ends.
    at_minus, at_plus = int((eps == -0.5).sum()), int((eps == 0.5).sum())
    expected = 200_000 * 0.5 / 12  # P(raw in (-0.5, 0)) = 0.5 / 12
    assert abs(at_minus - expected) < 0.1 * expected
    assert abs(at_plus - expected) < 0.1 * expected
    assert abs(float((eps < 0).float().mean()) - 0.5) < 0.01


def test_shift_sign_is_kept_exactly():
    g = torch.Generator().manual_seed(3)
    raw = 6.0 * (2 * torch.rand(1000, generator=torch.Generator().manual_seed(3)) - 1)
    eps = sample_shifts(1000, 6.0, 0.5, g)
    assert torch.equal(torch.sign(eps), torch.where(raw < 0, -1.0, 1.0))
    big = raw.abs() >= 0.5
    assert torch.allclose(eps[big], raw[big])


def test_other_directions_exclude_k():
    d = sample_other_directions(5000, 7, 3, torch.Generator().manual_seed(0))
    assert (d != 3).all() and set(d.tolist()) == {0, 1, 2, 4, 5, 6}


def test_parse_levels():
    assert parse_levels("top", 3) == (2,)
    assert parse_levels("all", 3) == (0, 1, 2)
    assert parse_levels("0,-1", 3) == (0, 2)
    with pytest.raises(UserError):
        parse_levels("5", 3)
    with pytest.raises(UserError):
        parse_levels("middle", 3)


@pytest.mark.parametrize("kind", ["light", "resnet18"])
def test_reconstructor_shapes(kind):
    rec = build_reconstructor(kind, 3, 7)
    logits, shift = rec(torch.rand(5, 3, 16, 16), torch.rand(5, 3, 16, 16))
    assert logits.shape == (5, 7) and shift.shape == (5,)


def test_broken_mask_flags_nonfinite_and_exploding_decodes(tiny_glow):
    frozen = FrozenGlow(tiny_glow, (1,), broken_limit=1.5)
    x = torch.zeros(4, 3, 16, 16)
    x[1, 0, 0, 0] = float("nan")
    x[2, 1, 3, 3] = 5.0
    x[3, 2, 1, 1] = -1.4  # outside the image range but below the limit
    assert frozen.broken_mask(x).tolist() == [False, True, True, False]


@pytest.mark.parametrize("levels", ["top", "all"])
def test_gradients_reach_navigator_through_frozen_glow(tiny_glow, levels):
    cfg = DiscoveryConfig(n_directions=4, levels=levels, batch_size=6, shift_range=2.0)
    frozen = FrozenGlow(tiny_glow, parse_levels(levels, 2))
    assert frozen.nav_dim == (384 if levels == "top" else 384 + 384)  # latents (6, 8, 8) and (24, 4, 4)
    nav = build_navigator(cfg, frozen, seed=0)
    rec = build_reconstructor("light", 3, 4)
    source = LatentSource(tiny_glow, "prior", 0.7)
    x0, x1, d, eps, keep = _pair_batch(frozen, nav, source, cfg, torch.Generator().manual_seed(0), with_grad=True)
    assert x0.shape == x1.shape == (6, 3, 16, 16) and keep.all()
    assert not x0.requires_grad and x1.requires_grad
    loss = direction_loss(rec, x0, x1, d, eps, cfg.eta)[0]
    loss.backward()
    assert nav.weight.grad is not None and torch.isfinite(nav.weight.grad).all()
    assert nav.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_glow.parameters())


def test_data_latents_are_encoded_images(tiny_glow):
    class FakeData:
        def __len__(self):
            return 10

        def images(self, idx):
            rng = np.random.RandomState(0)
            return rng.randint(0, 256, size=(len(idx), 16, 16, 3)).astype(np.uint8)

    source = LatentSource(tiny_glow, "data", 0.7, dataset=FakeData())
    z = source.sample(3, torch.Generator().manual_seed(0))
    assert [tuple(t.shape[1:]) for t in z] == tiny_glow.latent_shapes and z[0].shape[0] == 3
    with pytest.raises(UserError):
        LatentSource(tiny_glow, "data", 0.7)


def test_discovery_resume_matches_uninterrupted_run(tiny_glow, tmp_path):
    cfg = DiscoveryConfig(n_directions=4, batch_size=4, steps=4, eval_every=2, eval_batches=1, checkpoint_every=2,
                          log_every=1, nav_lr=1e-2, shift_range=2.0)
    train_discovery(tiny_glow, cfg, tmp_path / "full", seed=3, progress=False)
    half = DiscoveryConfig(**{**cfg.__dict__, "steps": 2})
    train_discovery(tiny_glow, half, tmp_path / "split", seed=3, progress=False)
    summary = train_discovery(tiny_glow, cfg, tmp_path / "split", seed=3, progress=False)
    a, levels = load_navigator(tmp_path / "full" / "navigator.pt")
    b, _ = load_navigator(tmp_path / "split" / "navigator.pt")
    assert levels == (1,)
    assert torch.equal(a.weight, b.weight)
    assert _orthonormality_error(a.matrix().detach()) < 1e-5
    assert 0.0 <= summary["heldout"]["accuracy"] <= 1.0 and summary["heldout"]["chance"] == 0.25
    assert (tmp_path / "full" / "summary.json").is_file() and (tmp_path / "full" / "log.jsonl").is_file()


def test_pruning_keeps_distinct_directions_and_survives_save_load(tiny_glow, tmp_path):
    from disgu.stages.contrastive.prune import image_effects, select_distinct
    from disgu.models.navigator import save_navigator

    # Hand-made effect maps: 0 and 1 alike (cos 0.99), 2 different, 3 weak but also alike to 0.
    e = torch.tensor([[1.0, 0.0, 0.0], [0.99, 0.14, 0.0], [0.0, 0.0, 2.0], [0.1, 0.0, 0.001]])
    assert select_distinct(e, 0.9, min_directions=1) == [0, 2]
    assert select_distinct(e, 0.9, min_directions=3) == [0, 1, 2]  # topped up with the least similar
    frozen = FrozenGlow(tiny_glow, (1,))
    nav = Navigator(frozen.nav_dim, 5, "ortho", "random", generator=torch.Generator().manual_seed(0))
    effects = image_effects(frozen, nav, 2, 2.0, 0.7, seed=0)
    assert effects.shape == (5, 3 * 16 * 16) and (effects >= 0).all()
    full = nav.matrix().detach()
    nav.keep_only([4, 1])
    assert nav.n_directions == 2 and nav.n_total == 5
    assert torch.allclose(nav.matrix().detach(), full[:, [4, 1]])
    assert _orthonormality_error(nav.matrix().detach()) < 1e-5
    save_navigator(tmp_path / "nav.pt", nav, {}, (1,))
    loaded, _ = load_navigator(tmp_path / "nav.pt")
    assert loaded.active.tolist() == [4, 1] and torch.allclose(loaded.matrix(), nav.matrix().detach())


class _RandomImages:
    """A stand-in dataset: fixed random 16x16 RGB images."""

    def __init__(self, n: int = 64):
        self._x = np.random.RandomState(0).randint(0, 256, size=(n, 16, 16, 3)).astype(np.uint8)

    def __len__(self):
        return len(self._x)

    def images(self, idx):
        return self._x[np.asarray(idx)]


def test_pca_base_starts_at_the_principal_axes_of_the_encoded_images(tiny_glow):
    from disgu.stages.discovery.pca_base import principal_frame

    data = _RandomImages()
    frozen = FrozenGlow(tiny_glow, parse_levels("top", 2))
    frame = principal_frame(frozen, data, 4, 40, seed=0)
    assert frame.shape == (frozen.nav_dim, 4) and _orthonormality_error(frame) < 1e-5
    assert torch.equal(frame, principal_frame(frozen, data, 4, 40, seed=0))  # deterministic, signs included
    source = LatentSource(tiny_glow, "data", dataset=data)
    idx = np.sort(np.random.default_rng(0).choice(len(data), 40, replace=False))
    flat = frozen.navigated(source.encode_images(data.images(idx))).double()
    flat -= flat.mean(0)
    var = (flat @ frame.double()).var(0)
    assert (var[:-1] >= var[1:] - 1e-9).all()  # ordered by explained variance
    rand, _ = torch.linalg.qr(torch.randn(frozen.nav_dim, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    assert var[0] > (flat @ rand).var(0).max()  # the first axis beats random ones

    cfg = DiscoveryConfig(n_directions=4, navigator_base="pca", pca_images=40)
    nav = build_navigator(cfg, frozen, seed=0, dataset=data)
    assert torch.allclose(nav.matrix().detach(), frame, atol=1e-2)
    with pytest.raises(UserError, match="pca needs the training images"):
        build_navigator(cfg, frozen, seed=0)
    with pytest.raises(UserError, match="more than 4 images"):
        principal_frame(frozen, data, 4, 3, seed=0)
    with pytest.raises(UserError, match="not orthonormal"):
        Navigator(frozen.nav_dim, 4, "ortho", 2 * frame)


def test_ica_base_is_deterministic_unit_length_and_label_free(tiny_glow):
    import inspect

    from disgu.stages.discovery.ica_base import independent_frame, symmetric_orthogonalisation

    data = _RandomImages()
    frozen = FrozenGlow(tiny_glow, parse_levels("top", 2))
    raw = independent_frame(frozen, data, 4, 40, seed=0, orthonormal=False)
    assert raw.shape == (frozen.nav_dim, 4)
    assert torch.allclose(raw.norm(dim=0), torch.ones(4), atol=1e-5)  # unit columns (ICA's mixing columns)
    assert torch.equal(raw, independent_frame(frozen, data, 4, 40, seed=0, orthonormal=False))
    ortho = independent_frame(frozen, data, 4, 40, seed=0)
    assert _orthonormality_error(ortho) < 1e-5
    # the symmetric orthogonalisation is the orthonormal frame closest to the raw columns
    q, _ = torch.linalg.qr(raw.double())
    assert torch.dist(ortho.double(), raw.double()) <= torch.dist(q, raw.double()) + 1e-6
    assert np.allclose(symmetric_orthogonalisation(ortho.double().numpy()), ortho.double().numpy(), atol=1e-6)
    assert "factors" not in inspect.signature(independent_frame).parameters  # images only
    cfg = DiscoveryConfig(n_directions=4, navigator_base="ica", pca_images=40)
    nav = build_navigator(cfg, frozen, seed=0, dataset=data)
    assert torch.allclose(nav.matrix().detach(), ortho, atol=1e-2)
    proj = build_navigator(DiscoveryConfig(n_directions=4, navigator_base="ica", navigator="proj", pca_images=40),
                           frozen, seed=0, dataset=data)
    assert torch.allclose(proj.matrix().detach(), raw, atol=1e-2)
    with pytest.raises(UserError, match="ica needs the training images"):
        build_navigator(cfg, frozen, seed=0)
