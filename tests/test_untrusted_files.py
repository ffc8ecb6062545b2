"""Sizes and fields read from files are checked before anything is allocated (the CLI cases are in
cli_error_cases.py; these cover the library paths behind them)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disgu.errors import UserError


def test_npy_is_memory_mapped_and_its_header_checked(tmp_path):
    from disgu.arrays import load_array

    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    np.save(tmp_path / "a.npy", a)
    got = load_array(tmp_path / "a.npy", "--codes")
    assert isinstance(got, np.memmap) and np.array_equal(got, a)
    data = (tmp_path / "a.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-10])
    with pytest.raises(UserError, match=r"--codes .*cut.npy: its header declares \(2, 3, 4\) int16 \(48 bytes\) "
                                        r"but the file holds 38 bytes"):
        load_array(tmp_path / "cut.npy", "--codes")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="holds Python objects"):
        load_array(tmp_path / "objects.npy", "--codes")


def test_npz_member_must_fit_in_memory_once_decompressed(tmp_path, monkeypatch):
    import disgu.arrays as arrays

    np.savez_compressed(tmp_path / "z.npz", codes=np.zeros((1000, 100), np.float32))
    assert arrays.load_array(tmp_path / "z.npz", "--codes", npz_key="codes").shape == (1000, 100)
    monkeypatch.setattr(arrays, "memory_bytes", lambda: 100_000)
    with pytest.raises(UserError, match="more than half this machine's memory"):
        arrays.load_array(tmp_path / "z.npz", "--codes", npz_key="codes")


def test_encoder_and_navigator_configs_are_checked_against_their_weights(tmp_path):
    from disgu.checkpoint import load_checkpoint, save_checkpoint
    from disgu.models.encoder import ContrastiveEncoder, load_encoder, save_encoder
    from disgu.models.navigator import Navigator, load_navigator, save_navigator

    save_encoder(tmp_path / "enc.pt", ContrastiveEncoder(3, 16, 8))
    assert load_encoder(tmp_path / "enc.pt").out_dim == 8
    ckpt = load_checkpoint(tmp_path / "enc.pt")
    save_checkpoint(tmp_path / "wide.pt", model=ckpt["model"], step=0,
                    config={"encoder": {**ckpt["config"]["encoder"], "out_dim": 10**7}})
    with pytest.raises(UserError, match="wide.pt: the weights are not those of the encoder"):
        load_encoder(tmp_path / "wide.pt")
    save_checkpoint(tmp_path / "odd.pt", model=ckpt["model"], step=0, config={"encoder": {"colour": 1}})
    with pytest.raises(UserError, match="odd.pt: its config does not describe a valid encoder"):
        load_encoder(tmp_path / "odd.pt")

    nav = Navigator(12, 4)
    nav.keep_only([0, 2])  # a pruned navigator keeps fewer active directions than its config names
    save_navigator(tmp_path / "nav.pt", nav, {}, [0])
    loaded, levels = load_navigator(tmp_path / "nav.pt")
    assert levels == (0,) and loaded.n_directions == 2
    ckpt = load_checkpoint(tmp_path / "nav.pt")
    save_checkpoint(tmp_path / "nav_big.pt", model=ckpt["model"], step=0,
                    config={**ckpt["config"], "latent_dim": 10**6})
    with pytest.raises(UserError, match="nav_big.pt: the weights are not those of the navigator"):
        load_navigator(tmp_path / "nav_big.pt")


def test_a_consistent_glow_checkpoint_still_loads(tmp_path):
    from disgu.checkpoint import save_checkpoint
    from disgu.models import load_glow
    from disgu.models.glow import Glow, GlowConfig

    config = GlowConfig(resolution=8, n_levels=1, n_steps=2, hidden=4)
    model = Glow(config)
    model.initialize(torch.rand(4, 3, 8, 8) - 0.5)
    save_checkpoint(tmp_path / "g.pt", model=model.state_dict(), config={"model": config.to_dict()}, step=3)
    loaded, got = load_glow(tmp_path / "g.pt")
    assert got == config and torch.equal(loaded.state_dict()["levels.0.steps.0.actnorm.bias"],
                                         model.state_dict()["levels.0.steps.0.actnorm.bias"])
