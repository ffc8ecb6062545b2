"""Glow model: exact inverse, exact log-determinant, actnorm persistence, latent helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disgu.errors import UserError
from disgu.models.glow import (
    ActNorm,
    Glow,
    GlowConfig,
    ZeroConv2d,
    flatten_latents,
    images_to_input,
    input_to_images,
    latent_dim,
    replace_levels,
    select_levels,
    unflatten_latents,
)


def _real_images(n: int, resolution: int) -> np.ndarray:
    """Real images when a real dataset is available (sklearn digits), else a structured synthetic scene."""
    try:
        from disgu.data import load_dataset

        ds = load_dataset("digits", resolution=resolution)
        imgs = ds.images(np.arange(n))
        return np.repeat(imgs, 3, axis=3) if imgs.shape[3] == 1 else imgs
    except (ImportError, UserError):  # no scikit-learn digits here
        yy, xx = np.mgrid[0:resolution, 0:resolution] / resolution
        out = np.zeros((n, resolution, resolution, 3), dtype=np.uint8)
        for i in range(n):
            cx, cy, r = 0.3 + 0.4 * (i % 5) / 4, 0.3 + 0.4 * (i // 5 % 5) / 4, 0.15 + 0.05 * (i % 3)
            disk = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
            out[i, ..., 0] = np.where(disk, 220, 40 + 100 * yy).astype(np.uint8)
            out[i, ..., 1] = np.where(disk, 30 + 20 * i % 200, 90).astype(np.uint8)
            out[i, ..., 2] = (255 * xx).astype(np.uint8)
        return out


def _perturbed_glow(config: GlowConfig, x: torch.Tensor, seed: int = 0) -> Glow:
    """A Glow whose couplings and priors are not the identity (as after training), actnorm initialised on x."""
    torch.manual_seed(seed)
    model = Glow(config)
    model.initialize(x)
    for m in model.modules():
        if isinstance(m, ZeroConv2d):
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
            torch.nn.init.normal_(m.bias, 0.0, 0.2)
            torch.nn.init.normal_(m.log_scale, 0.0, 0.05)
    for level in model.levels:
        if level.top:
            torch.nn.init.normal_(level.top_prior, 0.0, 0.3)
    return model.eval()


def test_encode_decode_round_trip_on_real_images():
    config = GlowConfig(in_channels=3, resolution=16, n_levels=2, n_steps=3, hidden=32, n_bits=5)
    x = images_to_input(_real_images(24, 16), config.n_bits)
    model = _perturbed_glow(config, x)
    with torch.no_grad():
        eps = model.encode(x)
        assert [tuple(e.shape[1:]) for e in eps] == model.latent_shapes
        x_back = model.decode(eps)
    err = (x_back - x).abs().max().item()
    assert err < 1e-4, err
    # the round trip survives the trip through uint8 as well
    assert np.array_equal(input_to_images(x_back, 5), input_to_images(x, 5))


@pytest.mark.parametrize("affine", [True, False])
def test_logdet_matches_brute_force_jacobian(affine):
    config = GlowConfig(in_channels=2, resolution=4, n_levels=2, n_steps=2, hidden=8, affine=affine)
    torch.manual_seed(1)
    x0 = torch.rand(8, 2, 4, 4) - 0.5
    model = _perturbed_glow(config, x0, seed=1).double()
    x = x0[:1].double()

    def f(inp):
        _, _, z_list = model(inp.view(1, 2, 4, 4))
        return flatten_latents(z_list).view(-1)

    jac = torch.autograd.functional.jacobian(f, x.reshape(-1))
    _, brute = torch.linalg.slogdet(jac)
    _, logdet, _ = model(x)
    assert abs(logdet.item() - brute.item()) < 1e-8 * max(1.0, abs(brute.item())), (logdet.item(), brute.item())
    if affine:
        assert abs(brute.item()) > 1e-3  # the test exercises a non-trivial Jacobian


def test_encode_is_standardised_by_the_prior():
    config = GlowConfig(in_channels=1, resolution=8, n_levels=2, n_steps=1, hidden=8)
    x = torch.rand(4, 1, 8, 8) - 0.5
    model = _perturbed_glow(config, x)
    with torch.no_grad():
        log_p, _, z_list = model(x)
        eps = model.encode(x)
        # log N(z; mean, sd) = log N(eps; 0, 1) - sum(log sd): recover sum(log sd) both ways
        std_normal = sum((-0.5 * np.log(2 * np.pi) - 0.5 * e**2).flatten(1).sum(1) for e in eps)
        assert not torch.allclose(log_p, std_normal)  # the prior is not N(0, I) here
        top = model.levels[-1]
        mean, log_sd = top.prior_params(None, 4)
        assert torch.allclose(eps[-1], (z_list[-1] - mean) * torch.exp(-log_sd))


def test_actnorm_does_not_reinit_after_reload(tmp_path):
    config = GlowConfig(in_channels=1, resolution=8, n_levels=2, n_steps=2, hidden=8)
    model = Glow(config)
    model.initialize(torch.randn(16, 1, 8, 8) * 3 + 1)
    path = tmp_path / "m.pt"
    torch.save(model.state_dict(), path)

    reloaded = Glow(config)
    assert not reloaded.is_initialized()
    reloaded.load_state_dict(torch.load(path, weights_only=True))
    assert reloaded.is_initialized()
    before = {k: v.clone() for k, v in reloaded.state_dict().items()}
    reloaded(torch.randn(16, 1, 8, 8) * 0.01 - 5)  # very different data would move a re-init a lot
    for k, v in reloaded.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_actnorm_init_gives_zero_mean_unit_variance():
    layer = ActNorm(3)
    x = torch.randn(64, 3, 5, 5) * torch.tensor([1.0, 4.0, 0.5]).view(1, 3, 1, 1) + 2.0
    y, _ = layer(x)
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
    assert torch.allclose(layer.reverse(y), x, atol=1e-5)


def test_decode_of_large_shifts_stays_finite():
    config = GlowConfig(in_channels=3, resolution=16, n_levels=2, n_steps=3, hidden=16)
    x = images_to_input(_real_images(8, 16), config.n_bits)
    model = _perturbed_glow(config, x)
    with torch.no_grad():
        eps = model.encode(x)
        shifted = replace_levels(eps, [-1], [eps[-1] + 1e3 * torch.randn_like(eps[-1])])
        out = model.decode(shifted)
    assert torch.isfinite(out).all()


def test_latent_helpers_round_trip():
    config = GlowConfig(in_channels=3, resolution=16, n_levels=3, n_steps=1, hidden=8)
    model = Glow(config)
    z = model.sample_latents(5, temperature=1.0)
    shapes = model.latent_shapes
    assert latent_dim(shapes) == 3 * 16 * 16 == flatten_latents(z).shape[1]
    back = unflatten_latents(flatten_latents(z), shapes)
    assert all(torch.equal(a, b) for a, b in zip(back, z))
    top = flatten_latents(z, levels=[-1])
    assert top.shape[1] == latent_dim(shapes, [-1]) == int(np.prod(shapes[-1]))
    assert torch.equal(unflatten_latents(top, shapes, levels=[-1])[0], select_levels(z)[0])
    with pytest.raises(ValueError):
        unflatten_latents(top, shapes)


def test_bits_per_dim_of_untrained_model_is_the_gaussian_value():
    # identity actnorm and 1x1 conv, zero coupling output (scale sigmoid(2) on half the channels),
    # N(0, 1) prior: bits/dim at x = 0 has a closed form
    config = GlowConfig(in_channels=1, resolution=4, n_levels=1, n_steps=1, hidden=4, n_bits=5)
    model = Glow(config)
    for m in model.modules():
        if isinstance(m, ActNorm):
            m.initialized.fill_(True)  # keep actnorm at the identity
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "log_s"):
                m.log_s.zero_()
    x = torch.zeros(2, 1, 4, 4)
    bpd = model.bits_per_dim(x, dequantize=False)
    log_scale = np.log(1 / (1 + np.exp(-2.0)))
    expected = (0.5 * np.log(2 * np.pi) - 0.5 * log_scale) / np.log(2) + 5
    assert torch.allclose(bpd, torch.full((2,), expected, dtype=bpd.dtype), atol=1e-5)


def test_config_validation():
    with pytest.raises(ValueError):
        GlowConfig(resolution=30, n_levels=3)
    with pytest.raises(ValueError):
        GlowConfig.from_dict({"resolution": 32, "nope": 1})
