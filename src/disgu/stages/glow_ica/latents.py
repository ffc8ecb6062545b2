"""The navigated latents f(x) of a sample of training images, encoded in resumable chunks.

Why chunks: encoding 20,000 32x32 images through the Glow's inverse takes about 2.5 minutes on one
core; a stop loses at most one chunk, and a rerun continues where the files end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from disgu.atomic import atomic_path
from disgu.models.generator import FrozenGlow


def sample_indices(n_dataset: int, n: int, seed: int) -> np.ndarray:
    """`n` distinct dataset indices in random order (not sorted: the first ones must be a fair sample too)."""
    return np.random.default_rng(seed).choice(n_dataset, min(int(n), n_dataset), replace=False)


def encode_in_chunks(frozen: FrozenGlow, dataset, indices: np.ndarray, out_dir: Path, chunk: int,
                     progress: bool = True) -> np.ndarray:
    """(len(indices), nav_dim) float32 latents; chunk files in out_dir are reused, missing ones encoded."""
    import torch
    from tqdm.auto import tqdm

    from disgu.distributed import is_main

    out_dir.mkdir(parents=True, exist_ok=True)
    starts = range(0, len(indices), chunk)
    parts = []
    with tqdm(total=len(indices), desc="glow-ica: encoding", disable=not (progress and is_main()),
              dynamic_ncols=True, unit="img") as bar:
        for i, s in enumerate(starts):
            path = out_dir / f"chunk_{i:04d}.npy"
            part = None
            if path.is_file():
                part = np.load(path, allow_pickle=False)
                if part.shape[0] != len(indices[s : s + chunk]):
                    part = None
            if part is None:
                with torch.no_grad():
                    part = frozen.encode_navigated(dataset.images(np.sort(indices[s : s + chunk]))).cpu().numpy()
                order = np.argsort(np.argsort(indices[s : s + chunk]))
                part = part[order].astype(np.float32)
                if is_main():
                    with atomic_path(path) as tmp, open(tmp, "wb") as f:
                        np.save(f, part)
            parts.append(part)
            bar.update(len(part))
    return np.concatenate(parts)
