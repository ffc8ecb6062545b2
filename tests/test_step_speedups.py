"""The faster step changes no CPU number: cached inverse 1x1 convs, device-side draws, one finite check,
and the no-grad decodes of a contrastive step through one `decode_many`."""

from __future__ import annotations

import torch

from disgu.stages.contrastive.losses import pair_loss
from disgu.stages.contrastive.trainer import ContrastiveConfig, apply_update, contrastive_step
from disgu.distributed import gradients_finite
from disgu.models import ContrastiveEncoder, FrozenGlow, Glow, Navigator
from disgu.models.latents import LatentSource
from disgu.training.nan_guard import NonFiniteGuard


def _count_inverses(monkeypatch) -> list[int]:
    calls = [0]
    inv = torch.linalg.inv

    def counted(*args, **kwargs):
        calls[0] += 1
        return inv(*args, **kwargs)

    monkeypatch.setattr(torch.linalg, "inv", counted)
    return calls


def _flow_steps(glow: Glow) -> int:
    return sum(len(level.steps) for level in glow.levels)


def test_a_frozen_glow_inverts_its_1x1_convs_once(tiny_glow, monkeypatch):
    frozen = FrozenGlow(tiny_glow, (1,))
    z = tiny_glow.sample_latents(5, generator=torch.Generator().manual_seed(0))
    calls = _count_inverses(monkeypatch)
    first = frozen.decode(z)
    again = frozen.decode(z)
    assert calls[0] <= _flow_steps(tiny_glow)  # the first decode inverts each step once, the second none
    assert torch.equal(first, again)


def test_cached_inverses_give_the_numbers_of_fresh_ones(tiny_glow):
    z = tiny_glow.sample_latents(5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        cached = tiny_glow.decode(z)
    fresh = Glow(tiny_glow.config)
    fresh.load_state_dict(tiny_glow.state_dict())
    fresh.requires_grad_(True)
    with torch.enable_grad():  # weights that need a gradient are never served from the cache
        uncached = fresh.decode(z).detach()
    assert torch.equal(cached, uncached)


def test_the_cache_follows_weight_changes(tiny_glow):
    glow = Glow(tiny_glow.config)
    glow.load_state_dict(tiny_glow.state_dict())
    z = glow.sample_latents(3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = glow.decode(z)
    opt = torch.optim.SGD(glow.parameters(), lr=1e-2)
    glow.bits_per_dim(torch.rand(4, 3, 16, 16) - 0.5).mean().backward()
    opt.step()  # in place: the version counters move
    reference = Glow(glow.config)
    reference.load_state_dict(glow.state_dict())
    with torch.no_grad():
        after = glow.decode(z)
        assert not torch.equal(before, after)
        assert torch.equal(after, reference.decode(z))
        glow.load_state_dict(tiny_glow.state_dict())  # back to the first weights: load_state_dict copies in place
        assert torch.equal(glow.decode(z), before)


def test_decode_many_merges_its_calls_only_when_asked_off_the_cpu(tiny_glow):
    frozen = FrozenGlow(tiny_glow, (1,))
    g = torch.Generator().manual_seed(0)
    z_a, z_b = tiny_glow.sample_latents(4, generator=g), tiny_glow.sample_latents(3, generator=g)
    with torch.no_grad():
        separate = [frozen.decode(z_a), frozen.decode(z_b)]
        on_cpu = frozen.decode_many([z_a, z_b])
        frozen.merge_decodes = True  # what a GPU does: one call; the CPU's 1x1 convs round with the batch size
        merged = frozen.decode_many([z_a, z_b])
    assert all(torch.equal(a, b) for a, b in zip(separate, on_cpu))
    assert [m.shape for m in merged] == [s.shape for s in separate]
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(separate, merged))


def _reference_contrastive_step(frozen, navigator, encoder, source, cfg, gen):
    """The step as it was before the speedups: CPU draws moved to the device, two no-grad decodes."""
    device = frozen.device
    b_n = cfg.batch_size + cfg.n_positives
    n_dirs = navigator.n_directions
    k = int(torch.randint(n_dirs, (1,), generator=gen))
    shapes = source.glow.latent_shapes
    z = [(source.temperature * torch.randn(b_n + cfg.n_negatives, *s, generator=gen)).to(device) for s in shapes]
    d = torch.randint(n_dirs - 1, (cfg.n_negatives,), generator=gen)
    dirs = torch.cat([torch.full((b_n,), k, dtype=torch.long), d + (d >= k).long()]).to(device)
    eps = cfg.shift_range * (2 * torch.rand(len(dirs), generator=gen) - 1)
    eps = (torch.where(eps < 0, -1.0, 1.0) * eps.abs().clamp_min(cfg.min_shift)).to(device)
    z_qp = [t[:b_n] for t in z]
    z_neg = [t[b_n:] for t in z]
    with torch.no_grad():
        x_base = frozen.decode(z)
        x_neg = frozen.decode_shifted(z_neg, navigator(dirs[b_n:], eps[b_n:]))
    x_qp = frozen.decode_shifted(z_qp, navigator(dirs[:b_n], eps[:b_n]))
    broken = frozen.broken_mask(x_base) | frozen.broken_mask(torch.cat([x_qp.detach(), x_neg]))
    return pair_loss(encoder, FrozenGlow.to_unit(x_base), FrozenGlow.to_unit(torch.cat([x_qp, x_neg])), broken, cfg,
                     k)


def _train(tiny_glow, step_fn, steps: int = 3):
    glow = Glow(tiny_glow.config)
    glow.load_state_dict(tiny_glow.state_dict())
    frozen = FrozenGlow(glow, (1,))
    navigator = Navigator(frozen.nav_dim, 4, "ortho", "identity", 1e-3, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    encoder = ContrastiveEncoder(3, 16, 4)
    cfg = ContrastiveConfig(out_dim=4, batch_size=3, n_positives=3, n_negatives=5, shift_range=2.0)
    params = list(encoder.parameters()) + list(navigator.parameters())
    opt = torch.optim.Adam(params, lr=1e-2)
    gen, source = torch.Generator().manual_seed(3), LatentSource(glow)
    losses = []
    for _ in range(steps):
        loss, stats = step_fn(frozen, navigator, encoder, source, cfg, gen)
        apply_update(loss, opt, params, NonFiniteGuard())
        losses.append(stats)
    return losses, [p.detach().clone() for p in params]


def test_contrastive_steps_are_bit_identical_to_the_step_before_the_speedups(tiny_glow):
    torch.set_num_threads(1)
    new_stats, new_params = _train(tiny_glow, contrastive_step)
    old_stats, old_params = _train(tiny_glow, _reference_contrastive_step)
    assert new_stats == old_stats
    assert all(torch.equal(a, b) for a, b in zip(new_params, old_params))


def test_the_finite_check_reads_the_device_once(monkeypatch):
    params = [torch.nn.Parameter(torch.ones(3)) for _ in range(5)]
    sum(p.sum() for p in params).backward()
    reads = [0]
    to_bool = torch.Tensor.__bool__

    def counted(self):
        reads[0] += 1
        return to_bool(self)

    monkeypatch.setattr(torch.Tensor, "__bool__", counted)
    assert gradients_finite(params) and reads[0] == 1
    params[3].grad[0] = float("nan")
    assert not gradients_finite(params)
