"""One way to score any representation (uint8 images -> codes) and one metrics.json for Dis-GU and every baseline.

metrics.json holds the scores of `disgu.metrics` (the headline keys `disgu.metrics.HEADLINE_KEYS` and any
extras), `metric_seconds`, `sample_sizes`, `metric_seed`, FactorVAE's details and its standardised
variant, then what the caller adds about the run (dataset, seed, resolution, representation, training).
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
from disgu.evaluation.config import EvalConfig
from disgu.metrics.sampling import DatasetCodes

Represent = Callable[[np.ndarray], np.ndarray]


def representation_function(encode: Callable[[torch.Tensor], torch.Tensor], device: torch.device | str = "cpu",
                            batch_size: int = 64) -> Represent:
    """Wrap `encode` (float NCHW tensor in [0, 1] -> codes) as uint8 NHWC images -> float64 codes (N, d).

    Batches of 64 in channels-last memory, as `ContrastiveEncoder.encode_images`: the fastest conv path on a CPU.
    """
    device = torch.device(device)

    def represent(images: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                chunk = np.ascontiguousarray(images[start:start + batch_size])
                x = torch.from_numpy(chunk).to(device).permute(0, 3, 1, 2).float().div_(255.0)
                out.append(encode(x.contiguous(memory_format=torch.channels_last)).detach().cpu().double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0))

    return represent


def score_representation(dataset: ImageDataset, represent: Represent, e: EvalConfig,
                         progress: Callable[[str | None], None] | None = None) -> dict[str, Any]:
    """The metrics of `represent` on real dataset images at the sizes and seed of `e` (no file written)."""
    if not isinstance(dataset, GroundTruthDataset):
        raise UserError(f"dataset {dataset.name!r} has no ground-truth factors: no disentanglement metrics")
    from disgu.metrics.evaluate import evaluate_source
    from disgu.metrics.sampling import from_dataset

    t0 = time.perf_counter()
    source = from_dataset(dataset, represent)
    scores = evaluate_source(source, metrics=e.metrics, seed=e.seed, dci_estimator=e.dci_estimator,
                             sizes=e.sample_sizes(), progress=progress)
    if progress is not None:
        progress(None)
    details = scores.pop("details", {})
    result: dict[str, Any] = dict(scores)
    result["metric_seconds"] = time.perf_counter() - t0
    result["factor_vae_details"] = {k: v for k, v in details.get("factor_vae", {}).items()
                                    if isinstance(v, (int, float))}
    if e.standardised_factor_vae and "factor_vae" in scores:
        result["factor_vae_standardised"] = standardised_factor_vae(source, e)
    result["sample_sizes"] = e.sample_sizes()
    result["metric_seed"] = e.seed
    return result


def standardised_factor_vae(source: DatasetCodes, e: EvalConfig) -> float:
    """FactorVAE on codes divided by each dim's std over dataset images: a separate number, not the raw score.

    The raw score prunes dims with std < 0.05 on the raw scale, so it partly measures how large
    the codes are; this one asks only how well single dims follow single factors. It reads the codes
    `source` has cached, so the images the raw score encoded are not encoded again.
    """
    from disgu.metrics.evaluate import evaluate_source

    n = len(source.dataset)
    rng = np.random.RandomState(e.seed + 1)
    idx = np.sort(rng.randint(0, n, size=min(n, max(e.factor_vae_variance, 256))))
    scale = 1.0 / np.maximum(source.codes_at(idx).std(0), 1e-8)
    out = evaluate_source(source.scaled(scale), metrics="factor_vae", seed=e.seed,
                          sizes={"factor_vae": e.sample_sizes()["factor_vae"]})
    return float(out["factor_vae"])


def metric_progress(e: EvalConfig, enabled: bool = True) -> Callable[[str | None], None]:
    """A bar over the metrics: call with each metric's name as it starts, then with None at the end."""
    from tqdm.auto import tqdm

    from disgu.metrics.evaluate import resolve_metrics

    bar = tqdm(total=len(resolve_metrics(e.metrics)), desc="evaluation", disable=not enabled, dynamic_ncols=True)
    state = {"started": False}

    def update(name: str | None) -> None:
        if state["started"]:
            bar.update(1)
        state["started"] = True
        if name is None:
            bar.close()
        else:
            bar.set_postfix(metric=name)

    return update


def write_metrics(out_dir: str | Path, scores: dict[str, Any], about: dict[str, Any]) -> dict[str, Any]:
    """metrics.json = the scores, then what the run says about itself (same keys for every method)."""
    result = {**scores, **about}
    write_json(Path(out_dir) / "metrics.json", result)
    return result
