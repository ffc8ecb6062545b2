"""Glow-ICA codes with no encoder: the independent components of each real image's exact Glow latent.

The training-free row of the comparison. The `cpu` preset's Dis-GU distils these codes into an
encoder; this baseline reads them off the Glow itself (its exact inverse, then the FastICA
unmixing and grouping of `disgu.stages.glow_ica`), so the table shows what the distillation keeps and loses.
The fit is the preset's `ica` stage, run by `run_pipeline` in DIR/fit:

    fit/         config.json, glow/, ica/frame.npz, stage_times.json (a `disgu run` dir stopped after `ica`)
    run_info.json, metrics.json, evaluation.json  (written by `disgu baseline glow-ica`)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgu.errors import UserError

FIT = "fit"


@dataclass
class GlowICACodesRun:
    """What the evaluation needs: images -> codes, the dataset, and the fit's wall times."""

    represent: Callable[[np.ndarray], np.ndarray]
    dataset: Any
    n_codes: int
    training_seconds: float  # the ICA fit (encoding its images included), the Glow's cost apart
    glow_seconds: float | None


def codes_function(fit_dir: Path, device: torch.device | str = "cpu") -> tuple[Callable[[np.ndarray], np.ndarray],
                                                                                 int]:
    """(uint8 NHWC images -> float64 codes, number of codes) of a finished fit dir."""
    from disgu.stages.glow_ica import GlowICA
    from disgu.models import load_glow
    from disgu.models.generator import FrozenGlow
    from disgu.pipeline.stages import done_marker, is_done

    for stage in ("glow", "ica"):
        if not is_done(fit_dir, stage):
            raise UserError(f"{fit_dir}: stage {stage!r} is not finished (no {done_marker(fit_dir, stage)}); "
                            f"rerun `disgu baseline glow-ica` with the same options to complete it")
    frame = GlowICA.load(fit_dir / "ica" / "frame.npz")
    glow, _ = load_glow(fit_dir / "glow" / "glow.safetensors", map_location=device)
    if torch.device(device).type == "cpu":  # channels-last: 1.7x the images/s, one CPU thread (BENCHMARKS.md)
        glow = glow.to(memory_format=torch.channels_last)
    frozen = FrozenGlow(glow, frame.levels)

    def represent(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return frame.codes(frozen.encode_navigated(images).cpu().double().numpy())

    return represent, frame.groups.n_codes


def run_glow_ica_codes(cfg, out: str | Path, progress: bool = True, log: Callable[[str], None] = print
                       ) -> GlowICACodesRun:
    """The preset's Glow and `ica` stage in DIR/fit (skipped when finished), then the codes function."""
    from disgu.data import load_dataset
    from disgu.distributed import resolve_device
    from disgu.pipeline.run import run_pipeline

    if cfg.representation != "glow-ica":
        raise UserError(f"glow-ica baseline: representation must be glow-ica, got {cfg.representation!r}")
    fit = Path(out) / FIT
    dataset = load_dataset(cfg.dataset, data_path=cfg.data_path, resolution=cfg.resolution)
    run_pipeline(cfg, fit, progress=progress, stages=("glow", "ica"), log=log, dataset=dataset)
    times = json.loads((fit / "stage_times.json").read_text())
    represent, n_codes = codes_function(fit, resolve_device(cfg.device))
    glow = times.get("glow", {}).get("wall_seconds")
    return GlowICACodesRun(represent=represent, dataset=dataset, n_codes=n_codes,
                           training_seconds=round(float(times["ica"]["wall_seconds"]), 2),
                           glow_seconds=None if glow is None else float(glow))
