"""`disgu data`: look at a dataset before training on it."""

from __future__ import annotations

import json

import click

from disgu.cli.options import output_callback, seed_option
from disgu.data import DATASET_NAMES


def _dataset_options(f):
    f = click.option("--resolution", type=int, default=None, help="Resize images to this size (area filter).")(f)
    f = click.option("--data-path", type=click.Path(), default=None, help="The official file or folder of DATASET.")(f)
    return click.argument("dataset", metavar="DATASET")(f)


@click.group(help="Inspect datasets: built-in (" + ", ".join(DATASET_NAMES) + "), an .npz/.h5 file or an image folder.")
def data() -> None:
    pass


@data.command()
@_dataset_options
def info(dataset: str, data_path: str | None, resolution: int | None) -> None:
    """Print name, size, image shape and factors as JSON."""
    from disgu.data import load_dataset

    ds = load_dataset(dataset, data_path=data_path, resolution=resolution)
    click.echo(json.dumps(ds.describe(), indent=2))


@data.command()
@_dataset_options
@click.option("--out", type=click.Path(dir_okay=False), required=True, callback=output_callback(),
              help="PNG file to write.")
@seed_option(help="Picks the factors held fixed.")
def show(dataset: str, data_path: str | None, resolution: int | None, out: str, seed: int) -> None:
    """Write a contact sheet: one row per factor, sweeping it with the others fixed."""
    from disgu.data import load_dataset
    from disgu.viz.contact_sheet import contact_sheet
    from disgu.viz.grid import save_image

    ds = load_dataset(dataset, data_path=data_path, resolution=resolution)
    save_image(contact_sheet(ds, seed=seed), out)
    click.echo(f"wrote {out}")
