"""Which training curves a report draws, from which stage log, and how they are read.

Each stage writes one JSON object per logged step (`<stage>/log.jsonl`; a baseline's run dir
holds its `log.jsonl` at the top).
A curve names its log and the keys it plots; a key may be dotted ('heldout.accuracy' reads
row['heldout']['accuracy']). Curves whose log is absent or holds
none of their keys are left out, so one list serves every kind of run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from disgu.report.plots import Series, curve_plot
from disgu.report.sources import read_jsonl

MAX_POINTS = 1500  # longer logs are thinned evenly: the plot looks the same and the page stays small


@dataclass(frozen=True)
class Curve:
    title: str
    log: str  # path relative to the run dir
    keys: tuple[tuple[str, str], ...]  # (key in the log, legend label)
    ylabel: str = ""
    log_y: bool = False
    chance_key: str | None = None  # a dotted key whose last value is drawn as the chance line


CURVES = (
    Curve("Glow: bits per dim", "glow/train/log.jsonl",
          (("loss_bpd", "train"), ("heldout_bpd", "held-out")), "bits/dim"),
    Curve("Discovery: reconstructor accuracy", "discovery/log.jsonl",
          (("train_accuracy", "train batch"), ("heldout.accuracy", "held-out")), "accuracy",
          chance_key="heldout.chance"),
    Curve("Discovery: loss", "discovery/log.jsonl",
          (("loss", "total"), ("ce", "direction cross-entropy"), ("shift_l1", "shift L1")), "loss"),
    Curve("Contrastive: loss", "contrastive/log.jsonl",
          (("loss", "total"), ("bce", "contrastive BCE"), ("entropy", "entropy term")), "loss"),
    Curve("Contrastive: positive-negative gap", "contrastive/log.jsonl",
          (("gap", "gap"), ("pos_sim", "positive similarity"), ("neg_sim", "negative similarity")), "similarity"),
    Curve("Glow-ICA distillation: MSE", "distil/log.jsonl", (("mse", "train"), ("heldout_mse", "held-out")), "MSE",
          log_y=True),
    Curve("VAE: loss", "log.jsonl", (("loss", "total"), ("recon", "reconstruction")), "nats", log_y=True),
    Curve("VAE: KL", "log.jsonl", (("kl", "KL"),), "nats"),
    Curve("FactorVAE: total correlation and discriminator", "log.jsonl",
          (("tc", "total correlation"), ("discriminator", "discriminator loss")), "nats"),
    Curve("DIP-VAE: covariance regulariser", "log.jsonl", (("dip", "weighted DIP term"),), "nats"),
)


def lookup(row: dict[str, Any], key: str) -> float | None:
    """row[a][b] for key 'a.b', as a finite float, else None."""
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def series_of(rows: list[dict[str, Any]], key: str, label: str) -> Series | None:
    points = [(lookup(r, "step"), lookup(r, key)) for r in rows]
    points = [(x, y) for x, y in points if x is not None and y is not None]
    if not points:
        return None
    if len(points) > MAX_POINTS:
        stride = math.ceil(len(points) / MAX_POINTS)
        points = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    xs, ys = zip(*points)
    return label, list(xs), list(ys)


def draw_curves(run_dir: Path) -> list[tuple[str, str]]:
    """(title, SVG data URI) of every curve whose log exists and has data, in CURVES order."""
    out = []
    cache: dict[Path, list[dict[str, Any]]] = {}
    for curve in CURVES:
        path = run_dir / curve.log
        if path not in cache:
            cache[path] = read_jsonl(path)
        rows = cache[path]
        series = [s for key, label in curve.keys if (s := series_of(rows, key, label)) is not None]
        if not series:
            continue
        if curve.log_y and any(min(ys) <= 0 for _, _, ys in series):
            log_y = False
        else:
            log_y = curve.log_y
        chance = None
        if curve.chance_key:
            values = [v for r in rows if (v := lookup(r, curve.chance_key)) is not None]
            chance = values[-1] if values else None
        out.append((curve.title, curve_plot(curve.title, series, curve.ylabel, chance, log_y)))
    return out
