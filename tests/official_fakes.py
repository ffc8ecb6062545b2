"""Small stand-ins for the official dataset files, written in the official formats.

The official arrays are huge (3dshapes.h5 images 5.9 GB, MPI3D 12.7 GB), so the fakes keep the
official shapes but leave almost every image unwritten: the HDF5 fake uses chunks that are never
allocated, the npz fake is a zip whose stored (uncompressed) members are sparse files. Only a few
"marked" rows hold pixels, and a marked row's pixels encode its row number, so a test can check that
`ds.images(ds.index_of(classes))` returns exactly the file's row for those classes.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np


def encode_row(i: int, shape: tuple[int, ...]) -> np.ndarray:
    """An image (uint8) whose first three values are row number i in base 256, the rest a constant 7."""
    img = np.full(shape, 7, dtype=np.uint8)
    flat = img.reshape(-1)
    flat[:3] = [(i >> 16) & 255, (i >> 8) & 255, i & 255]
    return img


def decode_rows(images: np.ndarray) -> np.ndarray:
    """Row numbers written by encode_row, from a batch of images."""
    flat = images.reshape(len(images), -1).astype(np.int64)
    return (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]


# ---------------------------------------------------------------- HDF5


def write_shapes3d_h5(
    path: Path, marked_rows, *, labels: np.ndarray | None = None, images_dtype="uint8", chunked: bool = True
) -> None:
    """A 3dshapes.h5 with the official keys, shapes and label grid; only `marked_rows` hold pixels.

    Chunked: unwritten chunks are never allocated. Contiguous (like the released file): the 5.9 GB of
    storage is allocated at the first write but never filled, so the file stays sparse on disk.
    """
    import h5py

    from disgu.data.official.shapes3d_h5 import FACTOR_SIZES, NUM_IMAGES

    if labels is None:
        labels = shapes3d_labels()
    with h5py.File(path, "w") as f:
        chunks = (1, 64, 64, 3) if chunked else None
        images = f.create_dataset("images", shape=(NUM_IMAGES, 64, 64, 3), dtype=images_dtype, chunks=chunks)
        for i in marked_rows:
            images[i] = encode_row(int(i), (64, 64, 3))
        f.create_dataset("labels", data=labels, chunks=(NUM_IMAGES // 10, 6), compression="gzip", compression_opts=1)
    assert labels.shape == (NUM_IMAGES, len(FACTOR_SIZES))


def shapes3d_labels() -> np.ndarray:
    """The official 3dshapes labels (480000, 6): hues 0..0.9, scale 0.75..1.25, shape 0..3, orientation -30..30."""
    from disgu.data.official.shapes3d_h5 import FACTOR_SIZES

    values = [np.linspace(0, 0.9, 10)] * 3 + [np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30, 30, 15)]
    grids = np.meshgrid(*values, indexing="ij")
    out = np.stack([g.reshape(-1) for g in grids], axis=1)
    assert out.shape[0] == int(np.prod(FACTOR_SIZES))
    return out


# ---------------------------------------------------------------- npz (zip64, stored)


def _npy_header(shape, dtype) -> bytes:
    buf = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


class SparseArray:
    """An array for write_stored_npz whose rows are all zero except `rows` {row number: row array}."""

    def __init__(self, shape, dtype, rows: dict[int, np.ndarray]):
        self.shape, self.dtype, self.rows = tuple(shape), np.dtype(dtype), rows


def write_stored_npz(path: Path, arrays: dict, *, truncate_to: int | None = None) -> None:
    """Write an uncompressed (np.savez-style) npz with zip64 headers.

    Values are ndarrays (written whole, with a correct CRC) or SparseArray (written as a sparse file;
    the CRC of a sparse member is left 0, which readers that memory-map the member never check).
    `truncate_to` cuts the finished file to that many bytes.
    """
    entries = []
    with open(path, "wb") as fp:
        for key, arr in arrays.items():
            name = (key + ".npy").encode()
            header = _npy_header(arr.shape, arr.dtype)
            nbytes = int(np.prod(arr.shape, dtype=np.int64)) * np.dtype(arr.dtype).itemsize
            size = len(header) + nbytes
            dense = isinstance(arr, np.ndarray)
            crc = zlib.crc32(np.ascontiguousarray(arr).tobytes(), zlib.crc32(header)) if dense else 0
            offset = fp.tell()
            extra = struct.pack("<HHQQ", 1, 16, size, size)
            fp.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 33, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                                 len(name), len(extra)))
            fp.write(name + extra + header)
            base = fp.tell()
            if isinstance(arr, np.ndarray):
                fp.write(np.ascontiguousarray(arr).tobytes())
            else:
                row_bytes = nbytes // arr.shape[0]
                for i, row in sorted(arr.rows.items()):
                    fp.seek(base + i * row_bytes)
                    fp.write(np.asarray(row, dtype=arr.dtype).tobytes())
                fp.seek(base + nbytes)
            entries.append((name, crc, size, offset))
        cd_start = fp.tell()
        for name, crc, size, offset in entries:
            extra = struct.pack("<HHQQQ", 1, 24, size, size, offset)
            fp.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 33, crc, 0xFFFFFFFF,
                                 0xFFFFFFFF, len(name), len(extra), 0, 0, 0, 0, 0xFFFFFFFF))
            fp.write(name + extra)
        cd_end = fp.tell()
        n = len(entries)
        fp.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_end - cd_start, cd_start))
        fp.write(struct.pack("<IIQI", 0x07064B50, 0, cd_end, 1))
        fp.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, 0xFFFFFFFF, 0xFFFFFFFF, 0))
        if truncate_to is not None:
            fp.truncate(truncate_to)


# ---------------------------------------------------------------- dSprites


def dsprites_latents() -> tuple[np.ndarray, np.ndarray]:
    """The official latents_classes and latents_values (737280, 6), colour first and constant."""
    sizes = (1, 3, 6, 40, 32, 32)
    values = [np.ones(1), np.arange(1.0, 4.0), np.linspace(0.5, 1, 6), np.linspace(0, 2 * np.pi, 40),
              np.linspace(0, 1, 32), np.linspace(0, 1, 32)]
    classes = np.stack([g.reshape(-1) for g in np.meshgrid(*[np.arange(k) for k in sizes], indexing="ij")], axis=1)
    vals = np.stack([values[f][classes[:, f]] for f in range(6)], axis=1)
    return classes.astype(np.int64), vals


def dsprites_bits(i: int) -> np.ndarray:
    """A binary 64x64 image whose first 20 pixels hold row number i in binary (dSprites pixels are 0/1)."""
    img = np.zeros((64, 64), dtype=np.uint8)
    img.reshape(-1)[:20] = [(i >> (19 - b)) & 1 for b in range(20)]
    return img


def decode_dsprites(images: np.ndarray) -> np.ndarray:
    bits = (images.reshape(len(images), -1)[:, :20] > 127).astype(np.int64)
    return bits @ (1 << np.arange(19, -1, -1))
