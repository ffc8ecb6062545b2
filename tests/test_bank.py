"""Decoded-pair bank: deterministic, resumable after a kill, the same loss as on the fly, training and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import disgu.stages.contrastive.bank as bank_mod
from disgu.stages.contrastive import ContrastiveConfig, train_contrastive
from disgu.stages.contrastive.bank import BankSpec, PairBank, decode_chunk, fill_bank, fingerprint, to_encoder_input
from disgu.stages.contrastive.losses import pair_loss
from disgu.stages.contrastive.trainer import bank_step
from disgu.errors import UserError
from disgu.models import ContrastiveEncoder, FrozenGlow, LatentSource, Navigator, load_encoder
from disgu.models.generator import quantise

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


def test_bank_batch_gives_the_on_the_fly_loss_on_the_same_pairs(tiny_glow, tmp_path):
    frozen = FrozenGlow(tiny_glow, (1,))
    nav = _navigator(frozen, n=4)
    spec = _spec(frozen, nav, per_direction=8, fill_batch=32)  # one chunk: its z are the whole bank's
    source = LatentSource(tiny_glow)
    fill_bank(tmp_path, frozen, nav, source, spec, progress=False)
    chunk = decode_chunk(frozen, nav, source, spec, 0)
    assert chunk.broken == 0
    bank = PairBank(tmp_path)
    cfg = ContrastiveConfig(out_dim=8, batch_size=3, n_positives=3, n_negatives=4, finetune_navigator=False,
                            bank=True, bank_pairs_per_direction=8, scale_weight=1.0)
    torch.manual_seed(3)
    enc = ContrastiveEncoder(3, 16, 8)
    loss, stats, slots = bank_step(bank, enc, cfg, torch.Generator().manual_seed(5))
    k = int(stats["direction"])
    dirs, eps = chunk.directions[slots], chunk.eps[slots]
    assert (dirs[:6] == k).all() and (dirs[6:] != k).all() and len(set(slots[:6].tolist())) == 6
    # The same z, directions and shifts decoded on the fly, quantised the same way, through the same loss.
    z = [t[slots] for t in chunk.z]
    with torch.no_grad():
        x_base = frozen.decode(z)
        x_shift = frozen.decode_shifted(z, nav(dirs, eps))
    broken = torch.zeros(len(slots), dtype=torch.bool)
    fly, fly_stats = pair_loss(enc, to_encoder_input(quantise(x_base)), to_encoder_input(quantise(x_shift)), broken,
                               cfg, k)
    assert abs(float(fly.detach()) - float(loss.detach())) < 1e-6
    for key in ("bce", "entropy", "scale", "pos_sim", "neg_sim"):
        assert abs(fly_stats[key] - stats[key]) < 1e-6, key
    # Unquantised (the on-the-fly path's to_unit input) the loss differs only by the rounding to uint8.
    exact, _ = pair_loss(enc, FrozenGlow.to_unit(x_base), FrozenGlow.to_unit(x_shift), broken, cfg, k)
    assert float(exact.detach()) == pytest.approx(float(loss.detach()), rel=1e-3)


def test_bank_needs_a_frozen_navigator_and_enough_pairs(tiny_glow, tmp_path):
    nav = _navigator(FrozenGlow(tiny_glow, (1,)))
    cfg = ContrastiveConfig(out_dim=4, batch_size=2, n_positives=2, n_negatives=3, steps=1, bank=True)
    with pytest.raises(UserError, match="finetune_navigator"):
        train_contrastive(tiny_glow, nav, (1,), cfg, tmp_path, seed=0, progress=False)
    cfg.finetune_navigator, cfg.bank_pairs_per_direction = False, 3
    with pytest.raises(UserError, match="bank_pairs_per_direction"):
        train_contrastive(tiny_glow, nav, (1,), cfg, tmp_path, seed=0, progress=False)
    assert not (tmp_path / "bank").exists()


def test_disgu_run_refuses_the_bank_with_a_trained_navigator_before_any_stage(tmp_path):
    from click.testing import CliRunner

    from disgu.cli import cli

    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", "--dataset", "shapes3d", "--preset", "tiny", "--out", str(out),
                                      "--no-progress", "--device", "cpu", "--set", "contrastive.bank=true"])
    assert result.exit_code == 2 and "contrastive.finetune_navigator=false" in result.output
    assert not (out / "glow").exists()


def test_a_bank_for_another_navigator_is_rebuilt(tiny_glow, tmp_path):
    frozen = FrozenGlow(tiny_glow, (1,))
    source = LatentSource(tiny_glow)
    old, new = _navigator(frozen, seed=0), _navigator(frozen, seed=1)
    fill_bank(tmp_path / "bank", frozen, old, source, _spec(frozen, old), progress=False)
    fill_bank(tmp_path / "bank", frozen, new, source, _spec(frozen, new), progress=False)
    fill_bank(tmp_path / "fresh", frozen, new, source, _spec(frozen, new), progress=False)
    _same_bank(tmp_path / "bank", tmp_path / "fresh")


def test_train_contrastive_from_the_bank_writes_statistics_and_resumes(tiny_glow, tmp_path):
    frozen = FrozenGlow(tiny_glow, (1,))
    cfg = ContrastiveConfig(out_dim=4, batch_size=2, n_positives=2, n_negatives=3, steps=4, checkpoint_every=2,
                            log_every=1, shift_range=2.0, finetune_navigator=False, bank=True,
                            bank_pairs_per_direction=6, bank_fill_batch=4)
    full = train_contrastive(tiny_glow, _navigator(frozen), (1,), cfg, tmp_path / "full", seed=0, progress=False)
    half = ContrastiveConfig(**{**cfg.__dict__, "steps": 2})
    train_contrastive(tiny_glow, _navigator(frozen), (1,), half, tmp_path / "split", seed=0, progress=False)
    split = train_contrastive(tiny_glow, _navigator(frozen), (1,), cfg, tmp_path / "split", seed=0, progress=False)
    a, b = load_encoder(tmp_path / "full" / "encoder.pt"), load_encoder(tmp_path / "split" / "encoder.pt")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert full["mean_of_last_100_steps"] == split["mean_of_last_100_steps"]
    bank = full["bank"]
    assert bank["pairs"] == 18 and bank["directions"] == 3 and bank["broken_pairs_during_fill"] >= 0
    assert bank["fill_seconds"] > 0 and bank["pairs_decoded_per_second"] > 0 and bank["encoder_steps_per_second"] > 0
    assert bank["pair_draws"] == 4 * 7 and 7 <= bank["distinct_pairs_seen"] <= 18
    assert bank["mean_reuse_per_pair"] == pytest.approx(28 / bank["distinct_pairs_seen"])
    for key in ("pairs", "pair_draws", "distinct_pairs_seen", "broken_pairs_during_fill"):
        assert split["bank"][key] == bank[key], key
    assert split["bank"]["encoder_steps_this_session"] == 2
    saved = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert saved["bank"]["distinct_pairs_seen"] == bank["distinct_pairs_seen"] and full["broken_pairs"] == 0
    assert json.loads((tmp_path / "full" / "bank" / "rank0" / "manifest.json").read_text())["filled"] == 18
    records = [json.loads(ln) for ln in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
    assert all("bank_distinct_pairs_seen" in r for r in records if "loss" in r)
    assert sum("bank" in r for r in records) == 2  # one fill record per session
