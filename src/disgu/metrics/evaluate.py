"""Run several metrics on one representation and collect the scores under fixed keys.

Each metric gets its own fresh `np.random.RandomState(seed)`, as in disentanglement_lib, so a
metric's score does not depend on which other metrics ran. The headline keys are fixed:
`mig`, `dci_disentanglement`, `dci_completeness`, `dci_informativeness` (test accuracy),
`factor_vae`, `beta_vae`; extras: `dci_informativeness_train`, `dci_informativeness_test`,
`sap`, `modularity`, `explicitness` (test), `explicitness_train`; `timings` holds seconds per metric.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np

from disgu.metrics.beta_vae import beta_vae
from disgu.metrics.dci import dci
from disgu.metrics.factor_vae import factor_vae
from disgu.metrics.mig import mig
from disgu.metrics.modularity import modularity
from disgu.metrics.sampling import CodeSource, MetricInputError, as_source, disjoint_split, from_dataset, repeated_share
from disgu.metrics.sap import sap

HEADLINE_METRICS = ("mig", "dci", "factor_vae", "beta_vae")
EXTRA_METRICS = ("sap", "modularity")
ALL_METRICS = HEADLINE_METRICS + EXTRA_METRICS
GRID_ONLY = ("factor_vae", "beta_vae")
HEADLINE_KEYS = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "factor_vae", "beta_vae")


def _keys(name: str, result: dict) -> dict:
    if name == "mig":
        return {"mig": result["mig"]}
    if name == "dci":
        return {
            "dci_disentanglement": result["disentanglement"],
            "dci_completeness": result["completeness"],
            "dci_informativeness": result["informativeness_test"],
            "dci_informativeness_train": result["informativeness_train"],
            "dci_informativeness_test": result["informativeness_test"],
        }
    if name == "factor_vae":
        return {"factor_vae": result["factor_vae"], "factor_vae_active_dims": result["num_active_dims"]}
    if name == "beta_vae":
        return {"beta_vae": result["beta_vae"]}
    if name == "sap":
        return {"sap": result["sap"]}
    if name == "modularity":
        return {"modularity": result["modularity"], "explicitness": result["explicitness_test"],
                "explicitness_train": result["explicitness_train"]}
    raise KeyError(name)


def resolve_metrics(metrics: Iterable[str] | str) -> tuple[str, ...]:
    """Metric names from a list or a comma-separated string; 'headline' and 'all' are shorthands."""
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    out: list[str] = []
    for raw in names:
        name = raw.strip().lower().replace("-", "_")
        expanded = {"headline": HEADLINE_METRICS, "all": ALL_METRICS}.get(name, (name,))
        for n in expanded:
            if n not in ALL_METRICS:
                raise MetricInputError(f"unknown metric {raw!r}; choose from {', '.join(ALL_METRICS)}, headline, all")
            if n not in out:
                out.append(n)
    if not out:
        raise MetricInputError("no metrics given")
    return tuple(out)


SPLITS = ("protocol", "disjoint")
REPEAT_WARNING = 0.05  # warn when more than this share of test draws is expected to repeat a training row


def evaluate_source(source: CodeSource, *, metrics: Iterable[str] | str = HEADLINE_METRICS, seed: int = 0,
                    dci_estimator: str = "exact", n_jobs: int | None = None, sizes: dict | None = None,
                    progress: Callable[[str], None] | None = None, split: str = "protocol") -> dict:
    """Run `metrics` on a CodeSource. `sizes` overrides sample sizes per metric, e.g. {"dci": {"num_train": 1000}}.

    split 'protocol' draws the train and test points of DCI, SAP and modularity with replacement from
    the same rows, as disentanglement_lib does on a full dataset; with few rows the two sets then share
    most points and the test scores read high (a `warnings` entry says so). 'disjoint' draws them from
    disjoint rows (a seeded split, test share num_test / (num_train + num_test)). MIG has no test set;
    FactorVAE and beta-VAE keep the protocol's draws.
    """
    names = resolve_metrics(metrics)
    if split not in SPLITS:
        raise MetricInputError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    if not source.is_grid:
        grid_only = [n for n in names if n in GRID_ONLY]
        if grid_only:
            raise MetricInputError(
                f"{', '.join(grid_only)} need a full factorial grid: {source._not_grid_message()}; "
                f"run only mig, dci, sap, modularity on these samples"
            )
    sizes = sizes or {}
    warnings: list[str] = []
    tested = [n for n in names if n in ("dci", "sap", "modularity")]
    train, test = source, None
    if split == "disjoint" and tested:
        dci_sizes = {"num_train": 10_000, "num_test": 5_000, **sizes.get(tested[0], {})}
        train, test = disjoint_split(source, dci_sizes["num_test"] / (dci_sizes["num_train"] + dci_sizes["num_test"]),
                                     seed)
    for name in tested if split == "protocol" else ():
        share = repeated_share(source, sizes.get(name, {}).get("num_train", 10_000))
        if share is not None and share > REPEAT_WARNING:
            warnings.append(f"{name}: {source.codes.shape[0]} rows for its train and test draws (with replacement): "
                            f"about {share:.0%} of test points repeat a training row, so its test scores read high; "
                            f"split='disjoint' (disgu metrics --split disjoint) keeps them apart")
    functions = {
        "mig": lambda: mig(source, random_state=seed, **sizes.get("mig", {})),
        "dci": lambda: dci(train, random_state=seed, estimator=dci_estimator, n_jobs=n_jobs, test_source=test,
                           **sizes.get("dci", {})),
        "factor_vae": lambda: factor_vae(source, random_state=seed, **sizes.get("factor_vae", {})),
        "beta_vae": lambda: beta_vae(source, random_state=seed, **sizes.get("beta_vae", {})),
        "sap": lambda: sap(train, random_state=seed, n_jobs=n_jobs, test_source=test, **sizes.get("sap", {})),
        "modularity": lambda: modularity(train, random_state=seed, test_source=test, **sizes.get("modularity", {})),
    }
    scores: dict = {}
    details: dict = {}
    timings: dict = {}
    for name in names:
        if progress is not None:
            progress(name)
        start = time.perf_counter()
        result = functions[name]()
        timings[name] = round(time.perf_counter() - start, 3)
        scores.update(_keys(name, result))
        details[name] = result
    for key, value in scores.items():
        if isinstance(value, float) and not np.isfinite(value):
            raise RuntimeError(f"metric {key} came out {value}; this is a bug, please report it")
    out = {**scores, "timings": timings, "seed": int(seed), "dci_estimator": dci_estimator, "split": split,
           "metrics": list(names), "factor_sizes": list(source.factor_sizes), "details": details}
    return {**out, "warnings": warnings} if warnings else out


def evaluate(codes, factors, *, metrics: Iterable[str] | str = HEADLINE_METRICS, seed: int = 0,
             dci_estimator: str = "exact", n_jobs: int | None = None, sizes: dict | None = None,
             progress: Callable[[str], None] | None = None, split: str = "protocol") -> dict:
    """All requested metrics on arrays `codes` (N, d) and `factors` (N, F).

    FactorVAE and beta-VAE need `factors` to be a full factorial grid (any row order); the
    others accept any labelled samples. Returns a flat dict of scores plus "timings" and "details".
    """
    return evaluate_source(as_source(codes, factors), metrics=metrics, seed=seed, dci_estimator=dci_estimator,
                           n_jobs=n_jobs, sizes=sizes, progress=progress, split=split)


def evaluate_representation(dataset, representation_function: Callable[[np.ndarray], np.ndarray], *,
                            metrics: Iterable[str] | str = HEADLINE_METRICS, seed: int = 0,
                            dci_estimator: str = "exact", n_jobs: int | None = None, sizes: dict | None = None,
                            batch_size: int = 256, progress: Callable[[str], None] | None = None) -> dict:
    """All requested metrics for an encoder: `representation_function(uint8 images NHWC) -> (n, d) codes`.

    Images are encoded on demand in batches of `batch_size` and each image at most once.
    """
    source = from_dataset(dataset, representation_function, batch_size=batch_size)
    return evaluate_source(source, metrics=metrics, seed=seed, dci_estimator=dci_estimator, n_jobs=n_jobs,
                           sizes=sizes, progress=progress)
