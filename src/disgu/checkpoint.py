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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgu.atomic import atomic_path
from disgu.errors import UserError

FORMAT = "disgu-checkpoint"
VERSION = 1
_STEP_NAME = re.compile(r"^ckpt-(\d+)\.pt$")


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
    if payload.get("version", 0) > VERSION:
        raise UserError(f"{path}: checkpoint version {payload['version']} is newer than this disgu ({VERSION})")
    return payload


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
