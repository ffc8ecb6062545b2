"""`disgu report`: write RUN/report.html, the offline page of a run's scores, directions and training curves."""

from __future__ import annotations

import click

from disgu.cli.options import threads_option


@click.command(name="report")
@click.option("--run", "run_dir", type=click.Path(file_okay=False), required=True,
              help="A `disgu run` or `disgu baseline` output dir; the page is written into it as report.html.")
@click.option("--baseline", "baseline_dir", type=click.Path(file_okay=False), default=None,
              help="A `disgu baseline` output dir trained at the same budget: its scores join the headline table.")
@threads_option
def report(run_dir: str, baseline_dir: str | None, threads: int) -> None:
    """Write RUN/report.html: headline metrics beside the paper and a baseline, the code x factor map, ranked
    directions with their traversals, training curves, Glow samples, config and run info. Opens offline."""
    from disgu.report import write_report

    path = write_report(run_dir, baseline_dir)
    click.echo(f"wrote {path}")
