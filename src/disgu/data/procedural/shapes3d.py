"""Procedural Shapes3D: the official factor grid, order and label values, rendered offline.

Only scale, shape and orientation change the geometry (8 x 4 x 15 = 480 scenes); the three
hues only recolour it. So each scene is ray-cast once (super-sampled, with a soft shadow) into
a small "coverage buffer": for every pixel, how much light each material (sky, floor, wall,
object) contributes. An image is then one weighted sum of four colours, which makes random
access to any of the 480,000 images cheap and exactly anti-aliased at every resolution.
The buffers are cached under `cache_dir()` (set DISGU_CACHE_DIR to move it).
"""

from __future__ import annotations

import colorsys

import numpy as np

from disgu.atomic import atomic_path
from disgu.data.base import GroundTruthDataset
from disgu.data.cache import cache_dir

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
FACTOR_VALUES = [
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.0, 0.9, 10),
    np.linspace(0.75, 1.25, 8),
    np.arange(4, dtype=np.float64),  # 0 cube, 1 cylinder, 2 sphere, 3 capsule
    np.linspace(-30.0, 30.0, 15),
]
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")

NATIVE = 64  # the official image size
SUPERSAMPLE = 3  # rays per pixel side
SHADOW_SAMPLES = 8  # light directions averaged for the soft shadow
_RENDER_REVISION = 2  # bump when the shading code changes (the cache key hashes the constants too)

SKY_RGB = np.array([0.63, 0.88, 0.97])
# Materials in the coverage buffer; their colours come from the hues (sky is fixed).
SKY, FLOOR, WALL, OBJECT = range(4)

# Scene (world units; y up, object on the floor at the origin, back wall behind it).
_CAM_DIST, _CAM_HEIGHT, _LOOK_HEIGHT = 4.6, 1.63, 1.2
_HALF_FOV = np.deg2rad(30.0)
_BACK_Z, _SIDE_X, _WALL_TOP = 3.2, 4.75, 3.0
_LIGHT = np.array([-0.6, 0.6, -0.5])
_LIGHT /= np.linalg.norm(_LIGHT)


def hue_rgb(hue: np.ndarray) -> np.ndarray:
    """Fully saturated HSV colours, as Shapes3D's hues are."""
    return np.array([colorsys.hsv_to_rgb(float(h), 1.0, 1.0) for h in np.ravel(hue)]).reshape(*np.shape(hue), 3)


# ----------------------------------------------------------------------------------------------
# Ray casting. Every function works on flat arrays of rays: origins o (n, 3), directions d (n, 3).


def _hit_box(o, d, half, height):
    """Axis-aligned box [-half, half] x [0, height] x [-half, half]: distance and normal."""
    lo = np.array([-half, 0.0, -half])
    hi = np.array([half, height, half])
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1, t2 = (lo - o) * inv, (hi - o) * inv
    tmin, tmax = np.minimum(t1, t2), np.maximum(t1, t2)
    t_near, axis = tmin.max(axis=1), tmin.argmax(axis=1)
    t_far = tmax.min(axis=1)
    hit = (t_near <= t_far) & (t_near > 1e-6)
    normal = np.zeros_like(o)
    normal[np.arange(len(o)), axis] = -np.sign(d[np.arange(len(o)), axis])
    return np.where(hit, t_near, np.inf), normal


def _hit_sphere(o, d, centre, radius):
    oc = o - centre
    b = (oc * d).sum(1)
    c = (oc * oc).sum(1) - radius**2
    disc = b * b - c
    with np.errstate(invalid="ignore"):
        t = -b - np.sqrt(disc)
    t = np.where((disc >= 0) & (t > 1e-6), t, np.inf)
    p = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
    return t, (p - centre) / radius


def _hit_vertical_cylinder(o, d, radius, y0, y1, cap_top: bool):
    """Side of a vertical cylinder between heights y0 and y1, plus an optional flat top."""
    a = d[:, 0] ** 2 + d[:, 2] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 2] * d[:, 2]
    c = o[:, 0] ** 2 + o[:, 2] ** 2 - radius**2
    disc = b * b - a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-b - np.sqrt(disc)) / a
    y = o[:, 1] + t * d[:, 1]
    t = np.where((disc >= 0) & (a > 1e-12) & (t > 1e-6) & (y >= y0) & (y <= y1), t, np.inf)
    p = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
    normal = np.stack([p[:, 0], np.zeros(len(o)), p[:, 2]], 1) / radius
    if cap_top:
        with np.errstate(divide="ignore", invalid="ignore"):
            tc = (y1 - o[:, 1]) / d[:, 1]
        pc = o + d * np.where(np.isfinite(tc), tc, 0.0)[:, None]
        on_cap = (tc > 1e-6) & (pc[:, 0] ** 2 + pc[:, 2] ** 2 <= radius**2)
        use_cap = on_cap & (tc < t)
        t = np.where(use_cap, tc, t)
        normal[use_cap] = [0.0, 1.0, 0.0]
    return t, normal


def _hit_object(o, d, shape: int, scale: float):
    """Nearest hit of the object (distance, unit normal); inf where the ray misses."""
    if shape == 0:  # cube
        half = 0.74 * scale
        return _hit_box(o, d, half, 2 * half)
    if shape == 1:  # cylinder
        r = 0.72 * scale
        return _hit_vertical_cylinder(o, d, r, 0.0, 2 * r, cap_top=True)
    if shape == 2:  # sphere
        r = 0.86 * scale
        return _hit_sphere(o, d, np.array([0.0, r, 0.0]), r)
    # capsule: a vertical cylinder closed by two hemispheres
    r, length = 0.58 * scale, 1.7 * scale
    parts = [
        _hit_vertical_cylinder(o, d, r, r, r + length, cap_top=False),
        _hit_sphere(o, d, np.array([0.0, r, 0.0]), r),
        _hit_sphere(o, d, np.array([0.0, r + length, 0.0]), r),
    ]
    ts = np.stack([p[0] for p in parts])
    best = ts.argmin(0)
    normal = np.choose(best[:, None], [p[1] for p in parts])
    return ts.min(0), normal


def _camera_rays(orientation_deg: float, size: int):
    """Rays through a size x size pixel grid of a camera turned about the object."""
    th = -np.deg2rad(orientation_deg)  # negative angles show the right-hand corner, as in the real data
    rot = np.array([[np.cos(th), 0, np.sin(th)], [0, 1, 0], [-np.sin(th), 0, np.cos(th)]])
    eye = rot @ np.array([0.0, _CAM_HEIGHT, -_CAM_DIST])
    forward = np.array([0.0, _LOOK_HEIGHT, 0.0]) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(np.array([0.0, 1.0, 0.0]), forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    s = (np.arange(size) + 0.5) / size * 2 - 1
    u, v = np.meshgrid(s, s)  # v grows downwards
    t = np.tan(_HALF_FOV)
    d = forward + (u.ravel()[:, None] * t) * right - (v.ravel()[:, None] * t) * up
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return np.broadcast_to(eye, d.shape).copy(), d


def _wall_texture(p: np.ndarray) -> np.ndarray:
    """A faint deterministic mottling on the walls, like the real renders' plaster."""
    a = np.sin(3.1 * p[:, 0] + 2.3 * p[:, 1] + 1.7 * p[:, 2]) * np.sin(2.2 * p[:, 1] - 1.9 * p[:, 0] + 2.9 * p[:, 2])
    return 1.0 - 0.025 * (a > 0.5)


def _soft_shadow(p: np.ndarray, shape: int, scale: float) -> np.ndarray:
    """Fraction of an area light (jittered directions) that the object hides from points p."""
    rng = np.random.RandomState(0)  # fixed jitter: rendering is deterministic
    blocked = np.zeros(len(p))
    for _ in range(SHADOW_SAMPLES):
        ld = _LIGHT + 0.12 * rng.randn(3)
        ld = np.broadcast_to(ld / np.linalg.norm(ld), p.shape)
        t, _ = _hit_object(p + 1e-4 * ld, ld, shape, scale)
        blocked += np.isfinite(t)
    return blocked / SHADOW_SAMPLES


def render_coverage(scale: float, shape: int, orientation_deg: float, size: int = NATIVE) -> np.ndarray:
    """Render one scene: (size, size, 4) light contributions of sky, floor, wall and object."""
    ss = size * SUPERSAMPLE
    o, d = _camera_rays(orientation_deg, ss)
    n = len(d)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(d[:, 1] < 0, -o[:, 1] / d[:, 1], np.inf)
        t_back = np.where(d[:, 2] > 0, (_BACK_Z - o[:, 2]) / d[:, 2], np.inf)
        t_side = np.where(d[:, 0] != 0, (np.sign(d[:, 0]) * _SIDE_X - o[:, 0]) / d[:, 0], np.inf)
    t_wall = np.minimum(t_back, t_side)
    p_wall = o + d * np.where(np.isfinite(t_wall), t_wall, 0)[:, None]
    wall_ok = np.isfinite(t_wall) & (p_wall[:, 1] <= _WALL_TOP) & (p_wall[:, 1] >= 0)
    t_wall = np.where(wall_ok, t_wall, np.inf)
    t_obj, n_obj = _hit_object(o, d, shape, scale)
    t_all = np.stack([np.full(n, 1e9), t_floor, t_wall, t_obj])
    material = t_all.argmin(0)
    t_hit = t_all.min(0)
    p = o + d * np.where(material == SKY, 0.0, t_hit)[:, None]

    light = np.zeros((n, 4))
    light[material == SKY, SKY] = 1.0

    sel = material == FLOOR
    if sel.any():
        pf = p[sel]
        depth_fade = 1.0 - 0.10 * np.clip((pf[:, 2] + 2.0) / 6.0, 0, 1)  # a little darker at the back
        light[sel, FLOOR] = depth_fade * (1.0 - 0.62 * _soft_shadow(pf, shape, scale))

    sel = material == WALL
    if sel.any():
        pw = p[sel]
        is_side = np.abs(np.abs(pw[:, 0]) - _SIDE_X) < 1e-6
        base = np.where(is_side, 0.70, 0.93) * _wall_texture(pw)
        light[sel, WALL] = base * (1.0 - 0.45 * _soft_shadow(pw, shape, scale))

    sel = material == OBJECT
    if sel.any():
        lambert = np.clip((n_obj[sel] * _LIGHT).sum(1), 0, 1)
        light[sel, OBJECT] = np.minimum(1.0, 0.48 + 0.62 * lambert)  # <= 1 keeps composing linear

    return light.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE, 4).mean(axis=(1, 3)).astype(np.float32)


def render_all_coverage(size: int = NATIVE, progress: bool = False) -> np.ndarray:
    """Coverage buffers of all 480 scenes, indexed [scale, shape, orientation]."""
    from tqdm import tqdm

    out = np.zeros((8, 4, 15, size, size, 4), dtype=np.float32)
    scenes = [(i, j, k) for i in range(8) for j in range(4) for k in range(15)]
    for i, j, k in tqdm(scenes, desc="rendering Shapes3D scenes (once)", disable=not progress, unit="scene", mininterval=2):
        out[i, j, k] = render_coverage(FACTOR_VALUES[3][i], j, FACTOR_VALUES[5][k], size)
    return out


def _scene_key() -> str:
    """A short hash of everything that shapes the render, so a changed scene never reads a stale cache."""
    import hashlib

    scene = (_CAM_DIST, _CAM_HEIGHT, _LOOK_HEIGHT, _HALF_FOV, _BACK_Z, _SIDE_X, _WALL_TOP, tuple(_LIGHT),
             SUPERSAMPLE, SHADOW_SAMPLES, tuple(SKY_RGB), _RENDER_REVISION)
    return hashlib.sha1(repr(scene).encode()).hexdigest()[:10]


def load_coverage(progress: bool = True) -> np.ndarray:
    """The 64x64 coverage buffers, rendered once and then read from the cache."""
    path = cache_dir() / f"shapes3d_coverage_{_scene_key()}_{NATIVE}.npy"
    if path.exists():
        try:
            buf = np.load(path, allow_pickle=False)
            if buf.shape == (8, 4, 15, NATIVE, NATIVE, 4):
                return buf
        except (OSError, ValueError):
            pass  # a damaged cache is re-rendered below
    buf = render_all_coverage(NATIVE, progress=progress)
    try:
        with atomic_path(path) as tmp:
            np.save(tmp, buf)
    except OSError:
        pass  # a read-only cache only costs re-rendering next time
    return buf


class ProceduralShapes3D(GroundTruthDataset):
    """Shapes3D rendered offline: 480,000 images in the official order (orientation fastest)."""

    name = "shapes3d"

    def __init__(self, resolution: int | None = None):
        super().__init__(FACTOR_NAMES, FACTOR_SIZES, FACTOR_VALUES, (NATIVE, NATIVE, 3), resolution)
        self._coverage: np.ndarray | None = None
        self._hues = hue_rgb(FACTOR_VALUES[0]).astype(np.float32)  # (10, 3)

    def _buffers(self) -> np.ndarray:
        if self._coverage is None:
            buf = load_coverage()
            res = self.resolution
            if res is not None and res != NATIVE and NATIVE % res == 0:
                # The buffers are linear in light, so block-averaging them is the area filter.
                f = NATIVE // res
                buf = buf.reshape(8, 4, 15, res, f, res, f, 4).mean(axis=(4, 6))
            self._coverage = np.ascontiguousarray(buf)
        return self._coverage

    def images(self, indices) -> np.ndarray:
        res = self.resolution
        if res is None or NATIVE % res == 0:  # render directly at the target size
            from disgu.data.base import _as_indices

            return self._compose(self.factors(_as_indices(indices, len(self))))
        return super().images(indices)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        # Reached only for resolutions that do not divide 64, where _buffers() holds the native ones.
        return self._compose(self.factors(idx))

    def _compose(self, f: np.ndarray) -> np.ndarray:
        buf = self._buffers()
        h = buf.shape[3]
        out = np.empty((len(f), h, h, 3), dtype=np.uint8)
        colours = np.empty((min(len(f), 2048), 4, 3), dtype=np.float32)
        colours[:, SKY] = SKY_RGB * 255.0
        for start in range(0, len(f), 2048):
            fb = f[start : start + 2048]
            n = len(fb)
            for material, factor in ((FLOOR, 0), (WALL, 1), (OBJECT, 2)):
                colours[:n, material] = self._hues[fb[:, factor]] * 255.0
            cov = buf[fb[:, 3], fb[:, 4], fb[:, 5]].reshape(n, h * h, 4)
            rgb = np.matmul(cov, colours[:n])  # (n, h*h, 3); light sums to <= 1, so clipping is only for rounding
            np.minimum(rgb, 254.5, out=rgb)
            out[start : start + n] = (rgb + 0.5).astype(np.uint8).reshape(n, h, h, 3)
        return out
