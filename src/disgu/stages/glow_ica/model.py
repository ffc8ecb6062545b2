"""GlowICA: the fitted frame of one Glow (levels, independent components, groups), saved without pickle."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from disgu.errors import UserError
from disgu.stages.glow_ica.subspaces import GroupCodes, fit_group_codes
from disgu.stages.glow_ica.ica import LatentICA, fit_latent_ica


@dataclass
class GlowICA:
    levels: tuple[int, ...]
    ica: LatentICA
    groups: GroupCodes
    seed: int
    fit_images: int

    @classmethod
    def fit(cls, latents: np.ndarray, levels: tuple[int, ...], n_components: int, seed: int,
            threshold: float = 0.1, bins: int = 16, max_iter: int = 1000, circle_cv: float | None = None) -> GlowICA:
        """Independent components of (n, a) navigated latents, then their dependent groups."""
        ica = fit_latent_ica(latents, n_components, seed, max_iter)
        groups = fit_group_codes(ica.sources(latents), threshold, bins, circle_cv=circle_cv)
        return cls(tuple(levels), ica, groups, seed, len(latents))

    def targets(self, latents: np.ndarray) -> np.ndarray:
        """(n, a) latents -> (n, n_targets) continuous coordinates (what an encoder learns to predict)."""
        return self.groups.plane_coordinates(self.ica.sources(latents))

    def codes(self, latents: np.ndarray) -> np.ndarray:
        """(n, a) latents -> (n, n_codes) codes: one per group of dependent components."""
        return self.groups.codes(self.targets(latents))

    def directions(self) -> np.ndarray:
        """(k, a) unit latent directions of the independent components (for traversals and navigator starts)."""
        return self.ica.directions()

    def save(self, path: str | Path) -> None:
        from disgu.atomic import atomic_path

        meta = {"levels": list(self.levels), "seed": self.seed, "fit_images": self.fit_images,
                "n_iter": self.ica.n_iter, "converged": self.ica.converged, "groups": asdict(self.groups)}
        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
            np.savez(f, mean=self.ica.mean, unmixing=self.ica.unmixing, mixing=self.ica.mixing,
                     meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))

    @classmethod
    def load(cls, path: str | Path) -> GlowICA:
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in ("mean", "unmixing", "mixing", "meta")}
            meta = json.loads(arrays["meta"].tobytes().decode())
            ica = LatentICA(arrays["mean"], arrays["unmixing"], arrays["mixing"], int(meta["n_iter"]),
                            bool(meta["converged"]))
            groups = GroupCodes(**meta["groups"])
        except (OSError, KeyError, ValueError, TypeError) as err:
            raise UserError(f"{path}: not a Glow-ICA frame written by disgu ({type(err).__name__}: {err})") from None
        return cls(tuple(meta["levels"]), ica, groups, int(meta["seed"]), int(meta["fit_images"]))
