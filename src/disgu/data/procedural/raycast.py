"""Ray-primitive intersections for the procedural MPI3D and Cars3D renderers.

Rays are arrays of origins o (..., 3) and unit directions d (..., 3) given in the primitive's own
frame (centred at the origin, axis along z), so one routine serves every pose: callers move the
rays into the shape's frame instead of moving the shape. Each routine returns the distance to the
first hit (inf on a miss; the frame change is rigid, so distances are the same in every frame)
and the unit normal there, in the primitive's frame.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot product of (..., 3) arrays (numpy's reductions over an axis of 3 are slow)."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def rotate(v: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Coordinates of vectors v (..., 3) along the rows of `axes` (..., 3, 3)."""
    return np.stack([dot(v, axes[..., k, :]) for k in range(3)], -1)


def unrotate(v: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """The inverse of `rotate`: world vectors from coordinates along the rows of `axes`."""
    return v[..., 0, None] * axes[..., 0, :] + v[..., 1, None] * axes[..., 1, :] + v[..., 2, None] * axes[..., 2, :]


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """Camera axes as rows (right, up, forward) for a camera at `eye` looking at `target`."""
    forward = np.asarray(target, float) - np.asarray(eye, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(np.asarray(up, float), forward)
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(forward, right), forward])


def pixel_directions(axes: np.ndarray, px: np.ndarray, py: np.ndarray, size: int, half_fov: float) -> np.ndarray:
    """Unit ray directions (n, 3) through points (px, py) of a size x size image (pixels, row 0 at the top).

    `axes` (n, 3, 3) from `look_at`, one camera per ray.
    """
    t = np.tan(half_fov)
    u = (np.asarray(px) / size * 2 - 1) * t
    v = (1 - np.asarray(py) / size * 2) * t
    d = axes[:, 2] + u[:, None] * axes[:, 0] + v[:, None] * axes[:, 1]
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def render(trace, eyes: np.ndarray, axes: np.ndarray, size: int, half_fov: float, supersample: int,
           top_left: np.ndarray | None = None, side: int | None = None) -> np.ndarray:
    """Render V views (V, side, side, C) with `trace(o, d, view) -> (values (n, C), ident (n,))`.

    One ray per pixel first; a pixel whose 3x3 neighbourhood holds more than one `ident` (an edge
    between surfaces) is re-cast with supersample x supersample rays and averaged. Flat interiors
    cost one ray, which makes this several times cheaper than supersampling everywhere. A patch
    (`top_left` (V, 2) row and column, `side`) of the size x size frame gives exactly the pixels
    of the whole frame there, because its neighbourhoods are read from the frame, not the patch.
    """
    v_count = len(eyes)
    side = size if side is None else side
    top_left = np.zeros((v_count, 2), int) if top_left is None else np.asarray(top_left).reshape(v_count, 2)
    ring = np.arange(-1, side + 1)
    rows = np.clip(top_left[:, 0, None] + ring, 0, size - 1)  # outside the frame: repeat its border
    cols = np.clip(top_left[:, 1, None] + ring, 0, size - 1)
    r = np.broadcast_to(rows[:, :, None], (v_count, side + 2, side + 2)).ravel()
    c = np.broadcast_to(cols[:, None, :], (v_count, side + 2, side + 2)).ravel()
    view = np.repeat(np.arange(v_count), (side + 2) ** 2)
    values, ident = _trace_rays(trace, eyes, axes, view, c + 0.5, r + 0.5, size, half_fov)
    values = values.reshape(v_count, side + 2, side + 2, -1)
    ident = ident.reshape(v_count, side + 2, side + 2)
    centre = ident[:, 1:-1, 1:-1]
    edge = np.zeros(centre.shape, bool)
    for dy in range(3):
        for dx in range(3):
            edge |= ident[:, dy : dy + side, dx : dx + side] != centre
    out = values[:, 1:-1, 1:-1].copy()
    vi, yi, xi = np.nonzero(edge)
    if len(vi):
        offsets = (np.arange(supersample) + 0.5) / supersample
        oy, ox = np.meshgrid(offsets, offsets, indexing="ij")
        k = supersample**2
        py = (np.repeat(top_left[vi, 0] + yi, k) + np.tile(oy.ravel(), len(vi)))
        px = (np.repeat(top_left[vi, 1] + xi, k) + np.tile(ox.ravel(), len(vi)))
        sub, _ = _trace_rays(trace, eyes, axes, np.repeat(vi, k), px, py, size, half_fov)
        out[vi, yi, xi] = sub.reshape(len(vi), k, -1).mean(1)
    return out


def _trace_rays(trace, eyes, axes, view, px, py, size, half_fov, chunk: int = 65536):
    """`trace` over rays in chunks (keeps temporaries small enough for the CPU caches)."""
    values, ident = [], []
    for s in range(0, len(view), chunk):
        v = view[s : s + chunk]
        d = pixel_directions(axes[v], px[s : s + chunk], py[s : s + chunk], size, half_fov)
        val, idn = trace(eyes[v], d, v)
        values.append(val)
        ident.append(idn)
    return np.concatenate(values), np.concatenate(ident)


def axes_along(direction: np.ndarray) -> np.ndarray:
    """Right-handed axes (..., 3, 3) whose z row is `direction` (unit), x kept horizontal where possible."""
    z = direction / np.linalg.norm(direction, axis=-1, keepdims=True)
    helper = np.where(np.abs(z[..., 1:2]) > 0.99, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return np.stack([x, np.cross(z, x), z], axis=-2)


def nearest(candidates: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The smallest of several (t, normal) candidates per ray, and which candidate it was."""
    ts = np.stack([t for t, _ in candidates])
    which = ts.argmin(0)
    normal = np.zeros(ts.shape[1:] + (3,))
    for k, (_, n) in enumerate(candidates):
        sel = which == k
        normal[sel] = np.broadcast_to(n, normal.shape)[sel]
    return ts.min(0), normal, which


def hit_sphere(o: np.ndarray, d: np.ndarray, radius: float):
    """Sphere of `radius` at the origin."""
    b = dot(o, d)
    c = dot(o, o) - radius**2
    disc = b * b - c
    with np.errstate(invalid="ignore"):
        t = -b - np.sqrt(disc)
    t = np.where((disc >= 0) & (t > EPS), t, np.inf)
    p = o + d * np.where(np.isfinite(t), t, 0.0)[..., None]
    return t, p / radius


def hit_convex(o: np.ndarray, d: np.ndarray, normals: np.ndarray, offsets: np.ndarray):
    """Convex polyhedron {x : normals @ x <= offsets}: distance, normal and the index of the face hit.

    The ray enters through the face it crosses last on the way in and must do so before leaving
    through any face; planes are visited one at a time so no (rays x faces) array is built.
    """
    shape = np.broadcast_shapes(o.shape, d.shape)[:-1]
    t_near = np.full(shape, -np.inf)
    t_far = np.full(shape, np.inf)
    face = np.zeros(shape, np.int64)
    parallel_outside = np.zeros(shape, bool)
    for k, (normal, offset) in enumerate(zip(normals, offsets)):
        num = offset - dot(o, normal)  # elementwise, not BLAS: the same bits with any thread count
        den = dot(d, normal)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = num / den
        entering = (den < 0) & (t > t_near)
        t_near = np.where(entering, t, t_near)
        face[entering] = k
        t_far = np.where(den > 0, np.minimum(t_far, t), t_far)
        parallel_outside |= (den == 0) & (num < 0)
    hit = (t_near <= t_far) & (t_near > EPS) & ~parallel_outside
    return np.where(hit, t_near, np.inf), normals[face], face


def hit_cylinder(o: np.ndarray, d: np.ndarray, radius: float, half_length: float):
    """Closed cylinder about the z axis, |z| <= half_length: distance, normal, and 1 where a flat end was hit."""
    a = d[..., 0] ** 2 + d[..., 1] ** 2
    b = o[..., 0] * d[..., 0] + o[..., 1] * d[..., 1]
    c = o[..., 0] ** 2 + o[..., 1] ** 2 - radius**2
    disc = b * b - a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t_side = (-b - np.sqrt(disc)) / a
    z = o[..., 2] + t_side * d[..., 2]
    t_side = np.where((disc >= 0) & (a > 1e-12) & (t_side > EPS) & (np.abs(z) <= half_length), t_side, np.inf)
    p = o + d * np.where(np.isfinite(t_side), t_side, 0.0)[..., None]
    side_normal = p * np.array([1.0, 1.0, 0.0]) / radius
    candidates = [(t_side, side_normal)]
    for sign in (1.0, -1.0):
        candidates.append((_disc_hit(o, d, sign * half_length, radius), np.array([0.0, 0.0, sign])))
    t, normal, which = nearest(candidates)
    return t, normal, (which > 0).astype(np.int8)


def hit_cone(o: np.ndarray, d: np.ndarray, radius: float, half_length: float):
    """Closed cone about z: base disc of `radius` at z = -half_length, apex at z = +half_length."""
    k2 = (radius / (2 * half_length)) ** 2
    w0 = half_length - o[..., 2]
    a = d[..., 0] ** 2 + d[..., 1] ** 2 - k2 * d[..., 2] ** 2
    b = o[..., 0] * d[..., 0] + o[..., 1] * d[..., 1] + k2 * w0 * d[..., 2]
    c = o[..., 0] ** 2 + o[..., 1] ** 2 - k2 * w0**2
    disc = b * b - a * c
    candidates = []
    for sign in (-1.0, 1.0):
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (-b + sign * np.sqrt(disc)) / a
        p = o + d * np.where(np.isfinite(t), t, 0.0)[..., None]
        ok = (disc >= 0) & (np.abs(a) > 1e-12) & (t > EPS) & (np.abs(p[..., 2]) <= half_length)
        grad = np.stack([p[..., 0], p[..., 1], k2 * (half_length - p[..., 2])], -1)
        grad /= np.maximum(np.linalg.norm(grad, axis=-1, keepdims=True), 1e-12)
        candidates.append((np.where(ok, t, np.inf), grad))
    candidates.append((_disc_hit(o, d, -half_length, radius), np.array([0.0, 0.0, -1.0])))
    t, normal, _ = nearest(candidates)
    return t, normal


def _disc_hit(o: np.ndarray, d: np.ndarray, z: float, radius: float) -> np.ndarray:
    """Distance to the disc of `radius` in the plane at height z (inf on a miss)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (z - o[..., 2]) / d[..., 2]
    p = o + d * np.where(np.isfinite(t), t, 0.0)[..., None]
    ok = (t > EPS) & (p[..., 0] ** 2 + p[..., 1] ** 2 <= radius**2)
    return np.where(ok, t, np.inf)


def box_planes(half: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Face normals and offsets of the box |x| <= half[0], |y| <= half[1], |z| <= half[2] (faces +x, -x, +y, ...)."""
    normals = np.concatenate([np.eye(3), -np.eye(3)])[[0, 3, 1, 4, 2, 5]]
    offsets = np.repeat(np.asarray(half, float), 2)
    return normals, offsets


def prism_planes(sides: int, apothem: float, half_length: float) -> tuple[np.ndarray, np.ndarray]:
    """A regular prism about z: `sides` side faces at distance `apothem`, flat ends at +-half_length."""
    angles = np.arange(sides) * 2 * np.pi / sides
    side = np.stack([np.cos(angles), np.sin(angles), np.zeros(sides)], 1)
    normals = np.concatenate([side, [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]])
    return normals, np.concatenate([np.full(sides, apothem), [half_length, half_length]])


def pyramid_planes(half_base: float, half_length: float) -> tuple[np.ndarray, np.ndarray]:
    """Square pyramid about z: base |x|, |y| <= half_base at z = -half_length, apex at z = +half_length."""
    h2 = 2 * half_length
    sides = np.array([[h2, 0, half_base], [-h2, 0, half_base], [0, h2, half_base], [0, -h2, half_base]], float)
    norm = np.linalg.norm(sides, axis=1)
    normals = np.concatenate([sides / norm[:, None], [[0.0, 0.0, -1.0]]])
    return normals, np.concatenate([half_base * half_length / norm, [half_length]])
