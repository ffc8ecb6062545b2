"""The offline default datasets: exact official grids and orders, deterministic, factor-faithful pictures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from disgu.cli import cli
from disgu.data import GroundTruthDataset, load_dataset
from disgu.data.resize import resize_images


@pytest.fixture(scope="module")
def shapes3d():
    return load_dataset("shapes3d")


def test_shapes3d_grid_matches_the_official_file(shapes3d):
    assert isinstance(shapes3d, GroundTruthDataset)
    assert len(shapes3d) == 480_000
    assert shapes3d.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert shapes3d.factor_sizes == (10, 10, 10, 8, 4, 15)
    np.testing.assert_allclose(shapes3d.factor_values[0], np.arange(10) / 10)
    np.testing.assert_allclose(shapes3d.factor_values[3], np.linspace(0.75, 1.25, 8))
    np.testing.assert_allclose(shapes3d.factor_values[5], np.linspace(-30, 30, 15))
    # Orientation varies fastest, floor hue slowest, as in 3dshapes.h5.
    assert shapes3d.factors(np.arange(15))[:, 5].tolist() == list(range(15))
    assert shapes3d.factors([15])[0].tolist() == [0, 0, 0, 0, 1, 0]
    assert shapes3d.factors([479_999])[0].tolist() == [9, 9, 9, 7, 3, 14]


@pytest.mark.parametrize("name", ["shapes3d", "dsprites"])
def test_index_of_inverts_factors_on_the_whole_grid(name):
    ds = load_dataset(name)
    everything = np.arange(len(ds))
    classes = ds.factors(everything)
    assert (classes.max(0) + 1).tolist() == list(ds.factor_sizes)
    np.testing.assert_array_equal(ds.index_of(classes), everything)


def test_shapes3d_images_are_deterministic_and_uint8(shapes3d):
    idx = [0, 12_345, 479_999]
    a, b = shapes3d.images(idx), shapes3d.images(idx)
    assert a.shape == (3, 64, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert a.std() > 10  # a real picture, not a blank


def test_each_hue_recolours_only_its_own_surface(shapes3d):
    base = np.array([0, 3, 6, 4, 2, 7])  # sphere, camera straight on
    imgs = []
    for factor in range(3):
        c = base.copy()
        c[factor] = 8
        imgs.append(shapes3d.images(shapes3d.index_of(c))[0].astype(int))
    ref = shapes3d.images(shapes3d.index_of(base))[0].astype(int)
    changed = [np.abs(img - ref).sum(-1) > 30 for img in imgs]
    floor, wall, obj = changed
    assert floor[-4:].mean() > 0.9 and floor[:8].mean() == 0  # bottom rows are floor, top rows are sky
    assert wall[20].mean() > 0.5 and wall[-2:].mean() == 0
    assert 0.02 < obj.mean() < 0.3 and obj[32, 32]  # the object sits at the centre


def test_scale_and_shape_change_the_object_outline(shapes3d):
    small = shapes3d.images(shapes3d.index_of([0, 3, 6, 0, 0, 7]))[0]
    large = shapes3d.images(shapes3d.index_of([0, 3, 6, 7, 0, 7]))[0]

    def object_area(img):
        return ((img[..., 2] > 150) & (img[..., 0] < 60) & (img[..., 1] < 200)).sum()
    assert object_area(large) > 1.5 * object_area(small)
    shapes = shapes3d.images(shapes3d.index_of([[0, 3, 6, 4, s, 7] for s in range(4)]))
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(shapes[i].astype(int) - shapes[j]).sum(-1).astype(bool).sum() > 40


def test_lower_resolution_is_the_area_filtered_native_image(shapes3d):
    small = load_dataset("shapes3d", resolution=32)
    idx = [7, 99_999, 250_000]
    got = small.images(idx).astype(int)
    want = resize_images(shapes3d.images(idx), 32).astype(int)
    assert got.shape == (3, 32, 32, 3)
    assert np.abs(got - want).max() <= 1  # rounding only


def test_dsprites_grid_and_pictures():
    ds = load_dataset("dsprites")
    assert len(ds) == 737_280 and ds.factor_sizes == (3, 6, 40, 32, 32)
    imgs = ds.images(ds.index_of([[0, 5, 0, 0, 16], [0, 5, 0, 31, 16], [2, 0, 0, 16, 16], [2, 5, 0, 16, 16]]))
    assert imgs.shape == (4, 64, 64, 1) and set(np.unique(imgs)) <= {0, 255}
    cols = np.arange(64)
    centre_x = [(img[..., 0] > 0).sum(0) @ cols / (img > 0).sum() for img in imgs[:2]]
    assert centre_x[1] - centre_x[0] > 30  # posX moves the sprite left to right
    assert (imgs[3] > 0).sum() > 2 * (imgs[2] > 0).sum()  # scale grows it


def test_cli_info_and_show(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["data", "info", "dsprites"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["factor_sizes"] == [3, 6, 40, 32, 32]
    out = tmp_path / "sheet.png"
    res = runner.invoke(cli, ["data", "show", "shapes3d", "--resolution", "32", "--out", str(out)])
    assert res.exit_code == 0, res.output
    from PIL import Image

    sheet = Image.open(out)
    assert sheet.width > 15 * 32 and sheet.height > 6 * 32
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary left behind


def test_cli_rejects_an_unknown_dataset_in_one_line():
    res = CliRunner().invoke(cli, ["data", "info", "no-such-set"])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line]
    assert len(lines) == 1 and "no-such-set" in lines[0] and "Traceback" not in res.output
