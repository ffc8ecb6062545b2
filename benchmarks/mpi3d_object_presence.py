"""How often a Glow's MPI3D samples draw the object, against real images at the same resolution.

A sample grid shows the plain background and the grey arm at a glance, but the object at the arm's
tip is a few pixels at 32x32 and easy to over- or under-read. This counts, per image, the pixels that
are far from the image's background colour and are not the arm's dark-to-mid grey, and reports the
share of images with at least `--min-pixels` of them (a few thresholds): for samples at a temperature and for real
images picked at random from the grid.

    python benchmarks/mpi3d_object_presence.py src/disgu/weights/glow-mpi3d-32.safetensors --num 360

A white object is low in saturation but brighter than the arm, so it counts; a dark object drawn on
the arm's grey would not, which the real-image row measures.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from disgu.data import load_dataset
from disgu.models import images_to_input, input_to_images, load_glow

FAR_FROM_BACKGROUND = 90  # summed |RGB difference| to the background colour
ARM_MAX_SPREAD = 30  # max - min channel of the arm's grey
ARM_MAX_VALUE = 180  # the arm is never brighter than this; a white object is


def object_pixels(images: np.ndarray) -> np.ndarray:
    """Pixels per image (N, H, W, 3 uint8) that are neither background nor arm."""
    x = images.astype(np.int32)
    border = np.concatenate([x[:, -3:].reshape(len(x), -1, 3), x[:, :, :3].reshape(len(x), -1, 3)], axis=1)
    background = np.median(border, axis=1)[:, None, None, :]
    far = np.abs(x - background).sum(-1) > FAR_FROM_BACKGROUND
    top, bottom = x.max(-1), x.min(-1)
    arm = (top - bottom < ARM_MAX_SPREAD) & (top < ARM_MAX_VALUE)
    return (far & ~arm).reshape(len(x), -1).sum(1)


def summary(counts: np.ndarray, min_pixels: list[int]) -> dict:
    shares = {f"share_with_{m}_px": round(float((counts >= m).mean()), 3) for m in min_pixels}
    return {"images": len(counts), **shares, "median_object_pixels": float(np.median(counts))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("glow", help="an MPI3D Glow checkpoint (.pt) or export (.safetensors)")
    p.add_argument("--dataset", default="mpi3d")
    p.add_argument("--num", type=int, default=360, help="samples, and real images")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--min-pixels", type=int, nargs="+", default=[4, 8, 16])
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    model, config = load_glow(a.glow)
    dataset = load_dataset(a.dataset, resolution=config.resolution)
    picks = np.sort(np.random.default_rng(a.seed).choice(len(dataset), a.num, replace=False))
    # the Glow's bit depth, as it sees them
    real = input_to_images(images_to_input(dataset.images(picks), config.n_bits), config.n_bits)
    with torch.no_grad():
        samples = input_to_images(model.sample(a.num, a.temperature,
                                               generator=torch.Generator().manual_seed(a.seed)), config.n_bits)
    print(json.dumps({"glow": a.glow, "temperature": a.temperature, "min_pixels": a.min_pixels,
                      "samples": summary(object_pixels(samples), a.min_pixels),
                      "real": summary(object_pixels(real), a.min_pixels)}))


if __name__ == "__main__":
    main()
