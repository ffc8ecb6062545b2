"""Modularity and explicitness (Ridgeway & Mozer 2018) as disentanglement_lib computes them.

Modularity: from the (d, F) mutual information of 20-bin discretised codes, each code dim scores
1 - (sum of squared MI - max) / (max * (F - 1)); a dim with zero MI to every factor (a constant
one) scores 0, and the mean is over all dims. Explicitness: per factor, a default
`LogisticRegression` on standardised codes, scored by one-vs-rest ROC-AUC on train and test.
A constant code dim is standardised to zeros (disentanglement_lib would divide by zero).
"""

from __future__ import annotations

import warnings

import numpy as np

from disgu.metrics.mig import histogram_discretize, mutual_info_matrix
from disgu.metrics.sampling import CodeSource, as_random_state, as_source, one_thread, sample_batched


def modularity_score(mutual_information: np.ndarray) -> float:
    squared = np.square(mutual_information)
    top = np.max(squared, axis=1)
    if squared.shape[1] < 2:  # (F - 1) = 0: with one factor a dim that carries it is perfectly modular
        return float(np.mean(top > 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (np.sum(squared, axis=1) - top) / (top * (squared.shape[1] - 1.0))
    per_code = 1.0 - delta
    per_code[top == 0.0] = 0.0
    return float(np.mean(per_code))


def _explicitness(x_train, y_train, x_test, y_test) -> tuple[float, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import label_binarize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression().fit(x_train, y_train)
    scores = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        prob = clf.predict_proba(x)
        if clf.classes_.size == 2:
            scores.append(roc_auc_score(y == clf.classes_[1], prob[:, 1]))
            continue
        onehot = label_binarize(y, classes=clf.classes_)
        present = onehot.any(axis=0) & ~onehot.all(axis=0)
        scores.append(roc_auc_score(onehot[:, present], prob[:, present]))
    return float(scores[0]), float(scores[1])


def modularity_from_samples(x_train, y_train, x_test, y_test, num_bins: int = 20) -> dict:
    mi = mutual_info_matrix(histogram_discretize(x_train, num_bins), y_train)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    xtr, xte = (x_train - mean) / std, (x_test - mean) / std
    with one_thread():
        per_factor = np.array([_explicitness(xtr, y_train[:, j], xte, y_test[:, j]) for j in range(y_train.shape[1])])
    return {
        "modularity": modularity_score(mi),
        "explicitness_train": float(per_factor[:, 0].mean()),
        "explicitness_test": float(per_factor[:, 1].mean()),
        "mutual_info": mi.tolist(),
    }


def modularity(codes, factors=None, *, num_train: int = 10_000, num_test: int = 5_000, batch_size: int = 16,
               num_bins: int = 20, random_state: int | np.random.RandomState = 0,
               test_source: CodeSource | None = None) -> dict:
    """Modularity and explicitness on train/test sets drawn as disentanglement_lib draws them."""
    source = as_source(codes, factors)
    rs = as_random_state(random_state)
    x_train, y_train = sample_batched(source, num_train, rs, batch_size)
    x_test, y_test = sample_batched(source if test_source is None else test_source, num_test, rs, batch_size)
    return modularity_from_samples(x_train, y_train, x_test, y_test, num_bins)
