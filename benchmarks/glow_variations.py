"""Why the contrastive stage learns on a perfect generator and not through the Glow: the variations themselves.

The stage compares variations v = |G(z + eps n) - G(z)| of one direction against those of others, so it can
only learn when one direction's variations look alike across z and unlike the other directions'. For each
factor this script measures, in pixel space (so no encoder is involved):

- `within`: the mean cosine between |delta| of two different base images moved along the same direction;
- `across`: the mean cosine between |delta| of this direction and of the other directions;
- `outside`: the share of |delta| that lands outside the factor's region (the pixels the factor ever
  changes in the dataset itself: the floor for floor hue, the object's reach for the object's factors).

Sources: the dataset itself (a shift = the factor takes another value: the testbed's perfect generator);
the Glow along the label-derived direction of the factor (`oracle_directions.py`, a diagnostic, never a
method), from prior samples at T = 0.7 and from real images' latents through the exact inverse,
G(f(x) + eps n), at several shift sizes. The within - across margin is what the contrastive BCE feeds on.

    python benchmarks/glow_variations.py --out benchmarks/results/glow-variations.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch


def abs_delta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|b - a| of uint8 NHWC images as (N, H*W*C) float in [0, 1]."""
    return np.abs(b.astype(np.float32) - a.astype(np.float32)).reshape(len(a), -1) / 255.0


def mean_cosine(a: np.ndarray, b: np.ndarray, same: bool) -> float:
    """Mean cosine between rows of a and rows of b (the diagonal left out when a is b)."""
    na = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-8)
    nb = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-8)
    c = na @ nb.T
    if same:
        return float((c.sum() - np.trace(c)) / (len(a) * (len(a) - 1)))
    return float(c.mean())


def dataset_pairs(ds, f: int, n: int, rs: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """n image pairs that differ only in factor f (any other value of it)."""
    lo = ds.sample_factors(n, rs)
    hi = lo.copy()
    hi[:, f] = (lo[:, f] + rs.randint(1, ds.factor_sizes[f], size=n)) % ds.factor_sizes[f]
    return ds.images(ds.index_of(lo)), ds.images(ds.index_of(hi))


def summarise(deltas: dict[str, np.ndarray], regions: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    out = {}
    for name, d in deltas.items():
        others = np.concatenate([v for k, v in deltas.items() if k != name])
        outside = float((d * ~regions[name]).sum() / max(d.sum(), 1e-8))
        out[name] = {"within": round(mean_cosine(d, d, True), 3), "across": round(mean_cosine(d, others, False), 3),
                     "outside": round(outside, 3), "mean_abs": round(float(d.mean()), 4)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="shapes3d")
    p.add_argument("--n", type=int, default=128, help="pairs per factor and source")
    p.add_argument("--shifts", default="1,3,6", help="shift sizes along the unit oracle direction")
    p.add_argument("--levels", default="top", help="navigated levels: 'top' or 'all'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from oracle_directions import oracle_directions

    from disgu.atomic import write_json
    from disgu.data import load_dataset
    from disgu.models.generator import FrozenGlow, quantise
    from disgu.models.latents import LatentSource
    from disgu.models.pretrained import load_pretrained_glow

    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    ds = load_dataset(a.dataset, resolution=32)
    glow, _ = load_pretrained_glow(a.dataset, 32)
    n_levels = glow.config.n_levels
    levels = (n_levels - 1,) if a.levels == "top" else tuple(range(n_levels))
    frozen = FrozenGlow(glow, levels)
    oracles, norms = oracle_directions(frozen, ds, 256, a.seed)
    rs = np.random.RandomState(a.seed + 1)
    names = ds.factor_names

    true = {names[f]: abs_delta(*dataset_pairs(ds, f, a.n, rs)) for f in range(len(names))}
    # a factor's region: the pixels (any channel) that it changes in at least 2% of the dataset's own pairs
    regions = {k: np.repeat((d.reshape(a.n, -1, 3).max(2) > 0.05).mean(0) > 0.02, 3) for k, d in true.items()}
    result = {"dataset": a.dataset, "levels": list(levels), "n": a.n, "oracle_norms": norms,
              "region_share": {k: round(float(v.mean()), 3) for k, v in regions.items()},
              "sources": {"dataset (perfect generator)": summarise(true, regions)}}
    gen = torch.Generator().manual_seed(a.seed + 2)
    prior = LatentSource(glow, "prior", 0.7)
    data = LatentSource(glow, "data", dataset=ds)
    with torch.no_grad():
        for kind, source in (("prior T=0.7", prior), ("real-image latents", data)):
            z = source.sample(a.n, gen)
            base = quantise(frozen.decode(z)).numpy()
            for s in [float(x) for x in a.shifts.split(",")]:
                deltas = {}
                for name in names:
                    sign = torch.where(torch.rand(a.n, 1, generator=gen) < 0.5, -1.0, 1.0)
                    moved = quantise(frozen.decode_shifted(z, sign * s * oracles[name][None, :])).numpy()
                    deltas[name] = abs_delta(base, moved)
                result["sources"][f"Glow, {kind}, shift {s:g}"] = summarise(deltas, regions)
                print(json.dumps({kind: s, **{k: v["within"] - v["across"]
                                               for k, v in result["sources"][f"Glow, {kind}, shift {s:g}"].items()}}),
                      flush=True)
    write_json(a.out, result)
    for src, rows in result["sources"].items():
        print(f"{src:42s} " + "  ".join(f"{k[:6]} {v['within']:.2f}/{v['across']:.2f}/{v['outside']:.2f}"
                                         for k, v in rows.items()))


if __name__ == "__main__":
    main()
