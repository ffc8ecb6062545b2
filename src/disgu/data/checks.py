"""One-line checks of an array's shape and dtype, raising a UserError that names the file and key."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from disgu.errors import UserError


def _fmt(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("N" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def check_shape(where: str, shape: Sequence[int], expected: Sequence[int | None], what: str = "") -> None:
    """`shape` must match `expected`, where None matches any size."""
    ok = len(shape) == len(expected) and all(e is None or int(s) == e for s, e in zip(shape, expected))
    if not ok:
        extra = f" {what}" if what else ""
        raise UserError(f"{where}: expected shape {_fmt(expected)}{extra}, got {tuple(int(s) for s in shape)}")


def check_dtype(where: str, dtype: np.dtype, expected: str) -> None:
    """`expected` is a dtype name, or 'integer' / 'floating' for any of that kind."""
    dtype = np.dtype(dtype)
    if expected == "integer":
        ok = np.issubdtype(dtype, np.integer)
    elif expected == "floating":
        ok = np.issubdtype(dtype, np.floating)
    else:
        ok = dtype == np.dtype(expected)
    if not ok:
        want = f"an {expected} dtype" if expected in ("integer", "floating") else f"dtype {expected}"
        raise UserError(f"{where}: expected {want}, got {dtype}")
