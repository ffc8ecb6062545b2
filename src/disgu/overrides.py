"""`--set section.field=value`: one override syntax for every command whose settings are a dataclass tree.

Values are typed by the dataclass field they set (bool, int, float, str, optional: `none`), so a
typo is a one-line error naming the option and what was expected, before anything runs.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import TypeVar

from disgu.errors import UserError

T = TypeVar("T")


def _sections(obj) -> list[str]:
    return [f.name for f in dataclasses.fields(obj) if dataclasses.is_dataclass(getattr(obj, f.name))]


def _coerce(text: str, typ, key: str, option: str = "--set"):
    origin = typing.get_origin(typ)
    args = [a for a in typing.get_args(typ) if a is not type(None)]
    if origin is typing.Union or (origin is not None and type(None) in typing.get_args(typ)):
        if text.lower() in ("none", "null"):
            return None
        typ = args[0]
    try:
        if typ is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if typ is int:
            return parse_int(text)
        if typ is float:
            return parse_float(text)
        return text
    except ValueError as err:
        why = str(err) if str(err).startswith("expected") else f"expected a value of type {getattr(typ, '__name__', typ)}"
        raise UserError(f"{option} {key}={text}: {why}") from None


INT_LIMIT = 2**63 - 1  # torch's int64: a larger count fails deep inside a stage


def parse_int(text: str) -> int:
    """An integer from '12', '-3' or '1e3'; ValueError for '9e-1' (not whole), '1e400' or beyond int64."""
    try:
        value = int(text)
    except ValueError:
        number = float(text)  # ValueError for words
        if not math.isfinite(number) or not number.is_integer():
            raise ValueError(f"expected an integer, got {text}") from None
        value = int(number)
    if abs(value) > INT_LIMIT:
        raise ValueError(f"expected an integer of at most {INT_LIMIT:.3g}")
    return value


def parse_float(text: str) -> float:
    """A finite number; ValueError for nan, inf and overflowing literals ('1e400'), which no setting can use."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {text}")
    return value


def apply_overrides(cfg: T, overrides: list[str], option: str = "--set") -> T:
    """Apply `section.field=value` (or top-level `field=value`) strings, typed by the dataclass fields."""
    for item in overrides:
        if "=" not in item:
            raise UserError(f"{option} {item!r}: expected section.field=value or field=value")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        obj = cfg
        for p in parts[:-1]:
            if not hasattr(obj, p) or not dataclasses.is_dataclass(getattr(obj, p)):
                raise UserError(f"{option} {key}: no section {p!r} (sections: {', '.join(_sections(obj)) or 'none'})")
            obj = getattr(obj, p)
        name = parts[-1]
        hints = typing.get_type_hints(type(obj))
        if name not in hints:
            raise UserError(f"{option} {key}: no option {name!r}; options: {', '.join(hints)}")
        setattr(obj, name, _coerce(text.strip(), hints[name], key, option))
    return cfg
