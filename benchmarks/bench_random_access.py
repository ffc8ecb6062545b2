"""Random access speed of the built-in datasets: batches of 64 random images at 64x64 and 32x32.

Run: python benchmarks/bench_random_access.py [--datasets shapes3d mpi3d cars3d] [--batches 200]
Reads through the render cache as it is (DISGU_CACHE_DIR or the default); fill it first (any run on
the dataset, or bench_procedural_grids.py) so that the numbers are reads, not first renders. One
thread; the 32x32 numbers include the area-filter resize. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def speed(name: str, resolution: int, batches: int) -> float:
    """Images per second over `batches` random batches of 64 (seed 0), after one warm-up batch."""
    from disgu.data import load_dataset

    ds = load_dataset(name, resolution=resolution)
    rs = np.random.RandomState(0)
    ds.images(rs.randint(len(ds), size=64))
    start = time.perf_counter()
    for _ in range(batches):
        ds.images(rs.randint(len(ds), size=64))
    return batches * 64 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["shapes3d", "mpi3d", "cars3d"],
                        choices=["shapes3d", "dsprites", "mpi3d", "cars3d"])
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print("| dataset | random batches of 64, 64x64 | 32x32 |\n| --- | --- | --- |")
    for name in args.datasets:
        cells = [f"{speed(name, res, args.batches):,.0f} images/s" for res in (64, 32)]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
