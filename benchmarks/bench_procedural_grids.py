"""Procedural MPI3D and Cars3D: time and memory to render each full grid, and random access after.

Run: python benchmarks/bench_procedural_grids.py [--fraction F] [--datasets mpi3d cars3d]
Each dataset runs in its own process with an empty cache (so its peak memory is its own) and goes
through three phases: render every scene into the cache, compose every image of the grid in
sequential chunks, then random batches. With --fraction F < 1, only every (1/F)-th scene is
rendered and the render time is extrapolated to the whole grid (the table says so).
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def measure(name: str, fraction: float) -> dict:
    """All measurements of one dataset in this process (its cache dir is already set)."""
    from disgu.data import load_dataset

    ds = load_dataset(name)
    caches = [ds.arm_frames, ds.object_windows] if name == "mpi3d" else [ds.renders]
    out: dict = {"name": name, "num_images": len(ds), "fraction": fraction}
    step = max(1, round(1 / fraction))
    start = _clock()
    for cache in caches:
        items = np.arange(0, cache.num_items, step)
        for s in range(0, len(items), 256):
            cache.get(items[s : s + 256])
    wall, cpu = _since(start)
    scale = sum(c.num_items for c in caches) / sum(len(range(0, c.num_items, step)) for c in caches)
    out["render_wall_s"], out["render_cpu_s"], out["render_scale"] = wall * scale, cpu * scale, scale
    out["cache_mb"] = sum(c.path.stat().st_size for c in caches) / 1e6  # the file's size once every row is written

    if step == 1:
        start = _clock()
        checksum = 0
        for s in range(0, len(ds), 8192):
            checksum += int(ds.images(np.arange(s, min(len(ds), s + 8192)))[:, 0, 0, 0].sum())
        out["compose_wall_s"], out["compose_cpu_s"] = _since(start)

        rs = np.random.RandomState(0)
        for res in (64, 32):
            d = load_dataset(name, resolution=res)
            d.images([0])
            batches = 200
            start = _clock()
            for _ in range(batches):
                d.images(rs.randint(len(d), size=64))
            out[f"random64_{res}_per_s"] = batches * 64 / _since(start)[0]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _rows(r: dict) -> list[tuple[str, str]]:
    name, n = r["name"], f"{r['num_images']:,}"
    extrapolated = "" if r["render_scale"] == 1 else f" (extrapolated from 1/{r['render_scale']:.0f} of the scenes)"
    rows = [(f"{name}: render every scene into the cache (first use){extrapolated}",
             f"{r['render_wall_s']:.0f} s wall, {r['render_cpu_s']:.0f} s CPU"),
            (f"{name}: cache on disk when full", f"{r['cache_mb']:.0f} MB")]
    if "compose_wall_s" in r:
        rows.append((f"{name}: then compose all {n} images at 64x64 (chunks of 8192)",
                     f"{r['compose_wall_s']:.0f} s wall, {r['compose_cpu_s']:.0f} s CPU"))
        for res in (64, 32):
            speed = r[f"random64_{res}_per_s"]
            rows.append((f"{name}: random batches of 64, {res}x{res}, cache full", f"{speed:,.0f} images/s"))
    rows.append((f"{name}: peak resident memory of the process (includes the cache pages it mapped)",
                 f"{r['peak_rss_mb']:.0f} MiB"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fraction", type=float, default=1.0, help="render this fraction of the scenes (0 < F <= 1)")
    parser.add_argument("--datasets", nargs="+", default=["mpi3d", "cars3d"], choices=["mpi3d", "cars3d"])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one dataset in this process
    args = parser.parse_args()
    if not 0 < args.fraction <= 1:
        parser.error(f"--fraction: expected 0 < F <= 1, got {args.fraction}")
    if args.one:
        print(json.dumps(measure(args.one, args.fraction)))
        return
    results = []
    for name in args.datasets:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, DISGU_CACHE_DIR=cache)
            cmd = [sys.executable, __file__, "--one", name, "--fraction", str(args.fraction)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"{name}: done", file=sys.stderr)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print("| what | result |\n| --- | --- |")
    for r in results:
        for what, result in _rows(r):
            print(f"| {what} | {result} |")


if __name__ == "__main__":
    main()
