"""Arrays inside `.npz` files without loading them whole.

An `.npz` is a zip of `.npy` files. A member stored without compression (`np.savez`) is a plain
`.npy` at some offset of the zip, so it is memory-mapped in place. A compressed member
(`np.savez_compressed`) cannot be mapped: a small one is read into memory, a large one is
decompressed once, in a stream, into a `.npy` under the cache directory and mapped from there.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from disgu.data.cache import cache_dir
from disgu.data.rows import FileRows
from disgu.errors import UserError

# Compressed members up to this size are read into memory; larger ones are extracted to the cache.
MAX_IN_MEMORY_BYTES = 1 << 30
_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, zipfile.BadZipFile, struct.error)


@dataclass(frozen=True)
class NpzMember:
    """Where one array lives inside an `.npz` and what it holds."""

    path: Path
    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    compressed: bool
    data_offset: int  # byte offset of the array data in the zip (stored members only, else -1)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _read_npy_header(fp, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            shape, fortran, dtype = np.lib.format._read_array_header(fp, version)
    except _READ_ERRORS as err:
        raise UserError(f"{where}: not a readable .npy array, truncated or damaged? ({err})") from None
    return tuple(int(s) for s in shape), bool(fortran), np.dtype(dtype)


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise UserError(f"{path}: no such file (expected an .npz file)")
    try:
        return zipfile.ZipFile(path)
    except _READ_ERRORS as err:
        raise UserError(f"{path}: not a readable .npz file, truncated or damaged? ({err})") from None


def npz_keys(path: str | os.PathLike) -> list[str]:
    """The array names in an `.npz` (member names without `.npy`)."""
    path = Path(path)
    with _open_zip(path) as zf:
        return [n[: -len(".npy")] for n in zf.namelist() if n.endswith(".npy")]


def npz_member(path: str | os.PathLike, key: str, expected: str = "") -> NpzMember:
    """Shape, dtype and location of `key`, read from the headers only.

    `expected` describes the whole file for the error message when the key is missing.
    """
    path = Path(path)
    with _open_zip(path) as zf:
        name = key + ".npy"
        try:
            info = zf.getinfo(name)
        except KeyError:
            keys = [n[: -len(".npy")] for n in zf.namelist() if n.endswith(".npy")]
            want = f" ({expected})" if expected else ""
            raise UserError(f"{path}: no array {key!r}{want}; the file has {keys}") from None
        compressed = info.compress_type != zipfile.ZIP_STORED
        where = f"{path}[{key}]"
        if compressed:
            try:
                with zf.open(info) as fp:
                    shape, fortran, dtype = _read_npy_header(fp, where)
            except _READ_ERRORS as err:
                raise UserError(f"{where}: cannot read, truncated or damaged? ({err})") from None
            offset = -1
        else:
            with open(path, "rb") as raw:
                raw.seek(info.header_offset)
                local = raw.read(30)
                if len(local) < 30 or local[:4] != b"PK\x03\x04":
                    raise UserError(f"{where}: damaged zip entry (bad local header)")
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                raw.seek(info.header_offset + 30 + name_len + extra_len)
                shape, fortran, dtype = _read_npy_header(raw, where)
                offset = raw.tell()
    member = NpzMember(path, key, shape, dtype, fortran, compressed, offset)
    if dtype.hasobject:
        raise UserError(f"{where}: holds Python objects (dtype {dtype}); expected a numeric array")
    if not compressed and offset + member.nbytes > path.stat().st_size:
        raise UserError(
            f"{where}: truncated file: the array needs {member.nbytes} bytes from offset {offset} "
            f"but the file has {path.stat().st_size} bytes"
        )
    return member


def iter_member_chunks(member: NpzMember, rows: int) -> Iterator[np.ndarray]:
    """Stream a member's rows (along axis 0) in chunks of at most `rows`, without holding it whole."""
    if member.fortran_order and len(member.shape) > 1:
        raise UserError(f"{member.path}[{member.key}]: Fortran-ordered arrays are not supported; save it in C order")
    row_shape = member.shape[1:]
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * member.dtype.itemsize
    where = f"{member.path}[{member.key}]"
    try:
        with zipfile.ZipFile(member.path) as zf, zf.open(member.key + ".npy") as fp:
            _read_npy_header(fp, where)
            done = 0
            while done < member.shape[0]:
                n = min(rows, member.shape[0] - done)
                buf = bytearray(n * row_bytes)
                view = memoryview(buf)
                got = 0
                while got < len(buf):
                    k = fp.readinto(view[got:])
                    if not k:
                        raise EOFError(f"ended after {done + got // max(row_bytes, 1)} of {member.shape[0]} rows")
                    got += k
                yield np.frombuffer(buf, dtype=member.dtype).reshape(n, *row_shape)
                done += n
    except _READ_ERRORS as err:
        raise UserError(f"{where}: cannot read, truncated or damaged? ({err})") from None


def _read_whole(member: NpzMember) -> np.ndarray:
    out = np.empty(member.shape, dtype=member.dtype)
    if out.size == 0:
        return out
    flat = out.reshape(member.shape[0], -1) if out.ndim > 1 else out
    done = 0
    for chunk in iter_member_chunks(member, rows=max(1, (64 << 20) // max(flat[:1].nbytes, 1))):
        flat[done : done + len(chunk)] = chunk.reshape(len(chunk), *flat.shape[1:])
        done += len(chunk)
    return out


def _cache_file(member: NpzMember, tag: str) -> Path:
    st = member.path.stat()
    ident = f"{member.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{member.key}|{tag}"
    digest = hashlib.sha1(ident.encode()).hexdigest()[:16]
    return cache_dir() / "npz" / f"{member.path.stem}-{member.key}-{tag}-{digest}.npy"


def extract_to_cache(
    member: NpzMember,
    tag: str = "raw",
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    out_row_shape: tuple[int, ...] | None = None,
    out_dtype: np.dtype | None = None,
) -> np.ndarray:
    """Decompress `member` once into a `.npy` in the cache (optionally transforming each chunk) and map it.

    The cache file name holds the source's path, size and modification time, so a changed
    source is extracted again. The file is written under a temporary name and renamed when complete.
    """
    target = _cache_file(member, tag)
    if target.exists():
        try:
            return np.load(target, mmap_mode="r")
        except (OSError, ValueError):
            pass  # a damaged cache file is extracted again below
    row_shape = out_row_shape if out_row_shape is not None else member.shape[1:]
    dtype = np.dtype(out_dtype) if out_dtype is not None else member.dtype
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(member.shape[0], *row_shape))
        done = 0
        row_bytes = max(1, int(np.prod(member.shape[1:], dtype=np.int64)) * member.dtype.itemsize)
        for chunk in iter_member_chunks(member, rows=max(1, (64 << 20) // row_bytes)):
            out[done : done + len(chunk)] = transform(chunk) if transform is not None else chunk
            done += len(chunk)
        out.flush()
        del out
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return np.load(target, mmap_mode="r")


def open_member(member: NpzMember, max_in_memory_bytes: int | None = None) -> np.ndarray:
    """The member as an array: memory-mapped when stored, in memory when small, else extracted to the cache."""
    limit = MAX_IN_MEMORY_BYTES if max_in_memory_bytes is None else max_in_memory_bytes
    if not member.compressed:
        if member.nbytes == 0:
            return np.empty(member.shape, dtype=member.dtype)
        order = "F" if member.fortran_order else "C"
        return np.memmap(member.path, dtype=member.dtype, mode="r", offset=member.data_offset,
                         shape=member.shape, order=order)
    if member.nbytes <= limit:
        return _read_whole(member)
    return extract_to_cache(member)


def load_small(path: str | os.PathLike, key: str, expected: str = "") -> np.ndarray:
    """Read a (small) member whole: labels, factors, names."""
    member = npz_member(path, key, expected)
    if member.compressed:
        return _read_whole(member)
    return np.array(open_member(member))


class NpzArray:
    """A member opened on first use in each process.

    A stored (uncompressed) member is read with `os.pread` (disgu.data.rows.FileRows); otherwise rows
    come from the array (in memory, or mapped from the cache). Pickling (a DataLoader with spawned
    workers) drops the array and the file descriptor, so nothing big is copied through the pickle.
    """

    def __init__(self, member: NpzMember, opener: Callable[[NpzMember], np.ndarray] = open_member):
        self.member = member
        self._opener = opener  # a module-level function, so that it pickles
        self._array: np.ndarray | None = None
        self._rows = None
        raw = not member.compressed and opener is open_member and len(member.shape) > 0
        if raw and FileRows.available() and not (member.fortran_order and len(member.shape) > 1):
            self._rows = FileRows(member.path, member.data_offset, member.shape, member.dtype,
                                  f"{member.path}[{member.key}]")

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = self._opener(self.member)
        return self._array

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}

    def read(self, idx: np.ndarray) -> np.ndarray:
        """Rows `idx` in the order asked (repeats allowed)."""
        if self._rows is not None:
            return self._rows.read(idx)
        array = self.array
        order = np.argsort(idx, kind="stable")
        out = np.empty((idx.size, *array.shape[1:]), dtype=array.dtype)
        out[order] = array[idx[order]]
        return out
