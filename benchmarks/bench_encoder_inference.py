"""Throughput of the encoder's inference on one CPU thread: batch size and memory format.

The evaluation of every method that has Dis-GU's encoder (Dis-GU, DisCo, the direction baselines)
spends most of its time in this loop: the `cpu` preset's metrics encode about 250,000 distinct
images. `ContrastiveEncoder.encode_images` and `evaluation.representation_function` use the fastest
setting measured here.

    python benchmarks/bench_encoder_inference.py --resolution 32 --seconds 4
"""

from __future__ import annotations

import argparse
import time

import torch

from disgu.models.encoder import ContrastiveEncoder


def images_per_second(net: torch.nn.Module, batch: int, channels_last: bool, seconds: float) -> float:
    x = torch.rand(batch, net.in_channels, net.resolution, net.resolution)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        net(x)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            net(x)
            n += batch
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--dim", type=int, default=10)
    p.add_argument("--seconds", type=float, default=4.0)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    net = ContrastiveEncoder(3, a.resolution, a.dim).eval()
    print(f"| batch | memory format | images/s ({a.resolution}x{a.resolution}, one thread) |")
    print("| --- | --- | --- |")
    for batch in (64, 256, 512):
        for channels_last in (False, True):
            rate = images_per_second(net, batch, channels_last, a.seconds)
            print(f"| {batch} | {'channels-last' if channels_last else 'contiguous'} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
