"""Procedural MPI3D-toy: the official grid and order, factor-faithful pictures, rendered only where asked."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from disgu.cli import cli
from disgu.data import GroundTruthDataset, load_dataset
from disgu.data.official.mpi3d_npz import FACTOR_NAMES
from disgu.data.resize import resize_images

# Starting points: (colour, shape, size, camera, background, horizontal, vertical)
STARTS = np.array([[2, 5, 1, 1, 1, 20, 20], [0, 1, 0, 0, 2, 3, 35], [4, 4, 1, 2, 0, 37, 5]])


@pytest.fixture(scope="module")
def mpi3d(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DISGU_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield load_dataset("mpi3d")
    mp.undo()


def test_grid_and_factor_order_are_the_official_ones(mpi3d):
    assert isinstance(mpi3d, GroundTruthDataset)
    assert len(mpi3d) == 1_036_800 and mpi3d.image_shape == (64, 64, 3)
    assert mpi3d.factor_names == FACTOR_NAMES == (
        "object_color", "object_shape", "object_size", "camera_height", "background_color",
        "horizontal_axis", "vertical_axis")
    assert mpi3d.factor_sizes == (6, 6, 2, 3, 3, 40, 40)
    assert mpi3d.factors(np.arange(40))[:, 6].tolist() == list(range(40))  # vertical_axis fastest
    assert mpi3d.factors([40])[0].tolist() == [0, 0, 0, 0, 0, 1, 0]
    assert mpi3d.factors([1_036_799])[0].tolist() == [5, 5, 1, 2, 2, 39, 39]
    assert mpi3d.factors([172_800])[0].tolist() == [1, 0, 0, 0, 0, 0, 0]  # object_color slowest


def test_index_of_inverts_factors(mpi3d):
    idx = np.random.RandomState(0).randint(len(mpi3d), size=50_000)
    np.testing.assert_array_equal(mpi3d.index_of(mpi3d.factors(idx)), idx)
    classes = mpi3d.sample_factors(1000, np.random.RandomState(1))
    np.testing.assert_array_equal(mpi3d.factors(mpi3d.index_of(classes)), classes)


def test_every_factor_changes_the_image_from_several_starts(mpi3d):
    for start in STARTS:
        base = mpi3d.images(mpi3d.index_of(start))[0].astype(int)
        for factor, k in enumerate(mpi3d.factor_sizes):
            for other in {(start[factor] + 1) % k, (start[factor] + k // 2) % k}:
                moved = start.copy()
                moved[factor] = other
                img = mpi3d.images(mpi3d.index_of(moved))[0]
                changed = (np.abs(img.astype(int) - base).sum(-1) > 0).sum()
                assert changed > 0, (start.tolist(), FACTOR_NAMES[factor], other)


def test_equal_factors_give_identical_images_in_any_batch(mpi3d):
    idx = mpi3d.index_of(STARTS)
    alone = np.concatenate([mpi3d.images([i]) for i in idx])
    together = mpi3d.images(np.concatenate([idx[::-1], idx]))
    np.testing.assert_array_equal(together[3:], alone)
    np.testing.assert_array_equal(together[:3], alone[::-1])
    assert alone.dtype == np.uint8 and alone.std() > 10


def test_cached_composition_equals_ray_casting_the_whole_frame(mpi3d):
    """The object window and colour composition change nothing: same bytes as one whole-frame render.

    The poses include the arm pointing at the center camera, where the object is largest.
    """
    classes = np.array([[2, 4, 1, 1, 1, 20, 0], [0, 0, 1, 1, 2, 19, 3], [5, 1, 1, 0, 0, 0, 39],
                        [3, 3, 0, 2, 1, 39, 20]])
    np.testing.assert_array_equal(mpi3d.images(mpi3d.index_of(classes)), mpi3d.render_direct(classes))


def _object_mask(img: np.ndarray) -> np.ndarray:
    """Red object pixels (used with a red object on a sea-green background)."""
    r, g, b = img[..., 0].astype(int), img[..., 1].astype(int), img[..., 2].astype(int)
    return (r > 90) & (r > 2 * g) & (r > 2 * b)


def test_axes_move_the_object_and_size_grows_it(mpi3d):
    def centroid(classes):
        mask = _object_mask(mpi3d.images(mpi3d.index_of(classes))[0])
        ys, xs = np.nonzero(mask)
        return xs.mean(), ys.mean(), mask.sum()

    left = centroid([2, 5, 1, 1, 1, 0, 20])
    right = centroid([2, 5, 1, 1, 1, 39, 20])
    assert right[0] - left[0] > 20  # horizontal_axis swings the arm across the picture
    high = centroid([2, 5, 1, 1, 1, 5, 0])
    low = centroid([2, 5, 1, 1, 1, 5, 39])
    assert low[1] - high[1] > 10  # vertical_axis lowers it
    small = centroid([2, 1, 0, 0, 1, 10, 10])
    large = centroid([2, 1, 1, 0, 1, 10, 10])
    assert large[2] > 1.5 * small[2]


def test_background_colour_fills_the_corners(mpi3d):
    imgs = mpi3d.images(mpi3d.index_of([[0, 0, 0, 0, b, 30, 30] for b in range(3)]))
    corners = imgs[:, -1, 0].astype(int)  # bottom left: no arm there
    assert len({tuple(c) for c in corners}) == 3
    assert corners[2, 0] > corners[1, 0] and corners[1, 1] > corners[1, 0]  # salmon is reddest, sea green greener


def test_lower_resolution_is_the_area_filtered_native_image(mpi3d, monkeypatch):
    monkeypatch.setenv("DISGU_CACHE_DIR", str(mpi3d.arm_frames.path.parent))
    small = load_dataset("mpi3d", resolution=32)
    idx = mpi3d.index_of(STARTS)
    np.testing.assert_array_equal(small.images(idx), resize_images(mpi3d.images(idx), 32))


def test_cli_info_and_show(tmp_path, monkeypatch):
    monkeypatch.setenv("DISGU_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    res = runner.invoke(cli, ["data", "info", "mpi3d"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["factor_sizes"] == [6, 6, 2, 3, 3, 40, 40] and info["num_images"] == 1_036_800
    out = tmp_path / "sheet.png"
    res = runner.invoke(cli, ["data", "show", "mpi3d", "--resolution", "32", "--out", str(out)])
    assert res.exit_code == 0, res.output
    from PIL import Image

    assert Image.open(out).height > 7 * 32
