"""The model side of the explorer: a finished run's Glow, ranked directions and encoder, one image at a time.

A view is a base latent (a dataset image's exact Glow latent, or a Glow sample drawn from a seed)
plus one shift per direction; `render` decodes G(z + sum_d s_d n_d) and reads its codes E(x).
Base latents are cached by their (source, number) key: they are the same for every client, so the
cache is shared, and a lock guards it. Nothing else is kept per client.
"""

from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from disgu.errors import UserError

SOURCES = ("image", "sample")
SEED_MAX = 2**31 - 1
CACHE_SIZE = 256


@dataclass
class Rendered:
    png: bytes
    codes: list[float]


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 (H, W, C) -> PNG."""
    if image.shape[-1] == 1:
        image = image[..., 0]
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


class Explorer:
    """Decode and encode for the explorer; every public method is safe to call from several threads."""

    def __init__(self, run_dir: str | Path, device: str = "cpu"):
        from disgu.models.generator import FrozenGlow
        from disgu.pipeline.stages import load_trained

        from disgu.pipeline.config import read_run_config

        run = Path(run_dir)
        self.config = read_run_config(run).to_dict()
        self.run_dir = run
        glow, navigator, levels, encoder = load_trained(run, device)
        self.frozen = FrozenGlow(glow, levels)
        self.encoder = encoder.eval()
        self.vectors = navigator.directions().detach().to(self.frozen.device)
        self.temperature = float(self.config.get("contrastive", {}).get("temperature", 0.7))
        self.directions, self.shift_range = self._ranked()
        self.dataset = self._open_dataset()
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int], list[torch.Tensor]] = OrderedDict()
        self.code_mean, self.code_std = self._code_scale()

    # ------------------------------------------------------------------ set-up

    def _ranked(self) -> tuple[list[dict[str, Any]], float]:
        """Directions in the traversal stage's ranked order (else in index order), and the slider range."""
        index_path = self.run_dir / "traversals" / "index.json"
        shift_range = float(self.config.get("traversal", {}).get("shift_range", 3.0))
        rows: list[dict[str, Any]] = []
        if index_path.is_file():
            index = json.loads(index_path.read_text())
            rows = index.get("directions", [])
            shift_range = float(index.get("config", {}).get("shift_range", shift_range))
        n = self.vectors.shape[0]
        if not rows:
            rows = [{"direction": d, "rank": d} for d in range(n)]
        keep = ("direction", "rank", "score", "code_dim", "factor", "factor_nmi")
        out = [{k: r[k] for k in keep if k in r} for r in rows if 0 <= int(r.get("direction", -1)) < n]
        return out, shift_range

    def _open_dataset(self):
        """The run's dataset, or None when it cannot be opened here (then only Glow samples are offered)."""
        from disgu.data import load_dataset

        try:
            return load_dataset(self.config["dataset"], data_path=self.config.get("data_path"),
                                resolution=self.config.get("resolution"))
        except (UserError, OSError, KeyError):
            return None

    def _code_scale(self, n: int = 64) -> tuple[list[float], list[float]]:
        """Mean and std of each code dim over Glow samples: the page draws codes in these units."""
        gen = torch.Generator().manual_seed(12345)
        z = [(self.temperature * torch.randn(n, *s, generator=gen)).to(self.frozen.device) for s in self.frozen.shapes]
        codes = self.encoder.encode_images(self._to_images(self.frozen.decode(z)))
        return codes.mean(0).tolist(), np.maximum(codes.std(0), 1e-6).tolist()

    # ------------------------------------------------------------------ queries

    @property
    def n_images(self) -> int:
        return 0 if self.dataset is None else len(self.dataset)

    def info(self) -> dict[str, Any]:
        return {
            "run": self.run_dir.name, "dataset": self.config.get("dataset"),
            "representation": self.config.get("representation", "contrastive"),
            "resolution": self.frozen.resolution, "n_images": self.n_images, "sample_seed_max": SEED_MAX,
            "shift_range": self.shift_range, "shift_limit": self.shift_limit, "temperature": self.temperature,
            "n_codes": len(self.code_mean), "code_mean": self.code_mean, "code_std": self.code_std,
            "directions": self.directions,
        }

    @property
    def shift_limit(self) -> float:
        """The largest |shift| a render accepts: twice the slider range."""
        return 2.0 * self.shift_range

    def check_source(self, source: str, number: int) -> None:
        """UserError naming the field when (source, number) does not name a base image."""
        if source not in SOURCES:
            raise UserError(f"source: expected one of {', '.join(SOURCES)}, got {source!r}")
        if source == "image":
            if self.dataset is None:
                raise UserError("index: the run's dataset cannot be opened here; use source 'sample'")
            if not 0 <= number < self.n_images:
                raise UserError(f"index: {number} is out of range (0 .. {self.n_images - 1})")
        elif not 0 <= number <= SEED_MAX:
            raise UserError(f"seed: {number} is out of range (0 .. {SEED_MAX})")

    def original_png(self, index: int) -> bytes:
        self.check_source("image", index)
        return png_bytes(self.dataset.images(np.array([index]))[0])

    def render(self, source: str, number: int, shifts: dict[int, float]) -> Rendered:
        """G(z + sum shifts[d] * n_d) for the base (source, number), and its codes E(x)."""
        self.check_source(source, number)
        z = self._base(source, number)
        total = torch.zeros(1, self.vectors.shape[1], device=self.frozen.device)
        for d, value in shifts.items():
            total += float(value) * self.vectors[d]
        with torch.no_grad():
            image = self._to_images(self.frozen.decode_shifted(z, total))
            codes = self.encoder.encode_images(image)
        return Rendered(png_bytes(image[0]), [float(c) for c in codes[0]])

    def _base(self, source: str, number: int) -> list[torch.Tensor]:
        key = (source, number)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        if source == "image":
            from disgu.models.generator import encode_images

            z = encode_images(self.frozen.glow, self.dataset.images(np.array([number])))
        else:
            gen = torch.Generator().manual_seed(number)
            z = [(self.temperature * torch.randn(1, *s, generator=gen)).to(self.frozen.device)
                 for s in self.frozen.shapes]
        with self._lock:
            self._cache[key] = z
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return z

    def _to_images(self, x: torch.Tensor) -> np.ndarray:
        from disgu.models.glow import input_to_images

        return input_to_images(x.nan_to_num(0.0).clamp(-0.5, 0.5), self.frozen.n_bits)
