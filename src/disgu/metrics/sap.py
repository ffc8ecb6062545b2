"""SAP score (Kumar et al. 2018) for discrete factors, as disentanglement_lib's `sap_score` computes it.

For every (code dim, factor) pair a one-feature `LinearSVC(C=0.01, class_weight="balanced")` is
trained on 10,000 points and scored on 5,000; SAP is the mean over factors of the gap between the
two best dims. A constant code dim scores about chance for every factor.
"""

from __future__ import annotations

import warnings

import numpy as np

from disgu.metrics.sampling import CodeSource, MetricInputError, as_random_state, as_source, one_thread, sample_batched


def _dim_scores(x_train, y_train, x_test, y_test, seed: int) -> np.ndarray:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    scores = np.zeros(y_train.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for j in range(y_train.shape[1]):
            clf = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
            clf.fit(x_train[:, None], y_train[:, j])
            scores[j] = np.mean(clf.predict(x_test[:, None]) == y_test[:, j])
    return scores


def sap_from_samples(x_train, y_train, x_test, y_test, *, n_jobs: int | None = None, seed: int = 0) -> dict:
    """SAP of given train/test samples: the score matrix (d, F) and the mean top-two gap."""
    if x_train.shape[1] < 2:
        raise MetricInputError("SAP needs at least 2 code dimensions (it is a gap between the top two)")
    from joblib import Parallel, delayed

    with one_thread():
        rows = Parallel(n_jobs=n_jobs or 1, prefer="threads")(
            delayed(_dim_scores)(x_train[:, i], y_train, x_test[:, i], y_test, seed) for i in range(x_train.shape[1])
        )
    matrix = np.stack(rows)
    top = np.sort(matrix, axis=0)
    return {"sap": float(np.mean(top[-1] - top[-2])), "score_matrix": matrix.tolist()}


def sap(codes, factors=None, *, num_train: int = 10_000, num_test: int = 5_000, batch_size: int = 16,
        n_jobs: int | None = None, random_state: int | np.random.RandomState = 0,
        test_source: CodeSource | None = None) -> dict:
    """SAP score on train/test sets drawn as disentanglement_lib draws them. Returns {"sap", "score_matrix"}."""
    source = as_source(codes, factors)
    rs = as_random_state(random_state)
    x_train, y_train = sample_batched(source, num_train, rs, batch_size)
    x_test, y_test = sample_batched(source if test_source is None else test_source, num_test, rs, batch_size)
    return sap_from_samples(x_train, y_train, x_test, y_test, n_jobs=n_jobs)
