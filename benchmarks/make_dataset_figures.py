"""Figures for docs/datasets.md: procedural Shapes3D drawn like the real reference images.

Run: python benchmarks/make_dataset_figures.py
"""

from __future__ import annotations

import numpy as np

from disgu.data import load_dataset
from disgu.viz.contact_sheet import contact_sheet
from disgu.viz.grid import save_image, tile


def main() -> None:
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
    save_image(contact_sheet(load_dataset("dsprites"), seed=0), "docs/images/procedural_dsprites_sheet.png")


if __name__ == "__main__":
    main()
