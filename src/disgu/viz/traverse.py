"""Traversals G(z + eps n_d) of every direction, in the order `disgu.evaluation.directions` ranks them.

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
from disgu.evaluation.directions import decoded_images, direction_code_effects, rank_directions
from disgu.models.generator import FrozenGlow
from disgu.models.navigator import Navigator


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
def _row_label(row: dict[str, Any]) -> str:
    """'#0 dir 5 score 0.72' and, where the evaluation named it, the factor and its normalised MI."""
    text = f"#{row['rank']} dir {row['direction']}  score {row['score']:.2f}"
    if row.get("factor"):
        text += f"\n{row['factor']} (MI/H {row.get('factor_nmi', float('nan')):.2f})"
    return text


def _labelled(sheet: np.ndarray, labels: list[str], width: int = 190) -> Image.Image:
    """The overview with a white label panel on its left, one label per row of images."""
    from PIL import ImageDraw

    h = sheet.shape[0]
    canvas = Image.new("RGB", (width + sheet.shape[1], h), "white")
    canvas.paste(Image.fromarray(sheet).convert("RGB"), (width, 0))
    draw = ImageDraw.Draw(canvas)
    row_h = h / max(len(labels), 1)
    for i, text in enumerate(labels):
        if row_h < 30:  # rows too small for two lines (tiny images): the first line only
            text = text.split("\n")[0]
        top = int(i * row_h + row_h / 2 - (12 if "\n" in text else 6))
        draw.multiline_text((6, max(top, int(i * row_h))), text, fill=(0, 0, 0), spacing=4)
    return canvas


def traversal_images(frozen: FrozenGlow, direction: torch.Tensor, z: list[torch.Tensor],
                     shifts: Sequence[float]) -> np.ndarray:
    """(n_latents, n_shifts, H, W, C) uint8: G(z_i + eps_j n) for every latent i and shift j."""
    n = z[0].shape[0]
    zz = [t.repeat_interleave(len(shifts), 0) for t in z]
    eps = torch.tensor(list(shifts), dtype=torch.float32, device=frozen.device).repeat(n)
    imgs = decoded_images(frozen, zz, eps[:, None] * direction.to(frozen.device)[None])
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
            _labelled(sheet, [_row_label(r) for r in ranked[: len(overview)]]).save(tmp)
    write_json(out_dir / "index.json", {
        "score": "strength * exclusivity; strength = max_j e[d, j], exclusivity = max_j e / sum_j e, where e[d, j] "
                 "is the mean |code change| of dim j for a shift of shift_range along d, in units of dim j's std",
        "shifts": shifts, "temperature": temperature, "seed": seed, "config": asdict(cfg),
        "overview": "top_directions.png (rows: the 8 best directions, first latent; each labelled with its rank, "
                    "direction, score and the factor it moves where the evaluation named one)",
        "directions": ranked,
    })
    return ranked
