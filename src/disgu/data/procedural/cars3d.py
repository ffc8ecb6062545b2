"""Procedural Cars3D: 183 parametric cars, 4 elevations x 24 azimuths each, in the official order.

Each car is a few convex solids: a body with chamfered hood, tail and shoulders, a cabin whose
sloped faces are glass and whose top is the roof, and four wheels (tyre and hub), plus head and
tail lights. Its proportions (length, width, height, ground clearance, cabin placement and rake,
wheel size and wheelbase) and paint are drawn from a generator seeded by the car's number, so
car 17 is the same car everywhere. Every image is a distinct geometry, so each is ray-cast on
first use and kept (uint8, 216 MB when all 17,568 are rendered) in `cache_dir()` (see RenderCache).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import numpy as np

from disgu.data.procedural import raycast
from disgu.data.base import GroundTruthDataset
from disgu.data.official.cars3d_mat import FACTOR_NAMES, NUM_AZIMUTHS, NUM_ELEVATIONS
from disgu.data.procedural.render_cache import RenderCache, source_key

NUM_CARS = 183
FACTOR_SIZES = (NUM_ELEVATIONS, NUM_AZIMUTHS, NUM_CARS)
ELEVATIONS_DEG = np.array([5.0, 15.0, 25.0, 35.0])
AZIMUTHS_DEG = np.arange(NUM_AZIMUTHS) * 360.0 / NUM_AZIMUTHS

NATIVE = 64
SUPERSAMPLE = 3
_HALF_FOV = np.deg2rad(19.0)
_FILL = 0.97  # the car's bounding sphere fills this fraction of the frame's half-width
_LIGHT = np.array([0.35, 0.85, 0.4]) / np.linalg.norm([0.35, 0.85, 0.4])
_SEED = 20_190_630  # mixed with the car number

PAINTS = np.array([
    [0.92, 0.92, 0.90], [0.72, 0.73, 0.75], [0.42, 0.43, 0.45], [0.10, 0.10, 0.11], [0.72, 0.08, 0.07],
    [0.45, 0.05, 0.08], [0.10, 0.22, 0.62], [0.08, 0.12, 0.30], [0.12, 0.40, 0.22], [0.90, 0.72, 0.10],
    [0.88, 0.40, 0.08], [0.35, 0.62, 0.78], [0.55, 0.45, 0.32], [0.35, 0.10, 0.40],
])
GLASS, TYRE, HUB = np.array([0.16, 0.20, 0.26]), np.array([0.07, 0.07, 0.07]), np.array([0.74, 0.75, 0.77])
HEADLIGHT, TAILLIGHT = np.array([0.98, 0.96, 0.82]), np.array([0.85, 0.06, 0.05])
BACKGROUND = np.array([1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Car:
    """One car's proportions in metres (x forward, y up, z to the left) and paint."""

    length: float
    width: float
    clearance: float
    body_height: float
    cabin_height: float
    cabin_rear: float  # x of the cabin's lower rear edge
    cabin_front: float  # x of the cabin's lower front edge (the windscreen's foot)
    windscreen_run: float  # how far back the windscreen's top is from its foot
    rear_run: float  # how far forward the rear window's top is from its foot
    hood_drop: float
    wheel_radius: float
    wheelbase: float
    paint: tuple[float, float, float]

    @property
    def height(self) -> float:
        return self.clearance + self.body_height + self.cabin_height


def car_design(car: int) -> Car:
    """The seeded proportions of car number `car` (a sedan, hatchback, estate, SUV, van or coupe)."""
    rs = np.random.RandomState(_SEED + car)
    kind = rs.randint(6)  # 0 sedan, 1 hatchback, 2 estate, 3 SUV, 4 van, 5 coupe
    length = rs.uniform(*[(4.4, 5.0), (3.7, 4.3), (4.5, 5.0), (4.3, 4.9), (4.6, 5.2), (4.1, 4.6)][kind])
    width = rs.uniform(1.7, 1.95)
    clearance = rs.uniform(*[(0.14, 0.2), (0.14, 0.2), (0.14, 0.2), (0.24, 0.34), (0.18, 0.26), (0.1, 0.15)][kind])
    body_height = rs.uniform(*[(0.55, 0.65), (0.58, 0.68), (0.55, 0.65), (0.7, 0.85), (0.75, 0.9), (0.45, 0.55)][kind])
    cabin_height = rs.uniform(*[(0.42, 0.52), (0.45, 0.55), (0.45, 0.52), (0.5, 0.62), (0.8, 1.0), (0.34, 0.42)][kind])
    # Cabin extent as fractions of the length, measured from the rear.
    rear_f, front_f = [((0.2, 0.28), (0.66, 0.72)), ((0.02, 0.06), (0.62, 0.7)), ((0.02, 0.05), (0.66, 0.72)),
                       ((0.03, 0.07), (0.66, 0.72)), ((0.01, 0.03), (0.78, 0.86)), ((0.22, 0.3), (0.62, 0.68))][kind]
    cabin_rear = -length / 2 + rs.uniform(*rear_f) * length
    cabin_front = -length / 2 + rs.uniform(*front_f) * length
    windscreen_run = rs.uniform(*[(0.5, 0.8), (0.5, 0.8), (0.5, 0.75), (0.35, 0.6), (0.25, 0.5), (0.7, 1.0)][kind])
    rear_run = rs.uniform(*[(0.45, 0.7), (0.12, 0.3), (0.03, 0.1), (0.05, 0.15), (0.02, 0.06), (0.6, 0.9)][kind])
    roof = cabin_front - cabin_rear - windscreen_run - rear_run
    if roof < 0.35 * (cabin_front - cabin_rear):  # keep a roof: shrink both slopes together
        shrink = 0.65 * (cabin_front - cabin_rear) / (windscreen_run + rear_run)
        windscreen_run, rear_run = windscreen_run * shrink, rear_run * shrink
    hood_drop = rs.uniform(0.08, 0.22) if kind != 4 else rs.uniform(0.15, 0.3)
    wheel_radius = rs.uniform(0.3, 0.36) if kind not in (3, 4) else rs.uniform(0.36, 0.42)
    wheelbase = rs.uniform(0.58, 0.64) * length
    paint = PAINTS[rs.randint(len(PAINTS))] * rs.uniform(0.9, 1.05)
    return Car(length, width, clearance, body_height, cabin_height, cabin_rear, cabin_front, windscreen_run,
               rear_run, hood_drop, wheel_radius, wheelbase, tuple(np.clip(paint, 0, 1)))


def _plane(normal, point) -> tuple[np.ndarray, float]:
    n = np.asarray(normal, float)
    n /= np.linalg.norm(n)
    return n, float(n @ np.asarray(point, float))


def body_planes(c: Car) -> tuple[np.ndarray, np.ndarray]:
    """The body: a box from the clearance to the beltline with chamfered hood, tail, bumpers and shoulders."""
    x, w, y0, y1 = c.length / 2, c.width / 2, c.clearance, c.clearance + c.body_height
    hood = x - c.cabin_front
    planes = [
        _plane([1, 0, 0], [x, 0, 0]), _plane([-1, 0, 0], [-x, 0, 0]),
        _plane([0, 1, 0], [0, y1, 0]), _plane([0, -1, 0], [0, y0, 0]),
        _plane([0, 0, 1], [0, 0, w]), _plane([0, 0, -1], [0, 0, -w]),
        _plane([c.hood_drop, hood, 0], [x, y1 - c.hood_drop, 0]),  # the hood slopes down to the nose
        _plane([-0.1, 0.3, 0], [-x, y1 - 0.1, 0]),  # tail
        _plane([0.6, -1, 0], [x, y0 + 0.1, 0]), _plane([-0.6, -1, 0], [-x, y0 + 0.08, 0]),  # bumpers
        _plane([0, 1, 0.5], [0, y1, w - 0.1]), _plane([0, 1, -0.5], [0, y1, -w + 0.1]),  # shoulders
        _plane([0.5, 0, 1], [x - 0.12, 0, w]), _plane([0.5, 0, -1], [x - 0.12, 0, -w]),  # rounded front corners
    ]
    return np.array([p[0] for p in planes]), np.array([p[1] for p in planes])


ROOF_FACE = 0


def cabin_planes(c: Car) -> tuple[np.ndarray, np.ndarray]:
    """The cabin: roof (face 0) and glass (the other faces), narrower at the top."""
    y0 = c.clearance + c.body_height - 0.02
    y1 = y0 + c.cabin_height + 0.02
    w = c.width / 2 - 0.08
    inset = 0.12 + 0.08 * c.cabin_height
    planes = [
        _plane([0, 1, 0], [0, y1, 0]), _plane([0, -1, 0], [0, y0, 0]),
        _plane([c.cabin_height, c.windscreen_run, 0], [c.cabin_front, y0, 0]),
        _plane([-c.cabin_height, c.rear_run, 0], [c.cabin_rear, y0, 0]),
        _plane([0, inset, c.cabin_height], [0, y0, w]), _plane([0, inset, -c.cabin_height], [0, y0, -w]),
    ]
    return np.array([p[0] for p in planes]), np.array([p[1] for p in planes])


def wheel_centres(c: Car) -> np.ndarray:
    """Centres of the four wheels (front left, front right, rear left, rear right)."""
    x, z = c.wheelbase / 2 + 0.04 * c.length, c.width / 2 - 0.12
    return np.array([[x, c.wheel_radius, z], [x, c.wheel_radius, -z], [-c.wheelbase / 2 + 0.04 * c.length,
                     c.wheel_radius, z], [-c.wheelbase / 2 + 0.04 * c.length, c.wheel_radius, -z]])


def _cameras(elevation: np.ndarray, azimuth: np.ndarray, c: Car) -> tuple[np.ndarray, np.ndarray]:
    """Eyes (V, 3) and camera axes (V, 3, 3) orbiting the car's centre at a distance that fits it in frame."""
    centre = np.array([0.0, c.height / 2, 0.0])
    radius = np.sqrt((c.length / 2) ** 2 + (c.width / 2) ** 2 + (c.height / 2) ** 2)
    dist = radius / (_FILL * np.sin(_HALF_FOV))
    e, a = np.deg2rad(ELEVATIONS_DEG[elevation]), np.deg2rad(AZIMUTHS_DEG[azimuth])
    offset = np.stack([np.cos(e) * np.cos(a), np.sin(e), np.cos(e) * np.sin(a)], -1)
    eyes = centre + dist * offset
    axes = np.stack([raycast.look_at(eye, centre) for eye in eyes])
    return eyes, axes


def _bounding_box_hit(o: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Which rays meet the axis-aligned box [lo, hi] (a cheap test that spares the rest most rays)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - o) / d, (hi - o) / d
    near = np.nanmax(np.minimum(t1, t2), axis=-1)
    far = np.nanmin(np.maximum(t1, t2), axis=-1)
    return (near <= far) & (far > 0)


def _tracer(c: Car):
    """trace(o, d, view) for raycast.render: the car's colour and a surface id per ray."""
    paint = np.asarray(c.paint)
    body, cabin, wheels = body_planes(c), cabin_planes(c), wheel_centres(c)
    lo = np.array([-c.length / 2, 0.0, -c.width / 2]) - 0.01
    hi = np.array([c.length / 2, c.height, c.width / 2]) + 0.01
    wheel_bound = np.hypot(c.wheel_radius, 0.13)
    w, y1 = c.width / 2, c.clearance + c.body_height

    def trace(o, d, view):
        rgb = np.broadcast_to(BACKGROUND, d.shape).copy()
        ident = np.zeros(len(d), np.int64)
        sel = np.flatnonzero(_bounding_box_hit(o, d, lo, hi))
        o, d = o[sel], d[sel]
        t_body, n_body, f_body = raycast.hit_convex(o, d, *body)
        t_cab, n_cab, f_cab = raycast.hit_convex(o, d, *cabin)
        t_wheel = np.full(len(d), np.inf)
        n_wheel = np.zeros((len(d), 3))
        hub = np.zeros(len(d), bool)
        for centre in wheels:
            rel = o - centre
            along = raycast.dot(rel, d)
            near = np.flatnonzero(raycast.dot(rel, rel) - along**2 <= wheel_bound**2)
            t, nrm, cap = raycast.hit_cylinder(rel[near], d[near], c.wheel_radius, 0.13)
            p = rel[near] + d[near] * np.where(np.isfinite(t), t, 0.0)[:, None]
            closer = t < t_wheel[near]
            k = near[closer]
            t_wheel[k], n_wheel[k] = t[closer], nrm[closer]
            hub[k] = ((cap == 1) & (p[:, 0] ** 2 + p[:, 1] ** 2 < (0.62 * c.wheel_radius) ** 2))[closer]

        t_all = np.stack([np.full(len(d), 1e9), t_body, t_cab, t_wheel])
        part = t_all.argmin(0)  # 0 background, 1 body, 2 cabin, 3 wheel
        normal = np.where((part == 1)[:, None], n_body, np.where((part == 2)[:, None], n_cab, n_wheel))
        p = o + d * np.where(part == 0, 0.0, t_all.min(0))[:, None]
        base = np.broadcast_to(BACKGROUND, p.shape).copy()
        base[part == 1] = paint
        glass = (part == 2) & (f_cab != ROOF_FACE)
        base[(part == 2) & ~glass] = paint
        base[glass] = GLASS
        base[part == 3] = TYRE
        base[(part == 3) & hub] = HUB
        lamp_band = (np.abs(p[:, 2]) > w - 0.42) & (np.abs(p[:, 2]) < w - 0.05) & (p[:, 1] > y1 - c.hood_drop - 0.2)
        head = (part == 1) & (f_body == 0) & lamp_band
        tail = (part == 1) & (f_body == 1) & lamp_band
        base[head], base[tail] = HEADLIGHT, TAILLIGHT

        lambert = np.clip(raycast.dot(normal, _LIGHT), 0.0, 1.0)
        half = _LIGHT - d
        half /= np.linalg.norm(half, axis=-1, keepdims=True)
        gloss = np.where((part == 1) | glass, 0.35, 0.05) * np.clip(raycast.dot(normal, half), 0, 1) ** 24
        shaded = base * (0.42 + 0.58 * lambert)[:, None] + gloss[:, None]
        rgb[sel] = np.where((part == 0)[:, None], BACKGROUND, shaded)
        ident[sel] = np.choose(part, [0, 1 + f_body, 20 + f_cab, 40 + hub]) + 100 * head + 200 * tail
        return rgb, ident

    return trace


def render_car(car: int, elevation, azimuth, size: int = NATIVE) -> np.ndarray:
    """RGB images (V, size, size, 3) uint8 of one car from V (elevation, azimuth) classes."""
    c = car_design(car)
    eyes, axes = _cameras(np.atleast_1d(elevation), np.atleast_1d(azimuth), c)
    rgb = raycast.render(_tracer(c), eyes, axes, size, _HALF_FOV, SUPERSAMPLE)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def _render_items(items: np.ndarray) -> np.ndarray:
    """Images for grid indices (elevation, azimuth, car), rendered car by car."""
    elevation, azimuth, car = np.unravel_index(items, FACTOR_SIZES)
    out = np.empty((len(items), NATIVE, NATIVE, 3), dtype=np.uint8)
    for k in np.unique(car):
        sel = np.flatnonzero(car == k)
        for chunk in np.array_split(sel, max(1, len(sel) // 96)):
            out[chunk] = render_car(int(k), elevation[chunk], azimuth[chunk])
    return out


@functools.cache
def _cache_key() -> str:
    """The renderer's source hash, taken once per process (an edit after that never mixes caches)."""
    return source_key(raycast, sys.modules[__name__])


class ProceduralCars3D(GroundTruthDataset):
    """Cars3D rendered offline: 17,568 images of 64x64 in the official order (car fastest).

    Factor classes are numbered as in the official loader (its factor_values are class numbers);
    the angles are ELEVATIONS_DEG and AZIMUTHS_DEG.
    """

    name = "cars3d"

    def __init__(self, resolution: int | None = None):
        super().__init__(FACTOR_NAMES, FACTOR_SIZES, None, (NATIVE, NATIVE, 3), resolution)
        key = _cache_key()
        self.renders = RenderCache(f"cars3d_{key}", int(np.prod(FACTOR_SIZES)), (NATIVE, NATIVE, 3), _render_items)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        return self.renders.get(idx)

    def describe(self) -> dict:
        d = super().describe()
        d["variant"] = "procedural"
        return d
