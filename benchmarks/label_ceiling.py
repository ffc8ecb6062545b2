"""The ceiling of the contrastive stage: train it on the label-derived directions (a diagnostic, never a method).

If even directions that move one factor each (the mean latent difference between images that differ
only in that factor, `oracle_directions.py`) do not get the factors into the codes at this budget,
the contrastive stage itself is the limit. The script sets up a run dir whose discovery stage is
replaced by a fixed navigator on those directions (symmetric orthogonalisation of the unit oracle
directions, one per factor), then `disgu run` trains the contrastive stage from it (frozen navigator,
so the decoded-pair bank applies) and evaluates as usual.

    python benchmarks/label_ceiling.py --out runs/ceiling-s0 --seed 0 -- \\
        --set contrastive.bank=true --set contrastive.bank_pairs_per_direction=1000 --set contrastive.steps=1500
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pairs", type=int, default=256)
    p.add_argument("extra", nargs="*", help="further `disgu run` options (after --)")
    a = p.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from oracle_directions import oracle_directions

    from disgu.data import load_dataset
    from disgu.stages.discovery.ica_base import symmetric_orthogonalisation
    from disgu.stages.discovery.trainer import DiscoveryConfig
    from disgu.models import load_glow
    from disgu.models.generator import FrozenGlow
    from disgu.models.navigator import Navigator, save_navigator
    from disgu.pipeline.stages import write_done

    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    out = Path(a.out)
    ds = load_dataset("shapes3d", resolution=32)
    n = len(ds.factor_names)
    disgu = shutil.which("disgu") or str(Path(sys.executable).parent / "disgu")
    run = [disgu, "run", "--dataset", "shapes3d", "--preset", "cpu", "--seed", str(a.seed),
           "--out", str(out), "--threads", "1", "--set", "representation=contrastive",
           "--set", f"discovery.n_directions={n}", "--set", "contrastive.finetune_navigator=false", *a.extra]
    if not (out / "discovery" / "DONE.json").is_file():
        subprocess.run([*run, "--stages", "glow"], check=True)
        glow, _ = load_glow(out / "glow" / "glow.safetensors")
        frozen = FrozenGlow(glow, (glow.config.n_levels - 1,))
        oracles, _ = oracle_directions(frozen, ds, a.pairs, a.seed)
        frame = torch.stack([oracles[name] for name in ds.factor_names], 1).double().numpy()
        base = torch.from_numpy(symmetric_orthogonalisation(frame)).float()
        nav = Navigator(frozen.nav_dim, n, "ortho", base, init_scale=0.0)
        save_navigator(out / "discovery" / "navigator.pt", nav, asdict(DiscoveryConfig(n_directions=n)), frozen.levels)
        write_done(out, "discovery", {"stage": "discovery", "label_derived": list(ds.factor_names)})
    subprocess.run(run, check=True)


if __name__ == "__main__":
    main()
