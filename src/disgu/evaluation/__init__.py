"""Evaluation of any representation: scores on real images (one metrics.json schema) and per-direction analysis.

`viz` draws what this package computes; the stages and `disgu baseline` call it.
"""

from disgu.evaluation.config import EvalConfig
from disgu.evaluation.scores import (
    metric_progress,
    representation_function,
    score_representation,
    standardised_factor_vae,
    write_metrics,
)
from disgu.metrics import HEADLINE_KEYS

__all__ = ["HEADLINE_KEYS", "EvalConfig", "metric_progress", "representation_function", "score_representation",
           "standardised_factor_vae", "write_metrics"]
