"""Figures for docs/datasets.md: the procedural datasets' samples and contact sheets.

Run: python benchmarks/make_dataset_figures.py [shapes3d dsprites mpi3d cars3d]  (default: all)
"""

from __future__ import annotations

import sys

import numpy as np

from disgu.data import load_dataset
from disgu.viz.contact_sheet import contact_sheet
from disgu.viz.grid import save_image, tile


def samples(name: str, seed: int, count: int = 24, ncols: int = 8) -> np.ndarray:
    """A grid of random images, doubled in size for the docs."""
    ds = load_dataset(name)
    f = ds.sample_factors(count, np.random.RandomState(seed))
    grid = tile(ds.images(ds.index_of(f)), ncols=ncols, pad=4)
    return np.kron(grid, np.ones((2, 2, 1), dtype=np.uint8))


def shapes3d_figures() -> None:
    ds = load_dataset("shapes3d")
    rs = np.random.RandomState(3)
    f = ds.sample_factors(25, rs)
    grid = tile(ds.images(ds.index_of(f)), ncols=5, pad=6)
    save_image(np.kron(grid, np.ones((2, 2, 1), dtype=np.uint8)), "docs/images/procedural_shapes3d_samples.png")
    # The real sweep: red floor (0.0), blue wall (0.6), green cube (0.3), orientations -30..30.
    classes = np.array([[0, 6, 3, 4, 0, k] for k in (0, 3, 7, 11, 14)])
    sweep = tile(ds.images(ds.index_of(classes)), ncols=5, pad=2)
    save_image(np.kron(sweep, np.ones((3, 3, 1), dtype=np.uint8)), "docs/images/procedural_orientation_sweep.png")
    save_image(contact_sheet(ds, seed=0), "docs/images/procedural_shapes3d_sheet.png")


def dsprites_figures() -> None:
    save_image(contact_sheet(load_dataset("dsprites"), seed=0), "docs/images/procedural_dsprites_sheet.png")


def mpi3d_figures() -> None:
    save_image(samples("mpi3d", seed=0), "docs/images/procedural_mpi3d_samples.png")
    save_image(contact_sheet(load_dataset("mpi3d"), seed=0), "docs/images/procedural_mpi3d_sheet.png")


def cars3d_figures() -> None:
    save_image(samples("cars3d", seed=0), "docs/images/procedural_cars3d_samples.png")
    save_image(contact_sheet(load_dataset("cars3d"), seed=0), "docs/images/procedural_cars3d_sheet.png")


FIGURES = {"shapes3d": shapes3d_figures, "dsprites": dsprites_figures, "mpi3d": mpi3d_figures,
           "cars3d": cars3d_figures}


def main(names: list[str]) -> None:
    for name in names or FIGURES:
        if name not in FIGURES:
            raise SystemExit(f"unknown dataset {name!r}: expected some of {', '.join(FIGURES)}")
        FIGURES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
