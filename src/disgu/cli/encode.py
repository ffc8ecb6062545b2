"""`disgu encode`: codes E(x) of a finished run for any uint8 images."""

from __future__ import annotations

import click

from disgu.cli.options import output_callback, threads_option


@click.command(name="encode")
@click.option("--run", "run_dir", type=click.Path(file_okay=False), required=True, help="A finished `disgu run` dir.")
@click.option("--images", type=click.Path(dir_okay=False), required=True,
              help=".npy of uint8 images (N, H, W, C), C = 1 or 3; resized to the run's resolution.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, callback=output_callback(),
              help="Output .npy of float32 codes (N, D).")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@threads_option
def encode(run_dir: str, images: str, out: str, batch_size: int, threads: int) -> None:
    """Write the disentangled codes of IMAGES to OUT."""
    import numpy as np

    from disgu.arrays import load_array
    from disgu.atomic import atomic_path
    from disgu.disgu_estimator import DisGU, check_images

    arr = load_array(images, "--images")  # memory-mapped, its header checked against the file's size
    check_images(arr, f"--images {images}")
    model = DisGU.load(run_dir)
    codes = model.transform(arr, batch_size=batch_size)
    with atomic_path(out) as tmp:
        np.save(tmp, codes)
    click.echo(f"wrote {out}: codes {codes.shape}")
