"""Gradient-boosted trees for DCI: the model sklearn's default `GradientBoostingClassifier()` fits, fast.

disentanglement_lib's DCI fits one `GradientBoostingClassifier()` per factor. Fitting it with
sklearn takes about 15 minutes for 64-dim codes, mostly spent re-sorting every feature at every
tree node. This module fits the same model with the same rules, organised for speed:

- the model: init raw scores = the class-prior logits (symmetric multinomial logit; binary: the
  log-odds and one tree per stage), then `n_estimators` stages; each stage fits one regression
  tree per class to the negative gradient of the multinomial (binary: binomial) log-loss at the
  stage's start, depth 3, squared-error splits (sklearn >= 1.9; same splits as `friedman_mse`),
  at least one sample per leaf, a node split only when it has 2+ samples and an impurity above
  machine epsilon; split candidates lie between consecutive sorted values more than 1e-7 apart,
  threshold at their midpoint; each leaf then gets one Newton step,
  mean(neg. gradient) * (K-1)/K / mean(p (1-p)) (binary without the factor), times the learning rate;
- the speed: each feature is sorted once per fit. To find the best split of every node at one
  depth of all K trees of a stage, one pass over each feature's sorted samples keeps a running
  gradient sum per (tree, node): no per-node sorting, and all classes share the pass. Compiled
  with numba; the kernels release the GIL so factors can be fitted in parallel threads.
- feature importances as sklearn's: per tree the count-weighted impurity decrease of its splits
  over the number of samples, averaged over the trees that split at all, then normalised.

Sums follow sklearn's order where that is cheap (root sums in sample order, running sums in sorted
order, numpy's pairwise means for the leaf values), so raw scores stay bit-identical to sklearn's
while the trees agree. They can differ only where two splits are exactly as good: sklearn keeps
the first in a random order of features, this module the first in its own seeded random order,
and below the root a node's gradient total can round differently (sklearn sums it in an order
that depends on its random feature order).
"""

from __future__ import annotations

import numpy as np
from numba import njit

FEATURE_THRESHOLD = 1e-7  # sklearn: values closer than this count as equal when looking for splits
EPSILON = np.finfo(np.float64).eps  # sklearn: a node with impurity <= this is a leaf
SCREEN = 1.0 - 1e-12  # a proxy computed with reciprocals is within a few ulp of the exact one


@njit(cache=True, nogil=True, error_model="numpy")
def _negative_gradient(raw, y, multiclass, out):
    """-(d loss / d raw) at `raw`: one-hot(y) - softmax(raw), or y - expit(raw) for the binary loss."""
    n, kt = raw.shape
    if multiclass:
        p = np.empty(kt)
        for i in range(n):
            top = raw[i, 0]
            for k in range(1, kt):
                top = max(top, raw[i, k])
            total = 0.0
            for k in range(kt):
                p[k] = np.exp(raw[i, k] - top)
                total += p[k]
            for k in range(kt):
                out[i, k] = (1.0 if y[i] == k else 0.0) - p[k] / total
    else:
        for i in range(n):
            r = raw[i, 0]
            t = float(y[i])
            if r > -37.0:
                e = np.exp(-r)
                out[i, 0] = -(((1.0 - t) - t * e) / (1.0 + e))
            else:
                out[i, 0] = -(np.exp(r) - t)


@njit(cache=True, nogil=True, error_model="numpy")
def _node_stats(node, neg_g, n_nodes):
    """Sample count, gradient sum and squared sum of each (tree, node) at one depth; node -1 = done."""
    n, kt = node.shape
    count = np.zeros((kt, n_nodes))
    total = np.zeros((kt, n_nodes))
    sq_total = np.zeros((kt, n_nodes))
    for i in range(n):
        for k in range(kt):
            m = node[i, k]
            if m >= 0:
                g = neg_g[i, k]
                count[k, m] += 1.0
                total[k, m] += g
                sq_total[k, m] += g * g
    return count, total, sq_total


# The split searches below run d x n x K times per depth and stage; their indices are unsigned so
# that numba leaves out the negative-index wraparound checks (about a third of the time).


@njit(cache=True, nogil=True, error_model="numpy")
def _best_root_splits(order, x_sorted, neg_g, total, rank):
    """Best (feature, threshold) of the root of every tree of a stage: all trees share the node.

    order (d, n): samples sorted by each feature. A candidate split lies between
    two consecutive sorted samples more than 1e-7 apart; its squared-error proxy is
    sum_left^2 / n_left + sum_right^2 / n_right. Of equal proxies the feature of lowest rank[k, f]
    wins (sklearn: the first in a random order of features), then the first position.
    """
    d, n = order.shape
    kt = neg_g.shape[1]
    best_proxy = np.full(kt, -np.inf)
    best_feature = np.full(kt, -1, dtype=np.int32)
    best_position = np.zeros(kt, dtype=np.int64)
    left_sum = np.zeros(kt)
    g_flat = neg_g.ravel()
    kt_u = np.uint64(kt)
    for f in range(d):
        left_sum[:] = 0.0
        for p in range(n):
            if p > 0 and np.float64(x_sorted[f, p]) > np.float64(x_sorted[f, p - 1]) + FEATURE_THRESHOLD:
                # screen with reciprocals (shared by all trees, a few ulp off), then compute the few
                # candidates that may win with sklearn's divisions, so the comparisons are sklearn's
                n_left, n_right = np.float64(p), np.float64(n - p)
                w_left, w_right = 1.0 / n_left, 1.0 / n_right
                close = False
                for k in range(kt):
                    s_left = left_sum[k]
                    s_right = total[k] - s_left
                    close |= s_left * s_left * w_left + s_right * s_right * w_right >= best_proxy[k] * SCREEN
                if close:
                    for k in range(kt):
                        s_left = left_sum[k]
                        s_right = total[k] - s_left
                        proxy = s_left * s_left / n_left + s_right * s_right / n_right
                        if proxy > best_proxy[k] or (
                            proxy == best_proxy[k] and rank[k, f] < rank[k, best_feature[k]]
                        ):
                            best_proxy[k] = proxy
                            best_feature[k] = f
                            best_position[k] = p
            row = np.uint64(order[f, p]) * kt_u
            for k in range(kt):
                left_sum[k] += g_flat[row + np.uint64(k)]
    best_threshold = np.zeros(kt)
    for k in range(kt):
        f = best_feature[k]
        if f >= 0:
            p = best_position[k]
            best_threshold[k] = np.float64(x_sorted[f, p - 1]) / 2.0 + np.float64(x_sorted[f, p]) / 2.0
    return best_feature.reshape(kt, 1), best_threshold.reshape(kt, 1)


@njit(cache=True, nogil=True, error_model="numpy")
def _best_splits(order, x_sorted, neg_g, node, count, total, rank):
    """Best (feature, threshold) of every (tree, node) at one depth below the root.

    As `_best_root_splits`, but each tree has its own nodes: node (n, K) int8 is each sample's node
    in each tree at this depth, -1 for samples in nodes that are not split; rank (K, nodes, d). One
    pass over each feature's sorted samples keeps a running sum per (tree, node).
    """
    d, n = order.shape
    kt, n_nodes = count.shape
    slots = kt * n_nodes  # slot of (tree k, node m) = k * n_nodes + m
    best_proxy = np.full(slots, -np.inf)
    best_feature = np.full(slots, -1, dtype=np.int32)
    best_threshold = np.zeros(slots)
    slot_count = count.ravel().copy()
    slot_total = total.ravel().copy()
    left_sum = np.empty(slots)
    left_count = np.empty(slots)
    last_x = np.empty(slots)
    rank_flat = rank.reshape(slots, d)
    g_flat = neg_g.ravel()
    node_flat = node.ravel()
    kt_u, n_nodes_u = np.uint64(kt), np.uint64(n_nodes)
    for f in range(d):
        left_sum[:] = 0.0
        left_count[:] = 0.0
        x_before = -np.inf
        for p in range(n):
            row = np.uint64(order[f, p]) * kt_u
            x = np.float64(x_sorted[f, p])
            # a node's previous sample is at most the previous sample overall: one check for all trees
            gap = x > x_before + FEATURE_THRESHOLD
            x_before = x
            for k in range(kt):
                q = row + np.uint64(k)
                m = node_flat[q]
                if m < 0:
                    continue
                j = np.uint64(k) * n_nodes_u + np.uint64(m)
                s_left = left_sum[j]
                c = left_count[j]
                if c > 0.0 and (gap or x > last_x[j] + FEATURE_THRESHOLD):
                    s_right = slot_total[j] - s_left
                    proxy = s_left * s_left / c + s_right * s_right / (slot_count[j] - c)
                    if proxy > best_proxy[j] or (
                        proxy == best_proxy[j] and rank_flat[j, f] < rank_flat[j, best_feature[j]]
                    ):
                        best_proxy[j] = proxy
                        best_feature[j] = f
                        best_threshold[j] = last_x[j] / 2.0 + x / 2.0
                left_sum[j] = s_left + g_flat[q]
                left_count[j] = c + 1.0
                last_x[j] = x
    return best_feature.reshape(kt, n_nodes), best_threshold.reshape(kt, n_nodes)


@njit(cache=True, nogil=True, error_model="numpy")
def _descend(x, node, leaf, first_child, best_feature, best_threshold):
    """Move each sample of a split node to its child (x <= threshold: left); others leave the search."""
    n, kt = node.shape
    for i in range(n):
        for k in range(kt):
            m = node[i, k]
            if m < 0:
                continue
            f = best_feature[k, m]
            if f < 0:
                node[i, k] = -1
                continue
            child = 2 * m + (0 if x[i, f] <= best_threshold[k, m] else 1)
            node[i, k] = child
            leaf[i, k] = first_child + child


@njit(cache=True, nogil=True, error_model="numpy")
def _pairwise_sum(a, start, stop):
    """numpy's float64 sum of a[start:stop] (pairwise, 8 accumulators), bit for bit."""
    n = stop - start
    if n < 8:
        total = 0.0
        for i in range(start, stop):
            total += a[i]
        return total
    if n <= 128:
        r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
        r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
        i = start + 8
        block_end = stop - n % 8
        while i < block_end:
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += 8
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < stop:
            total += a[i]
            i += 1
        return total
    half = n // 2
    half -= half % 8
    return _pairwise_sum(a, start, start + half) + _pairwise_sum(a, start + half, stop)


@njit(cache=True, nogil=True, error_model="numpy")
def _newton_leaves(leaf, neg_g, y, multiclass, n_classes, n_heap, learning_rate, raw):
    """Leaf values, one Newton step per leaf as sklearn's `_update_terminal_regions`; add them to raw.

    Means are numpy's (pairwise sums over the leaf's samples in index order), so that raw scores
    stay bit-identical to sklearn's and float ties in later splits are decided the same way.
    """
    n, kt = leaf.shape
    scale = (n_classes - 1) / n_classes if multiclass else 1.0
    value = np.zeros((kt, n_heap))
    grad = np.empty(n)
    hess = np.empty(n)
    start = np.empty(n_heap + 1, dtype=np.int64)
    fill = np.empty(n_heap, dtype=np.int64)
    for k in range(kt):
        start[:] = 0
        for i in range(n):
            start[leaf[i, k] + 1] += 1
        for h in range(n_heap):
            start[h + 1] += start[h]
        fill[:] = start[:n_heap]
        for i in range(n):  # the samples of each leaf, in index order
            h = leaf[i, k]
            g = neg_g[i, k]
            if multiclass:
                t = 1.0 if y[i] == k else 0.0
            else:
                t = float(y[i])
            prob = t - g
            grad[fill[h]] = g
            hess[fill[h]] = prob * (1.0 - prob)
            fill[h] += 1
        for h in range(n_heap):
            count = start[h + 1] - start[h]
            if count > 0:
                numerator = _pairwise_sum(grad, start[h], start[h + 1]) / count
                numerator *= scale
                denominator = _pairwise_sum(hess, start[h], start[h + 1]) / count
                value[k, h] = 0.0 if abs(denominator) < 1e-150 else numerator / denominator
    for i in range(n):
        for k in range(kt):
            raw[i, k] += learning_rate * value[k, leaf[i, k]]
    return value


@njit(cache=True, nogil=True, error_model="numpy")
def _raw_predict(x, init, feature, threshold, value, learning_rate):
    """Raw scores of samples x: init plus learning_rate x the leaf value of every tree, stage by stage."""
    n = x.shape[0]
    n_stages, kt, n_internal = feature.shape
    raw = np.empty((n, kt))
    for i in range(n):
        for k in range(kt):
            raw[i, k] = init[k]
        for s in range(n_stages):
            for k in range(kt):
                h = 0
                while h < n_internal and feature[s, k, h] >= 0:
                    h = 2 * h + (1 if x[i, feature[s, k, h]] <= threshold[s, k, h] else 2)
                raw[i, k] += learning_rate * value[s, k, h]
    return raw


def _prior_raw(y: np.ndarray, n_classes: int) -> np.ndarray:
    """sklearn's init: prior class probabilities clipped to [eps, 1-eps], through the loss's link."""
    from scipy.special import logit
    from scipy.stats import gmean

    prior = np.bincount(y, minlength=n_classes).astype(np.float64) / len(y)
    eps = np.finfo(np.float64).eps
    prior = np.clip(prior, eps, 1 - eps)
    if n_classes == 2:
        return np.array([logit(prior[1])])
    return np.log(prior / gmean(prior))


class GradientBoostedTrees:
    """sklearn's `GradientBoostingClassifier()` model (log-loss, default settings), fitted fast.

    Parameters are the sklearn defaults that DCI uses; `feature_importances_`, `classes_`,
    `predict`, `predict_proba` and `decision_function` mean what they mean in sklearn. Features are
    used as float32, as sklearn does.
    """

    def __init__(self, n_estimators: int = 100, learning_rate: float = 0.1, max_depth: int = 3,
                 random_state: int | None = 0):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.random_state = random_state

    def fit(self, x: np.ndarray, y: np.ndarray) -> GradientBoostedTrees:
        x = np.ascontiguousarray(x, dtype=np.float32)
        self.classes_, y_enc = np.unique(np.asarray(y), return_inverse=True)
        y_enc = y_enc.astype(np.int64)
        n, d = x.shape
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError("GradientBoostedTrees needs at least 2 classes")
        multiclass = n_classes > 2
        kt = n_classes if multiclass else 1
        depth = int(self.max_depth)
        if not 1 <= depth <= 7:  # node indices within a depth are int8
            raise ValueError(f"max_depth must be in 1..7, got {self.max_depth}")
        n_internal, n_heap = 2**depth - 1, 2 ** (depth + 1) - 1

        order = np.ascontiguousarray(np.argsort(x, axis=0, kind="stable").T.astype(np.int32))
        x_sorted = np.ascontiguousarray(np.take_along_axis(x, order.T, axis=0).T)

        rng = np.random.RandomState(self.random_state)
        self.init_raw_ = _prior_raw(y_enc, n_classes)
        raw = np.tile(self.init_raw_, (n, 1))
        neg_g = np.empty((n, kt))
        feature = np.full((self.n_estimators, kt, n_internal), -1, dtype=np.int32)
        threshold = np.zeros((self.n_estimators, kt, n_internal))
        value = np.zeros((self.n_estimators, kt, n_heap))
        node_count = np.zeros((self.n_estimators, kt, n_heap))
        node_impurity = np.zeros((self.n_estimators, kt, n_heap))
        for s in range(self.n_estimators):
            _negative_gradient(raw, y_enc, multiclass, neg_g)
            node = np.zeros((n, kt), dtype=np.int8)  # node index within the current depth
            leaf = np.zeros((n, kt), dtype=np.int32)  # heap index of the node each sample ends in
            for level in range(depth + 1):
                first = 2**level - 1
                count, total, sq_total = _node_stats(node, neg_g, 2**level)
                with np.errstate(divide="ignore", invalid="ignore"):
                    impurity = sq_total / count - (total / count) ** 2.0
                node_count[s, :, first:2 * first + 1] = count
                node_impurity[s, :, first:2 * first + 1] = np.nan_to_num(impurity)
                if level == depth:
                    break
                splittable = (count >= 2) & (impurity > EPSILON)
                if not splittable.any():
                    break
                if not splittable.all():
                    inside = node >= 0
                    node[inside & ~splittable[np.arange(kt)[None, :], np.where(inside, node, 0)]] = -1
                # sklearn visits the features of each node in a random order and keeps the first best split:
                # of equal splits, the feature with the lowest random rank wins
                rank = rng.random_sample((kt, 2**level, d))
                if level == 0:
                    best_feature, best_threshold = _best_root_splits(order, x_sorted, neg_g, total[:, 0],
                                                                     np.ascontiguousarray(rank[:, 0]))
                else:
                    best_feature, best_threshold = _best_splits(order, x_sorted, neg_g, node, count, total,
                                                                rank)
                best_feature[~splittable] = -1
                feature[s, :, first:2 * first + 1] = best_feature
                threshold[s, :, first:2 * first + 1] = best_threshold
                _descend(x, node, leaf, 2 * first + 1, best_feature, best_threshold)
            value[s] = _newton_leaves(leaf, neg_g, y_enc, multiclass, n_classes, n_heap, self.learning_rate, raw)
        self.feature_, self.threshold_, self.value_ = feature, threshold, value
        self.n_features_in_ = d
        self.feature_importances_ = self._importances(node_count, node_impurity, n)
        return self

    def _importances(self, node_count, node_impurity, n) -> np.ndarray:
        """sklearn's: per tree sum over splits of n*imp - n_l*imp_l - n_r*imp_r, over n; mean over trees that split."""
        feature = self.feature_.reshape(-1, self.feature_.shape[-1])
        counts = node_count.reshape(len(feature), -1)
        weighted = counts * node_impurity.reshape(len(feature), -1)
        parents = np.arange(feature.shape[1])
        decrease = weighted[:, parents] - weighted[:, 2 * parents + 1] - weighted[:, 2 * parents + 2]
        split = feature >= 0
        relevant = split[:, 0]
        if not relevant.any():
            return np.zeros(self.n_features_in_)
        per_tree = np.zeros((len(feature), self.n_features_in_))
        rows, cols = np.nonzero(split)
        np.add.at(per_tree, (rows, feature[rows, cols]), decrease[rows, cols])
        per_tree /= n
        mean = np.mean(per_tree[relevant], axis=0, dtype=np.float64)
        return mean / np.sum(mean)

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        raw = _raw_predict(x, self.init_raw_, self.feature_, self.threshold_, self.value_, self.learning_rate)
        return raw[:, 0] if raw.shape[1] == 1 else raw

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        raw = self.decision_function(x)
        if raw.ndim == 1:
            from scipy.special import expit

            p1 = expit(raw)
            return np.c_[1 - p1, p1]
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        raw = self.decision_function(x)
        encoded = (raw >= 0).astype(int) if raw.ndim == 1 else np.argmax(raw, axis=1)
        return self.classes_[encoded]
