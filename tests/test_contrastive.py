"""Contrastive stage: losses on hand-made inputs with known values, encoder shapes, gradients into the navigator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from disgu.stages.contrastive import ContrastiveConfig, contrastive_bce_loss, entropy_loss, train_contrastive, variation
from disgu.stages.contrastive.losses import flipped_negative_targets
from disgu.stages.contrastive.trainer import contrastive_step
from disgu.errors import UserError
from disgu.models import ContrastiveEncoder, FrozenGlow, LatentSource, Navigator, load_encoder


def _bce(logit: float, target: float) -> float:
    s = 1 / (1 + math.exp(-logit))
    return -(target * math.log(s) + (1 - target) * math.log(1 - s))


def test_variation_is_unit_length_and_nonnegative():
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    v = variation(a, b)
    assert (v >= 0).all()
    assert torch.allclose(v.norm(dim=1), torch.ones(5))
    assert torch.allclose(v, (a - b).abs() / (a - b).abs().norm(dim=1, keepdim=True))


def test_hard_negative_targets():
    sims = torch.tensor([[0.98, 0.5, 0.96, 0.95]])
    assert torch.allclose(flipped_negative_targets(sims, 0.95), torch.tensor([[0.98, 0.0, 0.96, 0.0]]))


@pytest.mark.parametrize("tau", [1.0, 0.1])
def test_bce_loss_with_flipping_matches_hand_computation(tau):
    q = torch.tensor([[1.0, 0.0]])
    pos = torch.tensor([[0.6, 0.8]])
    neg = torch.tensor([[0.98, math.sqrt(1 - 0.98**2)], [0.0, 1.0]])
    loss, stats = contrastive_bce_loss(q, pos, neg, tau=tau, threshold=0.95)
    expected = (_bce(0.6 / tau, 1.0) + _bce(0.98 / tau, 0.98) + _bce(0.0, 0.0)) / 3
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(stats["flipped"]) == pytest.approx(0.5)
    # Without flipping (threshold 1) the hard negative is pushed to 0: a larger loss.
    unflipped, _ = contrastive_bce_loss(q, pos, neg, tau=tau, threshold=1.0)
    assert float(unflipped) == pytest.approx((_bce(0.6 / tau, 1) + _bce(0.98 / tau, 0) + _bce(0, 0)) / 3, rel=1e-5)
    assert float(unflipped) > float(loss)


def test_flipped_target_is_not_differentiated():
    q = torch.tensor([[1.0, 0.0]], requires_grad=True)
    neg = torch.tensor([[0.99, math.sqrt(1 - 0.99**2)]])
    loss, _ = contrastive_bce_loss(q, torch.tensor([[0.0, 1.0]]), neg, tau=1.0, threshold=0.95)
    loss.backward()
    # d/dq of BCE(s/tau, t) with detached t = (sigma(s) - t) * k / 3 summed over pairs
    s_neg, s_pos = 0.99, 0.0
    sig = lambda x: 1 / (1 + math.exp(-x))
    g0 = ((sig(s_pos) - 1) * 0.0 + (sig(s_neg) - 0.99) * 0.99) / 2
    assert float(q.grad[0, 0]) == pytest.approx(g0, rel=1e-4)


def test_entropy_loss_known_values():
    d = 8
    assert float(entropy_loss(torch.zeros(3, d))) == pytest.approx(math.log(d), rel=1e-6)
    v = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    z = math.e + 3
    p = [math.e / z] + [1 / z] * 3
    assert float(entropy_loss(v, 1.0)) == pytest.approx(-sum(x * math.log(x) for x in p), rel=1e-6)
    assert float(entropy_loss(v, 0.01)) < 1e-6  # low temperature: one dim carries it all
    # On L2-normalised 64-dim vectors at temperature 1 the entropy barely moves (the prototype's finding).
    one_hot, spread = torch.zeros(1, 64), torch.full((1, 64), 1 / 8.0)
    one_hot[0, 0] = 1
    assert float(entropy_loss(spread)) - float(entropy_loss(one_hot)) < 0.05


@pytest.mark.parametrize("res", [64, 32, 16])
def test_encoder_shapes_and_five_convs(res):
    enc = ContrastiveEncoder(3, res, 64)
    assert enc(torch.rand(2, 3, res, res)).shape == (2, 64)
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5 and convs[0].kernel_size == (7, 7)
    assert sum(c.stride == (2, 2) for c in convs) == int(math.log2(res)) - 2


def test_encoder_rejects_odd_resolution_and_encodes_uint8():
    with pytest.raises(UserError):
        ContrastiveEncoder(3, 48)
    enc = ContrastiveEncoder(3, 16, 6)
    codes = enc.encode_images(np.random.RandomState(0).randint(0, 256, (5, 32, 32, 3)).astype(np.uint8))
    assert codes.shape == (5, 6) and np.isfinite(codes).all()
    grey = enc.encode_images(np.zeros((2, 16, 16, 1), np.uint8))
    assert grey.shape == (2, 6)


@pytest.mark.parametrize("finetune", [True, False])
def test_contrastive_step_gradients(tiny_glow, finetune):
    frozen = FrozenGlow(tiny_glow, (1,))
    nav = Navigator(frozen.nav_dim, 4, "ortho", "random", generator=torch.Generator().manual_seed(0))
    if not finetune:
        nav.requires_grad_(False)
    enc = ContrastiveEncoder(3, 16, 8)
    cfg = ContrastiveConfig(out_dim=8, batch_size=3, n_positives=3, n_negatives=4, shift_range=2.0,
                            finetune_navigator=finetune)
    loss, stats = contrastive_step(frozen, nav, enc, LatentSource(tiny_glow), cfg, torch.Generator().manual_seed(0))
    assert loss is not None and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is None for p in tiny_glow.parameters())
    assert enc.head[-1].weight.grad.abs().sum() > 0
    if finetune:
        assert nav.weight.grad is not None and nav.weight.grad.abs().sum() > 0
    else:
        assert nav.weight.grad is None
    assert 0.0 <= stats["pos_sim"] <= 1.0 + 1e-6 and 0.0 <= stats["neg_sim"] <= 1.0 + 1e-6


def test_train_contrastive_writes_encoder_and_navigator(tiny_glow, tmp_path):
    frozen = FrozenGlow(tiny_glow, (1,))
    nav = Navigator(frozen.nav_dim, 3, "ortho", "random", generator=torch.Generator().manual_seed(0))
    before = nav.matrix().detach().clone()
    cfg = ContrastiveConfig(out_dim=4, batch_size=2, n_positives=2, n_negatives=3, steps=3, checkpoint_every=2,
                            log_every=1, shift_range=2.0, nav_lr=1e-2)
    summary = train_contrastive(tiny_glow, nav, (1,), cfg, tmp_path, seed=0, progress=False)
    assert summary["steps"] == 3 and summary["pairs"] == 3 * 7
    enc = load_encoder(tmp_path / "encoder.pt")
    assert enc.out_dim == 4
    assert not torch.allclose(nav.matrix().detach(), before)  # fine-tuned jointly
    from disgu.models.navigator import load_navigator

    saved, levels = load_navigator(tmp_path / "navigator.pt")
    assert levels == (1,) and torch.allclose(saved.matrix(), nav.matrix().detach())


def test_train_contrastive_with_pruning_uses_the_kept_directions(tiny_glow, tmp_path):
    frozen = FrozenGlow(tiny_glow, (1,))
    nav = Navigator(frozen.nav_dim, 5, "ortho", "random", generator=torch.Generator().manual_seed(0))
    cfg = ContrastiveConfig(out_dim=4, batch_size=2, n_positives=2, n_negatives=3, steps=2, checkpoint_every=2,
                            log_every=1, shift_range=2.0, prune_similarity=0.0, prune_min_directions=3,
                            prune_samples=2)
    summary = train_contrastive(tiny_glow, nav, (1,), cfg, tmp_path, seed=0, progress=False)
    assert len(summary["directions"]) == 3 and summary["pruning"]["before"] == 5
    from disgu.models.navigator import load_navigator

    saved, _ = load_navigator(tmp_path / "navigator.pt")
    assert saved.active.tolist() == summary["directions"]


def test_code_scale_loss_known_values():
    from disgu.stages.contrastive.losses import code_scale_loss

    unit = torch.tensor([[1.0, 2.0], [-1.0, 0.0]]) * math.sqrt(2) / 2  # per-dim std 1 (ddof 1)
    assert float(code_scale_loss(unit)) == pytest.approx(0.0, abs=1e-6)
    small = unit * math.e**-2  # std e^-2 in both dims
    assert float(code_scale_loss(small)) == pytest.approx(4.0, rel=1e-5)


def test_contrastive_step_with_scale_term(tiny_glow):
    frozen = FrozenGlow(tiny_glow, (1,))
    nav = Navigator(frozen.nav_dim, 3, "ortho", "random", generator=torch.Generator().manual_seed(0))
    cfg = ContrastiveConfig(out_dim=4, batch_size=3, n_positives=3, n_negatives=3, shift_range=2.0, scale_weight=1.0)
    loss, stats = contrastive_step(frozen, nav, ContrastiveEncoder(3, 16, 4), LatentSource(tiny_glow), cfg,
                                   torch.Generator().manual_seed(0))
    assert stats["scale"] > 0 and float(loss.detach()) == pytest.approx(stats["bce"] + stats["entropy"] + stats["scale"],
                                                               rel=1e-5)


def test_disco_encoder_options_train_and_reload(tiny_glow, tmp_path):
    frozen = FrozenGlow(tiny_glow, (1,))
    nav = Navigator(frozen.nav_dim, 3, "ortho", "random", generator=torch.Generator().manual_seed(0))
    cfg = ContrastiveConfig(out_dim=3, batch_size=2, n_positives=2, n_negatives=3, steps=2, checkpoint_every=2,
                            log_every=1, shift_range=2.0, encoder_widths=[4, 8, 8, 8, 8], encoder_slope=0.01,
                            encoder_init="kaiming", shift_distribution="normal")
    train_contrastive(tiny_glow, nav, (1,), cfg, tmp_path, seed=0, progress=False)
    enc = load_encoder(tmp_path / "encoder.pt")
    assert enc.widths == (4, 8, 8, 8, 8) and enc.slope == 0.01
    slopes = {m.negative_slope for m in enc.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.01}


def test_paper_preset_uses_disco_encoder_shifts_and_a_random_navigator_start():
    from disgu.models.encoder import DISCO_CHANNELS, DISCO_SLOPE
    from disgu.pipeline.config import make_config

    cfg = make_config("paper")
    assert tuple(cfg.contrastive.encoder_widths) == DISCO_CHANNELS and cfg.contrastive.encoder_slope == DISCO_SLOPE
    assert cfg.contrastive.encoder_init == "kaiming" and cfg.contrastive.shift_distribution == "normal"
    assert cfg.discovery.navigator_base == "random"
    assert cfg.contrastive.out_dim == cfg.discovery.n_directions  # DisCo: one code dim per direction
