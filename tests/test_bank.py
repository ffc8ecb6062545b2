"""Decoded-pair bank: deterministic, resumable after a kill, rebuilt for another navigator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import disgu.contrastive.bank as bank_mod
from disgu.contrastive.bank import BankSpec, fill_bank, fingerprint
from disgu.discovery import FrozenGlow, LatentSource, Navigator

FILES = ("pairs.npy", "eps.npy", "directions.npy")


def _navigator(frozen: FrozenGlow, n: int = 3, seed: int = 0) -> Navigator:
    nav = Navigator(frozen.nav_dim, n, "ortho", "random", generator=torch.Generator().manual_seed(seed))
    return nav.requires_grad_(False)


def _spec(frozen: FrozenGlow, nav: Navigator, seed: int = 7, per_direction: int = 6, fill_batch: int = 5,
          shift_range: float = 2.0) -> BankSpec:
    return BankSpec(nav.n_directions, per_direction, fill_batch, seed, shift_range, 0.5, "prior", 0.7,
                    (frozen.resolution, frozen.resolution, frozen.channels), fingerprint(frozen, nav))


def _same_bank(a, b) -> None:
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    ma.pop("fill_seconds"), mb.pop("fill_seconds")
    assert ma == mb


def test_bank_is_deterministic_for_a_seed(tiny_glow, tmp_path):
    frozen = FrozenGlow(tiny_glow, (1,), broken_limit=0.9)  # low enough that some pairs get redrawn
    nav = _navigator(frozen)
    spec = _spec(frozen, nav)
    source = LatentSource(tiny_glow)
    m = fill_bank(tmp_path / "a", frozen, nav, source, spec, progress=False)
    fill_bank(tmp_path / "b", frozen, nav, source, spec, progress=False)
    _same_bank(tmp_path / "a", tmp_path / "b")
    assert m["filled"] == 18 and m["broken_pairs"] > 0
    pairs = np.load(tmp_path / "a" / "pairs.npy")
    assert pairs.shape == (18, 2, 16, 16, 3) and pairs.dtype == np.uint8
    assert np.bincount(np.load(tmp_path / "a" / "directions.npy")).tolist() == [6, 6, 6]
    eps = np.load(tmp_path / "a" / "eps.npy")
    assert (np.abs(eps) >= 0.5).all() and (np.abs(eps) <= 2.0).all()
    fill_bank(tmp_path / "c", frozen, nav, source, _spec(frozen, nav, seed=8), progress=False)
    assert not np.array_equal(np.load(tmp_path / "c" / "pairs.npy"), pairs)


def test_bank_fill_resumes_after_a_kill(tiny_glow, tmp_path, monkeypatch):
    frozen = FrozenGlow(tiny_glow, (1,), broken_limit=0.9)
    nav = _navigator(frozen)
    spec = _spec(frozen, nav)
    source = LatentSource(tiny_glow)
    fill_bank(tmp_path / "straight", frozen, nav, source, spec, progress=False)

    split = tmp_path / "split"
    assert fill_bank(split, frozen, nav, source, spec, progress=False, max_chunks=1)["filled"] == 5
    real = bank_mod.decode_chunk

    def killed_in_chunk_2(*args, **kwargs):
        if args[4] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bank_mod, "decode_chunk", killed_in_chunk_2)
    with pytest.raises(KeyboardInterrupt):
        fill_bank(split, frozen, nav, source, spec, progress=False)
    monkeypatch.setattr(bank_mod, "decode_chunk", real)
    assert json.loads((split / "manifest.json").read_text())["filled"] == 10
    torn = np.load(split / "pairs.npy", mmap_mode="r+")  # a kill in the middle of writing chunk 2
    torn[10:13] = 255
    torn.flush()
    del torn
    fill_bank(split, frozen, nav, source, spec, progress=False)
    _same_bank(tmp_path / "straight", split)


def test_a_bank_for_another_navigator_is_rebuilt(tiny_glow, tmp_path):
    frozen = FrozenGlow(tiny_glow, (1,))
    source = LatentSource(tiny_glow)
    old, new = _navigator(frozen, seed=0), _navigator(frozen, seed=1)
    fill_bank(tmp_path / "bank", frozen, old, source, _spec(frozen, old), progress=False)
    fill_bank(tmp_path / "bank", frozen, new, source, _spec(frozen, new), progress=False)
    fill_bank(tmp_path / "fresh", frozen, new, source, _spec(frozen, new), progress=False)
    _same_bank(tmp_path / "bank", tmp_path / "fresh")
