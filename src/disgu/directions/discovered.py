"""LD (Voynov & Babenko 2020): the directions the discovery stage learned, without Dis-GU's contrastive stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from disgu.errors import UserError


def discovered_directions(navigator_path: str | Path, levels: tuple[int, ...]) -> np.ndarray:
    """(nav_dim, k) unit columns of a saved navigator, checked to navigate `levels` of the same Glow."""
    from disgu.models.navigator import load_navigator

    path = Path(navigator_path)
    if not path.is_file():
        raise UserError(f"ld: no navigator at {path} (expected a run's discovery/navigator.pt)")
    navigator, saved_levels = load_navigator(path)
    if tuple(saved_levels) != tuple(levels):
        raise UserError(f"ld: {path} navigates levels {list(saved_levels)}, this run levels {list(levels)}")
    return navigator.matrix().detach().double().cpu().numpy()
