"""`disgu run`: the whole Dis-GU pipeline (Glow, discovery, contrastive, evaluation, traversals) into one run dir."""

from __future__ import annotations

import click

from disgu.cli.options import lock_out, output_callback, seed_option, set_option, threads_option
from disgu.presets import PRESET_NAMES  # plain data, no torch: --help stays fast


@click.command(name="run")
@click.option("--dataset", required=True,
              help="Dataset name (shapes3d, dsprites, mpi3d, cars3d, ...) or a file/folder.")
@click.option("--data-path", type=click.Path(), default=None, help="The official file or folder of DATASET.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="demo", show_default=True,
              help="demo: <10 min on 2 CPU cores; cpu: ~30 min, best on CPU; paper: the paper's GPU setting; "
                   "tiny: seconds, for tests.")
@seed_option(help="Seed of every stage.")
@click.option("--out", type=click.Path(file_okay=False), required=True, callback=output_callback(folder=True),
              help="Run dir; rerun to resume.")
@click.option("--glow", "glow_path", type=click.Path(), default=None,
              help="A Glow checkpoint (.pt) or export (.safetensors) to use instead of the shipped or a new one.")
@click.option("--device", default=None, help="cpu, cuda, cuda:N or auto (default: the preset's, auto).")
@click.option("--deterministic", is_flag=True, default=False,
              help="Deterministic GPU kernels and no TF32: the same seed, the same numbers on a GPU (slower; "
                   "docs/method.md). The CPU with one thread is deterministic already.")
@set_option("--set discovery.nav_lr=1e-3 --set contrastive.tau=0.1")
@click.option("--stages", default=None,
              help="Comma-separated subset of glow,ica,discovery,contrastive,distil,evaluation,traversal (the "
                   "representation's stages run: glow,discovery,contrastive,... or glow,ica,distil,...).")
@threads_option
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.pass_context
def run(ctx: click.Context, dataset: str, data_path: str | None, preset: str, seed: int, out: str,
        glow_path: str | None, device: str | None, overrides: tuple[str, ...], stages: str | None, threads: int,
        no_progress: bool, deterministic: bool) -> None:
    """Run Dis-GU end to end into OUT; finished stages are skipped when the same command is run again."""
    from disgu.pipeline.config import resolve_config
    from disgu.pipeline.run import run_pipeline
    from disgu.pipeline.stages import STAGES

    lock_out(out)  # the whole command, the report and the table included
    chosen = STAGES if stages is None else tuple(s.strip() for s in stages.split(",") if s.strip())
    cfg = resolve_config(preset, overrides, stages=chosen, dataset=dataset, data_path=data_path, seed=seed,
                         device=device, deterministic=deterministic or None)
    try:
        run_pipeline(cfg, out, glow_path=glow_path, progress=not no_progress, stages=chosen,
                     log=lambda m: click.echo(m, err=True))
    except KeyboardInterrupt:
        # Ctrl-C (or SIGTERM while the Glow trains): stages resume from their last checkpoint.
        click.echo(f"\ndisgu: run stopped; rerun the same command to resume from the last checkpoint in {out}",
                   err=True)
        ctx.exit(130)
    from pathlib import Path

    metrics = Path(out) / "metrics.json"
    if metrics.is_file():
        import json

        from disgu.distributed import is_main
        from disgu.pipeline.result_table import result_table
        from disgu.report import write_report

        if not is_main():  # under torchrun, rank 0 alone writes the page and prints the table
            return
        if (Path(out) / "traversals" / "DONE.json").is_file():
            write_report(out)
        click.echo(result_table(json.loads(metrics.read_text()), out))
