"""Held-out bits/dim of a Glow (checkpoint or export) on the trainer's fixed held-out split.

The number a shipped manifest records comes from the training run's last evaluation, which may use
fewer images; this measures all of the split (`heldout_size`, at most 10% of the dataset), with the
trainer's fixed dequantisation noise, so shipped Glows are compared on the same images.

    python benchmarks/glow_heldout_bpd.py src/disgu/weights/glow-mpi3d-32.safetensors --dataset mpi3d
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from disgu.data import load_dataset
from disgu.models import load_glow
from disgu.stages.glow.trainer import evaluate_bits_per_dim, heldout_split


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("glow", help="a Glow checkpoint (.pt) or export (.safetensors)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--heldout-size", type=int, default=2000, help="as `disgu train-glow --heldout-size`")
    p.add_argument("--batch-size", type=int, default=64)
    a = p.parse_args()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    model, config = load_glow(a.glow)
    dataset = load_dataset(a.dataset, resolution=config.resolution)
    _, held = heldout_split(len(dataset), a.heldout_size)
    t0 = time.perf_counter()
    bpd = evaluate_bits_per_dim(model, dataset, held, a.batch_size, torch.device("cpu"))
    print(json.dumps({"glow": a.glow, "dataset": a.dataset, "heldout_images": len(held),
                      "heldout_bits_per_dim": round(bpd, 4), "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
