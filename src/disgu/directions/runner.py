"""One direction baseline run in DIR, each part in its own folder and skipped when its DONE.json exists.

    glow/         glow.safetensors, source.json (the shipped Glow, or one trained as `disgu run` would)
    discovery/    navigator.pt ... (LD only, unless directions.navigator names a finished one)
    directions/   directions.npz (directions (a, k), values (k,), levels), summary.json
    encoder/      generated/ (decoded sample chunks), checkpoints/, encoder.pt, summary.json, log.jsonl
    run_info.json config, seed, versions (written on the first run; a rerun with other settings is refused)

The metrics (DIR/metrics.json) are computed by the caller, as for every `disgu baseline`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgu.atomic import atomic_path, write_json
from disgu.directions.config import DirectionBaselineConfig, check_direction_config
from disgu.errors import UserError

PARTS = ("glow", "discovery", "directions", "encoder")


@dataclass
class DirectionRun:
    """What the evaluation needs: the trained encoder, the dataset, and the training record."""

    encoder: torch.nn.Module
    dataset: Any
    steps: int
    training_seconds: float  # directions + encoder (+ LD's discovery), the Glow's cost apart
    glow_seconds: float | None


def _done(out: Path, part: str) -> Path:
    return out / part / "DONE.json"


def _check_same_config(out: Path, cfg: DirectionBaselineConfig) -> bool:
    """True when DIR starts afresh; a DIR whose parts came from other settings is refused (one line)."""
    path = out / "run_info.json"
    if not path.is_file():
        return True
    try:
        old = json.loads(path.read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return True
    new = cfg.to_dict()
    for d in (old, new):
        d.pop("device", None), d.pop("threads", None)  # resuming on another device or thread count is fine
    if old == new or not any(_done(out, p).is_file() or (out / p).is_dir() for p in PARTS):
        return old != new
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    raise UserError(f"--out {out}: holds a {old.get('model', '?')} baseline with other settings "
                    f"({', '.join(diff[:6])} differ); rerun with the same options to resume, or choose a new --out")


def save_directions(path: Path, directions: np.ndarray, values: np.ndarray | None, levels: tuple[int, ...]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, directions=directions.astype(np.float32), levels=np.asarray(levels, np.int64),
                 values=np.asarray(values if values is not None else [], np.float64))


def load_directions(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(directions (a, k), values, levels) written by `save_directions`."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return f["directions"].astype(np.float64), f["values"], tuple(int(i) for i in f["levels"])
    except (OSError, KeyError, ValueError) as err:
        raise UserError(f"{path}: not a directions file written by disgu ({err})") from None


def find_directions(cfg: DirectionBaselineConfig, frozen, dataset, out: Path, progress: bool
                    ) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """(directions (a, k) unit columns, per-direction values or None, what the method reports about them)."""
    d, method = cfg.directions, cfg.model
    if method == "gs":
        from disgu.directions.principal import principal_directions

        frame, values = principal_directions(frozen, dataset, d.n_directions, d.data_images, cfg.seed)
        return frame, values, {"values_are": "variance of the training images' latents along each direction"}
    if method == "cf":
        from disgu.directions.closed_form import check_top_level, closed_form_directions

        check_top_level(frozen.levels, frozen.glow.config.n_levels)
        frame, values = closed_form_directions(frozen.glow, d.n_directions)
        return frame, values, {"values_are": "eigenvalues of A^T A, A = the last flow step's actnorm^-1 W^-1 after "
                                          "the top prior's scales"}
    if method == "ds":
        from disgu.directions.jacobian import jacobian_directions

        frame, values = jacobian_directions(frozen, d.n_directions, d.jacobian_samples, d.temperature, cfg.seed,
                                            d.jacobian_iterations, d.jacobian_oversample, d.jacobian_batch, progress)
        return frame, values, {"values_are": "eigenvalues of the mean J^T J over prior samples"}
    if method == "ica":
        from disgu.directions.independent import independent_directions

        frame = independent_directions(frozen, dataset, d.n_directions, d.data_images, cfg.seed)
        return frame, None, {}
    from disgu.directions.discovered import discovered_directions

    path = Path(d.navigator) if d.navigator else out / "discovery" / "navigator.pt"
    return discovered_directions(path, frozen.levels), None, {"navigator": str(path)}


def run_direction_baseline(cfg: DirectionBaselineConfig, out: str | Path, progress: bool = True,
                           log: Callable[[str], None] = print) -> DirectionRun:
    """Glow -> (discovery) -> directions -> regression encoder in `out`, skipping the finished parts."""
    from disgu.data import load_dataset
    from disgu.distributed import resolve_device
    from disgu.models.generator import parse_levels
    from disgu.pipeline.stages import RunContext, stage_discovery, stage_glow
    from disgu.runinfo import write_run_info

    check_direction_config(cfg)
    out = Path(out)
    fresh = _check_same_config(out, cfg)
    dataset = load_dataset(cfg.dataset, data_path=cfg.data_path, resolution=cfg.resolution)
    if cfg.model == "ld" and cfg.directions.navigator and not Path(cfg.directions.navigator).is_file():
        raise UserError(f"--set directions.navigator={cfg.directions.navigator}: no such file")
    device = resolve_device(cfg.device)
    out.mkdir(parents=True, exist_ok=True)
    if fresh:
        write_run_info(out, cfg, cfg.seed)
    ctx = RunContext(out, cfg.run_config(), device, None, progress)
    ctx._dataset = dataset
    parts: dict[str, Callable[[], dict[str, Any]]] = {"glow": lambda: stage_glow(ctx)}
    if cfg.model == "ld" and not cfg.directions.navigator:
        parts["discovery"] = lambda: stage_discovery(ctx)

    def directions() -> dict[str, Any]:
        glow = ctx.glow()
        frozen = ctx.frozen(glow, parse_levels(cfg.directions.levels, glow.config.n_levels))
        frame, values, about = find_directions(cfg, frozen, dataset, out, progress)
        norms = np.linalg.norm(frame, axis=0)
        if frame.shape[0] != frozen.nav_dim or not np.allclose(norms, 1.0, atol=1e-4):
            raise UserError(f"{cfg.model}: directions of shape {frame.shape} (norms {norms.min():.3g}.."
                            f"{norms.max():.3g}) do not fit the navigated latent of {frozen.nav_dim} dims")
        save_directions(out / "directions" / "directions.npz", frame, values, frozen.levels)
        summary = {"method": cfg.model, "shape": list(frame.shape), "levels": list(frozen.levels),
                   "orthonormal": bool(np.allclose(frame.T @ frame, np.eye(frame.shape[1]), atol=1e-5)),
                   "values": None if values is None else [float(v) for v in values], **about}
        write_json(out / "directions" / "summary.json", summary)
        return {"shape": summary["shape"]}

    def encoder() -> dict[str, Any]:
        from disgu.directions.regression import train_regression_encoder

        frame, _, levels = load_directions(out / "directions" / "directions.npz")
        frozen = ctx.frozen(ctx.glow(), levels)
        summary = train_regression_encoder(frozen, frame, cfg.encoder, out / "encoder", cfg.seed, device, progress)
        return {"steps": summary["steps"], "heldout_mse": summary["heldout_mse"]}

    parts["directions"] = directions
    parts["encoder"] = encoder
    for name, fn in parts.items():
        if _done(out, name).is_file():
            log(f"{cfg.model}: {name}: done already (skipped; delete {_done(out, name)} to redo)")
            continue
        for later in PARTS[PARTS.index(name) + 1:]:
            _done(out, later).unlink(missing_ok=True)  # a part that reruns makes the later ones stale
        log(f"{cfg.model}: {name} ...")
        (out / name).mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        t0 = time.perf_counter()
        info = fn()
        write_json(_done(out, name), {"part": name, "wall_seconds": round(time.perf_counter() - t0, 2), **info})
    from disgu.models.encoder import load_encoder

    def seconds(part: str) -> float:
        path = _done(out, part)
        return float(json.loads(path.read_text()).get("wall_seconds", 0.0)) if path.is_file() else 0.0

    steps = int(json.loads(_done(out, "encoder").read_text())["steps"])
    return DirectionRun(encoder=load_encoder(out / "encoder" / "encoder.pt", device), dataset=dataset, steps=steps,
                        training_seconds=round(sum(seconds(p) for p in ("discovery", "directions", "encoder")), 2),
                        glow_seconds=seconds("glow"))
