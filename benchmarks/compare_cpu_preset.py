"""`disgu run` results against the same-budget beta-VAE and the untrained-encoder floor, on equal terms.

Every representation is scored by the same code with the same metric sample sizes (the `cpu`
preset's `evaluation` section: MIG and DCI at disentanglement_lib's sizes, FactorVAE and beta-VAE
reduced), one JSON per run, then mean +- std over seeds (Table 1 layout). Rows are named by the
run's preset and representation. `--glow-ica-codes RUN` scores the training-free codes of a
glow-ica run's frame read through the Glow's exact inverse (no encoder; about 8 ms per image on
one core, so `--codes-metrics mig,dci` keeps it to minutes).

    python benchmarks/compare_cpu_preset.py --disgu runs/cpu3/s0 runs/cpu3/s1 runs/cpu3/s2 \
        --beta-vae runs/bvae3/s0 runs/bvae3/s1 runs/bvae3/s2 --untrained-seeds 0 1 2 --out runs/compare
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from disgu.atomic import atomic_path, write_json
from disgu.stages.vae.trainer import load_model_from_run
from disgu.data import load_dataset
from disgu.evaluation import representation_function
from disgu.metrics import aggregate, evaluate_representation, format_markdown
from disgu.models.encoder import ContrastiveEncoder
from disgu.pipeline.config import make_config


def _disgu_name(run: str) -> str:
    cfg = json.loads((Path(run) / "config.json").read_text())
    return f"disgu {cfg['preset']} ({cfg.get('representation', 'contrastive')})"


def _disgu(run: str):
    from disgu import DisGU

    model = DisGU.load(run)
    times = json.loads((Path(run) / "stage_times.json").read_text())
    train_s = sum(times[s]["wall_seconds"] for s in ("ica", "discovery", "contrastive", "distil") if s in times)
    return model.transform, {"seed": model.config_.seed, "train_seconds": train_s}


def _glow_ica_codes(run: str):
    """Codes of the run's Glow-ICA frame read off each image through the Glow itself (the distillation's teacher)."""
    from disgu.stages.glow_ica import GlowICA
    from disgu.models import load_glow
    from disgu.models.generator import FrozenGlow

    frame = GlowICA.load(Path(run) / "ica" / "frame.npz")
    glow, _ = load_glow(Path(run) / "glow" / "glow.safetensors")
    frozen = FrozenGlow(glow, frame.levels)

    def represent(images):
        with torch.no_grad():
            return frame.codes(frozen.encode_navigated(images).double().numpy())

    seed = json.loads((Path(run) / "config.json").read_text())["seed"]
    return represent, {"seed": seed, "train_steps": 0}


def _pipeline_scores(run: str, sizes: dict) -> dict | None:
    """The run's own metrics.json when its evaluation stage used the same sample sizes (no need to redo it)."""
    path = Path(run) / "metrics.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    return m if m.get("sample_sizes") == sizes else None


def _beta_vae(run: str):
    vae, cfg, step = load_model_from_run(run)
    return representation_function(vae.represent), {"seed": cfg.seed, "train_steps": step,
                                                    "train_minutes_budget": cfg.minutes}


def _untrained(seed: int, resolution: int):
    torch.manual_seed(seed)
    net = ContrastiveEncoder(3, resolution, 64).eval()
    return net.encode_images, {"seed": seed, "train_steps": 0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--disgu", nargs="*", default=[])
    p.add_argument("--beta-vae", nargs="*", default=[])
    p.add_argument("--untrained-seeds", nargs="*", type=int, default=[])
    p.add_argument("--glow-ica-codes", nargs="*", default=[], help="glow-ica run dirs whose frame to score directly")
    p.add_argument("--codes-metrics", default="headline", help="metrics for --glow-ica-codes (e.g. mig,dci)")
    p.add_argument("--dataset", default="shapes3d")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(a.dataset, resolution=a.resolution)
    sizes = make_config("cpu").evaluation.sample_sizes()
    jobs = ([(_disgu_name(r), f"disgu-{Path(r).name}", lambda r=r: _disgu(r), r) for r in a.disgu]
            + [("Glow-ICA codes through the Glow (no encoder)", f"glow-ica-codes-{Path(r).name}",
                lambda r=r: _glow_ica_codes(r), None) for r in a.glow_ica_codes]
            + [("beta-VAE same budget", f"beta-vae-{Path(r).name}", lambda r=r: _beta_vae(r), None)
               for r in a.beta_vae]
            + [("untrained encoder", f"untrained-s{s}", lambda s=s: _untrained(s, a.resolution), None)
               for s in a.untrained_seeds])
    results = []
    for method, name, build, pipeline_run in jobs:
        path = out / f"{name}.json"
        if path.is_file():
            results.append(json.loads(path.read_text()))
            continue
        represent, about = build()
        t0 = time.perf_counter()
        scores = _pipeline_scores(pipeline_run, sizes) if pipeline_run else None
        if scores is None:
            metrics = a.codes_metrics if method.startswith("Glow-ICA codes") else "headline"
            scores = evaluate_representation(ds, represent, metrics=metrics, seed=0, sizes=sizes)
        scores.pop("details", None)
        scores.pop("seed", None)  # "seed" below is the model's; every metric here uses seed 0
        record = {"dataset": a.dataset, "method": method, **scores, **about, "metric_seed": 0,
                  "sizes": sizes, "eval_seconds": round(time.perf_counter() - t0, 1)}
        write_json(path, record)
        print(json.dumps({k: record.get(k) for k in ("method", "seed", "mig", "dci_disentanglement", "factor_vae",
                                                      "beta_vae", "eval_seconds")}), flush=True)
        results.append(record)
    table = format_markdown(aggregate(results), digits=3)
    with atomic_path(out / "table.md") as tmp:
        Path(tmp).write_text(table)
    print(table)


if __name__ == "__main__":
    main()
