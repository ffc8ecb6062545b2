"""Our gradient-boosted trees against sklearn's `GradientBoostingClassifier`, the model they reproduce.

sklearn visits the features of every node in a random order and keeps the first of equally good
splits; ours draws its own random order, and float rounding (sums in another order) also decides
between exactly equal splits. So whole models are compared on data checked to have no exact ties
(the trees are then identical), and the split search itself is checked against a brute force.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

import disgu.metrics as M
from disgu.metrics.boosting import GradientBoostedTrees, _best_root_splits, _best_splits, _raw_predict


def make_data(seed: int, n: int, num_classes: int):
    """Six features: two informative, one with duplicated values, one constant, two noise."""
    rs = np.random.RandomState(seed)
    x = rs.randn(n, 6)
    score = 2 * x[:, 0] + np.sin(3 * x[:, 1]) + 0.5 * rs.randn(n)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, num_classes + 1)[1:-1]))
    x[:, 2] = np.round(x[:, 2], 1)
    x[:, 3] = 0.5
    return x, y


# (classes, seed, samples, stages): data on which no two splits tie exactly, so the trees are identical.
TIE_FREE = [(2, 0, 300, 10), (2, 5, 300, 10), (3, 1, 300, 10)]


@pytest.mark.parametrize("num_classes,seed,n,stages", TIE_FREE)
def test_same_model_as_sklearn(num_classes, seed, n, stages):
    x, y = make_data(seed, n, num_classes)
    x_test, _ = make_data(seed + 50, 200, num_classes)
    theirs = GradientBoostingClassifier(n_estimators=stages, random_state=0).fit(x, y)
    ours = GradientBoostedTrees(n_estimators=stages).fit(x, y)
    for data in (x, x_test):
        np.testing.assert_allclose(ours.predict_proba(data), theirs.predict_proba(data), rtol=0, atol=1e-9)
        np.testing.assert_array_equal(ours.predict(data), theirs.predict(data))
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_, rtol=0, atol=1e-9)
    assert ours.feature_importances_[3] == 0.0  # the constant feature
    assert ours.feature_.shape[1] == (1 if num_classes == 2 else num_classes)  # binary: one tree per stage


def test_ten_classes_fit_the_training_data_as_sklearn():
    """Here the ties are between splits that cut the training data the same way on different features:
    the training fit is identical, importance may go to the other feature of a tie."""
    x, y = make_data(2, 1000, 10)
    theirs = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(x, y)
    ours = GradientBoostedTrees(n_estimators=3).fit(x, y)
    np.testing.assert_array_equal(ours.predict_proba(x), theirs.predict_proba(x))
    np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_, rtol=0, atol=5e-3)


def best_proxy(x, g, members):
    """Largest sum_l^2/n_l + sum_r^2/n_r over the node's candidate splits (gaps > 1e-7)."""
    best = -np.inf
    idx = np.flatnonzero(members)
    for f in range(x.shape[1]):
        order = idx[np.argsort(x[idx, f], kind="stable")]
        values = x[order, f].astype(np.float64)
        left = np.cumsum(g[order])[:-1]
        n_left = np.arange(1, len(idx))
        ok = values[1:] > values[:-1] + 1e-7
        proxy = left**2 / n_left + (g[idx].sum() - left) ** 2 / (len(idx) - n_left)
        best = max(best, proxy[ok].max(initial=-np.inf))
    return best


def test_every_split_is_a_best_split_and_leaves_are_newton_steps():
    """Replays a 10-class fit stage by stage: each split scores the best proxy; leaf values are
    mean(gradient) * (K-1)/K / mean(p (1-p))."""
    x, y = make_data(4, 300, 10)
    x32 = x.astype(np.float32)
    model = GradientBoostedTrees(n_estimators=3).fit(x, y)
    onehot = np.eye(10)[y]
    for stage in range(3):
        raw = _raw_predict(x32, model.init_raw_, model.feature_[:stage], model.threshold_[:stage],
                           model.value_[:stage], 0.1)
        p = np.exp(raw - raw.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = onehot - p
        for k in range(10):
            feature, threshold = model.feature_[stage, k], model.threshold_[stage, k]
            members = {0: np.ones(len(x), bool)}
            for h in range(15):
                if h not in members or not members[h].any():
                    continue
                if h < 7 and feature[h] >= 0:
                    left = members[h] & (x32[:, feature[h]] <= threshold[h])
                    members[2 * h + 1], members[2 * h + 2] = left, members[h] & ~left
                    chosen = best_proxy(x32[:, [feature[h]]], g[:, k], members[h])
                    assert chosen == pytest.approx(best_proxy(x32, g[:, k], members[h]), rel=1e-12)
                    assert chosen == pytest.approx(best_proxy(x32[:, [feature[h]]], g[:, k], members[h]))
                else:
                    gm, pm = g[members[h], k], p[members[h], k]
                    expected = np.mean(gm) * 0.9 / np.mean(pm * (1 - pm))
                    assert model.value_[stage, k, h] == pytest.approx(expected, rel=1e-9)


def test_dci_as_with_sklearn_model():
    """Factors read off their own code dims plus two noise dims: no ties, the same DCI to rounding."""
    rs = np.random.RandomState(2)
    factors = np.stack([rs.randint(2, size=4000), rs.randint(3, size=4000)], 1).astype(float)
    codes = np.c_[factors + 0.2 * rs.randn(4000, 2), rs.randn(4000, 2)]
    ours = M.dci(codes, factors, num_train=300, num_test=150, estimator="exact")
    theirs = M.dci(codes, factors, num_train=300, num_test=150, estimator="sklearn")
    for key in ("disentanglement", "completeness", "informativeness_train", "informativeness_test"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-6)
    np.testing.assert_allclose(ours["importance_matrix"], theirs["importance_matrix"], rtol=0, atol=1e-6)


def test_dci_threads_give_the_same_result():
    rs = np.random.RandomState(0)
    factors = np.stack([rs.randint(k, size=2000) for k in (2, 3, 4)], 1).astype(float)
    codes = np.tanh(factors @ rs.randn(3, 5)) + 0.3 * rs.randn(2000, 5)
    one = M.dci(codes, factors, num_train=300, num_test=150, n_jobs=1)
    two = M.dci(codes, factors, num_train=300, num_test=150, n_jobs=2)
    assert one["importance_matrix"] == two["importance_matrix"]
    assert one["informativeness_test_per_factor"] == two["informativeness_test_per_factor"]


def test_no_usable_feature_gives_the_prior_and_zero_importance():
    x = np.full((50, 3), 0.25)
    y = np.arange(50) % 4
    theirs = GradientBoostingClassifier(random_state=0).fit(x, y)
    ours = GradientBoostedTrees().fit(x, y)
    np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.feature_importances_, np.zeros(3))
    np.testing.assert_array_equal(theirs.feature_importances_, np.zeros(3))


def test_labels_keep_their_values():
    x, y = make_data(3, 120, 3)
    labels = np.array([0.75, 1.0, 1.25])[y]
    model = GradientBoostedTrees(n_estimators=5).fit(x, labels)
    assert set(np.unique(model.predict(x))) <= set(labels)


def test_duplicated_feature_shares_importance_like_sklearn():
    """Two identical columns tie at every split on them: both models split the credit between the copies
    (by their random feature order), and the copies together get the same share as in sklearn."""
    rs = np.random.RandomState(0)
    a = rs.randn(300)
    x = np.c_[a, a, rs.randn(300)]
    y = (a + 0.5 * rs.randn(300) > 0).astype(int)
    ours = GradientBoostedTrees().fit(x, y).feature_importances_
    theirs = GradientBoostingClassifier(random_state=0).fit(x, y).feature_importances_
    assert ours[0] + ours[1] == pytest.approx(theirs[0] + theirs[1], abs=0.01)
    assert min(ours[0], ours[1]) > 0.3 and min(theirs[0], theirs[1]) > 0.3


def brute_force_split(x, g, members):
    """sklearn's rule by direct enumeration: best sum_l^2/n_l + sum_r^2/n_r over gaps > 1e-7."""
    best = (-np.inf, -1, 0.0)
    idx = np.flatnonzero(members)
    for f in range(x.shape[1]):
        order = idx[np.argsort(x[idx, f], kind="stable")]
        values = x[order, f].astype(np.float64)
        sums = np.cumsum(g[order])
        total, n = g[idx].sum(), len(idx)
        for p in range(1, n):
            if values[p] > values[p - 1] + 1e-7:
                proxy = sums[p - 1] ** 2 / p + (total - sums[p - 1]) ** 2 / (n - p)
                if proxy > best[0]:
                    best = (proxy, f, values[p - 1] / 2.0 + values[p] / 2.0)
    return best[1], best[2]


def test_split_search_matches_brute_force():
    rs = np.random.RandomState(1)
    n, d, kt = 160, 5, 3
    x = rs.randn(n, d).astype(np.float32)
    x[:, 1] = np.round(x[:, 1] * 2) / 2  # many duplicated values
    x[:, 2] = np.float32(0.1) + np.float32(3e-8) * rs.randint(0, 6, n)  # distinct values closer than 1e-7
    x[:40, 2] += np.float32(0.5)  # ... with one real gap
    x[:, 4] = 0.5  # constant
    g = rs.randn(n, kt)
    order = np.ascontiguousarray(np.argsort(x, axis=0, kind="stable").T.astype(np.int32))
    x_sorted = np.ascontiguousarray(np.take_along_axis(x, order.T, axis=0).T)

    rank = np.tile(np.arange(d), (kt, 1))
    feature, threshold = _best_root_splits(order, x_sorted, g, g.sum(0), rank)
    for k in range(kt):
        assert (feature[k, 0], threshold[k, 0]) == brute_force_split(x, g[:, k], np.ones(n, bool))

    node = rs.randint(0, 2, size=(n, kt)).astype(np.int8)
    node[:, 2] = np.where(node[:, 2] == 1, -1, 0)  # tree 2: node 1 is not split
    count = np.stack([np.bincount(node[:, k][node[:, k] >= 0], minlength=2) for k in range(kt)]).astype(float)
    total = np.stack([np.bincount(node[:, k][node[:, k] >= 0], g[node[:, k] >= 0, k], minlength=2)
                      for k in range(kt)])
    feature, threshold = _best_splits(order, x_sorted, g, node, count, total,
                                      np.tile(np.arange(d), (kt, 2, 1)))
    for k in range(kt):
        for m in range(2):
            if count[k, m] == 0:
                assert feature[k, m] == -1
                continue
            assert (feature[k, m], threshold[k, m]) == brute_force_split(x, g[:, k], node[:, k] == m)
