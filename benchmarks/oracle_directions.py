"""Do the discovered directions point where the factors lie in the Glow's latent space?

For each factor, an "oracle" direction is the mean of f(x') - f(x) over image pairs that differ only in that
factor (its first vs its last value; Glow's exact inverse at the quantisation bins' centres, navigated levels
only), as the Glow paper edits attributes. It uses the labels, so it is a diagnostic, never a method: it tells whether a factor is reachable
by a linear shift at all, and whether discovery found it (max |cos| between the oracle and any discovered
direction; the script prints the same for random orthonormal directions as the reference).

    python benchmarks/oracle_directions.py RUN_DIR [RUN_DIR ...] [--pairs 256] [--strip out.png]

`--strip` writes prior samples at T = 0.7 shifted along each oracle direction (rows: factor x shift), to
see whether the shift moves that factor in the generator.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from disgu.data import load_dataset
from disgu.stages.discovery.pca_base import principal_frame
from disgu.models import input_to_images, load_glow
from disgu.models.generator import FrozenGlow
from disgu.models.latents import LatentSource
from disgu.models.navigator import load_navigator


def oracle_directions(frozen: FrozenGlow, ds, pairs: int, seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """(unit mean latent difference per factor over `pairs` pairs (first -> last value), its norm per factor)."""
    rs = np.random.RandomState(seed)
    source = LatentSource(frozen.glow, "data", dataset=ds)  # encodes at the quantisation bins' centres, as training saw them
    out, norms = {}, {}
    for i, name in enumerate(ds.factor_names):
        lo = ds.sample_factors(pairs, rs)
        lo[:, i] = 0
        hi = lo.copy()
        hi[:, i] = ds.factor_sizes[i] - 1
        e_lo = frozen.navigated(source.encode_images(ds.images(ds.index_of(lo))))
        e_hi = frozen.navigated(source.encode_images(ds.images(ds.index_of(hi))))
        mean = (e_hi - e_lo).mean(0)
        out[name] = mean / mean.norm()
        norms[name] = round(float(mean.norm()), 2)
    return out, norms


def alignment(label: str, directions: torch.Tensor, oracles: dict[str, torch.Tensor]) -> dict:
    """Per factor: [max |cos| between its oracle and any row of `directions`, that row's index]."""
    row = {"run": label}
    for name, o in oracles.items():
        cos = (directions @ o).abs()
        row[name] = [round(float(cos.max()), 3), int(cos.argmax())]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--dataset", default="shapes3d")
    p.add_argument("--pairs", type=int, default=256)
    p.add_argument("--strip", default=None)
    a = p.parse_args()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    oracles = None
    for run in a.runs:
        run = Path(run)
        nav_path = run / "contrastive" / "navigator.pt"
        if not nav_path.exists():
            nav_path = run / "discovery" / "navigator.pt"
        nav, levels = load_navigator(nav_path)
        if oracles is None:  # the runs share one Glow (the shipped one): the first run's defines the oracles
            glow, _ = load_glow(run / "glow" / "glow.safetensors")
            frozen = FrozenGlow(glow, levels)
            ds = load_dataset(a.dataset, resolution=glow.config.resolution)
            oracles, norms = oracle_directions(frozen, ds, a.pairs)
        dirs = nav.directions()
        print(json.dumps({**alignment(str(run), dirs, oracles), "navigator": nav_path.parent.name}))
    # the reference: as many random orthonormal directions in the same space
    q, _ = torch.linalg.qr(torch.randn(dirs.shape[1], dirs.shape[0], generator=torch.Generator().manual_seed(0)))
    print(json.dumps(alignment("random orthonormal directions (reference)", q.T, oracles)))
    # and the `pca` start: the principal axes of 4,000 training images' latents, before any training
    frame = principal_frame(frozen, ds, dirs.shape[0], 4000, seed=0)
    print(json.dumps(alignment("principal axes of 4,000 images' latents (navigator_base=pca start, seed 0)",
                               frame.T, oracles)))
    print(json.dumps({"oracle_norms": norms}))
    if a.strip:
        from PIL import Image

        g = torch.Generator().manual_seed(1)
        z = [torch.randn(6, *s, generator=g) * 0.7 for s in glow.latent_shapes]
        rows = []
        for name in oracles:
            for eps in (-3.0, 0.0, 3.0, 6.0):
                with torch.no_grad():
                    x = frozen.decode_shifted(z, (eps * oracles[name]).expand(len(z[0]), -1))
                rows.append(np.concatenate(list(input_to_images(x, glow.config.n_bits)), 1))
        Image.fromarray(np.concatenate(rows, 0)).save(a.strip)


if __name__ == "__main__":
    main()
