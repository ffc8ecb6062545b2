"""`make_deterministic`: every setting that makes GPU numbers vary between runs is switched, and can be put back."""

from __future__ import annotations

import os

import torch

from disgu.determinism import CUBLAS_WORKSPACE, determinism_state, make_deterministic, restore_determinism


def test_make_deterministic_switches_every_setting_and_restore_puts_them_back(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = determinism_state()
    try:
        make_deterministic()
        now = determinism_state()
    finally:
        restore_determinism(before)
    assert now == {"cudnn_deterministic": True, "cudnn_benchmark": False, "cudnn_allow_tf32": False,
                   "matmul_allow_tf32": False, "deterministic_algorithms": True,
                   "cublas_workspace_config": CUBLAS_WORKSPACE}
    assert determinism_state() == before and "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_a_users_cublas_setting_is_kept(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")  # the other setting torch accepts
    before = determinism_state()
    try:
        make_deterministic()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    finally:
        restore_determinism(before)


def test_train_glow_deterministic_reaches_the_training_config(tmp_path):
    from disgu.cli.train_glow import build_train_config

    options = {"preset": "demo", "dataset": "shapes3d", "out": str(tmp_path / "g")}
    assert build_train_config(options, None).deterministic is False
    assert build_train_config({**options, "deterministic": True}, None).deterministic is True


def test_glow_training_applies_it(tmp_path, monkeypatch):
    import disgu.determinism
    from disgu.stages.glow import GlowTrainConfig, trainer as glow_trainer

    calls = []
    monkeypatch.setattr(disgu.determinism, "make_deterministic", lambda: calls.append("deterministic"))
    monkeypatch.setattr(glow_trainer, "_train_glow", lambda *a: calls.append("train"))
    glow_trainer.train_glow(GlowTrainConfig(dataset="shapes3d", out=str(tmp_path / "g"), deterministic=True))
    glow_trainer.train_glow(GlowTrainConfig(dataset="shapes3d", out=str(tmp_path / "h")))
    assert calls == ["deterministic", "train", "train"]  # before the first step, and only when asked
