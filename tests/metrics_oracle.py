"""disentanglement_lib (the PyPI package, `pip install -e .[parity]`) as an oracle for disgu.metrics.

Its metric modules import `gin.tf`, which pulls in TensorFlow; they only use the plain gin
decorators, so `gin.tf` is stubbed by gin itself (and gin's renamed `blacklist` keyword is
mapped). The adaptor turns a codes array on a full factorial grid into disentanglement_lib's
GroundTruthData: observations are row numbers and the representation function looks the codes up.
"""

from __future__ import annotations

import sys

import numpy as np


def _accept_blacklist(gin) -> None:
    """gin-config >= 0.5 renamed `blacklist` to `denylist`; disentanglement_lib still passes `blacklist`."""
    original = gin.configurable
    if getattr(original, "_disgu_shim", False):
        return

    def configurable(*args, blacklist=None, **kwargs):
        if blacklist is not None:
            kwargs["denylist"] = blacklist
        return original(*args, **kwargs)

    configurable._disgu_shim = True
    gin.configurable = configurable


def load_oracle():
    """The disentanglement_lib metric modules, or None when the package (or gin) is not installed."""
    try:
        import gin
    except ImportError:
        return None
    sys.modules.setdefault("gin.tf", gin)
    _accept_blacklist(gin)
    try:
        from disentanglement_lib.data.ground_truth.ground_truth_data import GroundTruthData
        from disentanglement_lib.evaluation.metrics import (
            beta_vae,
            dci,
            factor_vae,
            mig,
            modularity_explicitness,
            sap_score,
            utils,
        )
    except ImportError:
        return None
    gin.clear_config()
    gin.bind_parameter("discretizer.discretizer_fn", utils._histogram_discretize)
    gin.bind_parameter("discretizer.num_bins", 20)
    gin.bind_parameter("prune_dims.threshold", 0.05)

    class GridData(GroundTruthData):
        def __init__(self, codes: np.ndarray, factor_sizes):
            self.codes = codes
            self.sizes = list(factor_sizes)

        @property
        def num_factors(self):
            return len(self.sizes)

        @property
        def factors_num_values(self):
            return self.sizes

        @property
        def observation_shape(self):
            return [1]

        def sample_factors(self, num, random_state):
            out = np.zeros((num, len(self.sizes)), dtype=np.int64)
            for i, k in enumerate(self.sizes):
                out[:, i] = random_state.randint(k, size=num)
            return out

        def sample_observations_from_factors(self, factors, random_state):
            return np.ravel_multi_index(tuple(np.asarray(factors).T), self.sizes)

    class Oracle:
        """Headline scores of disentanglement_lib on codes in grid (mixed-radix) row order."""

        def __init__(self, codes, factor_sizes):
            self.data = GridData(np.asarray(codes), factor_sizes)
            self.represent = lambda rows: self.data.codes[rows]

        def mig(self, seed=0, num_train=10_000):
            rs = np.random.RandomState(seed)
            return mig.compute_mig(self.data, self.represent, rs, num_train=num_train, batch_size=16)["discrete_mig"]

        def dci(self, seed=0, num_train=10_000, num_test=5_000):
            rs = np.random.RandomState(seed)
            return dci.compute_dci(self.data, self.represent, rs, num_train=num_train, num_test=num_test, batch_size=16)

        def factor_vae(self, seed=0, num_train=10_000, num_eval=5_000, num_variance_estimate=10_000):
            rs = np.random.RandomState(seed)
            return factor_vae.compute_factor_vae(
                self.data, self.represent, rs, batch_size=64, num_train=num_train, num_eval=num_eval,
                num_variance_estimate=num_variance_estimate)["eval_accuracy"]

        def beta_vae(self, seed=0, num_train=10_000, num_eval=5_000):
            rs = np.random.RandomState(seed)
            return beta_vae.compute_beta_vae_sklearn(
                self.data, self.represent, rs, batch_size=64, num_train=num_train, num_eval=num_eval)["eval_accuracy"]

        def sap(self, seed=0, num_train=10_000, num_test=5_000):
            rs = np.random.RandomState(seed)
            return sap_score.compute_sap(self.data, self.represent, rs, num_train=num_train, num_test=num_test,
                                         batch_size=16, continuous_factors=False)["SAP_score"]

        def modularity(self, seed=0, num_train=10_000, num_test=5_000):
            rs = np.random.RandomState(seed)
            return modularity_explicitness.compute_modularity_explicitness(
                self.data, self.represent, rs, num_train=num_train, num_test=num_test, batch_size=16)

    return Oracle
