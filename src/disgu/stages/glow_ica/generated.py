"""Glow samples with their navigated latents, decoded in resumable chunks: training data for a regression encoder.

Why: Khrulkov et al. (2021) train the encoder on generated images G(z) to predict the coordinates of z
along the directions, instead of on real images through the exact inverse. `ica.teacher=generated`
does that for the Glow-ICA directions, so the two teachers can be compared on the same frame. Each
chunk draws its latents from its own generator (seed, chunk), so a stopped run resumes to the same
sample; decodes that come out broken (`FrozenGlow.broken_mask`) are dropped and counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from disgu.atomic import atomic_path
from disgu.models.generator import FrozenGlow, quantise


def decode_in_chunks(frozen: FrozenGlow, n: int, temperature: float, seed: int, out_dir: Path, chunk: int,
                     batch_size: int = 64, progress: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """(uint8 (m, H, W, C) images, (m, nav_dim) float32 navigated latents, broken count), m <= n."""
    from tqdm.auto import tqdm

    from disgu.distributed import is_main

    out_dir.mkdir(parents=True, exist_ok=True)
    images, latents, broken = [], [], 0
    with tqdm(total=n, desc="glow-ica: decoding", disable=not (progress and is_main()), dynamic_ncols=True,
              unit="img") as bar:
        for i, start in enumerate(range(0, n, chunk)):
            size = min(chunk, n - start)
            path = out_dir / f"chunk_{i:04d}.npz"
            part = _load_chunk(path, size)
            if part is None:
                part = _decode_chunk(frozen, size, temperature, seed * 100_003 + i, batch_size)
                if is_main():
                    with atomic_path(path) as tmp, open(tmp, "wb") as f:
                        np.savez(f, **part)
            images.append(part["images"])
            latents.append(part["latents"])
            broken += int(part["broken"])
            bar.update(size)
    return np.concatenate(images), np.concatenate(latents), broken


def _load_chunk(path: Path, size: int) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as f:
        part = {k: f[k] for k in ("images", "latents", "broken")}
    return part if len(part["images"]) + int(part["broken"]) == size else None


@torch.no_grad()
def _decode_chunk(frozen: FrozenGlow, size: int, temperature: float, seed: int,
                  batch_size: int) -> dict[str, np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    images, latents, broken = [], [], 0
    for start in range(0, size, batch_size):
        m = min(batch_size, size - start)
        z = [(temperature * torch.randn(m, *shape, generator=gen)).to(frozen.device) for shape in frozen.shapes]
        x = frozen.decode(z)
        ok = ~frozen.broken_mask(x).cpu()
        broken += int((~ok).sum())
        images.append(quantise(x)[ok].numpy())
        latents.append(frozen.navigated(z).cpu()[ok].numpy().astype(np.float32))
    return {"images": np.concatenate(images), "latents": np.concatenate(latents), "broken": np.array(broken)}
