"""Options shared by several `disgu` commands, so each is spelt, checked and documented once."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from disgu.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])

SEED_MAX = 2**32 - 1  # numpy's RandomState takes seeds in 0 .. 2**32 - 1
SEED = click.IntRange(0, SEED_MAX)
COUNT = click.IntRange(min=1)


class _PositiveFloat(click.FloatRange):
    """A float > 0; FloatRange alone lets nan through (every comparison with nan is false)."""

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{rv} is not a finite number > 0.", param, ctx)
        return rv


POSITIVE = _PositiveFloat()
THREADS_HELP = ("torch CPU threads; 1 is fast on cores shared with other jobs and reproducible "
                "(the same seed gives the same numbers).")


def apply_threads(threads: int) -> None:
    """Use `threads` torch CPU threads and flush denormals (tiny floats otherwise slow CPU math ~100x)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UserError(f"--threads: expected a positive integer, got {threads!r}")
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


def _threads_callback(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and not ctx.resilient_parsing:
        apply_threads(value)
    return value


def threads_option(f: F) -> F:
    """--threads N (default 1), applied while the command line is parsed, before the command runs."""
    return click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
                        callback=_threads_callback, help=THREADS_HELP)(f)


def seed_option(default: int | None = 0, help: str = "Random seed.") -> Callable[[F], F]:
    """--seed in 0 .. 2**32 - 1, refused where it is parsed rather than deep inside numpy."""
    return click.option("--seed", type=SEED, default=default, show_default=default is not None, help=help)


def check_output(path: str | os.PathLike, option: str, folder: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done; nothing is created.

    `folder`: the path is a directory to write into, else a file. The nearest existing ancestor
    must be a writable directory (probed with a temporary file, which is removed at once).
    """
    path = Path(path)
    where = f"{option} {path}"
    if path.exists():
        if folder and not path.is_dir():
            raise UserError(f"{where}: exists and is not a folder (expected a folder to write into)")
        if not folder and path.is_dir():
            raise UserError(f"{where}: is a folder (expected a file name to write)")
    base = path if folder else path.parent
    base = base.absolute()
    while not base.exists():
        if base.is_symlink():  # a dangling link
            raise UserError(f"{where}: {base} is a broken link")
        base = base.parent
    if not base.is_dir():
        raise UserError(f"{where}: cannot write there ({base} is not a folder)")
    try:
        with tempfile.TemporaryFile(dir=base, prefix=".disgu-probe-"):
            pass
    except OSError as err:
        raise UserError(f"{where}: cannot write there ({err.strerror or err} in {base})") from None
    return path


def output_callback(folder: bool = False) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback that runs `check_output` on an --out value (or on each of a repeated one)."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or ctx.resilient_parsing:
            return value
        name = param.opts[0] if param.opts else f"--{param.name}"
        for item in value if isinstance(value, tuple) else (value,):
            check_output(item, name, folder)
        return value

    return callback


def lock_out(out: str | os.PathLike, option: str = "--out") -> None:
    """Hold the run folder `out` until the command ends: a second disgu process on it exits 2 naming the holder."""
    from disgu.runlock import run_folder_lock

    ctx = click.get_current_context()
    ctx.with_resource(run_folder_lock(out, option, log=lambda m: click.echo(m, err=True)))


def set_option(example: str) -> Callable[[Callable], Callable]:
    """`--set SECTION.FIELD=VALUE`, repeatable, the same on every command that has a config tree."""
    return click.option("--set", "overrides", multiple=True, metavar="SECTION.FIELD=VALUE",
                        help=f"Override any config field, e.g. {example} (repeatable).")
