"""beta-VAE score (Higgins et al. 2017) as disentanglement_lib's `beta_vae_sklearn` computes it.

Each sample fixes one random factor across 64 pairs of points; its feature is the mean absolute
difference of the pair codes. sklearn `LogisticRegression` with default settings is trained on
10,000 samples and scored on 5,000 new ones. A constant code dim gives a zero feature.
"""

from __future__ import annotations

import warnings

import numpy as np

from disgu.metrics.sampling import CodeSource, as_random_state, as_source, one_thread, require_grid


def _pair_features(source: CodeSource, num_points: int, batch_size: int, rs: np.random.RandomState,
                   chunk: int = 512):
    labels = np.zeros(num_points, dtype=np.int64)
    first = np.zeros((num_points, batch_size, source.num_factors), dtype=np.int64)
    second = np.zeros_like(first)
    for n in range(num_points):
        k = rs.randint(source.num_factors)
        f1 = source.sample_factors(batch_size, rs)
        f2 = source.sample_factors(batch_size, rs)
        f2[:, k] = f1[:, k]
        labels[n], first[n], second[n] = k, f1, f2
    features = []
    for start in range(0, num_points, chunk):
        a, b = first[start:start + chunk], second[start:start + chunk]
        z1 = source.codes_of(a.reshape(-1, source.num_factors)).reshape(a.shape[0], batch_size, -1)
        z2 = source.codes_of(b.reshape(-1, source.num_factors)).reshape(b.shape[0], batch_size, -1)
        features.append(np.mean(np.abs(z1 - z2), axis=1))
    return np.concatenate(features), labels


def beta_vae(codes, factors=None, *, batch_size: int = 64, num_train: int = 10_000, num_eval: int = 5_000,
             random_state: int | np.random.RandomState = 0) -> dict:
    """beta-VAE score on a full grid (arrays) or a dataset CodeSource.

    Returns {"beta_vae" (= eval accuracy), "train_accuracy", "eval_accuracy", "converged"}.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    source = as_source(codes, factors)
    require_grid(source, "beta-VAE score")
    rs = as_random_state(random_state)
    x_train, y_train = _pair_features(source, num_train, batch_size, rs)
    model = LogisticRegression(random_state=rs)  # lbfgs never draws from it; passed as disentanglement_lib does
    with one_thread(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x_train, y_train)
        train_acc = float(np.mean(model.predict(x_train) == y_train))
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    x_eval, y_eval = _pair_features(source, num_eval, batch_size, rs)
    with one_thread():
        eval_acc = float(model.score(x_eval, y_eval))
    return {"beta_vae": eval_acc, "train_accuracy": train_acc, "eval_accuracy": eval_acc, "converged": converged}
