"""The navigator N: b unit directions in the navigated latent space, as the columns of an (a x b) matrix.

Two parameterisations (LD's "ortho" and "proj"):
- `ortho`: exactly orthonormal columns. When a == b, M = B expm(S - S^T) with S small
  (LD's square navigator); when a > b, M = the Q factor of B + W with W small (signs fixed so
  Q -> B as W -> 0), the non-square counterpart: still exactly orthonormal, any shape.
- `proj`: M = (B + W) with each column rescaled to unit length (LD's normalised projection);
  columns need not be orthogonal.
The base frame B is the first b coordinate axes (`identity`, what LD starts from) or a
seeded random orthonormal frame (`random`). The learned part starts at init_scale * randn,
so the directions start at (almost) B and move only as training asks them to.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from disgu.errors import UserError


def _base_frame(a: int, b: int, kind: str, generator: torch.Generator | None) -> Tensor:
    if kind == "identity":
        return torch.eye(a, b)
    if kind == "random":
        q, r = torch.linalg.qr(torch.randn(a, b, generator=generator, dtype=torch.float64))
        return (q * torch.sign(torch.diagonal(r))).float()
    raise UserError(f"navigator base: expected 'identity' or 'random', got {kind!r}")


class Navigator(nn.Module):
    """Maps (direction index d, shift eps) to the latent shift eps * n_d (n_d = column d of M)."""

    def __init__(self, latent_dim: int, n_directions: int, kind: str = "ortho", base: str = "identity",
                 init_scale: float = 1e-3, generator: torch.Generator | None = None):
        super().__init__()
        if n_directions < 1 or n_directions > latent_dim:
            raise UserError(
                f"n_directions: expected 1..{latent_dim} (the navigated latent dimension), got {n_directions}"
            )
        if kind not in ("ortho", "proj"):
            raise UserError(f"navigator: expected 'ortho' or 'proj', got {kind!r}")
        self.latent_dim, self.n_directions, self.kind = int(latent_dim), int(n_directions), kind
        self.square = kind == "ortho" and latent_dim == n_directions
        self.register_buffer("base", _base_frame(latent_dim, n_directions, base, generator))
        shape = (latent_dim, latent_dim) if self.square else (latent_dim, n_directions)
        self.weight = nn.Parameter(init_scale * torch.randn(*shape, generator=generator))

    def matrix(self) -> Tensor:
        """The (a, b) matrix M whose columns are the directions."""
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
