"""The HTML of a run's report: one self-contained page of sections, each a small function of what was read.

The page has no script and loads nothing from the network: plots and Glow samples are inline data
URIs, traversal GIFs are linked relative to the page (they lie beside it in the run dir). Every
value that comes from a file is escaped.
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from disgu.pipeline.result_table import chance_levels
from disgu.report.compute import FactorInfo
from disgu.report.paper import paper_note, paper_rows
from disgu.report.plots import heat_map, png_uri
from disgu.report.sources import RunFiles, read_json

METRIC_COLUMNS = (("mig", "MIG"), ("dci_disentanglement", "DCI dis."), ("dci_completeness", "DCI compl."),
                  ("dci_informativeness", "DCI info."), ("factor_vae", "FactorVAE"), ("beta_vae", "beta-VAE"))

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.this td { font-weight: bold; background: #f3f8ff; }
tr.chance td { color: #777; }
.note { color: #666; font-size: 0.9em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plots figure { margin: 0; }
img.pixel { image-rendering: pixelated; }
td.gif { text-align: center; }
#factor-map { max-width: 100%; height: auto; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value:.{digits}f}"


def _row(label: str, cells: list[str], css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<tr{cls}><td>{escape(label)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def metrics_section(run: RunFiles, baseline: RunFiles | None) -> str:
    """The headline scores beside the same-budget baseline, the paper's rows and the chance level."""
    head = "<tr><th>representation</th>" + "".join(f"<th>{escape(t)}</th>" for _, t in METRIC_COLUMNS) + "</tr>"
    rows = []
    if run.metrics is None:
        return "<h2>Headline metrics</h2><p class='note'>No metrics.json in this run dir yet.</p>"
    rows.append(_row(f"this run: {run.method}", [_fmt(run.metrics.get(k)) for k, _ in METRIC_COLUMNS], "this"))
    if baseline is not None and baseline.metrics is not None:
        about = baseline.run_info.get("config", {})
        seconds = _training_seconds(baseline)
        budget = f", {seconds / 60:.1f} min of training" if seconds is not None else ""
        label = f"baseline: {about.get('model', baseline.method)}{budget}"
        rows.append(_row(label, [_fmt(baseline.metrics.get(k)) for k, _ in METRIC_COLUMNS]))
    for label, cells in paper_rows(run.dataset):
        rows.append(_row(label, [_paper_cell(cells.get(k)) for k, _ in METRIC_COLUMNS]))
    sizes = run.metrics.get("factor_sizes")
    if sizes:
        chance = chance_levels(list(sizes))
        rows.append(_row("chance (codes that know nothing)", [_fmt(chance.get(k)) for k, _ in METRIC_COLUMNS],
                         "chance"))
    notes = [escape(str(run.metrics["note"]))] if "note" in run.metrics else []
    notes += [(f"Scores of {escape(run.dataset)} at {escape(str(run.config.get('resolution', '?')))}x"
               f"{escape(str(run.config.get('resolution', '?')))} from <code>metrics.json</code>.")]
    if paper_rows(run.dataset):
        notes.append(escape(paper_note(run.dataset)))
    if baseline is None and run.kind == "run":
        notes.append("No same-budget baseline given; <code>disgu report --run DIR --baseline BASELINE_DIR</code> "
                     "adds the row of a <code>disgu baseline</code> output dir.")
    return ("<h2>Headline metrics</h2><table>" + head + "".join(rows) + "</table>"
            + "".join(f"<p class='note'>{n}</p>" for n in notes))


def _training_seconds(run: RunFiles) -> float | None:
    """A baseline's training time, from the evaluation.json that `disgu baseline` writes beside metrics.json."""
    about = read_json(run.root / "evaluation.json")
    value = about.get("training_seconds") if isinstance(about, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def _paper_cell(cell: tuple[float, float | None] | None) -> str:
    if cell is None:
        return "-"
    mean, std = cell
    return f"{mean:.2f}" + (f" &plusmn; {std:.2f}" if std is not None else "")


def factor_section(info: FactorInfo | str) -> str:
    """Which code dim reads which factor: the normalised-MI heat map."""
    if isinstance(info, str):
        return f"<h2>Code dims and factors</h2><p class='note'>{escape(info)}</p>"
    uri = heat_map(info.nmi.T, info.factor_names, list(range(info.nmi.shape[0])),
                   "normalised mutual information: code dim x factor", "MI / H(factor)")
    return ("<h2>Code dims and factors</h2>"
            f"<img id='factor-map' alt='normalised mutual information of each code dim with each factor' src='{uri}'>"
            f"<p class='note'>Each cell: the mutual information of one code dim (discretised into 20 bins, as MIG "
            f"does) with one factor, divided by the factor's entropy, over {info.n_images} dataset images. A "
            f"disentangled code has one bright cell per factor row, each in its own column.</p>")


def directions_section(run: RunFiles, page_dir: Path) -> str:
    """The ranked directions: traversal GIF, score, the code dim and factor each one moves."""
    if not run.directions:
        return ""
    head = ("<tr><th>rank</th><th style='text-align:center'>traversal</th><th>direction</th><th>score</th><th>strength</th>"
            "<th>exclusivity</th><th>code dim</th><th>factor (MI / H)</th></tr>")
    rows = []
    for d in run.directions:
        gif = run.root / "traversals" / str(d.get("gif", ""))
        if d.get("gif") and gif.is_file():
            rel = Path(os.path.relpath(gif, page_dir)).as_posix()
            cell = f"<img class='pixel' src='{escape(rel)}' alt='traversal of direction {d.get('direction')}'>"
        else:
            cell = "<span class='note'>no GIF</span>"
        factor = escape(str(d.get("factor", "-")))
        if "factor_nmi" in d:
            factor += f" ({_fmt(d['factor_nmi'], 2)})"
        rows.append(f"<tr><td>{d.get('rank', '')}</td><td class='gif'>{cell}</td><td>{d.get('direction', '')}</td>"
                    f"<td>{_fmt(d.get('score'))}</td><td>{_fmt(d.get('strength'))}</td>"
                    f"<td>{_fmt(d.get('exclusivity'))}</td><td>{d.get('code_dim', '')}</td><td>{factor}</td></tr>")
    shifts = (run.traversal_index or {}).get("shifts") or []
    span = f" from {shifts[0]:+.2f} to {shifts[-1]:+.2f}" if shifts else ""
    return ("<h2>Directions, ranked</h2><table>" + head + "".join(rows) + "</table>"
            f"<p class='note'>Each GIF moves a few Glow samples along one direction{escape(span)}. Score = strength "
            "x exclusivity: how far the direction moves its top code dim (in that dim's std), times that dim's "
            "share of the whole code change. The factor is the one the top code dim carries most information "
            "about.</p>")


def curves_section(curves: list[tuple[str, str]], run: RunFiles) -> str:
    if not curves:
        note = "No training logs in this run dir"
        if run.kind == "run" and not (run.root / "glow" / "train").is_dir():
            note += " (the Glow was not trained here: see glow/source.json)"
        return f"<h2>Training</h2><p class='note'>{escape(note)}.</p>"
    figs = "".join(f"<figure><img alt='{escape(title)}' src='{uri}'></figure>" for title, uri in curves)
    return f"<h2>Training</h2><div class='plots'>{figs}</div>"


def samples_section(samples: bytes | str | None) -> str:
    if samples is None:
        return ""
    if isinstance(samples, str):
        return f"<h2>Glow samples</h2><p class='note'>{escape(samples)}</p>"
    return ("<h2>Glow samples</h2>"
            f"<img class='pixel' id='glow-samples' alt='Glow samples at temperature 0.7' src='{png_uri(samples)}'>"
            "<p class='note'>32 samples of the run's Glow at temperature 0.7 (seed 0).</p>")


def info_section(run: RunFiles) -> str:
    """Stage times, the resolved config and the run info, as saved."""
    parts = ["<h2>Run</h2>"]
    if run.stage_times:
        rows = "".join(_row(stage, [_fmt(t.get("wall_seconds"), 1), _fmt(t.get("peak_rss_mib_so_far"), 0)])
                       for stage, t in run.stage_times.items() if isinstance(t, dict))
        parts.append("<table><tr><th>stage</th><th>seconds</th><th>peak RSS (MiB)</th></tr>" + rows + "</table>")
    parts.append("<details><summary>Resolved config</summary><pre>"
                 + escape(json.dumps(run.config, indent=2)) + "</pre></details>")
    info = {k: v for k, v in run.run_info.items() if k != "config"}
    if info:
        parts.append("<details><summary>Run info (command, versions, revision)</summary><pre>"
                     + escape(json.dumps(info, indent=2)) + "</pre></details>")
    return "".join(parts)


def render_page(run: RunFiles, page_dir: Path, *, baseline: RunFiles | None, factors: FactorInfo | str,
                curves: list[tuple[str, str]], samples: bytes | str | None) -> str:
    """The whole page of one run or baseline dir."""
    cfg = run.config
    title = f"disgu report: {run.root.name}"
    facts = [f"dataset {cfg.get('dataset', '?')}", f"seed {cfg.get('seed', '?')}"]
    if run.kind == "run":
        facts[1:1] = [f"preset {cfg.get('preset', '?')}", f"representation {cfg.get('representation', '?')}"]
    else:
        facts.insert(0, f"baseline {cfg.get('model', '?')}")
    when = run.run_info.get("time_utc")
    subtitle = ", ".join(facts) + (f"; started {when}" if when else "")
    body = [f"<h1>{escape(title)}</h1><p>{escape(subtitle)}</p>",
            metrics_section(run, baseline), factor_section(factors), directions_section(run, page_dir),
            curves_section(curves, run), samples_section(samples), info_section(run)]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<link rel='icon' href='data:,'><title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")
