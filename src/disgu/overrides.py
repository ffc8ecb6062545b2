"""`--set section.field=value`: one override syntax for every command whose settings are a dataclass tree.

Values are typed by the dataclass field they set (bool, int, float, str, optional: `none`), so a
typo is a one-line error naming the option and what was expected, before anything runs.
"""

from __future__ import annotations

import dataclasses
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
            return int(float(text)) if "e" in text.lower() else int(text)
        if typ is float:
            return float(text)
        return text
    except ValueError:
        raise UserError(f"{option} {key}={text}: expected a value of type {getattr(typ, '__name__', typ)}") from None


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
