"""What an evaluation computes: metric sample sizes, the metric seed, and the per-direction statistics' settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EvalConfig:
    """Metric sample sizes (disentanglement_lib's defaults in `paper`) and per-direction statistics."""

    metrics: str = "headline"
    mig_train: int = 10_000
    dci_train: int = 10_000
    dci_test: int = 5_000
    dci_estimator: str = "exact"
    factor_vae_variance: int = 10_000
    factor_vae_train: int = 10_000
    factor_vae_eval: int = 5_000
    beta_vae_train: int = 10_000
    beta_vae_eval: int = 5_000
    metric_batch: int = 64  # the 64-point batches of FactorVAE and beta-VAE
    seed: int = 0  # np.random.RandomState(seed) per metric, as disentanglement_lib
    standardised_factor_vae: bool = True  # also FactorVAE on per-dim standardised codes (a separate key)
    direction_samples: int = 64  # latents per direction for the per-direction statistics
    direction_shift: float = 3.0

    def sample_sizes(self) -> dict[str, dict[str, int]]:
        """The sizes in the form `disgu.metrics.evaluate_representation` takes (and metrics.json records)."""
        return {
            "mig": {"num_train": self.mig_train},
            "dci": {"num_train": self.dci_train, "num_test": self.dci_test},
            "factor_vae": {"num_variance_estimate": self.factor_vae_variance, "num_train": self.factor_vae_train,
                           "num_eval": self.factor_vae_eval, "batch_size": self.metric_batch},
            "beta_vae": {"num_train": self.beta_vae_train, "num_eval": self.beta_vae_eval,
                         "batch_size": self.metric_batch},
        }

    def reduced(self, num_points: int) -> EvalConfig:
        """A quick look: `num_points` where disentanglement_lib uses 10,000, half that where it uses 5,000."""
        n, half = int(num_points), max(int(num_points) // 2, 2)
        return EvalConfig(**{**self.__dict__, "mig_train": n, "dci_train": n, "dci_test": half,
                             "factor_vae_variance": n, "factor_vae_train": n, "factor_vae_eval": half,
                             "beta_vae_train": n, "beta_vae_eval": half})
