"""`disgu.DisGU`: the whole method as a scikit-learn-style estimator, `fit(dataset)` then `transform(images)`.

Training is the `disgu run` pipeline (its stages write into a run dir, `out`; a temporary dir
when none is given), so a fitted model can be reopened with `DisGU.load(run_dir)`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from disgu.errors import UserError


def check_images(images, name: str = "images") -> np.ndarray:
    """The images as a uint8 (N, H, W, C) array with C = 1 or 3, or a UserError.

    Only 4-D input is taken: an (H, W, C) image and an (N, H, W) stack look alike, and guessing
    silently encoded one picture as dozens of greyscale strips.
    """
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3) or arr.dtype != np.uint8:
        raise UserError(f"{name}: expected uint8 images (N, H, W, C) with C = 1 or 3, got {arr.dtype} {arr.shape}; "
                        f"pass images[None] for one image, images[..., None] for greyscale (N, H, W)")
    return arr


class DisGU:
    """Dis-GU representation learner.

    Parameters are those of `disgu run`: `preset` (demo, cpu, paper, tiny), `seed`, `out` (run dir),
    `glow` (a Glow checkpoint to use), `device`, `progress`, and `overrides`, a dict of
    `"section.field": value` (e.g. {"discovery.nav_lr": 1e-3}). Learned state after `fit`:
    `run_dir_`, `config_`, `encoder_`, `navigator_`, `levels_`, `glow_`, `n_features_out_`.
    """

    def __init__(self, preset: str = "demo", seed: int = 0, out: str | Path | None = None, glow: str | None = None,
                 device: str | None = None, progress: bool = True, overrides: dict[str, Any] | None = None,
                 evaluate: bool = False):
        self.preset, self.seed, self.out, self.glow = preset, seed, out, glow
        self.device, self.progress, self.overrides, self.evaluate = device, progress, overrides, evaluate

    def fit(self, dataset, y=None, data_path: str | None = None) -> DisGU:
        """Train on `dataset` (a name such as 'shapes3d', a file/folder path, or a disgu dataset object)."""
        import torch

        from disgu.pipeline.config import apply_overrides, make_config
        from disgu.pipeline.run import run_pipeline

        torch.set_flush_denormal(True)
        obj = None
        if isinstance(dataset, (str, Path)):
            name = str(dataset)
        elif hasattr(dataset, "images") and hasattr(dataset, "image_shape"):
            obj, name = dataset, getattr(dataset, "name", "images")
            data_path = data_path or getattr(dataset, "path", None)
        else:
            raise UserError(f"DisGU.fit: expected a dataset name, a path or a disgu dataset, "
                            f"got {type(dataset).__name__}")
        cfg = make_config(self.preset, dataset=name, data_path=None if data_path is None else str(data_path),
                          seed=self.seed, device=self.device)
        apply_overrides(cfg, [f"{k}={v}" for k, v in (self.overrides or {}).items()])
        if obj is not None:
            cfg.resolution = int(obj.image_shape[0])
        out = Path(self.out) if self.out is not None else Path(tempfile.mkdtemp(prefix="disgu-run-"))
        stages = ("glow", "discovery", "contrastive") + (("evaluation", "traversal") if self.evaluate else ())
        run_pipeline(cfg, out, glow_path=self.glow, progress=self.progress, stages=stages, dataset=obj)
        return self._load_state(out)

    def _load_state(self, run_dir: Path) -> DisGU:
        from disgu.pipeline.config import RunConfig
        from disgu.pipeline.stages import load_trained

        self.run_dir_ = Path(run_dir)
        self.config_ = RunConfig.from_dict(json.loads((self.run_dir_ / "config.json").read_text()))
        self.glow_, self.navigator_, self.levels_, self.encoder_ = load_trained(self.run_dir_)
        self.n_features_out_ = self.encoder_.code_dim
        return self

    @classmethod
    def load(cls, run_dir: str | Path) -> DisGU:
        """A fitted DisGU from the run dir of `disgu run` or of an earlier `fit`."""
        run_dir = Path(run_dir)
        cfg_path = run_dir / "config.json"
        if not cfg_path.is_file():
            raise UserError(f"--run {run_dir}: no config.json (not a `disgu run` dir)")
        cfg = json.loads(cfg_path.read_text())
        model = cls(preset=cfg.get("preset", "demo"), seed=cfg.get("seed", 0), out=run_dir)
        return model._load_state(run_dir)

    def transform(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 images (N, H, W, C), C = 1 or 3 -> float32 codes (N, D); resized to the run's resolution."""
        if not hasattr(self, "encoder_"):
            raise UserError("DisGU.transform: call fit(dataset) or DisGU.load(run_dir) first")
        arr = check_images(images)
        if len(arr) == 0:
            return np.zeros((0, self.encoder_.code_dim), np.float32)
        return self.encoder_.encode_images(np.ascontiguousarray(arr), batch_size=batch_size).astype(np.float32)

    def fit_transform(self, dataset, images: np.ndarray) -> np.ndarray:
        return self.fit(dataset).transform(images)

    def __repr__(self) -> str:
        return f"DisGU(preset={self.preset!r}, seed={self.seed}, out={self.out!r})"
