"""`disgu encode`: codes E(x) of a finished run for any uint8 images."""

from __future__ import annotations

import click


@click.command(name="encode")
@click.option("--run", "run_dir", type=click.Path(file_okay=False), required=True, help="A finished `disgu run` dir.")
@click.option("--images", type=click.Path(dir_okay=False), required=True,
              help=".npy of uint8 images (N, H, W, C) (or (N, H, W) greyscale); resized to the run's resolution.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output .npy of float32 codes (N, D).")
@click.option("--batch-size", type=int, default=256, show_default=True)
def encode(run_dir: str, images: str, out: str, batch_size: int) -> None:
    """Write the disentangled codes of IMAGES to OUT."""
    import numpy as np
    import torch

    from disgu.atomic import atomic_path
    from disgu.disgu_estimator import DisGU
    from disgu.errors import UserError

    torch.set_flush_denormal(True)
    try:
        arr = np.load(images, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise UserError(f"--images {images}: not a readable .npy array ({err})") from None
    model = DisGU.load(run_dir)
    codes = model.transform(arr, batch_size=batch_size)
    with atomic_path(out) as tmp:
        np.save(tmp, codes)
    click.echo(f"wrote {out}: codes {codes.shape}")
