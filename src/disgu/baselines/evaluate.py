"""Evaluate a baseline's representation (an encoder's output on real images) with `disgu.metrics`.

The representation of a VAE is the mean of q(z|x), as in disentanglement_lib. Images are fed
to the encoder as float [0, 1] NCHW, in batches, without gradients.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgu.atomic import write_json
from disgu.data import GroundTruthDataset, ImageDataset
from disgu.errors import UserError

HEADLINE_KEYS = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "factor_vae", "beta_vae")


def representation_function(encode: Callable[[torch.Tensor], torch.Tensor], device: torch.device | str = "cpu",
                             batch_size: int = 512) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap `encode` (float NCHW tensor -> codes) as uint8 NHWC images -> float64 codes (N, d)."""
    device = torch.device(device)

    def represent(images: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                chunk = np.ascontiguousarray(images[start:start + batch_size])
                x = torch.from_numpy(chunk).to(device).permute(0, 3, 1, 2).float().div_(255.0)
                out.append(encode(x).detach().cpu().double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0))

    return represent


def reduced_sizes(num_points: int) -> dict[str, dict[str, int]]:
    """Sample sizes for a quick look: `num_points` where disentanglement_lib uses 10,000, half that for 5,000."""
    n, half = int(num_points), max(int(num_points) // 2, 2)
    return {
        "mig": {"num_train": n},
        "dci": {"num_train": n, "num_test": half},
        "factor_vae": {"num_variance_estimate": n, "num_train": n, "num_eval": half},
        "beta_vae": {"num_train": n, "num_eval": half},
    }


def evaluate_representation(dataset: ImageDataset, represent: Callable[[np.ndarray], np.ndarray], *,
                            seed: int = 0, metric_options: dict[str, Any] | None = None,
                            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The headline metrics (and whatever extras disgu.metrics adds) of `represent` on `dataset`.

    `metric_options` go to `disgu.metrics.evaluate_representation` unchanged: `metrics`, `dci_estimator`,
    `sizes` (smaller sample sizes for quick checks), `n_jobs`.
    """
    if not isinstance(dataset, GroundTruthDataset):
        raise UserError(f"dataset {dataset.name!r} has no ground-truth factors, so metrics.json cannot be computed")
    from disgu.metrics import evaluate_representation as evaluate_codes_of

    result = evaluate_codes_of(dataset, represent, seed=seed, progress=progress, **(metric_options or {}))
    missing = [k for k in HEADLINE_KEYS if k not in result]
    if missing and "metrics" not in (metric_options or {}):
        raise RuntimeError(f"disgu.metrics.evaluate did not return {missing}")
    return result


def write_metrics(out_dir: str | Path, dataset: ImageDataset, represent: Callable[[np.ndarray], np.ndarray], *,
                  seed: int = 0, metric_options: dict[str, Any] | None = None,
                  about: dict[str, Any] | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Compute the metrics and write `metrics.json` (the scores) and `evaluation.json` (what, how long)."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    result = evaluate_representation(dataset, represent, seed=seed, metric_options=metric_options, progress=progress)
    write_json(out_dir / "metrics.json", result)
    write_json(out_dir / "evaluation.json", {
        **(about or {}), "metric_seed": seed, "metric_options": metric_options or {},
        "eval_seconds": round(time.perf_counter() - t0, 2),
    })
    return result
