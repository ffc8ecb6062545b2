"""How many independent components, and which grouping threshold: MIG of the Glow-ICA codes read through the Glow.

Encodes (once, cached in --cache) 4,000 training images drawn with each seed and 10,000 evaluation images drawn as MIG draws them (RandomState(0)), through the
shipped Glow's exact inverse at the top level; then, for each (seed, n_components, threshold), fits
the frame on the seed's sample and prints MIG of the grouped codes, of the raw independent components,
and the best / second-best code dim's normalised MI per factor. The labels only score; the frame
never sees them.

    python benchmarks/glow_ica_sweep.py --cache runs/ica-sweep --seeds 0 1 2 --components 8 10 12 14 16 \\
        --thresholds 0.04 0.07 0.1 > runs/ica-sweep/results.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from disgu.data import load_dataset
from disgu.stages.glow_ica import GlowICA
from disgu.stages.glow_ica.latents import sample_indices
from disgu.metrics.mig import mig_from_samples
from disgu.models import load_pretrained_glow
from disgu.models.generator import FrozenGlow


def _encode(frozen: FrozenGlow, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([frozen.encode_navigated(images[i : i + 256]) for i in range(0, len(images), 256)]).numpy()


def _cached(path: Path, make) -> np.ndarray:
    if not path.is_file():
        np.save(path, make())
    return np.load(path)


def _nmi(codes: np.ndarray, factors: np.ndarray) -> tuple[float, np.ndarray]:
    m = mig_from_samples(codes, factors)
    return m["mig"], np.sort(np.array(m["mutual_info"]) / np.array(m["factor_entropy"]), 0)[::-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", required=True)
    p.add_argument("--dataset", default="shapes3d")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--components", nargs="+", type=int, default=[10])
    p.add_argument("--thresholds", nargs="+", type=float, default=[0.1])
    p.add_argument("--circle-cv", nargs="*", type=float, default=[], help="also score these circle_cv values")
    p.add_argument("--fit-images", type=int, default=4000)
    a = p.parse_args()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(a.dataset, resolution=32)
    glow, _ = load_pretrained_glow(a.dataset, 32)
    frozen = FrozenGlow(glow, (glow.config.n_levels - 1,))
    factors = ds.sample_factors(10_000, np.random.RandomState(0))
    z_eval = _cached(cache / "eval.npy", lambda: _encode(frozen, ds.images(ds.index_of(factors))))
    for seed in a.seeds:
        idx = sample_indices(len(ds), a.fit_images, seed)
        order = np.argsort(idx)
        z_fit = _cached(cache / f"fit{seed}.npy",
                        lambda idx=idx, order=order: _encode(frozen, ds.images(idx[order]))[np.argsort(order)])
        for n in a.components:
            for thr in a.thresholds:
                for cv in [None, *a.circle_cv]:
                    frame = GlowICA.fit(z_fit, frozen.levels, n, seed, thr, circle_cv=cv)
                    mig, top = _nmi(frame.codes(z_eval), factors)
                    raw_mig, _ = _nmi(frame.ica.sources(z_eval), factors)
                    print(json.dumps({"seed": seed, "n_components": n, "threshold": thr, "circle_cv": cv,
                                      "codes": frame.groups.n_codes,
                                      "group_sizes": sorted((len(g) for g in frame.groups.groups), reverse=True),
                                      "mig": round(mig, 3), "mig_raw_components": round(raw_mig, 3),
                                      "factors": list(ds.factor_names), "best_nmi": np.round(top[0], 2).tolist(),
                                      "second_nmi": np.round(top[1], 2).tolist()}), flush=True)


if __name__ == "__main__":
    main()
