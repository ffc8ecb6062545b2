"""A dataset at a glance: one row per factor, sweeping it with the other factors held fixed."""

from __future__ import annotations

import numpy as np
from PIL import Image

from disgu.data.base import GroundTruthDataset, ImageDataset
from disgu.viz.grid import labelled_rows, tile


def contact_sheet(ds: ImageDataset, *, seed: int = 0, max_columns: int = 15, scale: int = 2) -> Image.Image:
    """Factor sweeps for a ground-truth dataset; a plain grid of random images otherwise."""
    rs = np.random.RandomState(seed)
    if not isinstance(ds, GroundTruthDataset):
        idx = np.sort(rs.choice(len(ds), size=min(len(ds), 8 * max_columns), replace=False))
        img = Image.fromarray(tile(ds.images(idx), ncols=min(max_columns, len(idx))))
        return img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    base = ds.sample_factors(1, rs)[0]
    rows, labels = [], []
    for i, (name, k) in enumerate(zip(ds.factor_names, ds.factor_sizes)):
        values = np.unique(np.linspace(0, k - 1, min(k, max_columns)).round().astype(int))
        classes = np.repeat(base[None], len(values), axis=0)
        classes[:, i] = values
        rows.append(ds.images(ds.index_of(classes)))
        labels.append(f"{name} ({k})")
    return labelled_rows(rows, labels, scale=scale)
