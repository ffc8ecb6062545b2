"""The short table `disgu run` prints at the end: each headline metric beside its chance level, and where to look.

Why: a number means little without what a representation that knows nothing would score (FactorVAE
and beta-VAE: 1 / number of factors; DCI informativeness: the mean over factors of 1 / number of
values, the accuracy of guessing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_ROWS = (("mig", "MIG"), ("dci_disentanglement", "DCI disentanglement"), ("dci_completeness", "DCI completeness"),
         ("dci_informativeness", "DCI informativeness"), ("factor_vae", "FactorVAE score"),
         ("beta_vae", "beta-VAE score"))


def chance_levels(factor_sizes: list[int]) -> dict[str, float]:
    """What codes that carry no information score on each headline metric, for these factor sizes."""
    n = max(len(factor_sizes), 1)
    return {"mig": 0.0, "dci_disentanglement": 0.0, "dci_completeness": 0.0,
            "dci_informativeness": sum(1.0 / k for k in factor_sizes) / n if factor_sizes else 0.0,
            "factor_vae": 1.0 / n, "beta_vae": 1.0 / n}


def result_table(metrics: dict[str, Any], run_dir: str | Path) -> str:
    """Plain-text table of a run's metrics.json, with the paths of its outputs."""
    run_dir = Path(run_dir)
    chance = chance_levels(list(metrics.get("factor_sizes") or []))
    title = (f"disgu: results of {run_dir} ({metrics.get('preset')} preset, {metrics.get('representation')}, "
             f"seed {metrics.get('seed')})")
    lines = [title, f"  {'metric':<22}{'score':>7}{'chance':>9}"]
    for key, name in _ROWS:
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            lines.append(f"  {name:<22}{value:>7.3f}{chance[key]:>9.3f}")
    if "note" in metrics:
        lines.append(f"  {metrics['note']}")
    lines.append(f"  scores: {run_dir / 'metrics.json'}")
    top = run_dir / "traversals" / "top_directions.png"
    if top.is_file():
        lines.append(f"  traversals: {top} (one strip and GIF per direction beside it)")
    report = run_dir / "report.html"
    if report.is_file():
        lines.append(f"  report: {report} (open in a browser; works offline)")
    return "\n".join(lines)
