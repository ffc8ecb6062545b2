"""`DIR/report.html`: one offline page that shows what a run learned, how training went and how it compares.

    sources.py   read a run or baseline dir (kind, JSON files, logs)
    compute.py   what is computed from the saved models (code x factor MI, Glow samples)
    curves.py    which training curves come from which stage log
    plots.py     matplotlib figures as inline SVG
    paper.py     the published rows a run is read against
    page.py      the HTML
    comparison.py   the page of a `disgu compare` dir (Table 1 layout, a bar chart per metric, run links)
"""

from __future__ import annotations

from pathlib import Path

from disgu.atomic import atomic_path
from disgu.errors import UserError

REPORT_NAME = "report.html"


def write_report(run_dir: str | Path, baseline_dir: str | Path | None = None) -> Path:
    """Write RUN_DIR/report.html (atomically) and return its path.

    `baseline_dir`: a `disgu baseline` output dir whose scores join the headline table as the
    same-budget baseline. A dir that is not a run or baseline dir is a UserError.
    """
    from disgu.report.comparison import is_comparison, render_comparison
    from disgu.report.compute import factor_information, glow_samples
    from disgu.report.curves import draw_curves
    from disgu.report.page import render_page
    from disgu.report.sources import open_run

    if is_comparison(run_dir):
        if baseline_dir is not None:
            raise UserError(f"--baseline: a comparison dir ({run_dir}) holds its baselines already")
        out = Path(run_dir) / REPORT_NAME
        html = render_comparison(Path(run_dir))
        with atomic_path(out) as tmp:
            tmp.write_text(html, encoding="utf-8")
        return out
    run = open_run(run_dir)
    baseline = open_run(baseline_dir, "--baseline") if baseline_dir is not None else None
    samples = glow_samples(run) if run.kind == "run" or (run.root / "glow" / "glow.safetensors").is_file() else None
    html = render_page(run, run.root, baseline=baseline, factors=factor_information(run),
                       curves=draw_curves(run.root), samples=samples)
    out = run.root / REPORT_NAME
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return out
