"""Procedural MPI3D-toy: the official grid and factor order, rendered offline.

A grey robot arm hangs from above a plain coloured background; its first joint turns it about the
vertical axis (horizontal_axis), its second tilts it down (vertical_axis), and an object sits at
its tip, seen by one of three cameras (top, center, bottom).

Colours never change the geometry, so an image is a weighted sum of three colours (background,
arm, object) with per-pixel "light" weights that depend only on the scene. The arm alone depends
on (camera, horizontal, vertical): 4,800 full frames. The object adds (shape, size): 57,600
scenes, but it covers a small patch, so only a window around it is ray-cast, with the arm in
it; the window replaces that patch of the arm frame. Both kinds of buffers are rendered on first
use of each scene and kept (uint8, 175 MB when full) in `cache_dir()` (see RenderCache).
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from disgu.data.procedural import raycast
from disgu.data.base import GroundTruthDataset
from disgu.data.official.mpi3d_npz import FACTOR_NAMES, LAYOUTS
from disgu.data.procedural.render_cache import RenderCache, source_key

FACTOR_SIZES = LAYOUTS[1036800]  # colour 6, shape 6, size 2, camera 3, background 3, horizontal 40, vertical 40
COLOUR_NAMES = ("white", "green", "red", "blue", "brown", "olive")
SHAPE_NAMES = ("cone", "cube", "cylinder", "hexagonal_prism", "pyramid", "sphere")
SIZE_NAMES = ("small", "large")
CAMERA_NAMES = ("top", "center", "bottom")
BACKGROUND_NAMES = ("purple", "sea_green", "salmon")

OBJECT_RGB = np.array([[0.92, 0.92, 0.90], [0.16, 0.62, 0.22], [0.86, 0.14, 0.10],
                       [0.14, 0.28, 0.86], [0.50, 0.30, 0.14], [0.52, 0.53, 0.16]])
BACKGROUND_RGB = np.array([[0.52, 0.36, 0.62], [0.22, 0.56, 0.48], [0.96, 0.56, 0.48]])
ARM_RGB = np.array([0.58, 0.58, 0.60])

NATIVE = 64
SUPERSAMPLE = 3  # rays per pixel side
WINDOW = 28  # side of the ray-cast patch around the object, in pixels

# Scene, world units, y up; the cameras look along +z at the arm's workspace.
_SHOULDER = np.array([0.0, 1.0, 0.0])
_POST_TOP = 4.0
_POST_RADIUS, _JOINT_RADIUS, _ROD_RADIUS, _WRIST_RADIUS = 0.08, 0.13, 0.055, 0.075
_ROD_LENGTH = 1.3
_TURNS = np.deg2rad(np.linspace(-50.0, 50.0, 40))  # horizontal_axis: rotation about the vertical
_DIPS = np.deg2rad(np.linspace(5.0, 75.0, 40))  # vertical_axis: angle of the arm below the horizontal
_OBJECT_RADIUS = (0.17, 0.26)  # small, large
_CAMERA_HEIGHTS = (3.0, 1.0, -0.9)  # top, center, bottom
_CAMERA_DIST, _TARGET = 4.2, np.array([0.0, 0.35, -0.55])
_HALF_FOV = np.deg2rad(21.0)
_LIGHT = np.array([-0.45, 0.75, -0.5]) / np.linalg.norm([-0.45, 0.75, -0.5])
_AMBIENT = 0.38
BACKGROUND, ARM, OBJECT = range(3)  # the light channels


def _camera(height: int) -> tuple[np.ndarray, np.ndarray]:
    eye = np.array([0.0, _CAMERA_HEIGHTS[height], -_CAMERA_DIST])
    return eye, raycast.look_at(eye, _TARGET)


def _arm_direction(turn: np.ndarray, dip: np.ndarray) -> np.ndarray:
    """Unit direction of the arm from the shoulder (towards the cameras when turn = 0)."""
    a, b = _TURNS[turn], _DIPS[dip]
    return np.stack([np.cos(b) * np.sin(a), -np.sin(b), -np.cos(b) * np.cos(a)], -1)


def _object_hit(shape: int, radius: float, o, d):
    """Distance, normal and face of the object (in its frame: z along the arm, base at the tip)."""
    if shape == 0:
        return raycast.hit_cone(o, d, radius, radius)
    if shape == 1:
        return raycast.hit_convex(o, d, *raycast.box_planes((0.8 * radius,) * 3))
    if shape == 2:
        return raycast.hit_cylinder(o, d, 0.82 * radius, 0.82 * radius)
    if shape == 3:
        return raycast.hit_convex(o, d, *raycast.prism_planes(6, 0.82 * radius, 0.82 * radius))
    if shape == 4:
        return raycast.hit_convex(o, d, *raycast.pyramid_planes(0.8 * radius, radius))
    return raycast.hit_sphere(o, d, 0.88 * radius)


def _object_half_length(shape: int, radius: float) -> float:
    return {0: 1.0, 1: 0.8, 2: 0.82, 3: 0.82, 4: 1.0, 5: 0.88}[shape] * radius


def _in_frame(o, d, centre, axes, hit, bound: float | None = None):
    """Move rays into a primitive's frame (per-ray or shared centre and axes) and intersect.

    Only rays passing within `bound` of the centre are intersected (the rest miss). Returns
    distance, world normal and the primitive's part number (0 where it has only one).
    """
    t = np.full(len(o), np.inf)
    normal = np.zeros((len(o), 3))
    part = np.zeros(len(o), np.int64)
    rel = o - centre
    if bound is None:
        sel = slice(None)
    else:
        along = raycast.dot(rel, d)
        sel = np.flatnonzero(raycast.dot(rel, rel) - along**2 <= bound**2)
        if np.ndim(centre) == 2:
            centre, axes = centre[sel], axes[sel]
    rel, dd = rel[sel], d[sel]
    ts, ns, *ps = hit(raycast.rotate(rel, axes), raycast.rotate(dd, axes))
    t[sel] = ts
    normal[sel] = raycast.unrotate(ns, axes)
    if ps:
        part[sel] = ps[0]
    return t, normal, part


def _shade(normal: np.ndarray) -> np.ndarray:
    return _AMBIENT + (1 - _AMBIENT) * np.clip(raycast.dot(normal, _LIGHT), 0.0, 1.0)


def _tracer(turn: np.ndarray, dip: np.ndarray, obj: tuple[int, int] | None):
    """trace(o, d, pose) for raycast.render: light of background, arm and object per ray."""
    arm_dir = _arm_direction(turn, dip)  # (P, 3)
    rod_axes = raycast.axes_along(arm_dir)
    tip = _SHOULDER + _ROD_LENGTH * arm_dir
    rod_centre = _SHOULDER + 0.5 * _ROD_LENGTH * arm_dir
    up = raycast.axes_along(np.array([0.0, 1.0, 0.0]))
    post_half = (_POST_TOP - _SHOULDER[1]) / 2
    post_centre = _SHOULDER + [0.0, post_half, 0.0]
    rod_bound = np.hypot(0.5 * _ROD_LENGTH, _ROD_RADIUS)
    if obj is not None:
        shape, radius = obj[0], _OBJECT_RADIUS[obj[1]]
        obj_centre = tip + _object_half_length(shape, radius) * arm_dir

    def trace(o, d, pose):
        parts = [
            _in_frame(o, d, post_centre, up, lambda a, b: raycast.hit_cylinder(a, b, _POST_RADIUS, post_half)),
            _in_frame(o, d, _SHOULDER, up, lambda a, b: raycast.hit_sphere(a, b, _JOINT_RADIUS), _JOINT_RADIUS),
            _in_frame(o, d, rod_centre[pose], rod_axes[pose],
                      lambda a, b: raycast.hit_cylinder(a, b, _ROD_RADIUS, 0.5 * _ROD_LENGTH), rod_bound),
            _in_frame(o, d, tip[pose], rod_axes[pose], lambda a, b: raycast.hit_sphere(a, b, _WRIST_RADIUS),
                      _WRIST_RADIUS),
        ]
        t_arm, n_arm, which = raycast.nearest([(t, n) for t, n, _ in parts])
        ident = 32 + 4 * which + np.choose(which, [p for _, _, p in parts])
        on_obj = np.zeros(t_arm.shape, bool)
        light = np.zeros(t_arm.shape + (3,))
        if obj is not None:
            t_obj, n_obj, face = _in_frame(o, d, obj_centre[pose], rod_axes[pose],
                                           lambda a, b: _object_hit(shape, radius, a, b), 1.7 * radius)
            on_obj = t_obj < t_arm
            light[on_obj, OBJECT] = _shade(n_obj[on_obj])
            ident = np.where(on_obj, 64 + face, ident)
        on_arm = np.isfinite(t_arm) & ~on_obj
        light[on_arm, ARM] = _shade(n_arm[on_arm])
        light[~(on_arm | on_obj), BACKGROUND] = 1.0
        ident = np.where(on_arm | on_obj, ident, 0)
        return light, ident

    return trace


def render_lights(height: int, turn, dip, top_left, side: int, obj: tuple[int, int] | None = None) -> np.ndarray:
    """Light of background, arm and object (P, side, side, 3) in [0, 1] for P poses of one camera.

    Each pose's patch starts at pixel `top_left[p]` (row, column) of the 64x64 frame; `obj` is
    (shape, size) or None for the arm alone.
    """
    turn, dip = np.atleast_1d(turn), np.atleast_1d(dip)
    eye, cam_axes = _camera(height)
    p = len(turn)
    eyes, axes = np.broadcast_to(eye, (p, 3)), np.broadcast_to(cam_axes, (p, 3, 3))
    return raycast.render(_tracer(turn, dip, obj), eyes, axes, NATIVE, _HALF_FOV, SUPERSAMPLE,
                          np.asarray(top_left).reshape(p, 2), side)


def window_corners() -> np.ndarray:
    """Top-left pixel (row, column) of the object's window for every (camera, horizontal, vertical)."""
    h, v = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    arm_dir = _arm_direction(h.ravel(), v.ravel())
    centre = _SHOULDER + (_ROD_LENGTH + _OBJECT_RADIUS[1]) * arm_dir
    out = np.zeros((3, 40, 40, 2), dtype=np.int64)
    for height in range(3):
        eye, axes = _camera(height)
        cam = raycast.rotate(centre - eye, axes)
        scale = NATIVE / 2 / np.tan(_HALF_FOV)
        col = NATIVE / 2 + scale * cam[:, 0] / cam[:, 2]
        row = NATIVE / 2 - scale * cam[:, 1] / cam[:, 2]
        corner = np.stack([row, col], 1) - WINDOW / 2
        out[height] = np.clip(np.round(corner), 0, NATIVE - WINDOW).astype(np.int64).reshape(40, 40, 2)
    return out


def _quantise(light: np.ndarray) -> np.ndarray:
    return np.clip(np.round(light * 255.0), 0, 255).astype(np.uint8)


def _render_arm_items(items: np.ndarray) -> np.ndarray:
    """Arm frames (n, 64, 64, 2): light of background and arm, items numbered (camera, horizontal, vertical)."""
    height, turn, dip = np.unravel_index(items, (3, 40, 40))
    out = np.empty((len(items), NATIVE, NATIVE, 2), dtype=np.uint8)
    for cam in np.unique(height):
        for chunk in np.array_split(np.flatnonzero(height == cam), max(1, int(np.sum(height == cam)) // 64)):
            light = render_lights(int(cam), turn[chunk], dip[chunk], np.zeros((len(chunk), 2), int), NATIVE)
            out[chunk] = _quantise(light[..., :2])
    return out


def _render_object_items(items: np.ndarray) -> np.ndarray:
    """Object windows (n, WINDOW, WINDOW, 3), items numbered (shape, size, camera, horizontal, vertical)."""
    shape, size, height, turn, dip = np.unravel_index(items, (6, 2, 3, 40, 40))
    corners = window_corners()
    out = np.empty((len(items), WINDOW, WINDOW, 3), dtype=np.uint8)
    group = np.ravel_multi_index((shape, size, height), (6, 2, 3))
    for g in np.unique(group):
        s, z, cam = np.unravel_index(g, (6, 2, 3))
        sel = np.flatnonzero(group == g)
        for chunk in np.array_split(sel, max(1, len(sel) // 256)):
            light = render_lights(int(cam), turn[chunk], dip[chunk], corners[cam, turn[chunk], dip[chunk]], WINDOW,
                                  (int(s), int(z)))
            out[chunk] = _quantise(light)
    return out


@functools.cache
def _cache_key() -> str:
    """The renderer's source hash, taken once per process (an edit after that never mixes caches)."""
    return source_key(raycast, sys.modules[__name__])


def _mix(light: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Colours (n, 3, H, W) float32 from uint8 light (n, H, W, k) and k colours per image (n, k, 3).

    Summed term by term rather than by matmul, so the result never depends on a BLAS kernel;
    channel-first, so every operation runs over contiguous planes.
    """
    planes = np.moveaxis(light, -1, 1).astype(np.float32)  # (n, k, H, W)
    out = np.empty((len(light), 3) + light.shape[1:3], np.float32)
    for c in range(3):
        np.multiply(planes[:, 0], palette[:, 0, c, None, None], out=out[:, c])
        for k in range(1, light.shape[-1]):
            out[:, c] += planes[:, k] * palette[:, k, c, None, None]
    return out


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Channel-first float colours (n, 3, H, W) in 0..255 to uint8 images (n, H, W, 3)."""
    np.minimum(rgb, 254.5, out=rgb)  # light sums to 1, so this is only for rounding
    rgb += 0.5
    return np.ascontiguousarray(rgb.astype(np.uint8).transpose(0, 2, 3, 1))


class ProceduralMPI3D(GroundTruthDataset):
    """MPI3D-toy rendered offline: 1,036,800 images of 64x64 in the official order (vertical_axis fastest).

    Factor classes are numbered as in the official file (its factor_values are class numbers);
    the colour, shape, size, camera and background names are COLOUR_NAMES ... BACKGROUND_NAMES.
    """

    name = "mpi3d"
    _CHUNK = 512

    def __init__(self, resolution: int | None = None):
        super().__init__(FACTOR_NAMES, FACTOR_SIZES, None, (NATIVE, NATIVE, 3), resolution)
        key = _cache_key()
        self.arm_frames = RenderCache(f"mpi3d_arm_{key}", 3 * 40 * 40, (NATIVE, NATIVE, 2), _render_arm_items)
        self.object_windows = RenderCache(f"mpi3d_object_{key}", 6 * 2 * 3 * 40 * 40, (WINDOW, WINDOW, 3),
                                          _render_object_items)
        self._corners = window_corners()

    def _read(self, idx: np.ndarray) -> np.ndarray:
        f = self.factors(idx)
        out = np.empty((len(f), NATIVE, NATIVE, 3), dtype=np.uint8)
        for start in range(0, len(f), self._CHUNK):
            out[start : start + self._CHUNK] = self._compose(f[start : start + self._CHUNK])
        return out

    def _compose(self, f: np.ndarray) -> np.ndarray:
        colour, shape, size, cam, bg, turn, dip = f.T
        n = len(f)
        arm = self.arm_frames.get(np.ravel_multi_index((cam, turn, dip), (3, 40, 40)))
        win = self.object_windows.get(np.ravel_multi_index((shape, size, cam, turn, dip), (6, 2, 3, 40, 40)))
        palette = np.empty((n, 3, 3), dtype=np.float32)
        palette[:, BACKGROUND] = BACKGROUND_RGB[bg]
        palette[:, ARM] = ARM_RGB
        palette[:, OBJECT] = OBJECT_RGB[colour]
        rgb = _mix(arm, palette[:, :2])
        patch = _mix(win, palette)
        corner = self._corners[cam, turn, dip]
        rows = corner[:, 0, None, None] + np.arange(WINDOW)[None, :, None]
        cols = corner[:, 1, None, None] + np.arange(WINDOW)[None, None, :]
        for c in range(3):
            rgb[:, c][np.arange(n)[:, None, None], rows, cols] = patch[:, c]
        return _to_uint8(rgb)

    def render_direct(self, factor_classes) -> np.ndarray:
        """The same images ray-cast whole, without the cache or the object window (slow; for checks)."""
        f = np.asarray(factor_classes, dtype=np.int64).reshape(-1, self.num_factors)
        out = np.empty((len(f), NATIVE, NATIVE, 3), dtype=np.uint8)
        for i, (colour, shape, size, cam, bg, turn, dip) in enumerate(f):
            light = _quantise(render_lights(int(cam), turn, dip, [[0, 0]], NATIVE, (int(shape), int(size))))
            palette = np.stack([BACKGROUND_RGB[bg], ARM_RGB, OBJECT_RGB[colour]]).astype(np.float32)
            out[i] = _to_uint8(_mix(light, palette[None]))[0]
        return out

    def describe(self) -> dict:
        d = super().describe()
        d["variant"] = "procedural (MPI3D-toy layout)"
        return d
