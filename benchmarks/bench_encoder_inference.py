"""Throughput of the evaluation's inference on one CPU thread: batch size and memory format.

The evaluation spends most of its time turning images into codes: the `cpu` preset's metrics read
about 250,000 distinct images. For every method with Dis-GU's encoder (Dis-GU, DisCo, the direction
baselines) that is the encoder's forward pass; for the glow-ica baseline it is the Glow's exact
inverse. `ContrastiveEncoder.encode_images`, `evaluation.representation_function` and
`baselines.glow_ica_codes.codes_function` use the fastest setting measured here.

    python benchmarks/bench_encoder_inference.py --resolution 32 --seconds 4
    python benchmarks/bench_encoder_inference.py --model glow --seconds 8
"""

from __future__ import annotations

import argparse
import time

import torch

from disgu.models.encoder import ContrastiveEncoder


def images_per_second(forward, x: torch.Tensor, seconds: float) -> float:
    with torch.no_grad():
        forward(x)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            forward(x)
            n += len(x)
    return n / (time.perf_counter() - t0)


def encoder_rates(resolution: int, dim: int, seconds: float) -> list[tuple[int, bool, float]]:
    net = ContrastiveEncoder(3, resolution, dim).eval()
    rows = []
    for batch in (64, 256, 512):
        for channels_last in (False, True):
            x = torch.rand(batch, 3, resolution, resolution)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            rows.append((batch, channels_last, images_per_second(net, x, seconds)))
    return rows


def glow_rates(dataset: str, seconds: float) -> list[tuple[int, bool, float]]:
    """The shipped Glow's `encode` (model-space input at the bins' centres), weights contiguous or channels-last."""
    from disgu.models.pretrained import load_pretrained_glow

    glow = load_pretrained_glow(dataset, 32)[0].eval()
    rows = []
    for channels_last in (False, True):
        net = glow.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        for batch in (64, 256):
            x = torch.rand(batch, net.config.in_channels, 32, 32) - 0.5
            rows.append((batch, channels_last, images_per_second(net.encode, x, seconds)))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("encoder", "glow"), default="encoder")
    p.add_argument("--resolution", type=int, default=32, help="encoder only; the shipped Glows are 32x32")
    p.add_argument("--dim", type=int, default=10, help="encoder only")
    p.add_argument("--dataset", default="shapes3d", help="glow only: whose shipped Glow")
    p.add_argument("--seconds", type=float, default=4.0)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    rows = encoder_rates(a.resolution, a.dim, a.seconds) if a.model == "encoder" else glow_rates(a.dataset, a.seconds)
    size = a.resolution if a.model == "encoder" else 32
    print(f"| batch | memory format | images/s ({a.model}, {size}x{size}, one thread) |")
    print("| --- | --- | --- |")
    for batch, channels_last, rate in rows:
        print(f"| {batch} | {'channels-last' if channels_last else 'contiguous'} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
