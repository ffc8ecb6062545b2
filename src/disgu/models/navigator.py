"""The navigator N: b unit directions in the navigated latent space, as the columns of an (a x b) matrix.

Two parameterisations (LD's "ortho" and "proj"):
- `ortho`: exactly orthonormal columns. When a == b, M = B expm(S - S^T) with S small
  (LD's square navigator); when a > b, M = the Q factor of B + W with W small (signs fixed so
  Q -> B as W -> 0), the non-square counterpart: still exactly orthonormal, any shape.
- `proj`: M = (B + W) with each column rescaled to unit length (LD's normalised projection);
  columns need not be orthogonal.
`keep_only` restricts the navigator to a subset of its directions (pruning redundant ones);
the subset is a buffer, saved with the weights. The base frame B is the first b coordinate axes
(`identity`, what LD starts from), a seeded random orthonormal frame (`random`), or a given
(a x b) orthonormal frame (the `pca` option builds one from data: `pca_base.principal_frame`; `ica`
`ica_base.independent_frame`); a `proj` navigator also takes a frame of unit, non-orthogonal columns.
It is a buffer too, saved with the weights. The learned part starts at init_scale * randn,
so the directions start at (almost) B and move only as training asks them to.

`save_navigator` / `load_navigator` are its file format (a state dict, loaded with
weights_only): the discovery stage writes it, the contrastive stage fine-tunes and rewrites it,
and evaluation, traversals and the direction baselines read it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from disgu.errors import UserError


def _base_frame(a: int, b: int, kind: str | Tensor, generator: torch.Generator | None,
                orthonormal: bool = True) -> Tensor:
    if isinstance(kind, Tensor):
        if tuple(kind.shape) != (a, b):
            raise UserError(f"navigator base: expected an ({a}, {b}) frame, got {tuple(kind.shape)}")
        gram = kind.T @ kind
        if not orthonormal:  # proj: unit columns are enough
            gram = torch.diag(torch.diagonal(gram))
        if float((gram - torch.eye(b, dtype=kind.dtype)).abs().max()) > 1e-4:
            raise UserError(f"navigator base: the given frame's columns are not {'ortho' if orthonormal else ''}"
                            f"normal")
        return kind.detach().float().clone()
    if kind == "identity":
        return torch.eye(a, b)
    if kind == "random":
        q, r = torch.linalg.qr(torch.randn(a, b, generator=generator, dtype=torch.float64))
        return (q * torch.sign(torch.diagonal(r))).float()
    raise UserError(f"navigator base: expected 'identity', 'random' or an (a, b) frame, got {kind!r}")


class Navigator(nn.Module):
    """Maps (direction index d, shift eps) to the latent shift eps * n_d (n_d = column d of M)."""

    def __init__(self, latent_dim: int, n_directions: int, kind: str = "ortho", base: str | Tensor = "identity",
                 init_scale: float = 1e-3, generator: torch.Generator | None = None):
        super().__init__()
        if n_directions < 1 or n_directions > latent_dim:
            raise UserError(
                f"n_directions: expected 1..{latent_dim} (the navigated latent dimension), got {n_directions}"
            )
        if kind not in ("ortho", "proj"):
            raise UserError(f"navigator: expected 'ortho' or 'proj', got {kind!r}")
        self.latent_dim, self.n_total, self.kind = int(latent_dim), int(n_directions), kind
        self.square = kind == "ortho" and latent_dim == n_directions
        self.register_buffer("base", _base_frame(latent_dim, n_directions, base, generator, kind == "ortho"))
        self.register_buffer("active", torch.arange(n_directions))
        shape = (latent_dim, latent_dim) if self.square else (latent_dim, n_directions)
        self.weight = nn.Parameter(init_scale * torch.randn(*shape, generator=generator))

    @property
    def n_directions(self) -> int:
        """Number of directions in use (all of them unless `keep_only` pruned some)."""
        return int(self.active.numel())

    def keep_only(self, indices) -> None:
        """Use only these of the current directions (indices into the current set), in this order."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.active.device)
        if idx.numel() < 1 or int(idx.min()) < 0 or int(idx.max()) >= self.n_directions:
            raise UserError(f"keep_only: indices must lie in 0..{self.n_directions - 1}, got {idx.tolist()}")
        self.active = self.active[idx].clone()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "active"
        if key in state_dict and state_dict[key].shape != self.active.shape:
            self.active = state_dict[key].clone().to(self.active.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def matrix(self) -> Tensor:
        """The (a, b) matrix M whose columns are the directions in use."""
        m = self.full_matrix()
        return m if self.n_directions == self.n_total else m[:, self.active]

    def full_matrix(self) -> Tensor:
        """All b learned directions as columns, pruned or not."""
        if self.square:
            return self.base @ torch.linalg.matrix_exp(self.weight - self.weight.T)
        m = self.base + self.weight
        if self.kind == "proj":
            return m / m.norm(dim=0, keepdim=True).clamp_min(1e-12)
        q, r = torch.linalg.qr(m)
        diag = torch.diagonal(r)
        return q * torch.where(diag < 0, -torch.ones_like(diag), torch.ones_like(diag))

    def forward(self, directions: Tensor, shifts: Tensor) -> Tensor:
        """(N,) direction indices and (N,) shifts -> (N, a) latent shifts eps * n_d."""
        return shifts[:, None] * self.matrix().T[directions]

    @torch.no_grad()
    def directions(self) -> Tensor:
        """(b, a) unit directions, detached."""
        return self.matrix().T.detach().clone()


def save_navigator(path: str | Path, navigator: Navigator, settings: Mapping[str, Any], levels: Sequence[int]) -> None:
    """Write the navigator with the discovery settings it came from and the levels it navigates.

    `settings` is the run's `discovery` section (a dict); its `n_directions` and `navigator` are
    set from the navigator itself, so the file always rebuilds the module it holds.
    """
    from disgu.checkpoint import save_checkpoint

    discovery = {**settings, "n_directions": navigator.n_total, "navigator": navigator.kind}
    save_checkpoint(path, model=navigator.state_dict(), step=0,
                    config={"discovery": discovery, "levels": list(levels), "latent_dim": navigator.latent_dim})


def load_navigator(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[Navigator, tuple[int, ...]]:
    """(navigator, navigated levels) as `save_navigator` wrote them."""
    from disgu.checkpoint import config_section, load_checkpoint, restore_module

    ckpt = load_checkpoint(path, map_location)
    c, d = ckpt["config"], config_section(ckpt, path, "discovery")
    levels = c.get("levels")
    if not isinstance(levels, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in levels):
        raise UserError(f"{path}: checkpoint config['levels'] is {levels!r}, expected a list of level indices")
    nav = restore_module(path, "navigator", lambda: Navigator(c.get("latent_dim"), d.get("n_directions"),
                                                              d.get("navigator"), "identity", 0.0), ckpt["model"],
                         free=("active",))
    return nav.to(map_location), tuple(levels)
