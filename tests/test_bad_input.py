"""Bad input gives one UserError line naming the file and what was expected; the CLI exits 2 without a traceback."""

from __future__ import annotations

import gzip
import subprocess
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from official_fakes import SparseArray, dsprites_latents, shapes3d_labels, write_shapes3d_h5, write_stored_npz
from PIL import Image

from disgu.data import load_dataset
from disgu.data.official import Cars3DFolder, DSpritesNpz, MNISTIdx, MPI3DNpz, Shapes3DH5
from disgu.errors import UserError


def user_error(fn, *args, **kwargs) -> str:
    """Call fn, expect a UserError, and check its message is one line; return the message."""
    with pytest.raises(UserError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message
    return message


# ---------------------------------------------------------------- missing files


@pytest.mark.parametrize("name,file", [
    ("shapes3d", "3dshapes.h5"), ("dsprites", "dsprites.npz"), ("mpi3d", "mpi3d_toy.npz"),
    ("cars3d", "cars"), ("mnist", "mnist"), ("anime", "faces"),
])
def test_missing_data_path(tmp_path, name, file):
    message = user_error(load_dataset, name, data_path=tmp_path / file)
    assert str(tmp_path / file) in message and "no such file" in message


@pytest.mark.parametrize("cls,file", [
    (Shapes3DH5, "3dshapes.h5"), (DSpritesNpz, "d.npz"), (MPI3DNpz, "m.npz"), (Cars3DFolder, "cars"), (MNISTIdx, "x"),
])
def test_missing_file_given_to_the_class_directly(tmp_path, cls, file):
    assert str(tmp_path / file) in user_error(cls, tmp_path / file)


@pytest.mark.parametrize("file", ["mine.npz", "mine.h5"])
def test_missing_bring_your_own_file(tmp_path, file):
    message = user_error(load_dataset, tmp_path / file)
    assert str(tmp_path / file) in message and "images" in message


def test_needs_data_path_and_unknown_name(tmp_path):
    assert "--data-path" in user_error(load_dataset, "mnist")
    assert "expected one of" in user_error(load_dataset, str(tmp_path / "nothing_here"))


# ---------------------------------------------------------------- wrong keys


def test_shapes3d_without_labels(tmp_path):
    path = tmp_path / "3dshapes.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", shape=(480000, 64, 64, 3), dtype="uint8", chunks=(1, 64, 64, 3))
    message = user_error(load_dataset, "shapes3d", data_path=path)
    assert str(path) in message and "'labels'" in message and "(480000, 6)" in message


def test_npz_wrong_keys(tmp_path):
    dsprites = tmp_path / "dsprites.npz"
    np.savez(dsprites, images=np.zeros((2, 64, 64), np.uint8))
    message = user_error(load_dataset, "dsprites", data_path=dsprites)
    assert str(dsprites) in message and "'imgs'" in message and "['images']" in message
    mpi3d = tmp_path / "mpi3d_toy.npz"
    np.savez(mpi3d, imgs=np.zeros((2, 64, 64, 3), np.uint8))
    assert "'images'" in user_error(load_dataset, "mpi3d", data_path=mpi3d)
    byo = tmp_path / "mine.h5"
    with h5py.File(byo, "w") as f:
        f["pictures"] = np.zeros((2, 4, 4, 3), np.uint8)
    message = user_error(load_dataset, byo)
    assert str(byo) in message and "'images'" in message and "pictures" in message


def test_cars3d_mat_without_im(tmp_path):
    import scipy.io

    scipy.io.savemat(tmp_path / "car_mesh.mat", {"mask": np.zeros((2, 2))})
    message = user_error(load_dataset, "cars3d", data_path=tmp_path)
    assert "car_mesh.mat" in message and "'im'" in message


# ---------------------------------------------------------------- wrong shapes and dtypes


def test_shapes3d_wrong_shape_and_dtype(tmp_path):
    small = tmp_path / "small.h5"
    with h5py.File(small, "w") as f:
        f["images"] = np.zeros((10, 64, 64, 3), np.uint8)
        f["labels"] = np.zeros((10, 6))
    message = user_error(load_dataset, "shapes3d", data_path=small)
    assert str(small) in message and "(480000, 64, 64, 3)" in message and "(10, 64, 64, 3)" in message
    floats = tmp_path / "floats.h5"
    write_shapes3d_h5(floats, [], images_dtype="float32")
    message = user_error(load_dataset, "shapes3d", data_path=floats)
    assert str(floats) in message and "uint8" in message and "float32" in message


def test_shapes3d_labels_out_of_official_order(tmp_path):
    labels = shapes3d_labels()
    labels[[0, 1]] = labels[[1, 0]]
    path = tmp_path / "3dshapes.h5"
    write_shapes3d_h5(path, [], labels=labels)
    message = user_error(load_dataset, "shapes3d", data_path=path)
    assert str(path) in message and "order" in message


def test_mpi3d_unexpected_image_count_names_both_layouts(tmp_path):
    path = tmp_path / "mpi3d_toy.npz"
    write_stored_npz(path, {"images": SparseArray((1000, 64, 64, 3), np.uint8, {})})
    message = user_error(load_dataset, "mpi3d", data_path=path)
    assert str(path) in message and "1000" in message and "1036800" in message and "460800" in message
    wrong = tmp_path / "mpi3d_real.npz"
    write_stored_npz(wrong, {"images": SparseArray((460800, 64, 64, 3), np.uint16, {})})
    assert "uint8" in user_error(load_dataset, "mpi3d", data_path=wrong)


def test_dsprites_wrong_shape_and_latents(tmp_path):
    path = tmp_path / "dsprites.npz"
    write_stored_npz(path, {"imgs": SparseArray((737280, 32, 32), np.uint8, {})})
    assert "(737280, 64, 64)" in user_error(load_dataset, "dsprites", data_path=path)
    classes, values = dsprites_latents()
    shuffled = tmp_path / "shuffled.npz"
    write_stored_npz(shuffled, {"imgs": SparseArray((737280, 64, 64), np.uint8, {}),
                                "latents_classes": classes[::-1].copy(), "latents_values": values})
    message = user_error(load_dataset, "dsprites", data_path=shuffled)
    assert "latents_classes" in message and "order" in message
    short = tmp_path / "short.npz"
    write_stored_npz(short, {"imgs": SparseArray((737280, 64, 64), np.uint8, {}), "latents_classes": classes[:10]})
    assert "(737280, 6)" in user_error(load_dataset, "dsprites", data_path=short)


def test_cars3d_wrong_shape_and_dtype(tmp_path):
    import scipy.io

    scipy.io.savemat(tmp_path / "a_mesh.mat", {"im": np.zeros((64, 64, 3, 24, 4), np.uint8)})
    message = user_error(load_dataset, "cars3d", data_path=tmp_path)
    assert "a_mesh.mat" in message and "(128, 128, 3, 24, 4)" in message
    scipy.io.savemat(tmp_path / "a_mesh.mat", {"im": np.zeros((128, 128, 3, 24, 4), np.float32)})
    assert "uint8" in user_error(load_dataset, "cars3d", data_path=tmp_path)


def test_byo_wrong_shapes_and_dtypes(tmp_path):
    cases = {
        "channels.npz": {"images": np.zeros((4, 8, 8, 5), np.uint8)},
        "floats.npz": {"images": np.zeros((4, 8, 8, 3), np.float32)},
        "flat.npz": {"images": np.zeros((4, 64), np.uint8)},
        "float_factors.npz": {"images": np.zeros((4, 8, 8, 3), np.uint8), "factors": np.zeros((4, 2))},
        "names.npz": {"images": np.zeros((4, 8, 8, 3), np.uint8), "factors": np.zeros((4, 2), int),
                      "factor_names": np.array(["only_one"])},
    }
    expected = {"channels.npz": "C = 1 or 3", "floats.npz": "uint8", "flat.npz": "(N, H, W, C)",
                "float_factors.npz": "integer", "names.npz": "2 names"}
    for name, arrays in cases.items():
        np.savez(tmp_path / name, **arrays)
        message = user_error(load_dataset, tmp_path / name)
        assert str(tmp_path / name) in message and expected[name] in message


# ---------------------------------------------------------------- factors that do not match the images


def test_byo_factor_rows_must_match_image_count(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, images=np.zeros((6, 8, 8, 3), np.uint8), factors=np.zeros((5, 2), int))
    message = user_error(load_dataset, path)
    assert str(path) in message and "(6, F)" in message and "(5, 2)" in message
    h5 = tmp_path / "mine.h5"
    with h5py.File(h5, "w") as f:
        f["images"] = np.zeros((6, 8, 8), np.uint8)
        f["factors"] = np.zeros((7, 1), int)
    assert "(6, F)" in user_error(load_dataset, h5)


def test_mnist_labels_must_match_images(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(
        (2051).to_bytes(4, "big") + np.array([3, 28, 28], ">u4").tobytes() + images.tobytes())
    labels = (2049).to_bytes(4, "big") + np.array([2], ">u4").tobytes() + b"\1\2"  # 2 labels for 3 images
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(labels)
    message = user_error(load_dataset, "mnist", data_path=tmp_path)
    assert "train-labels-idx1-ubyte" in message and "expected 3" in message


def test_mnist_wrong_magic_and_empty_folder(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes((2049).to_bytes(4, "big") + np.array([3], ">u4").tobytes() + b"\0\0\0")
    assert "magic number 2051" in user_error(load_dataset, "mnist", data_path=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "t10k-images-idx3-ubyte" in user_error(load_dataset, "mnist", data_path=empty)


# ---------------------------------------------------------------- truncated files


def _truncate(path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_h5(tmp_path):
    path = tmp_path / "3dshapes.h5"
    write_shapes3d_h5(path, [0, 1, 2])
    _truncate(path, 0.5)
    message = user_error(load_dataset, "shapes3d", data_path=path)
    assert str(path) in message and "truncated" in message
    byo = tmp_path / "mine.h5"
    with h5py.File(byo, "w") as f:
        f["images"] = np.arange(6 * 8 * 8 * 3, dtype=np.uint8).reshape(6, 8, 8, 3)
    _truncate(byo, 0.5)
    assert str(byo) in user_error(load_dataset, byo)


def test_truncated_npz_stored_and_compressed(tmp_path):
    classes, values = dsprites_latents()
    stored = tmp_path / "dsprites.npz"
    write_stored_npz(stored, {"imgs": SparseArray((737280, 64, 64), np.uint8, {}), "latents_classes": classes},
                     truncate_to=10**9)
    message = user_error(load_dataset, "dsprites", data_path=stored)
    assert str(stored) in message and "truncated" in message
    compressed = tmp_path / "mpi3d_toy.npz"
    np.savez_compressed(compressed, images=np.random.default_rng(0).integers(0, 255, (20, 64, 64, 3), np.uint8))
    _truncate(compressed, 0.6)
    message = user_error(load_dataset, "mpi3d", data_path=compressed)
    assert str(compressed) in message and "truncated" in message
    byo = tmp_path / "mine.npz"
    np.savez(byo, images=np.zeros((4, 8, 8, 3), np.uint8))
    _truncate(byo, 0.7)
    assert "truncated" in user_error(load_dataset, byo)


def test_truncated_compressed_member_inside_an_intact_zip(tmp_path, monkeypatch):
    """A damaged deflate stream (the zip directory intact) is caught while reading, not only at open."""
    import zipfile

    monkeypatch.setenv("DISGU_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "mine.npz"
    rng = np.random.default_rng(1)
    np.savez_compressed(path, images=rng.integers(0, 255, (20, 8, 8, 3), np.uint8))
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("images.npy")
    raw = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    raw[start : start + 400] = bytes(400)
    path.write_bytes(bytes(raw))
    assert str(path) in user_error(load_dataset, path)


def test_truncated_idx_files(tmp_path):
    images = np.arange(4 * 28 * 28, dtype=np.uint8).reshape(4, 28, 28)
    raw = (2051).to_bytes(4, "big") + np.array([4, 28, 28], ">u4").tobytes() + images.tobytes()
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "train-images-idx3-ubyte").write_bytes(raw[:-100])
    assert "expected 3136 bytes" in user_error(load_dataset, "mnist", data_path=plain)
    gz = tmp_path / "gz"
    gz.mkdir()
    (gz / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw)[:-40])
    message = user_error(load_dataset, "mnist", data_path=gz)
    assert "train-images-idx3-ubyte.gz" in message


def test_truncated_cars3d_mat(tmp_path):
    import scipy.io

    scipy.io.savemat(tmp_path / "a_mesh.mat", {"im": np.ones((128, 128, 3, 24, 4), np.uint8)})
    _truncate(tmp_path / "a_mesh.mat", 0.5)
    assert "a_mesh.mat" in user_error(load_dataset, "cars3d", data_path=tmp_path)


# ---------------------------------------------------------------- image folders


def test_folder_without_images(tmp_path):
    (tmp_path / "notes.txt").write_text("no pictures here")
    message = user_error(load_dataset, "anime", data_path=tmp_path)
    assert str(tmp_path) in message and "no images" in message


def test_corrupt_image_names_the_file(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ds = load_dataset("anime", data_path=tmp_path)
    assert ds.images([0]).shape == (1, 8, 8, 3)
    assert str(tmp_path / "b.png") in user_error(ds.images, [1])
    (tmp_path / "0.jpg").write_bytes(b"garbage")  # now the first file: caught at open
    assert str(tmp_path / "0.jpg") in user_error(load_dataset, "anime", data_path=tmp_path)


# ---------------------------------------------------------------- through the CLI


def test_cli_missing_file_is_one_line_and_exit_2(tmp_path):
    from disgu.cli import cli

    result = CliRunner().invoke(cli, ["data", "info", "shapes3d", "--data-path", str(tmp_path / "missing.h5")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.h5" in lines[0] and lines[0].startswith("disgu: error:")
    assert not isinstance(result.exception, UserError)  # handled, not escaped


def test_cli_wrong_mpi3d_count_is_one_line_and_exit_2(tmp_path):
    from disgu.cli import cli

    path = tmp_path / "mpi3d_toy.npz"
    write_stored_npz(path, {"images": SparseArray((999, 64, 64, 3), np.uint8, {})})
    result = CliRunner().invoke(cli, ["data", "info", "mpi3d", "--data-path", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "1036800" in lines[0] and "mpi3d_toy.npz" in lines[0]


def test_cli_subprocess_no_traceback(tmp_path):
    path = tmp_path / "faces"
    path.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from disgu.cli import main; main(sys.argv[1:])",
         "data", "info", "anime", "--data-path", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "no images" in proc.stderr
