"""Reading a user's .npy/.npz array without trusting the size its header declares.

A .npy header states a shape and dtype; numpy would allocate that much before reading a byte of
data. Here the header is read first and checked against the bytes the file really holds, so a
truncated or forged file is one line naming it, and an .npy is then memory-mapped (read lazily,
never copied whole). An .npz member has to be decompressed into memory, so it must also fit in
half of this machine's memory.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from disgu.errors import UserError


def load_array(path: str | os.PathLike, option: str, npz_key: str | None = None) -> np.ndarray:
    """The array in `path` (.npy memory-mapped, or the one or `npz_key` member of an .npz); UserError if unfit.

    `option` names where the path came from (`--codes`), for the message.
    """
    p = Path(path)
    where = f"{option} {path}"
    if not p.is_file():
        raise UserError(f"{where}: does not exist")
    try:
        if p.suffix == ".npz":
            return _load_npz(p, where, npz_key)
        with p.open("rb") as f:
            shape, dtype, offset = _header(f, where)
        _check_size(shape, dtype, p.stat().st_size - offset, where)
        if 0 in shape:
            return np.load(p, allow_pickle=False)
        return np.load(p, mmap_mode="r", allow_pickle=False)
    except UserError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise UserError(f"{where}: not a readable .npy/.npz array ({_first_line(err)})") from None


def _load_npz(p: Path, where: str, key: str | None) -> np.ndarray:
    with zipfile.ZipFile(p) as z:
        names = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
        name = key if key in names else (names[0] if len(names) == 1 else None)
        if name is None:
            raise UserError(f"{where}: an .npz needs one array or one named '{key}', has {names}")
        info = z.getinfo(name + ".npy")
        with z.open(info) as f:
            shape, dtype, offset = _header(f, where)
        _check_size(shape, dtype, info.file_size - offset, where)
        need = _nbytes(shape, dtype)
        if need > memory_bytes() // 2:
            raise UserError(f"{where}: member '{name}' {shape} {dtype} needs {need / 2**30:.1f} GiB once "
                            f"decompressed, more than half this machine's memory; save it as an uncompressed .npy")
    with np.load(p, allow_pickle=False) as arrays:
        return arrays[name]


def _header(f: BinaryIO, where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, offset of the data) from a .npy header; refuses object arrays (they need pickle)."""
    version = np.lib.format.read_magic(f)
    read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read is None:
        raise UserError(f"{where}: .npy format version {version} is not supported")
    shape, _, dtype = read(f)
    if dtype.hasobject:
        raise UserError(f"{where}: holds Python objects (dtype {dtype}); expected a numeric array")
    return tuple(int(s) for s in shape), dtype, f.tell()


def _nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    n = 1
    for s in shape:
        n *= s
    return n * dtype.itemsize


def _check_size(shape: tuple[int, ...], dtype: np.dtype, have: int, where: str) -> None:
    need = _nbytes(shape, dtype)
    if need > have:
        raise UserError(f"{where}: its header declares {shape} {dtype} ({_size(need)}) but the file holds "
                        f"{_size(max(have, 0))} of data: truncated or not written by numpy")


def memory_bytes() -> int:
    """Physical memory of this machine (a large default where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**40


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n:,} bytes"


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
