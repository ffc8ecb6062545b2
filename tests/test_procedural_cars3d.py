"""Procedural Cars3D: the official grid and order, seeded cars that look like cars, every factor visible."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from disgu.cli import cli
from disgu.data import GroundTruthDataset, load_dataset
from disgu.data.procedural.cars3d import car_design

STARTS = np.array([[0, 0, 0], [1, 6, 57], [3, 17, 182]])  # (elevation, azimuth, car)


@pytest.fixture(scope="module")
def cars(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DISGU_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield load_dataset("cars3d")
    mp.undo()


def test_grid_and_factor_order_are_the_official_ones(cars):
    assert isinstance(cars, GroundTruthDataset)
    assert len(cars) == 17_568 and cars.image_shape == (64, 64, 3)
    assert cars.factor_names == ("elevation", "azimuth", "car") and cars.factor_sizes == (4, 24, 183)
    assert cars.factors(np.arange(183))[:, 2].tolist() == list(range(183))  # car fastest
    assert cars.factors([183])[0].tolist() == [0, 1, 0]
    assert cars.factors([24 * 183])[0].tolist() == [1, 0, 0]
    everything = np.arange(len(cars))
    np.testing.assert_array_equal(cars.index_of(cars.factors(everything)), everything)


def test_every_factor_changes_the_image_from_several_starts(cars):
    for start in STARTS:
        base = cars.images(cars.index_of(start))[0].astype(int)
        for factor, k in enumerate(cars.factor_sizes):
            for other in {(start[factor] + 1) % k, (start[factor] + k // 2) % k}:
                moved = start.copy()
                moved[factor] = other
                img = cars.images(cars.index_of(moved))[0]
                assert (np.abs(img.astype(int) - base).sum(-1) > 0).sum() > 0, (start.tolist(), factor, other)


def test_equal_factors_give_identical_images_in_any_batch(cars):
    idx = cars.index_of(STARTS)
    alone = np.concatenate([cars.images([i]) for i in idx])
    together = cars.images(np.concatenate([idx, idx[::-1]]))
    np.testing.assert_array_equal(together[:3], alone)
    np.testing.assert_array_equal(together[3:], alone[::-1])


def test_cars_are_seeded_and_differ_from_each_other():
    assert car_design(17) == car_design(17)
    designs = [car_design(k) for k in range(183)]
    assert len({d.paint for d in designs}) > 100  # paint jittered per car
    lengths = np.array([d.length for d in designs])
    heights = np.array([d.height for d in designs])
    assert lengths.std() > 0.2 and heights.std() > 0.1


def test_a_car_on_white_is_long_from_the_side_and_narrow_from_the_front(cars):
    front, side = cars.images(cars.index_of([[0, 0, 57], [0, 6, 57]]))
    for img in (front, side):
        assert (img[0] == 255).all() and (img[:, 0] == 255).all()  # white background at the border

    def box(img):
        ys, xs = np.nonzero((img < 245).any(-1))
        return xs.max() - xs.min() + 1, ys.max() - ys.min() + 1

    side_w, side_h = box(side)
    front_w, _ = box(front)
    assert side_w > 2 * side_h and side_w > 1.5 * front_w
    dark = (side.max(-1) < 40)  # tyres (and dark glass) sit low in the side view, under the body
    rows = np.nonzero(dark.any(1))[0]
    assert rows.max() > 32


def test_cli_info_and_show(tmp_path, monkeypatch):
    monkeypatch.setenv("DISGU_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    res = runner.invoke(cli, ["data", "info", "cars3d"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["factor_sizes"] == [4, 24, 183]
    out = tmp_path / "sheet.png"
    res = runner.invoke(cli, ["data", "show", "cars3d", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 1000
