"""Traversals G(z + eps n_d) of every direction, ranked by how strongly and exclusively each moves one code dim.

For each direction d, `direction_code_effects` measures e[d, j] = mean over z of
|E(G(z + s n_d)) - E(G(z))|_j / std_j, the code change in units of each code dim's spread over
generated images. A direction's strength is max_j e[d, j]; its exclusivity is the share of that
top dim in the total change, max_j e / sum_j e (1/D .. 1); its score is strength * exclusivity.
`write_traversals` draws one strip PNG (rows: latents z; columns: eps from -r to r) and one
animated GIF (eps sweeping back and forth) per direction, plus index.json in ranked order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from disgu.atomic import atomic_path, write_json
from disgu.discovery.generator import FrozenGlow
from disgu.discovery.navigator import Navigator
from disgu.models.glow import input_to_images


def _decode_images(frozen: FrozenGlow, z: list[torch.Tensor], shift: torch.Tensor | None,
                   batch: int = 64) -> np.ndarray:
    out = []
    n = z[0].shape[0]
    for i in range(0, n, batch):
        zi = [t[i : i + batch] for t in z]
        x = frozen.decode(zi) if shift is None else frozen.decode_shifted(zi, shift[i : i + batch])
        out.append(input_to_images(x.nan_to_num(0.0).clamp(-0.5, 0.5), frozen.n_bits))
    return np.concatenate(out)


@torch.no_grad()
def direction_code_effects(frozen: FrozenGlow, navigator: Navigator, encoder, n_latents: int, shift: float,
                           temperature: float, seed: int) -> np.ndarray:
    """(b, D) mean |code change| per direction, in units of each code dim's std over generated images."""
    gen = torch.Generator().manual_seed(seed)
    b = navigator.n_directions
    z = [(temperature * torch.randn(n_latents, *s, generator=gen)).to(frozen.device) for s in frozen.shapes]
    base_codes = encoder.encode_images(_decode_images(frozen, z, None))
    dirs = navigator.directions().to(frozen.device)
    effects, all_codes = [], [base_codes]
    for d in range(b):
        codes = encoder.encode_images(_decode_images(frozen, z, shift * dirs[d].expand(n_latents, -1)))
        all_codes.append(codes)
        effects.append(np.abs(codes - base_codes).mean(0))
    std = np.concatenate(all_codes).std(0)
    return np.stack(effects) / np.maximum(std, 1e-8)


def rank_directions(effects: np.ndarray, discovered_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Directions sorted by score = strength * exclusivity (see the module docstring), best first.

    `direction` is the index among the directions in use; `discovered_index` the column of the
    discovery stage's navigator it came from (they differ once redundant directions are pruned).
    """
    rows = []
    for d, e in enumerate(effects):
        top = int(np.argmax(e))
        strength = float(e[top])
        exclusivity = float(e[top] / max(e.sum(), 1e-12))
        rows.append({"direction": d, "discovered_index": int(discovered_ids[d]) if discovered_ids is not None else d,
                     "score": strength * exclusivity, "strength": strength, "exclusivity": exclusivity,
                     "code_dim": top})
    rows.sort(key=lambda r: -r["score"])
    for rank, r in enumerate(rows):
        r["rank"] = rank
    return rows


def _upscale(img: np.ndarray, scale: int) -> np.ndarray:
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return img.repeat(scale, 0).repeat(scale, 1) if scale > 1 else img


def _grid(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """images (rows*cols, H, W, 3) in row-major order -> one array with white padding."""
    h, w = images.shape[1:3]
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    return out


@torch.no_grad()
def traversal_images(frozen: FrozenGlow, direction: torch.Tensor, z: list[torch.Tensor],
                     shifts: Sequence[float]) -> np.ndarray:
    """(n_latents, n_shifts, H, W, C) uint8: G(z_i + eps_j n) for every latent i and shift j."""
    n = z[0].shape[0]
    zz = [t.repeat_interleave(len(shifts), 0) for t in z]
    eps = torch.tensor(list(shifts), dtype=torch.float32, device=frozen.device).repeat(n)
    imgs = _decode_images(frozen, zz, eps[:, None] * direction.to(frozen.device)[None])
    return imgs.reshape(n, len(shifts), *imgs.shape[1:])


def write_traversals(frozen: FrozenGlow, navigator: Navigator, encoder, out_dir: str | Path, cfg, seed: int,
                     temperature: float, effects: np.ndarray | None = None, effect_samples: int = 32,
                     labels: dict[int, dict[str, Any]] | None = None) -> list[dict]:
    """Strip PNG + GIF per direction and index.json (ranked); returns the ranked list.

    `labels`: per direction index, extra fields for index.json (the evaluation stage's factor names).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if effects is None:
        effects = direction_code_effects(frozen, navigator, encoder, effect_samples, cfg.shift_range, temperature,
                                         seed)
    ranked = rank_directions(effects, navigator.active.tolist())
    for row in ranked:
        row.update((labels or {}).get(row["direction"], {}))
    gen = torch.Generator().manual_seed(seed + 7)
    z = [(temperature * torch.randn(cfg.n_latents, *s, generator=gen)).to(frozen.device) for s in frozen.shapes]
    shifts = np.linspace(-cfg.shift_range, cfg.shift_range, cfg.n_shifts).tolist()
    dirs = navigator.directions()
    overview = []
    for row in ranked:
        d = row["direction"]
        imgs = traversal_images(frozen, dirs[d], z, shifts)
        n, s = imgs.shape[:2]
        up = np.stack([_upscale(im, cfg.scale) for im in imgs.reshape(n * s, *imgs.shape[2:])])
        strip = _grid(up, n, s)
        png = out_dir / f"direction_{d:03d}.png"
        with atomic_path(png) as tmp:
            Image.fromarray(strip).save(tmp)
        frames_idx = list(range(s)) + list(range(s - 2, 0, -1))
        frames = [Image.fromarray(_grid(up.reshape(n, s, *up.shape[1:])[:, j], 1, n)) for j in frames_idx]
        gif = out_dir / f"direction_{d:03d}.gif"
        with atomic_path(gif) as tmp:
            frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=cfg.gif_ms, loop=0)
        row.update({"png": png.name, "gif": gif.name})
        if len(overview) < 8:
            overview.append(up.reshape(n, s, *up.shape[1:])[0])
    if overview:
        sheet = _grid(np.concatenate(overview), len(overview), len(shifts))
        with atomic_path(out_dir / "top_directions.png") as tmp:
            Image.fromarray(sheet).save(tmp)
    write_json(out_dir / "index.json", {
        "score": "strength * exclusivity; strength = max_j e[d, j], exclusivity = max_j e / sum_j e, where e[d, j] "
                 "is the mean |code change| of dim j for a shift of shift_range along d, in units of dim j's std",
        "shifts": shifts, "temperature": temperature, "seed": seed, "config": asdict(cfg),
        "overview": "top_directions.png (rows: the 8 best directions, first latent)",
        "directions": ranked,
    })
    return ranked
