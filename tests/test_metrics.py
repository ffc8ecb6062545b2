"""disgu.metrics on small synthetic grids whose answers are known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import disgu.metrics as M
from disgu.data.base import GroundTruthDataset
from disgu.metrics.modularity import modularity_score
from disgu.metrics.sampling import GridCodes, MetricInputError, sample_batched

SIZES = (4, 5, 3, 6)
# Small sample sizes keep each metric well under a second here.
SMALL = {
    "mig": {"num_train": 3000},
    "dci": {"num_train": 800, "num_test": 400},
    "factor_vae": {"num_train": 800, "num_eval": 400, "num_variance_estimate": 2000},
    "beta_vae": {"num_train": 800, "num_eval": 400},
    "sap": {"num_train": 800, "num_test": 400},
    "modularity": {"num_train": 800, "num_test": 400},
}


def grid(sizes=SIZES) -> np.ndarray:
    return np.array(list(itertools.product(*[range(k) for k in sizes])), dtype=np.float64)


def standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / x.std(axis=0)


@pytest.fixture(scope="module")
def factors():
    return grid()


@pytest.fixture(scope="module")
def identity_scores(factors):
    return M.evaluate(factors, factors, metrics="all", sizes=SMALL)


def test_codes_equal_to_factors_score_about_one(identity_scores):
    r = identity_scores
    for key in ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "factor_vae", "beta_vae",
                "modularity", "explicitness"):
        assert r[key] > 0.95, (key, r[key])
    assert r["factor_vae"] == 1.0
    assert set(M.HEADLINE_KEYS) <= set(r)
    assert set(r["timings"]) == set(M.ALL_METRICS)


def test_rotated_factors_score_low_on_mig_and_dci(factors):
    hadamard = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0
    codes = standardise(factors) @ hadamard
    r = M.evaluate(codes, factors, metrics="mig,dci", sizes=SMALL)
    assert r["mig"] < 0.2
    assert r["dci_disentanglement"] < 0.4
    assert r["dci_completeness"] < 0.4
    # the information is all still there
    assert r["dci_informativeness"] > 0.9


def test_random_codes_score_near_chance():
    sizes = (6, 6, 5, 5)
    f = grid(sizes)
    codes = np.random.RandomState(3).randn(len(f), 6)
    r = M.evaluate(codes, f, metrics="headline", sizes=SMALL)
    chance = 1.0 / len(sizes)
    assert r["mig"] < 0.05
    assert r["dci_disentanglement"] < 0.15
    assert abs(r["factor_vae"] - chance) < 0.12
    assert abs(r["beta_vae"] - chance) < 0.12


def test_nuisance_and_constant_dims(factors):
    rs = np.random.RandomState(0)
    codes = np.c_[factors, np.zeros(len(factors)), rs.randn(len(factors))]
    r = M.evaluate(codes, factors, metrics="all", sizes=SMALL)
    d = r["details"]
    # FactorVAE prunes the constant dim (std < 0.05) and never votes for the noise dim.
    assert d["factor_vae"]["num_active_dims"] == codes.shape[1] - 1
    assert r["factor_vae"] == 1.0
    # DCI gives the constant dim no importance; the factors keep their own dims.
    importance = np.asarray(d["dci"]["importance_matrix"])
    assert np.all(importance[4] == 0.0)
    assert r["dci_disentanglement"] > 0.9
    # MIG: a constant dim has zero mutual information with every factor.
    assert np.all(np.asarray(d["mig"]["mutual_info"])[4] == 0.0)
    assert r["mig"] > 0.8
    # modularity: a dim with zero information scores 0 and counts in the mean, as in disentanglement_lib.
    assert r["modularity"] < 0.9
    for key, value in r.items():
        if isinstance(value, float):
            assert np.isfinite(value), key


def test_modularity_of_a_zero_information_dim_is_zero():
    mi = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert modularity_score(mi) == 0.5


def test_all_dims_pruned_scores_zero(factors):
    r = M.factor_vae(factors * 1e-3, factors, **SMALL["factor_vae"])
    assert r["factor_vae"] == 0.0 and r["num_active_dims"] == 0


def test_row_order_does_not_matter(factors):
    rs = np.random.RandomState(1)
    codes = standardise(factors) @ rs.randn(4, 5) + 0.1 * rs.randn(len(factors), 5)
    perm = rs.permutation(len(factors))
    for name in ("mig", "factor_vae", "beta_vae"):
        fn = getattr(M, name)
        a = fn(codes, factors, **SMALL[name])[name]
        b = fn(codes[perm], factors[perm], **SMALL[name])[name]
        assert a == b, name


def test_sampling_follows_disentanglement_lib_batches(factors):
    source = GridCodes(factors * 2.0, factors)
    z, y = sample_batched(source, 40, np.random.RandomState(7), batch_size=16)
    rs = np.random.RandomState(7)
    expected = np.concatenate(
        [np.stack([rs.randint(k, size=n) for k in SIZES], axis=1) for n in (16, 16, 8)]
    )
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(z, expected * 2.0)


def test_each_metric_gets_a_fresh_random_state(factors):
    codes = standardise(factors) @ np.random.RandomState(2).randn(4, 4)
    alone = M.mig(codes, factors, random_state=5, **SMALL["mig"])["mig"]
    together = M.evaluate(codes, factors, metrics="factor_vae,mig", seed=5, sizes=SMALL)["mig"]
    assert alone == together
    assert M.mig(codes, factors, random_state=6, **SMALL["mig"])["mig"] != alone


def test_factor_values_need_not_be_classes(factors):
    values = factors * 0.1 + 0.75  # e.g. Shapes3D scale values
    a = M.mig(factors, factors, **SMALL["mig"])["mig"]
    b = M.mig(factors, values, **SMALL["mig"])["mig"]
    assert a == b


class _TinyGroundTruth(GroundTruthDataset):
    """Images whose pixels are the factor classes, so a reshape recovers the factors."""

    def __init__(self, sizes):
        super().__init__([f"f{i}" for i in range(len(sizes))], sizes, None, (1, 1, len(sizes)))

    def _read(self, idx):
        return self.factors(idx).astype(np.uint8).reshape(-1, 1, 1, self.num_factors)


def test_dataset_and_representation_function_match_arrays(factors):
    ds = _TinyGroundTruth(SIZES)
    calls = []

    def encode(images):
        calls.append(len(images))
        return images.reshape(len(images), -1).astype(np.float64)

    sizes = {k: SMALL[k] for k in ("mig", "factor_vae", "beta_vae")}
    via_dataset = M.evaluate_representation(ds, encode, metrics="mig,factor_vae,beta_vae", sizes=sizes, batch_size=50)
    codes = ds.factors(np.arange(len(ds))).astype(np.float64)
    via_arrays = M.evaluate(codes, codes, metrics="mig,factor_vae,beta_vae", sizes=sizes)
    for key in ("mig", "factor_vae", "beta_vae"):
        assert via_dataset[key] == via_arrays[key], key
    assert sum(calls) <= len(ds)  # every image encoded at most once
    assert max(calls) <= 50


def test_hist_estimator_is_close_on_clean_codes(factors):
    a = M.dci(factors, factors, estimator="exact", **SMALL["dci"])
    b = M.dci(factors, factors, estimator="hist", **SMALL["dci"])
    assert abs(a["disentanglement"] - b["disentanglement"]) < 0.02
    assert b["estimator"] == "hist"


# --- input errors -------------------------------------------------------------------------

@pytest.mark.parametrize("metric", ["mig", "dci", "sap", "modularity"])
def test_one_ground_truth_factor_gives_finite_scores(metric):
    """With F = 1, DCI's entropy has base 1 and modularity divides by F - 1: both once gave NaN."""
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, (600, 1))
    codes = np.c_[factors, rng.normal(size=(600, 3))] + rng.normal(size=(600, 4)) * 0.1
    kw = {"num_train": 400} if metric == "mig" else {"num_train": 400, "num_test": 200}
    result = getattr(M, metric)(codes, factors, random_state=0, **kw)
    scores = {k: v for k, v in result.items() if isinstance(v, float)}
    assert scores and all(np.isfinite(v) for v in scores.values()), scores
    if metric in ("dci", "modularity"):  # every dim carries the one factor or nothing: perfect, not undefined
        assert scores["disentanglement" if metric == "dci" else "modularity"] > 0.2


def test_nan_codes_are_rejected(factors):
    codes = factors.copy()
    codes[3, 1] = np.nan
    with pytest.raises(MetricInputError, match="NaN"):
        M.evaluate(codes, factors)


@pytest.mark.parametrize("codes_shape", [(360,), (360, 2, 2), (359, 4)])
def test_wrong_shapes_are_rejected(factors, codes_shape):
    with pytest.raises(ValueError, match="shape|rows"):
        M.mig(np.zeros(codes_shape), factors)


def test_non_grid_works_for_mig_and_dci_but_not_factor_vae(factors):
    keep = np.random.RandomState(0).rand(len(factors)) < 0.7
    f = factors[keep]
    r = M.evaluate(f, f, metrics="mig,dci", sizes=SMALL)
    assert r["mig"] > 0.9 and r["dci_disentanglement"] > 0.9
    with pytest.raises(MetricInputError, match="full factorial grid"):
        M.factor_vae(f, f)
    with pytest.raises(MetricInputError, match="full factorial grid"):
        M.evaluate(f, f)


def test_duplicate_rows_are_not_a_grid(factors):
    f = factors.copy()
    f[1] = f[0]
    with pytest.raises(MetricInputError, match="full factorial grid"):
        M.beta_vae(f, f)


def test_single_valued_factor_is_rejected(factors):
    f = np.c_[factors, np.ones(len(factors))]
    with pytest.raises(MetricInputError, match="single value"):
        M.mig(factors, f)


def test_unknown_metric_is_rejected(factors):
    with pytest.raises(MetricInputError, match="unknown metric"):
        M.evaluate(factors, factors, metrics="mig,irs")


def test_bad_representation_function_output_is_rejected():
    ds = _TinyGroundTruth(SIZES)
    with pytest.raises(MetricInputError, match="NaN"):
        M.evaluate_representation(ds, lambda im: np.full((len(im), 3), np.nan), metrics="mig",
                                   sizes={"mig": {"num_train": 100}})
    with pytest.raises(MetricInputError, match="shape"):
        M.evaluate_representation(ds, lambda im: np.zeros(len(im)), metrics="mig", sizes={"mig": {"num_train": 100}})


def test_standardised_factor_vae_reads_the_cached_codes(factors):
    """The standardised FactorVAE equals FactorVAE on pre-scaled codes, and encodes nothing the raw score did."""
    from disgu.evaluation import EvalConfig, score_representation

    ds = _TinyGroundTruth(SIZES)
    calls = []
    gains = np.array([0.01, 1.0, 30.0, 0.5])  # the first dim is pruned on the raw scale only

    def encode(images):
        calls.append(len(images))
        return images.reshape(len(images), -1).astype(np.float64) * gains

    e = EvalConfig(metrics="factor_vae", factor_vae_variance=500, factor_vae_train=200, factor_vae_eval=100,
                   metric_batch=16)
    scores = score_representation(ds, encode, e)
    assert sum(calls) <= len(ds)  # every image encoded at most once, both scores together
    codes = ds.factors(np.arange(len(ds))).astype(np.float64) * gains
    rng = np.random.RandomState(e.seed + 1)
    idx = np.sort(rng.randint(0, len(ds), size=min(len(ds), max(e.factor_vae_variance, 256))))
    scaled = codes / np.maximum(codes[idx].std(0), 1e-8)
    expected = M.evaluate(scaled, codes, metrics="factor_vae", sizes={"factor_vae": e.sample_sizes()["factor_vae"]})
    assert scores["factor_vae_standardised"] == expected["factor_vae"]
    assert scores["factor_vae_standardised"] > scores["factor_vae"]
