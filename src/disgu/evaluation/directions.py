"""How strongly and exclusively each latent direction moves one code dim, and which factor that dim reads.

For each direction d, `direction_code_effects` measures e[d, j] = mean over z of
|E(G(z + s n_d)) - E(G(z))|_j / std_j, the code change in units of each code dim's spread over
generated images. A direction's strength is max_j e[d, j]; its exclusivity is the share of that
top dim in the total change, max_j e / sum_j e (1/D .. 1); its score is strength * exclusivity.
`label_directions` names the factor each direction's top code dim carries most information about.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from disgu.models.generator import FrozenGlow
from disgu.models.glow import input_to_images
from disgu.models.navigator import Navigator


def decoded_images(frozen: FrozenGlow, z: list[torch.Tensor], shift: torch.Tensor | None,
                   batch: int = 64) -> np.ndarray:
    """uint8 images G(z) (or G(z + shift)), decoded in batches; non-finite pixels become black."""
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
    base_codes = encoder.encode_images(decoded_images(frozen, z, None))
    dirs = navigator.directions().to(frozen.device)
    effects, all_codes = [], [base_codes]
    for d in range(b):
        codes = encoder.encode_images(decoded_images(frozen, z, shift * dirs[d].expand(n_latents, -1)))
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


def label_directions(ranked: list[dict[str, Any]], dataset, encoder, n: int, seed: int) -> None:
    """Name the factor each direction moves: the factor its top code dim carries most information about.

    Information is MIG's: the dim discretised into 20 bins, mutual information with each factor
    over `n` dataset images, divided by the factor's entropy (`factor_nmi`, 0..1). A direction
    whose top dim carries little about any factor (nmi near 0) moves something the factors do
    not describe, or nothing the encoder learned to read.
    """
    from disgu.metrics.mig import normalised_mutual_info

    rng = np.random.RandomState(seed)
    factors = dataset.sample_factors(n, rng)
    nmi = normalised_mutual_info(encoder.encode_images(dataset.images(dataset.index_of(factors))), factors)
    for row in ranked:
        j = int(np.argmax(nmi[row["code_dim"]]))
        row["factor"] = dataset.factor_names[j]
        row["factor_nmi"] = float(nmi[row["code_dim"], j])


def saved_direction_labels(run_dir) -> dict[int, dict[str, Any]] | None:
    """Per direction, the factor the evaluation stage named for it (evaluation/per_direction.json), if any."""
    import json
    from pathlib import Path

    path = Path(run_dir) / "evaluation" / "per_direction.json"
    if not path.is_file():
        return None
    return {r["direction"]: {k: r[k] for k in ("factor", "factor_nmi") if k in r}
            for r in json.loads(path.read_text())["ranked"]}
