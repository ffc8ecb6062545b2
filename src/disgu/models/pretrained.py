"""Loading a Glow from a training checkpoint or a safetensors file, and the shipped pretrained weights.

Shipped weights live in `disgu/weights/glow-<dataset>-<resolution>.safetensors`, with the
Glow config in the safetensors metadata and a manifest `glow-<dataset>-<resolution>.json`
beside it (command, preset, steps, held-out bits/dim, data hash, git revision).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from disgu.atomic import atomic_path, write_json
from disgu.errors import UserError
from disgu.models.glow import Glow, GlowConfig

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def build_glow(config: GlowConfig | dict[str, Any]) -> Glow:
    """A fresh (untrained) Glow from a GlowConfig or its dict form."""
    if isinstance(config, dict):
        config = GlowConfig.from_dict(config)
    return Glow(config)


def _model_from_state(state: dict[str, torch.Tensor], config: GlowConfig, source: Path) -> Glow:
    model = Glow(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise UserError(f"{source}: weights do not match the stored Glow config: {err}") from None
    if not model.is_initialized():
        raise UserError(f"{source}: actnorm layers were never initialised (the model was saved before training)")
    return model.eval()


def load_glow(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[Glow, GlowConfig]:
    """(model in eval mode, config) from a training checkpoint (.pt) or exported weights (.safetensors)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such Glow checkpoint")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
        except (SafetensorError, OSError) as err:  # truncated, or not a safetensors file at all
            raise _unreadable_safetensors(path, err) from None
        if "glow_config" not in meta:
            raise UserError(f"{path}: safetensors file has no 'glow_config' metadata (not a disgu Glow export)")
        try:
            config = GlowConfig.from_dict(json.loads(meta["glow_config"]))
        except (ValueError, TypeError) as err:
            raise UserError(f"{path}: its 'glow_config' metadata is not a valid Glow config ({err})") from None
        try:
            state = load_file(str(path), device=str(map_location))
        except (SafetensorError, OSError) as err:
            raise _unreadable_safetensors(path, err) from None
        return _model_from_state(state, config, path), config

    from disgu.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, map_location=map_location)
    model_cfg = ckpt.get("config", {}).get("model")
    if model_cfg is None:
        raise UserError(f"{path}: checkpoint has no config['model'] (not a Glow checkpoint)")
    config = GlowConfig.from_dict(model_cfg)
    return _model_from_state(ckpt["model"], config, path), config


def _unreadable_safetensors(path: Path, err: Exception) -> UserError:
    """One line for a .safetensors file the library cannot parse; its own message is the most precise part."""
    why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return UserError(f"{path}: not a readable .safetensors Glow export, truncated or not that format ({why}); "
                     f"expected a file written by `disgu export-glow` or a run's glow/glow.safetensors")


def pretrained_name(dataset: str, resolution: int) -> str:
    return f"glow-{dataset}-{resolution}"


def export_glow(checkpoint: str | os.PathLike, name: str, out_dir: str | os.PathLike = WEIGHTS_DIR) -> Path:
    """Write <out_dir>/<name>.safetensors (weights + config) and <name>.json (manifest) from a checkpoint.

    The manifest records what is needed to reproduce the weights: the training command, preset,
    steps, held-out bits/dim, data hash and git revision, all taken from the checkpoint.
    """
    from safetensors.torch import save_file

    from disgu.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    model, config = load_glow(checkpoint)
    out_dir = Path(out_dir)
    weights = out_dir / f"{name}.safetensors"
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(state, str(tmp), metadata={"glow_config": json.dumps(config.to_dict())})
    extra = ckpt.get("extra", {})
    commands = [list(c) for c in extra.get("commands") or []]
    train_cfg = ckpt.get("config", {}).get("train", {})
    manifest = {
        "name": name,
        "weights": weights.name,
        "glow_config": config.to_dict(),
        "dataset": train_cfg.get("dataset"),
        "resolution": config.resolution,
        "preset": train_cfg.get("preset"),
        "steps": ckpt["step"],
        "heldout_bits_per_dim": extra.get("heldout_bits_per_dim"),
        "heldout_images": extra.get("heldout_images"),
        "data_hash": extra.get("data_hash"),
        "command": commands[0] if commands else None,
        "resume_commands": commands[1:],
        "git_revision": extra.get("git_revision"),
        "size_bytes": weights.stat().st_size,
    }
    write_json(out_dir / f"{name}.json", manifest)
    return weights


def available_pretrained() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("glow-*.safetensors")) if WEIGHTS_DIR.is_dir() else []


def load_pretrained_glow(dataset_name: str, resolution: int, map_location: str | torch.device = "cpu"
                         ) -> tuple[Glow, GlowConfig]:
    """The shipped Glow for a built-in dataset at a resolution; UserError when none is shipped."""
    name = pretrained_name(dataset_name, resolution)
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.is_file():
        have = ", ".join(available_pretrained()) or "none"
        raise UserError(
            f"no pretrained Glow for dataset {dataset_name!r} at resolution {resolution} "
            f"(looked for {path}; shipped: {have}). Train one with "
            f"`disgu train-glow --dataset {dataset_name} --resolution {resolution} --preset cpu --out DIR`"
        )
    return load_glow(path, map_location=map_location)


def read_manifest(dataset_name: str, resolution: int) -> dict[str, Any] | None:
    path = WEIGHTS_DIR / f"{pretrained_name(dataset_name, resolution)}.json"
    return json.loads(path.read_text()) if path.is_file() else None
