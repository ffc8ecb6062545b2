"""Disentanglement metrics computed as google-research/disentanglement_lib computes them.

Pure functions of (codes, factors) arrays or of a dataset + representation function:
`mig`, `dci`, `factor_vae`, `beta_vae`, `sap`, `modularity`; `evaluate` runs several with fixed
result keys; `aggregate` builds mean +- std tables over seeds. See docs/metrics.md.
"""

from disgu.metrics.aggregate import aggregate, format_csv, format_markdown, load_results
from disgu.metrics.beta_vae import beta_vae
from disgu.metrics.dci import dci
from disgu.metrics.evaluate import (
    ALL_METRICS,
    HEADLINE_KEYS,
    HEADLINE_METRICS,
    evaluate,
    evaluate_representation,
    evaluate_source,
)
from disgu.metrics.factor_vae import factor_vae
from disgu.metrics.mig import mig
from disgu.metrics.modularity import modularity
from disgu.metrics.sampling import (
    CodeSource,
    DatasetCodes,
    GridCodes,
    LabelledCodes,
    MetricInputError,
    as_source,
    from_dataset,
)
from disgu.metrics.sap import sap

__all__ = [
    "ALL_METRICS", "HEADLINE_KEYS", "HEADLINE_METRICS", "CodeSource", "DatasetCodes", "GridCodes", "LabelledCodes",
    "MetricInputError", "aggregate", "as_source", "beta_vae", "dci", "evaluate", "evaluate_representation",
    "evaluate_source", "factor_vae", "format_csv", "format_markdown", "from_dataset", "load_results", "mig",
    "modularity", "sap",
]
