"""Procedural Shapes3D speed: full-grid render time and random-access images/s.

Run: python benchmarks/bench_data.py [--skip-full]
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-full", action="store_true", help="skip composing all 480,000 images")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["DISGU_CACHE_DIR"] = cache  # measure the first, uncached render too
        from disgu.data import load_dataset
        from disgu.data.procedural.shapes3d import load_coverage

        rows = []
        t = time.perf_counter()
        load_coverage(progress=False)
        rows.append(("render the 480 scene buffers (first use, then cached)", f"{time.perf_counter() - t:.1f} s"))
        t = time.perf_counter()
        load_coverage(progress=False)
        rows.append(("load the cached buffers", f"{time.perf_counter() - t:.2f} s"))

        ds = load_dataset("shapes3d")
        if not args.skip_full:
            t = time.perf_counter()
            checksum = 0
            for start in range(0, len(ds), 8192):
                checksum += int(ds.images(np.arange(start, min(len(ds), start + 8192)))[:, 0, 0, 0].sum())
            rows.append(("compose all 480,000 images at 64x64 (sequential chunks of 8192)", f"{time.perf_counter() - t:.1f} s"))

        rs = np.random.RandomState(0)
        for res in (64, 32):
            d = load_dataset("shapes3d", resolution=res)
            d.images([0])  # buffers for this resolution
            for batch in (64, 1024):
                n_batches = max(4, 40_000 // batch)
                t = time.perf_counter()
                for _ in range(n_batches):
                    d.images(rs.randint(len(d), size=batch))
                ips = n_batches * batch / (time.perf_counter() - t)
                rows.append((f"random access {res}x{res}, batches of {batch}", f"{ips:,.0f} images/s"))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}")
    print("| what | result |\n| --- | --- |")
    for what, result in rows:
        print(f"| {what} | {result} |")


if __name__ == "__main__":
    main()
