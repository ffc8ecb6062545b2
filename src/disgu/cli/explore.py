"""`disgu explore`: serve a page that moves a finished run's directions with sliders, decoding through its Glow."""

from __future__ import annotations

import click

from disgu.cli.options import threads_option


@click.command(name="explore")
@click.option("--run", "run_dir", type=click.Path(file_okay=False), required=True, help="A finished `disgu run` dir.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default is reachable from this machine only.")
@threads_option
def explore(run_dir: str, port: int, host: str, threads: int) -> None:
    """Serve the latent explorer of RUN at http://HOST:PORT/ (JSON API under /api/) until Ctrl-C."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        from disgu.errors import UserError

        raise UserError("explore: needs starlette and uvicorn; install them with "
                        "pip install 'disgu[explore]'") from None
    from disgu.explore.server import serve

    serve(run_dir, host, port, say=lambda m: click.echo(m, err=True))
