"""Training checkpoints that are written atomically and can never run code when loaded.

A checkpoint is a `torch.save` of plain containers (dicts, lists, numbers, strings, tensors):
model and optimizer state, step, RNG states (torch, numpy, python, CUDA) and the config.
Loading uses `torch.load(weights_only=True)`, which refuses any pickled object that would
import or call something; such a file is reported as a UserError, never executed.
"""

from __future__ import annotations

import os
import pickle
import random
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from disgu.atomic import atomic_path
from disgu.errors import UserError

FORMAT = "disgu-checkpoint"
VERSION = 1
_STEP_NAME = re.compile(r"^ckpt-(\d+)\.pt$")
M = TypeVar("M", bound=torch.nn.Module)


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:08d}.pt"


def save_checkpoint(path: str | os.PathLike, *, model: dict[str, torch.Tensor], config: dict[str, Any], step: int,
                    optimizer: dict[str, Any] | None = None, rng: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (temp file, then rename): a crash leaves the old file intact."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "config": config,
        "model": {k: v.detach().cpu() for k, v in model.items()},
        "optimizer": optimizer,
        "rng": rng,
        "extra": extra or {},
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by save_checkpoint; refuse anything that is not plain data."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"{path}: refused to load: the file holds pickled Python objects that could run code "
            f"(only plain tensors and containers are accepted): {first}"
        ) from None
    except Exception:  # truncated zip, not a torch file at all, ...: torch's own messages are cryptic (KeyError: 101)
        raise UserError(f"{path}: not a readable disgu checkpoint: {_what_is_wrong(path)}; expected a .pt "
                        f"written by disgu (`disgu train-glow`, `disgu run`, `disgu baseline`)") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{path}: not a disgu checkpoint (expected a dict with format={FORMAT!r})")
    _check_layout(payload, path)
    return payload


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_layout(payload: dict[str, Any], path: Path) -> None:
    """Refuse a checkpoint whose fields are not what save_checkpoint writes (a damaged or hand-made file)."""
    version = payload.get("version")
    if not _is_int(version) or version < 1:
        raise UserError(f"{path}: damaged checkpoint: version {version!r} is not a positive integer")
    if version > VERSION:
        raise UserError(f"{path}: checkpoint version {version} is newer than this disgu ({VERSION})")
    step = payload.get("step")
    if not _is_int(step) or step < 0:
        raise UserError(f"{path}: damaged checkpoint: step {step!r} is not a non-negative integer")
    for key in ("model", "config"):
        if not isinstance(payload.get(key), dict):
            raise UserError(f"{path}: damaged checkpoint: '{key}' is {_kind(payload.get(key))}, expected a dict")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload["model"].items()):
        raise UserError(f"{path}: damaged checkpoint: 'model' must map parameter names to tensors")
    if not isinstance(payload.get("extra", {}), dict):
        raise UserError(f"{path}: damaged checkpoint: 'extra' is {_kind(payload.get('extra'))}, expected a dict")


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


def config_section(ckpt: dict[str, Any], path: str | os.PathLike, *keys: str) -> dict[str, Any]:
    """ckpt['config'][keys...] as a dict, or a UserError naming the file and the missing or malformed section."""
    section: Any = ckpt.get("config")
    for i, key in enumerate(keys):
        if not isinstance(section, dict) or not isinstance(section.get(key), dict):
            name = "config" + "".join(f"[{k!r}]" for k in keys[: i + 1])
            found = section.get(key) if isinstance(section, dict) else None
            raise UserError(f"{path}: checkpoint {name} is {_kind(found)}, expected a dict of settings")
        section = section[key]
    return section


# ----------------------------------------------------------------------------- rebuilding modules


def check_state_shapes(path: str | os.PathLike, what: str, expected: Mapping[str, Sequence[int]],
                       found: Mapping[str, Sequence[int]], free: Sequence[str] = ()) -> None:
    """One line when the stored tensors are not those of the module the config describes (names, shapes).

    `free`: tensors whose size the module itself adapts on loading (a pruned navigator's `active`).
    """
    missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing or unexpected:
        parts = [f"{len(missing)} missing (e.g. {missing[0]})"] if missing else []
        parts += [f"{len(unexpected)} unexpected (e.g. {unexpected[0]})"] if unexpected else []
        raise UserError(f"{path}: the weights are not those of the {what} its config describes: "
                        f"{' and '.join(parts)} tensors")
    for name, shape in expected.items():
        if tuple(found[name]) != tuple(shape) and name not in free:
            raise UserError(f"{path}: the weights are not those of the {what} its config describes: {name} is "
                            f"{tuple(found[name])} where the config gives {tuple(shape)}")


def shapes(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def load_state(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike,
               what: str) -> None:
    """module.load_state_dict(state) with mismatched names or shapes as one line naming the file."""
    check_state_shapes(path, what, shapes(module.state_dict()), shapes(state))
    module.load_state_dict(state)


def module_shell(path: str | os.PathLike, what: str, factory: Callable[[], M]) -> M:
    """The module the config describes, built on the meta device: its shapes, without allocating its memory.

    Sizes declared inside a file (hidden=10**6) are only believed once the tensors stored beside
    them are seen to have those shapes.
    """
    try:
        with torch.device("meta"):
            return factory()
    except (TypeError, ValueError, KeyError, RuntimeError, UserError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: its config does not describe a valid {what} ({first})") from None


def restore_module(path: str | os.PathLike, what: str, factory: Callable[[], M],
                   state: Mapping[str, torch.Tensor], free: Sequence[str] = ()) -> M:
    """factory() loaded with `state`, after its config was checked against the stored shapes (see module_shell)."""
    check_state_shapes(path, what, shapes(module_shell(path, what, factory).state_dict()), shapes(state), free)
    module = factory()
    module.load_state_dict(state)
    return module


def _what_is_wrong(path: Path) -> str:
    """Why torch.load failed, from the file's first bytes: torch writes zip archives ('PK')."""
    import zipfile

    with path.open("rb") as f:
        head = f.read(4)
    if not head:
        return "the file is empty"
    if head.startswith(b"PK"):
        if zipfile.is_zipfile(path):
            return "the zip archive inside is damaged"
        return "the file is truncated (an incomplete zip archive)"
    if head.startswith(b"\x80"):
        return "an old-format torch file that is truncated or damaged"
    return "the file is not a torch .pt file (it does not start like a zip archive)"


def list_checkpoints(out_dir: str | os.PathLike) -> list[Path]:
    """Step-numbered checkpoints in out_dir/checkpoints, oldest first."""
    folder = Path(out_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


# ----------------------------------------------------------------------------- RNG


def capture_rng_state() -> dict[str, Any]:
    """torch, CUDA, numpy and python RNG states as tensors and numbers (loadable with weights_only)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_cached_gauss": float(np_state[4]),
        "python_version": int(py_state[0]),
        "python_state": torch.tensor(py_state[1], dtype=torch.int64),
        "python_gauss": py_state[2],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state((
        "MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
        state["numpy_has_gauss"], state["numpy_cached_gauss"],
    ))
    random.setstate((state["python_version"], tuple(int(v) for v in state["python_state"].tolist()),
                     state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
