"""Mutual Information Gap (Chen et al. 2018) as disentanglement_lib computes it (`discrete_mig`).

Each code dimension is discretised into 20 equal-width histogram bins; for every factor the gap
between the two code dimensions with the highest mutual information, divided by the factor's
entropy, is averaged over factors. A constant code dimension falls into one bin and has zero
mutual information with every factor.
"""

from __future__ import annotations

import numpy as np

from disgu.metrics.sampling import MetricInputError, as_random_state, as_source, sample_batched


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Bin each column into `num_bins` equal-width bins: `np.digitize(x, np.histogram(x, num_bins)[1][:-1])`."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], num_bins)[1][:-1]
        out[:, i] = np.digitize(codes[:, i], edges)
    return out


def _dense_labels(x: np.ndarray) -> tuple[np.ndarray, int]:
    values, inverse = np.unique(x, return_inverse=True)
    return inverse.reshape(-1), values.size


def mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """Mutual information (nats) of two label vectors; the same sums as sklearn's `mutual_info_score`."""
    a, ka = _dense_labels(a)
    b, kb = _dense_labels(b)
    if ka == 1 or kb == 1:  # a single label has zero entropy, hence zero MI (sklearn's special case)
        return 0.0
    joint = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb)
    nzx, nzy = np.nonzero(joint)
    nz = joint[nzx, nzy].astype(np.float64)
    total = nz.sum()
    pi = joint.sum(axis=1)
    pj = joint.sum(axis=0)
    p = nz / total
    outer = pi[nzx].astype(np.int64) * pj[nzy].astype(np.int64)
    log_outer = -np.log(outer) + np.log(pi.sum()) + np.log(pj.sum())
    mi = p * (np.log(nz) - np.log(total)) + p * log_outer
    mi = np.where(np.abs(mi) < np.finfo(mi.dtype).eps, 0.0, mi)
    return float(np.clip(mi.sum(), 0.0, None))


def mutual_info_matrix(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(d, F) matrix of mutual information between each discretised code dim and each factor."""
    d, f = discrete_codes.shape[1], factors.shape[1]
    m = np.zeros((d, f))
    for i in range(d):
        for j in range(f):
            m[i, j] = mutual_info(factors[:, j], discrete_codes[:, i])
    return m


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    return np.array([mutual_info(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])


def normalised_mutual_info(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """(d, F) MI of each code dim (discretised as MIG does) with each factor, over the factor's entropy (0..1).

    Why: the one matrix that says which code dim reads which factor; the direction labels of a run
    and the heat map of its report both read it.
    """
    mi = mutual_info_matrix(histogram_discretize(codes, num_bins), factors)
    return mi / np.maximum(factor_entropies(factors), 1e-12)


def mig_from_samples(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict:
    """MIG of given samples (no sampling): the core of disentanglement_lib's `_compute_mig`."""
    if codes.shape[1] < 2:
        raise MetricInputError("MIG needs at least 2 code dimensions (it is a gap between the top two)")
    m = mutual_info_matrix(histogram_discretize(codes, num_bins), factors)
    entropy = factor_entropies(factors)
    if (entropy <= 0).any():
        bad = [int(j) for j in np.flatnonzero(entropy <= 0)]
        raise MetricInputError(f"MIG: factors {bad} take a single value in the sample; their entropy is 0")
    top = np.sort(m, axis=0)[::-1]
    per_factor = (top[0] - top[1]) / entropy
    return {
        "mig": float(per_factor.mean()),
        "mig_per_factor": per_factor.tolist(),
        "mutual_info": m.tolist(),
        "factor_entropy": entropy.tolist(),
    }


def mig(codes, factors=None, *, num_train: int = 10_000, batch_size: int = 16, num_bins: int = 20,
        random_state: int | np.random.RandomState = 0) -> dict:
    """Mutual Information Gap on `num_train` points drawn as disentanglement_lib draws them.

    `codes`/`factors` are arrays (a full grid, or any labelled samples) or `codes` is a CodeSource
    (see `disgu.metrics.from_dataset`). Returns {"mig", "mig_per_factor", "mutual_info", "factor_entropy"}.
    """
    source = as_source(codes, factors)
    rs = as_random_state(random_state)
    z, y = sample_batched(source, num_train, rs, batch_size)
    out = mig_from_samples(z, y, num_bins)
    out["num_train"] = int(num_train)
    return out
