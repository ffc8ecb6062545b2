"""`DIR/report.html` of a `disgu compare` dir: the Table 1 layout, one bar chart per metric, links to each run.

Read from the comparison's own `table.json` (what `disgu compare` wrote) and its run dirs, so the page
shows exactly the numbers of the tables beside it. Offline like a run's report: charts are inline SVG.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from disgu.errors import UserError
from disgu.report.page import _CSS
from disgu.report.plots import svg_uri
from disgu.report.sources import read_json


def is_comparison(path: str | Path) -> bool:
    return (Path(path) / "table.json").is_file() and (Path(path) / "compare.json").is_file()


def _cell(cell: dict[str, Any]) -> str:
    if cell.get("mean") is None:
        return "-"
    text = f"{cell['mean']:.3f}" + (f" &plusmn; {cell['std']:.3f}" if cell.get("std") is not None else "")
    return f"<b>{text}</b>" if cell.get("best") else text


def _bar_chart(title: str, rows: list[dict[str, Any]]) -> str:
    """Mean per method with the std over seeds as error bars, and the paper's value as a dot where known."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 2.9))
    ax = fig.add_subplot()
    names = [r["method"] for r in rows]
    means = [r[title]["mean"] or 0.0 for r in rows]
    errs = [r[title]["std"] or 0.0 for r in rows]
    ax.bar(range(len(rows)), means, yerr=errs, capsize=3, color="#4c78a8", label="ours (mean, std over seeds)")
    paper = [(i, (r.get("paper") or {}).get(title)) for i, r in enumerate(rows)]
    paper = [(i, v) for i, v in paper if v is not None]
    if paper:
        ax.plot([i for i, _ in paper], [v for _, v in paper], "o", color="#e45756", label="paper")
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    return svg_uri(fig)


def _run_links(root: Path, runs: list[dict[str, Any]]) -> str:
    items = []
    for r in runs:
        run_dir = root / str(r.get("method")) / f"s{r.get('seed')}"  # disgu compare's layout: OUT/<method>/sS
        label = f"{r.get('method')} seed {r.get('seed')}"
        page = run_dir / "report.html"
        if page.is_file():
            items.append(f"<li><a href='{escape(str(page.relative_to(root)))}'>{escape(label)}</a></li>")
        else:
            items.append(f"<li>{escape(label)} <span class='note'>(no report.html: not finished)</span></li>")
    return "<ul>" + "".join(items) + "</ul>"


def render_comparison(root: Path) -> str:
    table = read_json(root / "table.json")
    config = read_json(root / "compare.json") or {}
    if not isinstance(table, dict) or not table.get("rows"):
        raise UserError(f"--run {root}: its table.json holds no finished method yet; rerun `disgu compare`")
    columns = table["columns"]
    head = "".join(f"<th>{escape(c)}</th>" for c in ["method", *columns, "training", "paper"])
    body = []
    for r in table["rows"]:
        paper = r.get("paper")
        paper_text = " / ".join(f"{paper[c]:.2f}" for c in columns) if paper else "-"
        seconds = r.get("training_seconds")
        body.append(f"<tr><td>{escape(r['method'])} ({r.get('num_runs', '?')} runs)</td>"
                    + "".join(f"<td>{_cell(r[c])}</td>" for c in columns)
                    + f"<td>{'-' if seconds is None else f'{seconds / 60:.1f} min'}</td><td>{paper_text}</td></tr>")
    charts = "".join(f"<figure><img alt='{escape(c)} per method' src='{_bar_chart(c, table['rows'])}'></figure>"
                     for c in columns)
    notes = "".join(f"<p class='note'>{escape(line)}</p>" for line in
                    [*table.get("footer", []), table.get("paper_note", ""), *table.get("warnings", [])] if line)
    title = f"disgu comparison: {root.name}"
    sub = f"dataset {table.get('dataset', '?')}, preset {config.get('preset', '?')}"
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1><p>{escape(sub)}</p>"
            f"<h2>Table 1 layout</h2><table><tr>{head}</tr>{''.join(body)}</table>{notes}"
            f"<h2>Per metric</h2><div class='plots'>{charts}</div>"
            f"<h2>Runs</h2>{_run_links(root, config.get('runs', []))}"
            "<p class='note'>Per-factor view: factors.md beside this page.</p></body></html>\n")
