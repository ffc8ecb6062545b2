"""The per-factor view: for each method and factor, the normalised MI of the code dim that carries it best.

MIG compresses a whole code x factor matrix into one number; this keeps one number per factor, so
a reader sees which factors a method captures (colours are easy, shape and scale less so). The
matrix is the one `disgu report` draws, computed the same way from each finished run's encoder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from disgu.compare.plan import RunSpec, is_finished

CACHE = "factor_nmi.json"  # in each finished run dir: its row of the view, so a table needs no encoder reloaded


def run_best_nmi(run_dir: Path) -> tuple[list[str], np.ndarray] | str:
    """(factor names, best normalised MI per factor) of a finished run, or why there is none.

    Computed from the run's encoder once, then read from `CACHE`: the records of a comparison (metrics.json,
    its timing file and this one) are then enough to rebuild its tables without the checkpoints.
    """
    from disgu.atomic import write_json
    from disgu.report.compute import FactorInfo, factor_information
    from disgu.report.sources import open_run

    made_for = hashlib.sha256((run_dir / "metrics.json").read_bytes()).hexdigest()  # a redone run has new metrics
    try:
        cached = json.loads((run_dir / CACHE).read_text())
        if cached["metrics_sha256"] != made_for:
            raise KeyError("metrics_sha256")
        if "note" in cached:
            return str(cached["note"])
        return list(cached["factors"]), np.asarray(cached["best_nmi"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    info = factor_information(open_run(run_dir))
    if not isinstance(info, FactorInfo):
        write_json(run_dir / CACHE, {"metrics_sha256": made_for, "note": str(info)})
        return str(info)
    best = info.nmi.max(axis=0)
    write_json(run_dir / CACHE, {"metrics_sha256": made_for, "factors": list(info.factor_names),
                                 "best_nmi": best.tolist()})
    return list(info.factor_names), best


def factor_view(specs: list[RunSpec]) -> dict:
    """{'factors': names, 'rows': [{method, runs, best_nmi: {factor: mean over seeds}}], 'notes': [...]}."""
    per_method: dict[str, list[np.ndarray]] = {}
    names: list[str] | None = None
    notes = []
    for spec in specs:
        if not is_finished(spec.run_dir):
            continue
        found = run_best_nmi(spec.run_dir)
        if isinstance(found, str):
            notes.append(f"{spec.name}: {found}")
            continue
        names = names or found[0]
        per_method.setdefault(spec.method, []).append(found[1])
    rows = [{"method": m, "runs": len(v), "best_nmi": dict(zip(names or [], np.mean(v, axis=0).tolist()))}
            for m, v in per_method.items()]
    return {"factors": names or [], "rows": rows, "notes": notes}


def format_factors_markdown(view: dict) -> str:
    factors = view["factors"]
    lines = ["# Per-factor view", "",
             ("Normalised MI (MI over the factor's entropy) of the code dim that carries each factor best, "
              "mean over seeds."), "",
             "| method | runs | " + " | ".join(factors) + " |", "| --- | --- | " + " | ".join("---" for _ in factors) + " |"]
    for r in view["rows"]:
        lines.append(f"| {r['method']} | {r['runs']} | " + " | ".join(f"{r['best_nmi'][f]:.2f}" for f in factors) + " |")
    lines += [""] + [f"- {n}" for n in view["notes"]]
    return "\n".join(lines).rstrip() + "\n"


def write_factors(out: Path, view: dict) -> list[Path]:
    """factors.md and factors.json in `out`."""
    from disgu.atomic import atomic_path

    written = []
    for name, text in (("factors.md", format_factors_markdown(view)), ("factors.json", json.dumps(view, indent=2) + "\n")):
        with atomic_path(out / name) as tmp:
            Path(tmp).write_text(text)
        written.append(out / name)
    return written
