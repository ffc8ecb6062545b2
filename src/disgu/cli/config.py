"""`disgu config`: print the configuration a `disgu run` with these options would use, and run nothing."""

from __future__ import annotations

import click

from disgu.cli.options import seed_option, set_option
from disgu.presets import PRESET_NAMES  # plain data, no torch: --help stays fast


@click.command(name="config")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="demo", show_default=True,
              help="The `disgu run` preset to resolve.")
@click.option("--dataset", default=None, help="Dataset name or file, as for `disgu run` (default: the config's).")
@click.option("--data-path", type=click.Path(), default=None, help="The official file or folder of DATASET.")
@seed_option(default=None, help="Seed of every stage (default: the preset's).")
@click.option("--device", default=None, help="cpu, cuda, cuda:N or auto (default: the preset's).")
@set_option("--set discovery.nav_lr=1e-3 --set representation=contrastive")
def config(preset: str, dataset: str | None, data_path: str | None, seed: int | None, device: str | None,
           overrides: tuple[str, ...]) -> None:
    """Print the resolved config tree (JSON) of PRESET with the --set overrides applied, as `disgu run` resolves it."""
    from disgu.pipeline.config import config_json, resolve_config

    cfg = resolve_config(preset, overrides, dataset=dataset, data_path=data_path, seed=seed, device=device)
    click.echo(config_json(cfg))
