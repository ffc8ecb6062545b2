"""FactorVAE score (Kim & Mnih 2018) as disentanglement_lib computes it.

Global variances come from 10,000 points (ddof 1); code dims whose standard deviation is below
0.05 on the raw code scale are pruned. Each vote fixes one random factor over a batch of 64
points, divides each active dim's variance (ddof 1) by its global variance and votes (factor,
argmin dim). A majority-vote classifier from 10,000 training votes is scored on 5,000 new votes.
If every dim is pruned the score is 0, as in disentanglement_lib.
"""

from __future__ import annotations

import numpy as np

from disgu.metrics.sampling import CodeSource, as_random_state, as_source, require_grid


def _global_variances(source: CodeSource, num: int, rs: np.random.RandomState) -> np.ndarray:
    codes = source.codes_of(source.sample_factors(num, rs))
    return np.var(codes, axis=0, ddof=1)


def _fixed_factor_batches(source: CodeSource, num_points: int, batch_size: int, rs: np.random.RandomState):
    """The draws of `num_points` votes in disentanglement_lib's order: fixed factor, then the batch."""
    fixed = np.zeros(num_points, dtype=np.int64)
    batches = np.zeros((num_points, batch_size, source.num_factors), dtype=np.int64)
    for n in range(num_points):
        k = rs.randint(source.num_factors)
        f = source.sample_factors(batch_size, rs)
        f[:, k] = f[0, k]
        fixed[n] = k
        batches[n] = f
    return fixed, batches


def _votes(source, num_points, batch_size, rs, global_var, active, chunk: int = 512) -> np.ndarray:
    fixed, batches = _fixed_factor_batches(source, num_points, batch_size, rs)
    votes = np.zeros((source.num_factors, global_var.shape[0]), dtype=np.int64)
    for start in range(0, num_points, chunk):
        b = batches[start:start + chunk]
        z = source.codes_of(b.reshape(-1, source.num_factors)).reshape(b.shape[0], batch_size, -1)
        local = np.var(z, axis=1, ddof=1)
        argmin = np.argmin(local[:, active] / global_var[active], axis=1)
        np.add.at(votes, (fixed[start:start + chunk], argmin), 1)
    return votes


def factor_vae(codes, factors=None, *, batch_size: int = 64, num_train: int = 10_000, num_eval: int = 5_000,
               num_variance_estimate: int = 10_000, prune_threshold: float = 0.05,
               random_state: int | np.random.RandomState = 0) -> dict:
    """FactorVAE score on a full grid (arrays) or a dataset CodeSource.

    Returns {"factor_vae" (= eval accuracy), "train_accuracy", "eval_accuracy", "num_active_dims"}.
    """
    source = as_source(codes, factors)
    require_grid(source, "FactorVAE score")
    rs = as_random_state(random_state)
    global_var = _global_variances(source, num_variance_estimate, rs)
    active = np.sqrt(global_var) >= prune_threshold
    out = {"num_active_dims": int(active.sum()), "prune_threshold": float(prune_threshold),
           "global_variance": global_var.tolist()}
    if not active.any():
        out.update(factor_vae=0.0, train_accuracy=0.0, eval_accuracy=0.0)
        return out
    train_votes = _votes(source, num_train, batch_size, rs, global_var, active)
    classifier = np.argmax(train_votes, axis=0)
    columns = np.arange(train_votes.shape[1])
    train_acc = train_votes[classifier, columns].sum() / train_votes.sum()
    eval_votes = _votes(source, num_eval, batch_size, rs, global_var, active)
    eval_acc = eval_votes[classifier, columns].sum() / eval_votes.sum()
    out.update(factor_vae=float(eval_acc), train_accuracy=float(train_acc), eval_accuracy=float(eval_acc))
    return out
