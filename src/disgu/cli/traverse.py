"""`disgu traverse`: traversal strips and GIFs of every direction of a finished run, ranked."""

from __future__ import annotations

import click

from disgu.cli.options import output_callback, seed_option, threads_option


@click.command(name="traverse")
@click.option("--run", "run_dir", type=click.Path(file_okay=False), required=True, help="A finished `disgu run` dir.")
@click.option("--out", type=click.Path(file_okay=False), default=None, callback=output_callback(folder=True),
              help="Output dir (default RUN/traversals).")
@click.option("--shift-range", type=float, default=None, help="eps from -r to r (default: the run's config).")
@click.option("--n-latents", type=int, default=None, help="Rows per strip (default: the run's config).")
@click.option("--n-shifts", type=int, default=None, help="Columns per strip (default: the run's config).")
@seed_option(default=None, help="Seed of the latents drawn (default: the run's seed + 13, the one `disgu run` "
                                "used for its traversals).")
@threads_option
def traverse(run_dir: str, out: str | None, shift_range: float | None, n_latents: int | None,
             n_shifts: int | None, seed: int | None, threads: int) -> None:
    """Write direction_XXX.png/.gif, top_directions.png and index.json (directions ranked by score)."""
    from pathlib import Path

    from disgu.errors import UserError
    from disgu.evaluation.directions import saved_direction_labels
    from disgu.models.generator import FrozenGlow
    from disgu.pipeline.config import read_run_config
    from disgu.pipeline.stages import load_trained
    from disgu.viz.traverse import write_traversals

    run = Path(run_dir)
    cfg = read_run_config(run)
    for name, value in (("shift_range", shift_range), ("n_latents", n_latents), ("n_shifts", n_shifts)):
        if value is not None:
            if not value > 0:  # also refuses nan
                raise UserError(f"--{name.replace('_', '-')}: expected a positive value, got {value}")
            setattr(cfg.traversal, name, value)
    glow, navigator, levels, encoder = load_trained(run)
    ranked = write_traversals(FrozenGlow(glow, levels), navigator, encoder, Path(out) if out else run / "traversals",
                              cfg.traversal, cfg.seed + 13 if seed is None else seed, cfg.contrastive.temperature,
                              labels=saved_direction_labels(run))
    click.echo(f"wrote {len(ranked)} directions to {out or run / 'traversals'}; best: "
               + ", ".join(f"d{r['direction']} (score {r['score']:.2f}, code dim {r['code_dim']})" for r in ranked[:5]))
