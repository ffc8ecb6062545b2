"""`disgu.DisGU`: the whole method as a scikit-learn transformer, `fit(X)` then `transform(images)`.

Training is the `disgu run` pipeline (its stages write into a run dir, `out`; a temporary dir
when none is given), so a fitted model can be reopened with `DisGU.load(run_dir)`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

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


def check_factors(factors, num_images: int, name: str = "y") -> np.ndarray:
    """The ground-truth factors as an integer (N, F) array (a 1-D array is one factor), or a UserError."""
    arr = np.asarray(factors)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or len(arr) != num_images or arr.shape[1] == 0 or arr.dtype == bool \
            or not np.issubdtype(arr.dtype, np.integer):
        raise UserError(f"{name}: expected integer factors ({num_images}, F), one row per image, "
                        f"got {arr.dtype} {arr.shape}")
    return arr


def _is_dataset(obj: Any) -> bool:
    return hasattr(obj, "images") and hasattr(obj, "image_shape")


class DisGU(TransformerMixin, BaseEstimator):
    """Dis-GU representation learner, a scikit-learn transformer (`clone`, `get_params`, pipelines work).

    Parameters are those of `disgu run`: `preset` (demo, cpu, paper, tiny), `seed`, `out` (run dir;
    None: a new temporary dir per fit), `glow` (a Glow checkpoint to use instead of training one),
    `device`, `progress`, `overrides`, a dict of `"section.field": value` (e.g.
    {"discovery.nav_lr": 1e-3}), and `evaluate` (also run the evaluation and traversal stages, which
    write metrics.json and traversal images into the run dir). `__init__` stores them unchanged, as
    scikit-learn requires; they are checked when `fit` builds the run's config.

    Learned state after `fit` (or `DisGU.load`): `run_dir_`, `config_`, `encoder_`, `navigator_`,
    `levels_`, `glow_`, `n_features_out_` (the code dimension). `transform` before either raises
    sklearn's NotFittedError.
    """

    def __init__(self, preset: str = "demo", seed: int = 0, out: str | Path | None = None, glow: str | None = None,
                 device: str | None = None, progress: bool = True, overrides: dict[str, Any] | None = None,
                 evaluate: bool = False):
        self.preset = preset
        self.seed = seed
        self.out = out
        self.glow = glow
        self.device = device
        self.progress = progress
        self.overrides = overrides
        self.evaluate = evaluate

    def fit(self, X: Any, y: np.ndarray | None = None, data_path: str | Path | None = None) -> DisGU:
        """Train the representation on X and return self.

        X is one of
        - uint8 images (N, H, W, C), C = 1 or 3, with `y` None or integer factors (N, F). The images
          are resized to the preset's resolution (`overrides={"resolution": R}` to change it). They
          (and y) are written to RUN_DIR/fit_data/images-<content hash>.npz and trained on as a
          bring-your-own file, because the Glow trainer opens its data by name; the run dir is thus
          resumable with `disgu run --dataset that.npz --out RUN_DIR`, and fitting other data into
          the same `out` is refused as a different configuration. The evaluation metrics (with
          `evaluate=True`) need factors that hold every combination exactly once (a full grid, in any
          row order); other factors, or none, give a metrics.json without metrics.
        - a dataset name such as 'shapes3d' (with `data_path` for those that need a file), an
          .npz/.h5 file or image folder path, or an opened disgu dataset object; `y` must be None
          (a dataset brings its own factors).
        """
        import torch

        from disgu.pipeline.config import apply_overrides, make_config, validate_config
        from disgu.pipeline.run import run_pipeline
        from disgu.pipeline.stages import planned_stages

        torch.set_flush_denormal(True)
        obj, images, factors = None, None, None
        if isinstance(X, (str, os.PathLike)):
            name = str(X)
        elif _is_dataset(X):
            obj, name = X, getattr(X, "name", "images")
            data_path = data_path or getattr(X, "path", None)
        elif np.ndim(X) == 0:
            raise UserError(f"DisGU.fit: expected uint8 images (N, H, W, C), a dataset name, a path or a disgu "
                            f"dataset, got {type(X).__name__}")
        else:
            images, name = check_images(X, "X"), "images"
            if len(images) == 0:
                raise UserError("X: holds no images")
            factors = None if y is None else check_factors(y, len(images))
        if y is not None and images is None:
            raise UserError("DisGU.fit: y (factors) goes with an image array X only; a dataset brings its own")
        cfg = make_config(self.preset, dataset=name, data_path=None if data_path is None else str(data_path),
                          seed=self.seed, device=self.device)
        apply_overrides(cfg, [f"{k}={v}" for k, v in (self.overrides or {}).items()])
        if obj is not None:
            cfg.resolution = int(obj.image_shape[0])
        # every training stage of the config's representation; evaluation and traversal on request
        stages = tuple(s for s in planned_stages(cfg) if self.evaluate or s not in ("evaluation", "traversal"))
        out = Path(self.out) if self.out is not None else Path(tempfile.mkdtemp(prefix="disgu-run-"))
        written = None
        if images is not None:
            validate_config(cfg, stages)  # bad settings are refused before the data is written into `out`
            data, written = _write_fit_data(out, images, factors)
            cfg.dataset = str(data.resolve())
        try:
            run_pipeline(cfg, out, glow_path=self.glow, progress=self.progress, stages=stages, dataset=obj)
        except Exception:
            # refused before this run was recorded (e.g. `out` holds another run): leave no stray copy there
            if written is not None and _recorded_dataset(out) != cfg.dataset:
                written.unlink(missing_ok=True)
            raise
        return self._load_state(out)

    def _load_state(self, run_dir: Path) -> DisGU:
        from disgu.pipeline.config import read_run_config
        from disgu.pipeline.stages import load_trained

        self.run_dir_ = Path(run_dir)
        self.config_ = read_run_config(self.run_dir_)
        self.glow_, self.navigator_, self.levels_, self.encoder_ = load_trained(self.run_dir_)
        self.n_features_out_ = self.encoder_.code_dim
        return self

    @classmethod
    def load(cls, run_dir: str | Path) -> DisGU:
        """A fitted DisGU from the run dir of `disgu run` or of an earlier `fit`."""
        from disgu.pipeline.config import read_run_config

        cfg = read_run_config(run_dir)
        model = cls(preset=cfg.preset, seed=cfg.seed, out=run_dir)
        return model._load_state(run_dir)

    def transform(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 images (N, H, W, C), C = 1 or 3 -> float32 codes (N, n_features_out_); resized to the run's
        resolution."""
        check_is_fitted(self, "encoder_", msg="This %(name)s is not fitted yet: call fit(X) or DisGU.load(run_dir)")
        arr = check_images(X)
        if len(arr) == 0:
            return np.zeros((0, self.encoder_.code_dim), np.float32)
        return self.encoder_.encode_images(np.ascontiguousarray(arr), batch_size=batch_size).astype(np.float32)

    def fit_transform(self, X: np.ndarray, y: np.ndarray | None = None, **fit_params: Any) -> np.ndarray:
        """fit(X, y) then transform(X), for an image array X only.

        A dataset name, path or object is refused before training: its images may not fit in memory,
        and encoding all of them is rarely what is wanted; call fit(dataset), then transform(images).
        """
        if isinstance(X, (str, os.PathLike)) or _is_dataset(X):
            raise UserError("DisGU.fit_transform: needs an image array X; for a dataset name, path or object "
                            "call fit(dataset), then transform(images)")
        return self.fit(X, y, **fit_params).transform(X)


def _write_fit_data(run_dir: Path, images: np.ndarray, factors: np.ndarray | None) -> tuple[Path, Path | None]:
    """(path, path if written now else None) of RUN_DIR/fit_data/images-<hash>.npz holding `fit`'s arrays.

    The name carries a hash of the content, so a second fit of the same data into the same run dir
    resumes it, and other data there has another dataset path: a different config, which is refused.
    """
    from disgu.data.arrays.byo import write_byo

    h = hashlib.sha256(f"{images.dtype}{images.shape}".encode())
    h.update(np.ascontiguousarray(images).data)
    if factors is not None:
        h.update(f"{factors.dtype}{factors.shape}".encode())
        h.update(np.ascontiguousarray(factors).data)
    path = run_dir / "fit_data" / f"images-{h.hexdigest()[:16]}.npz"
    if path.is_file():
        return path, None
    return write_byo(path, images, factors), path


def _recorded_dataset(run_dir: Path) -> str | None:
    """The dataset the run dir's config.json names, None without one."""
    path = run_dir / "config.json"
    return json.loads(path.read_text()).get("dataset") if path.is_file() else None
