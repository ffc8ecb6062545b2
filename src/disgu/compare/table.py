"""The comparison table: one row per method, mean +- std over seeds, training time, the paper's row beside ours.

The statistics are `disgu.metrics.aggregate`'s, so a compare table and a `disgu metrics --aggregate`
table of the same files agree to the digit. The best mean of each column among our rows is marked.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from disgu.compare.plan import RunSpec
from disgu.metrics.aggregate import TABLE_COLUMNS, aggregate, format_csv, load_results, repeated_seeds
from disgu.report.paper import paper_note, paper_row

# Our method names -> the paper's Table 1 row names.
# Both DIP-VAE types stand beside the paper's single DIP-VAE row (which type it ran is not stated).
PAPER_NAMES = {"dis-gu": "Dis-GU", "beta-vae": "beta-VAE", "factor-vae": "FactorVAE", "dip-vae-i": "DIP-VAE",
               "dip-vae-ii": "DIP-VAE", "gs": "GS", "cf": "CF", "ds": "DS", "ld": "LD", "disco": "DisCo"}
DIP_NOTE = ("The paper's DIP-VAE row does not say whether it is DIP-VAE-I or DIP-VAE-II; both of ours are shown "
            "beside it.")
TRAINING_STAGES = ("ica", "discovery", "contrastive", "distil")


def run_times(run_dir: Path) -> tuple[float | None, float | None, float | None]:
    """(training, Glow, whole) wall seconds of a finished run, as its own records say: a `disgu run` dir's
    stage_times.json (training = its training stages, whole = every stage), a baseline dir's evaluation.json
    (whole = training + Glow loading + evaluation). Summed over runs, `whole` is the comparison's compute."""
    times = _read(run_dir / "stage_times.json")
    if isinstance(times, dict):
        train = sum(float(times[s]["wall_seconds"]) for s in TRAINING_STAGES if s in times)
        glow = times.get("glow", {}).get("wall_seconds")
        whole = sum(float(t["wall_seconds"]) for t in times.values() if isinstance(t, dict) and "wall_seconds" in t)
        return train, (float(glow) if glow is not None else None), whole
    about = _read(run_dir / "evaluation.json")
    if isinstance(about, dict):
        glow = about.get("glow_seconds")
        whole = sum(float(about.get(k) or 0.0) for k in ("training_seconds", "glow_seconds", "eval_seconds"))
        return float(about.get("training_seconds") or 0.0), (float(glow) if glow is not None else None), whole
    return None, None, None


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def build_table(dataset: str, specs: list[RunSpec]) -> dict:
    """Rows of every method with at least one finished run, plus warnings and the budget of each method."""
    from disgu.compare.plan import is_finished

    results, budgets, times, whole = [], {}, {}, []
    for spec in specs:
        budgets[spec.method] = spec.budget
        if not is_finished(spec.run_dir):
            continue
        results += load_results([spec.run_dir / "metrics.json"], dataset=dataset, method=spec.method)
        train, glow, seconds = run_times(spec.run_dir)
        times.setdefault(spec.method, []).append((train, glow))
        whole.append(seconds)
    rows = aggregate(results)
    for row in rows:
        m = row["method"]
        row["training_seconds"] = _mean([t for t, _ in times[m]])
        row["glow_seconds"] = _mean([g for _, g in times[m]])
        row["budget"] = budgets[m]
        paper = paper_row(dataset, PAPER_NAMES.get(m, ""))
        row["paper"] = {title: paper[key][0] for title, key in TABLE_COLUMNS} if paper else None
    best = {}
    for title, _ in TABLE_COLUMNS:
        means = [r[title]["mean"] for r in rows if r[title]["mean"] is not None]
        best[title] = max(means) if means else None
        for r in rows:
            r[title]["best"] = best[title] is not None and r[title]["mean"] == best[title]
    timed = [w for w in whole if w is not None]
    total = {"runs": len(whole), "timed_runs": len(timed), "seconds": float(sum(timed))}
    return {"dataset": dataset, "columns": [t for t, _ in TABLE_COLUMNS], "rows": rows,
            "warnings": repeated_seeds(results), "paper_note": paper_note(dataset), "total": total,
            "footer": _footer(budgets, total)}


def _footer(budgets: dict[str, str], total: dict) -> list[str]:
    untimed = total["runs"] - total["timed_runs"]
    whole = (f"The whole comparison: {total['runs']} finished runs, {total['seconds'] / 3600:.1f} hours of one-thread "
             f"wall time (each run's training, Glow loading and evaluation, summed"
             f"{f'; {untimed} runs kept no times' if untimed else ''}).")
    lines = ["Training budget per method: " + "; ".join(f"{m}: {b}" for m, b in budgets.items()) + ".", whole,
             ("Training time is the mean over seeds of each run's measured training wall time; the Glow that "
              "Dis-GU, DisCo and the direction methods share is trained or loaded apart and not counted (table.json: "
              "glow_seconds)."),
             "Every method is scored with the preset's metric sample sizes, on one thread per run."]
    if any(m.startswith("dip-vae") for m in budgets):
        lines.append(DIP_NOTE)
    return lines


def _cell(cell: dict) -> str:
    if cell["mean"] is None:
        return "-"
    text = f"{cell['mean']:.2f}" if cell["std"] is None else f"{cell['mean']:.2f} +- {cell['std']:.2f}"
    return f"**{text}**" if cell.get("best") else text


def _paper(row: dict) -> str:
    p = row["paper"]
    return " / ".join(f"{p[t]:.2f}" for t, _ in TABLE_COLUMNS) if p else "-"


def _seconds(s: float | None) -> str:
    return "-" if s is None else (f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min")


def format_table_markdown(table: dict) -> str:
    """The table with our mean +- std, the best of each column in bold, the paper's row beside each method."""
    titles = table["columns"]
    lines = [f"# Comparison on {table['dataset']}", "",
             "| method | runs | " + " | ".join(titles) + " | training time | paper (" + " / ".join(titles) + ") |",
             "| --- | --- | " + " | ".join("---" for _ in titles) + " | --- | --- |"]
    for r in table["rows"]:
        cells = " | ".join(_cell(r[t]) for t in titles)
        lines.append(f"| {r['method']} | {r['num_runs']} | {cells} | {_seconds(r['training_seconds'])} | "
                     f"{_paper(r)} |")
    lines += ["", "Mean +- sample std over seeds; **bold**: the best mean of the column among our rows.",
              *table["footer"], table["paper_note"]]
    lines += [f"Warning: {w}" for w in table["warnings"]]
    return "\n".join(lines) + "\n"


def format_table_csv(table: dict) -> str:
    """`disgu.metrics.aggregate`'s CSV with training seconds, budget and the paper's means appended."""
    base = list(csv.reader(io.StringIO(format_csv(table["rows"]))))
    titles = table["columns"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(base[0] + ["training_seconds", "glow_seconds", "budget"] + [f"paper {t}" for t in titles])
    for row, cells in zip(table["rows"], base[1:]):
        paper = row["paper"] or {}
        writer.writerow(cells + ["" if row["training_seconds"] is None else f"{row['training_seconds']:.1f}",
                                 "" if row["glow_seconds"] is None else f"{row['glow_seconds']:.1f}",
                                 row["budget"]] + [paper.get(t, "") for t in titles])
    return buf.getvalue()


def format_table_json(table: dict) -> str:
    return json.dumps(table, indent=2) + "\n"


def write_tables(out: Path, table: dict) -> list[Path]:
    """table.md, table.csv and table.json in `out`, each written atomically."""
    from disgu.atomic import atomic_path

    written = []
    for name, text in (("table.md", format_table_markdown(table)), ("table.csv", format_table_csv(table)),
                       ("table.json", format_table_json(table))):
        with atomic_path(out / name) as tmp:
            Path(tmp).write_text(text)
        written.append(out / name)
    return written
