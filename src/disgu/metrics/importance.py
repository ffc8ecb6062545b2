"""Per-factor gradient-boosted classifiers for DCI: importance matrix and accuracies.

Three estimators, named for what they are:
- "exact" (default): the model disentanglement_lib fits, sklearn's `GradientBoostingClassifier()`
  with default settings, one per factor, fitted by our own implementation
  (`disgu.metrics.boosting.GradientBoostedTrees`): the same trees, leaf values and importances,
  except where two splits are exactly equally good (sklearn and disgu then pick by their own
  random orders). 18-26x faster than sklearn on one core (BENCHMARKS.md, "Metrics").
- "sklearn": sklearn's `GradientBoostingClassifier(random_state=seed)` itself, as slow as
  disentanglement_lib; kept to check "exact" against.
- "hist": sklearn `HistGradientBoostingClassifier` with the same shape of model (100 rounds,
  learning rate 0.1, depth 3, no early stopping, min 1 sample per leaf) on 255-bin histograms.
  It has no `feature_importances_`; importance is the total split gain per code dimension.
  An approximation: it moved DCI disentanglement by up to 0.048 from the exact model on varied
  codes (BENCHMARKS.md), beyond the 0.02 tolerance, so it is never the default.

Each fit sees float32 features prepared once; with `n_jobs > 1` factors are fitted in parallel
threads (all three release the GIL while fitting), largest number of classes first.
"""

from __future__ import annotations

import numpy as np

from disgu.metrics.sampling import MetricInputError, one_thread

ESTIMATORS = ("exact", "sklearn", "hist")


def _fit_exact(x_train, y_train, x_test, y_test, seed):
    from disgu.metrics.boosting import GradientBoostedTrees

    model = GradientBoostedTrees(random_state=seed).fit(x_train, y_train)
    importance = np.abs(model.feature_importances_)
    return importance, np.mean(model.predict(x_train) == y_train), np.mean(model.predict(x_test) == y_test)


def _fit_sklearn(x_train, y_train, x_test, y_test, seed):
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(random_state=seed)
    model.fit(x_train, y_train)
    importance = np.abs(model.feature_importances_)
    return importance, np.mean(model.predict(x_train) == y_train), np.mean(model.predict(x_test) == y_test)


def _fit_hist(x_train, y_train, x_test, y_test, seed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        learning_rate=0.1, max_iter=100, max_depth=3, max_leaf_nodes=None, min_samples_leaf=1,
        l2_regularization=0.0, early_stopping=False, max_bins=255, random_state=seed,
    )
    model.fit(x_train, y_train)
    importance = np.zeros(x_train.shape[1])
    for stage in model._predictors:
        for tree in stage:
            nodes = tree.nodes[tree.nodes["is_leaf"] == 0]
            np.add.at(importance, nodes["feature_idx"].astype(np.int64), np.maximum(nodes["gain"], 0.0))
    total = importance.sum()
    if total > 0:
        importance = importance / total
    return importance, np.mean(model.predict(x_train) == y_train), np.mean(model.predict(x_test) == y_test)


def gbt_importance(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
                   estimator: str = "exact", n_jobs: int | None = None, seed: int = 0):
    """Fit one classifier per factor; return importance (d, F), train and test accuracy per factor.

    x: (n, d) codes; y: (n, F) factor classes. `n_jobs` threads fit different factors side by
    side (default 1: two threads bought no wall time on the shared 2-core machines, BENCHMARKS.md).
    """
    if estimator not in ESTIMATORS:
        raise MetricInputError(f"DCI estimator must be one of {ESTIMATORS}, got {estimator!r}")
    fit = {"exact": _fit_exact, "sklearn": _fit_sklearn, "hist": _fit_hist}[estimator]
    xtr = np.ascontiguousarray(x_train, dtype=np.float32)
    xte = np.ascontiguousarray(x_test, dtype=np.float32)
    num_factors = y_train.shape[1]
    single = [j for j in range(num_factors) if np.unique(y_train[:, j]).size < 2]
    if single:
        raise MetricInputError(f"DCI: factors {single} take a single value in the training sample")
    # Largest problems first: the per-factor cost grows with the number of classes.
    order = sorted(range(num_factors), key=lambda j: -len(np.unique(y_train[:, j])))
    n_jobs = max(1, min(int(n_jobs or 1), num_factors))
    from joblib import Parallel, delayed
    # One thread inside each fit: OpenMP inside HistGradientBoosting spins badly when the cores
    # are shared (20x slower measured here); parallelism comes from fitting factors side by side.
    with one_thread():
        if n_jobs == 1:
            results = [fit(xtr, y_train[:, j], xte, y_test[:, j], seed) for j in order]
        else:
            results = Parallel(n_jobs=n_jobs, prefer="threads")(
                delayed(fit)(xtr, y_train[:, j], xte, y_test[:, j], seed) for j in order
            )
    importance = np.zeros((x_train.shape[1], num_factors))
    train_acc = np.zeros(num_factors)
    test_acc = np.zeros(num_factors)
    for j, (imp, tr, te) in zip(order, results):
        importance[:, j] = imp
        train_acc[j] = tr
        test_acc[j] = te
    return importance, train_acc, test_acc
