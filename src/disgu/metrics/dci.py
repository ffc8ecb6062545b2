"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams 2018), as in disentanglement_lib.

Per factor a gradient-boosted classifier (the model of sklearn's default
`GradientBoostingClassifier`, fitted by `disgu.metrics.boosting`) predicts the factor from the
codes; its feature importances form R (d x F). Disentanglement weighs each code dim's 1 - entropy (base F) of its
row by the dim's share of total importance; completeness does the same by column (base d);
informativeness is the mean classification accuracy (train and test). A constant code dim gets
zero importance: its row counts for nothing in disentanglement and it only dilutes completeness
through the 1e-11 smoothing, as in disentanglement_lib.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from disgu.metrics.importance import gbt_importance
from disgu.metrics.sampling import CodeSource, as_random_state, as_source, sample_batched


def disentanglement_per_code(importance: np.ndarray) -> np.ndarray:
    if importance.shape[1] < 2:  # entropy with base 1 is undefined: with one factor every code dim is disentangled
        return np.ones(importance.shape[0])
    return 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])


def disentanglement_score(importance: np.ndarray) -> float:
    per_code = disentanglement_per_code(importance)
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    code_weight = importance.sum(axis=1) / importance.sum()
    return float(np.sum(per_code * code_weight))


def completeness_per_factor(importance: np.ndarray) -> np.ndarray:
    return 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])


def completeness_score(importance: np.ndarray) -> float:
    per_factor = completeness_per_factor(importance)
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    factor_weight = importance.sum(axis=0) / importance.sum()
    return float(np.sum(per_factor * factor_weight))


def dci_from_samples(x_train, y_train, x_test, y_test, *, estimator: str = "exact", n_jobs: int | None = None,
                     seed: int = 0) -> dict:
    """DCI of given train/test samples (no sampling): disentanglement_lib's `_compute_dci`."""
    importance, train_acc, test_acc = gbt_importance(
        x_train, y_train, x_test, y_test, estimator=estimator, n_jobs=n_jobs, seed=seed
    )
    if importance.shape[0] < 2:
        # entropy with base 1 is undefined; one code dim is trivially complete and disentangled per factor.
        completeness = 1.0
    else:
        completeness = completeness_score(importance)
    return {
        "disentanglement": disentanglement_score(importance),
        "completeness": completeness,
        "informativeness_train": float(train_acc.mean()),
        "informativeness_test": float(test_acc.mean()),
        "informativeness_train_per_factor": train_acc.tolist(),
        "informativeness_test_per_factor": test_acc.tolist(),
        "importance_matrix": importance.tolist(),
        "estimator": estimator,
    }


def dci(codes, factors=None, *, num_train: int = 10_000, num_test: int = 5_000, batch_size: int = 16,
        estimator: str = "exact", n_jobs: int | None = None,
        random_state: int | np.random.RandomState = 0,
        test_source: CodeSource | None = None) -> dict:
    """DCI on train/test sets drawn as disentanglement_lib draws them (train first, then test).

    `estimator`: "exact" (disentanglement_lib's model, sklearn's default GradientBoostingClassifier,
    fitted by disgu's own fast implementation), "sklearn" (that model fitted by sklearn itself: as
    slow as disentanglement_lib, for checking) or "hist" (histogram gradient boosting: up to ~0.05
    off; not for reported numbers). Returns {"disentanglement", "completeness",
    "informativeness_train", "informativeness_test", ...}.
    """
    source = as_source(codes, factors)
    rs = as_random_state(random_state)
    x_train, y_train = sample_batched(source, num_train, rs, batch_size)
    x_test, y_test = sample_batched(source if test_source is None else test_source, num_test, rs, batch_size)
    out = dci_from_samples(x_train, y_train, x_test, y_test, estimator=estimator, n_jobs=n_jobs)
    out.update(num_train=int(num_train), num_test=int(num_test))
    return out
