"""Official-format loaders: open time and random-access images/s of `ds.images`.

Run: python benchmarks/bench_official_loaders.py
Uses the test fakes (tests/official_fakes.py) at the official sizes: a contiguous 3dshapes.h5 (as
released) and uncompressed dSprites / MPI3D npz files, written as sparse files whose holes read as
zeros without disk I/O, so the numbers are the loader's own cost per read (a cold disk adds its
latency). Each measurement draws rows not read before in the run. Prints a Markdown table.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from official_fakes import SparseArray, dsprites_latents, shapes3d_labels, write_stored_npz

BATCH, BATCHES = 64, 60


def images_per_second(ds, resolution_label: str, rows: list, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ds.images(rng.integers(0, len(ds), BATCH))  # open handles, warm up
    t = time.perf_counter()
    for _ in range(BATCHES):
        ds.images(rng.integers(0, len(ds), BATCH))
    rate = BATCH * BATCHES / (time.perf_counter() - t)
    rows.append((f"{ds.name}: random batches of {BATCH}, {resolution_label}", f"{rate:,.0f} images/s"))


def main() -> None:
    from disgu.data import load_dataset

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shapes = tmp / "3dshapes.h5"
        with h5py.File(shapes, "w") as f:  # contiguous, like the released file
            images = f.create_dataset("images", shape=(480000, 64, 64, 3), dtype="uint8")
            images[0] = 1
            f["labels"] = shapes3d_labels()
        classes, values = dsprites_latents()
        dsprites = tmp / "dsprites.npz"
        write_stored_npz(dsprites, {"imgs": SparseArray((737280, 64, 64), np.uint8, {}),
                                    "latents_classes": classes, "latents_values": values})
        mpi3d = tmp / "mpi3d_real.npz"
        write_stored_npz(mpi3d, {"images": SparseArray((1036800, 64, 64, 3), np.uint8, {})})

        for name, path in (("shapes3d", shapes), ("dsprites", dsprites), ("mpi3d", mpi3d)):
            t = time.perf_counter()
            load_dataset(name, data_path=path)
            rows.append((f"{name}: open (checks shapes and the label grid)", f"{time.perf_counter() - t:.2f} s"))
            for seed, resolution in enumerate((None, 32)):
                ds = load_dataset(name, data_path=path, resolution=resolution)
                images_per_second(ds, "64x64" if resolution is None else "32x32", rows, seed)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print("| what | result |\n| --- | --- |")
    for what, result in rows:
        print(f"| {what} | {result} |")


if __name__ == "__main__":
    main()
