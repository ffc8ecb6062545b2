"""The contrastive testbed: exact factor moves, a tiny run end to end, and the encoder's init and entropy forms."""

import numpy as np
import pytest
import torch

from disgu.stages.contrastive.losses import entropy_loss
from disgu.stages.contrastive.testbed import FactorRenderer, TestbedConfig, draw_pairs, run_testbed
from disgu.stages.contrastive.trainer import ContrastiveConfig
from disgu.data import load_dataset
from disgu.errors import UserError
from disgu.models.encoder import ContrastiveEncoder, init_encoder

SMALL = {"batch_size": 4, "n_positives": 4, "n_negatives": 8}


@pytest.fixture(scope="module")
def shapes16():
    return load_dataset("shapes3d", resolution=16)


def test_unmixed_directions_move_exactly_one_factor_by_at_least_one_class(shapes16):
    renderer = FactorRenderer(shapes16)
    rng = np.random.default_rng(0)
    cfg = ContrastiveConfig(**SMALL)
    for _ in range(5):
        k = int(rng.integers(renderer.n_factors))
        z = rng.random((20, renderer.n_factors))
        for d in range(renderer.n_factors):
            eps = renderer.min_shift(d) * (1 + rng.random(20))
            moved = renderer.classes(z + eps[:, None] * renderer.directions[:, d]) != renderer.classes(z)
            assert moved[:, d].all() and not np.delete(moved, d, axis=1).any()
    k, base, shifted = draw_pairs(renderer, cfg, 1.0, rng)
    assert base.shape == shifted.shape == (16, 16, 16, 3) and 0 <= k < renderer.n_factors


def test_mixed_directions_are_a_rotation_of_the_factor_axes(shapes16):
    d = FactorRenderer(shapes16, mixing=0.5, seed=3).directions
    np.testing.assert_allclose(d.T @ d, np.eye(len(d)), atol=1e-10)
    assert np.abs(d - np.eye(len(d))).max() > 0.05


def test_a_tiny_testbed_run_records_its_curve(shapes16):
    cfg = TestbedConfig(resolution=16, steps=4, eval_every=2, eval_images=300,
                        contrastive={**SMALL, "tau": 0.1, "entropy_temperature": 0.1, "encoder_init": "kaiming"})
    out = run_testbed(cfg, progress=False)
    assert [p["step"] for p in out["curve"]] == [2, 4]
    last = out["curve"][-1]
    assert 0 <= last["mig"] <= 1 and 0 <= last["dci"] <= 1 and np.isfinite(last["loss"])
    assert set(last["best_nmi"]) == set(shapes16.factor_names)
    assert all(last["best_nmi"][f] >= last["second_nmi"][f] for f in shapes16.factor_names)
    assert out["config"]["stage"]["tau"] == 0.1


def test_unknown_stage_setting_is_a_user_error():
    with pytest.raises(UserError, match="unknown"):
        TestbedConfig(contrastive={"taux": 1}).stage_config()


def test_kaiming_init_lifts_the_code_spread_above_factor_vae_pruning(shapes16):
    images = shapes16.images(np.arange(0, len(shapes16), len(shapes16) // 256))
    torch.manual_seed(0)
    default = ContrastiveEncoder(3, 16, 64).encode_images(images).std(0)
    torch.manual_seed(0)
    kaiming = init_encoder(ContrastiveEncoder(3, 16, 64), "kaiming").encode_images(images).std(0)
    assert np.median(default) < 0.05  # PyTorch's init: FactorVAE would prune every dim
    assert (kaiming > 0.05).mean() > 0.9
    with pytest.raises(UserError, match="init"):
        init_encoder(ContrastiveEncoder(3, 16, 64), "xavier")


def test_direction_entropy_asks_one_shared_dim_where_sample_entropy_asks_any():
    one_hot = torch.eye(4)  # four variations, each dominated by its own dim
    shared = torch.zeros(4, 4)
    shared[:, 2] = 1.0  # four variations dominated by the same dim
    t = 0.05
    assert entropy_loss(one_hot, t, "sample") < 0.01 and entropy_loss(shared, t, "sample") < 0.01
    assert entropy_loss(one_hot, t, "direction") > 1.3  # about ln 4
    assert entropy_loss(shared, t, "direction") < 0.01
