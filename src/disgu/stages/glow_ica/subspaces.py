"""Groups of dependent independent components, and one code per group.

Why: ICA assumes one-dimensional sources, but a factor can trace a curve through several latent
dimensions. A hue is a circle (red -> ... -> magenta -> red), and the object's orientation an arc, so
FastICA spreads such a factor over two or three components whose values depend on each other, and
MIG, which asks for one code dim per factor, sees the factor split. Independent subspace analysis
(Hyvarinen & Hoyer 2000) groups such components; here the groups are the connected components of the
graph "pairwise mutual information above a threshold" (quantile bins, so it does not depend on scale),
and each group's code is the angle of its points in the group's top principal plane, cut where that
angle is rarest so that no cluster of the factor straddles the cut. Single components stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _quantile_bins(x: np.ndarray, bins: int) -> np.ndarray:
    edges = np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1])
    return np.digitize(x, edges)


def dependence_matrix(sources: np.ndarray, bins: int = 16) -> np.ndarray:
    """(k, k) symmetric mutual information (nats) between pairs of sources, each cut into `bins` quantile bins.

    The plug-in estimate minus its bias for independent variables, (bins - 1)^2 / (2 n) (Miller-Madow;
    0.028 for 16 bins and 4,000 points), so the threshold means the same for any sample size.
    Independent components of the shipped Shapes3D Glow score 0.00-0.04, the components of one
    hue or of the orientation 0.06-0.6.
    """
    from sklearn.metrics import mutual_info_score

    s = np.asarray(sources)
    d = [_quantile_bins(s[:, i], bins) for i in range(s.shape[1])]
    k = s.shape[1]
    m = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            m[i, j] = m[j, i] = mutual_info_score(d[i], d[j])
    return m - (bins - 1) ** 2 / (2 * len(s)) * (1 - np.eye(k))


def dependent_groups(sources: np.ndarray, threshold: float = 0.1, bins: int = 16) -> list[list[int]]:
    """Connected components of the graph whose edges join sources with mutual information above `threshold`.

    Ordered by their smallest member, so the grouping is deterministic.
    """
    from scipy.sparse.csgraph import connected_components

    m = dependence_matrix(sources, bins)
    _, label = connected_components(m > threshold, directed=False)
    groups: dict[int, list[int]] = {}
    for i, g in enumerate(label):
        groups.setdefault(int(g), []).append(i)
    return sorted(groups.values(), key=min)


@dataclass
class GroupCodes:
    """How sources become codes: singles pass through, each group becomes the angle in its principal plane.

    `plane_coordinates` gives continuous targets (1 per single, 2 per group) that an encoder can regress;
    `codes` turns such coordinates into the final codes (1 per group).
    """

    groups: list[list[int]]
    centres: list[list[float]] = field(default_factory=list)  # per group: its mean source vector
    planes: list[list[list[float]]] = field(default_factory=list)  # per group: (len(group), 2) plane basis
    cuts: list[float] = field(default_factory=list)  # per group: the angle (radians) where the circle is cut
    keep: list[bool] = field(default_factory=list)  # per group: its components stay codes too (not a circle)

    def _keeps(self, gi: int) -> bool:
        return bool(self.keep[gi]) if self.keep else False

    @property
    def n_targets(self) -> int:
        return sum(self.layout())

    @property
    def n_codes(self) -> int:
        return len(self.layout())

    def plane_coordinates(self, sources: np.ndarray) -> np.ndarray:
        """(n, k) sources -> (n, n_targets) continuous coordinates."""
        cols = []
        for gi, g in enumerate(self.groups):
            if len(g) == 1:
                cols.append(sources[:, g])
                continue
            cols.append((sources[:, g] - np.asarray(self.centres[gi])) @ np.asarray(self.planes[gi]))
            if self._keeps(gi):
                cols.append(sources[:, g])
        return np.concatenate(cols, 1)

    def codes(self, coords: np.ndarray) -> np.ndarray:
        """(n, n_targets) coordinates -> (n, n_codes) codes; a group's code is an angle in [0, 2 pi)."""
        import torch

        from disgu.models.encoder import codes_from_coordinates

        t = torch.from_numpy(np.asarray(coords, np.float64))
        return codes_from_coordinates(t, self.layout(), self.code_cuts()).numpy()

    def layout(self) -> list[int]:
        """Per code: 1 (a source passed through) or 2 (a group's plane, read as an angle): what an encoder head needs."""
        out: list[int] = []
        for gi, g in enumerate(self.groups):
            out += [1] if len(g) == 1 else [2] + ([1] * len(g) if self._keeps(gi) else [])
        return out

    def code_cuts(self) -> list[float]:
        """Per code, the cut of its angle (0 for codes that are not angles)."""
        out: list[float] = []
        for gi, g in enumerate(self.groups):
            out += [0.0] if len(g) == 1 else [self.cuts[gi]] + ([0.0] * len(g) if self._keeps(gi) else [])
        return out


def fit_group_codes(sources: np.ndarray, threshold: float = 0.1, bins: int = 16, cut_bins: int = 72,
                    circle_cv: float | None = None) -> GroupCodes:
    """Group the sources, and fit each group's plane (its top two principal axes) and the cut of its angle.

    With `circle_cv`, a group is a circle when the radius of its points in the plane varies less than
    that (coefficient of variation; a hue's ring of the shipped Shapes3D Glow: 0.19-0.20, the
    scale-and-shape and orientation groups: 0.37-0.50): a circle's code is its angle alone, any other
    group keeps its components as codes beside the angle.
    """
    s = np.asarray(sources, np.float64)
    groups = dependent_groups(s, threshold, bins)
    out = GroupCodes(groups=groups)
    for g in groups:
        if len(g) == 1:
            out.centres.append([]), out.planes.append([]), out.cuts.append(0.0), out.keep.append(False)
            continue
        y = s[:, g]
        centre = y.mean(0)
        _, _, vt = np.linalg.svd(y - centre, full_matrices=False)
        plane = vt[:2].T
        plane = plane * np.sign(plane[np.abs(plane).argmax(0), [0, 1]])  # deterministic orientation
        uv = (y - centre) @ plane
        hist, _ = np.histogram(np.arctan2(uv[:, 1], uv[:, 0]), cut_bins, (-np.pi, np.pi))
        cut = (int(np.argmin(hist)) + 0.5) / cut_bins * 2 * np.pi - np.pi
        radius = np.hypot(uv[:, 0], uv[:, 1])
        out.keep.append(circle_cv is not None and float(radius.std() / radius.mean()) >= circle_cv)
        out.centres.append(centre.tolist()), out.planes.append(plane.tolist()), out.cuts.append(float(cut))
    return out
