"""Mean +- std over seeds in the paper's Table 1 layout: rows dataset/method, columns MIG, DCI, FactorVAE, beta-VAE.

"DCI" in the paper's table is DCI disentanglement. The standard deviation is the sample one
(ddof 1); a group with a single run shows the mean alone, as the paper does.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence

import numpy as np

from disgu.errors import UserError

TABLE_COLUMNS = (("MIG", "mig"), ("DCI", "dci_disentanglement"), ("FactorVAE", "factor_vae"), ("beta-VAE", "beta_vae"))


def load_results(paths: Sequence[str | os.PathLike], dataset: str | None = None,
                 method: str | None = None) -> list[dict]:
    """Read metrics JSON files; `dataset`/`method` fill in labels a file does not carry."""
    results = []
    for path in paths:
        try:
            with open(path) as fh:
                result = json.load(fh)
        except FileNotFoundError:
            raise UserError(f"metrics file {path} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise UserError(f"metrics file {path} is not valid JSON: {err}") from None
        if not isinstance(result, dict):
            raise UserError(f"metrics file {path} must hold a JSON object of scores")
        result = dict(result)
        for field, given in (("dataset", dataset), ("method", method)):
            if given is not None:
                result[field] = given
            elif not result.get(field):
                raise UserError(f"metrics file {path} has no '{field}' field; pass --{field} to label it")
        result["_path"] = str(path)
        results.append(result)
    return results


def training_seed(result: dict):
    """The seed of the model a result scored: `seed` of a run's or baseline's metrics.json (they record the metric
    seed apart, as `metric_seed`), `training_seed` of a `disgu metrics` file (its `seed` is the metric seed)."""
    return result.get("seed") if "metric_seed" in result else result.get("training_seed")


def repeated_seeds(results: Sequence[dict]) -> list[str]:
    """Warnings for (dataset, method) groups holding two results of one training seed, or two identical results:
    their spread is no spread over seeds."""
    out = []
    seen: dict[tuple, str] = {}
    for r in results:
        group = (str(r["dataset"]), str(r["method"]))
        seed = training_seed(r)
        scores = tuple(r.get(k) for _, k in TABLE_COLUMNS)
        for key in ([(group, "seed", seed)] if seed is not None else []) + [(group, "scores", scores)]:
            if key in seen:
                what = f"training seed {seed}" if key[1] == "seed" else "identical scores"
                out.append(f"{r['_path']} and {seen[key]} ({group[1]} on {group[0]}) have {what}: the table's "
                           f"std is not a spread over seeds")
                break
            seen[key] = r["_path"]
    return out


def _cell(values: list[float]) -> dict:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else None, "n": int(arr.size)}


def aggregate(results: Iterable[dict], columns: Sequence[tuple[str, str]] = TABLE_COLUMNS) -> list[dict]:
    """Group results by (dataset, method), in order of first appearance; mean/std/n for every column."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((str(r["dataset"]), str(r["method"])), []).append(r)
    rows = []
    for (ds, method), members in groups.items():
        row = {"dataset": ds, "method": method, "num_runs": len(members),
               "seeds": [m.get("seed") for m in members]}
        for title, key in columns:
            values = [float(m[key]) for m in members if m.get(key) is not None]
            row[title] = {"key": key, **_cell(values)}
        rows.append(row)
    return rows


def _fmt(cell: dict, digits: int) -> str:
    if cell["mean"] is None:
        return "-"
    if cell["std"] is None:
        return f"{cell['mean']:.{digits}f}"
    return f"{cell['mean']:.{digits}f}+-{cell['std']:.{digits}f}"


def format_markdown(rows: list[dict], columns: Sequence[tuple[str, str]] = TABLE_COLUMNS, digits: int = 2) -> str:
    titles = [t for t, _ in columns]
    lines = ["| dataset | method | " + " | ".join(titles) + " |",
             "| --- | --- | " + " | ".join("---" for _ in titles) + " |"]
    for row in rows:
        cells = " | ".join(_fmt(row[t], digits) for t in titles)
        lines.append(f"| {row['dataset']} | {row['method']} | {cells} |")
    return "\n".join(lines) + "\n"


def format_csv(rows: list[dict], columns: Sequence[tuple[str, str]] = TABLE_COLUMNS) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    titles = [t for t, _ in columns]
    writer.writerow(["dataset", "method", "num_runs"] + [f"{t} {s}" for t in titles for s in ("mean", "std")])
    for row in rows:
        cells = []
        for t in titles:
            cells += ["" if row[t]["mean"] is None else f"{row[t]['mean']:.6f}",
                      "" if row[t]["std"] is None else f"{row[t]['std']:.6f}"]
        writer.writerow([row["dataset"], row["method"], row["num_runs"]] + cells)
    return buf.getvalue()


def format_json(rows: list[dict]) -> str:
    return json.dumps({"columns": [t for t, _ in TABLE_COLUMNS], "rows": rows}, indent=2) + "\n"
