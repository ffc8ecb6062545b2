"""The `disgu` command. Each subcommand lives in its own module and is registered here."""

from __future__ import annotations

import sys

import click

from disgu.errors import UserError


class _Group(click.Group):
    """A click group that turns a UserError, or a bad option of any subcommand, into one line and exit status 2,
    and Ctrl-C into one line and status 130."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as err:
            click.echo(f"disgu: error: {_one_line(str(err))}", err=True)
            ctx.exit(2)
        except click.UsageError as err:
            if isinstance(err, getattr(click.exceptions, "NoArgsIsHelpError", ())):
                raise  # `disgu data` alone prints the group's help
            click.echo(f"disgu: error: {_usage_line(err)}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:  # click would print 'Aborted!'; say what stopped, with the shell's status
            click.echo("\ndisgu: interrupted (Ctrl-C); a rerun of a training command resumes from its last "
                       "checkpoint", err=True)
            ctx.exit(130)


def _one_line(message: str, limit: int = 600) -> str:
    """A message on one line, cut at `limit` characters: a library's multi-line text never floods the terminal."""
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 4] + " ..."


def _usage_line(err: click.UsageError) -> str:
    """'run: Invalid value for '--seed': ... (see --help)': the subcommand, click's message, one line."""
    path = err.ctx.command_path.split(" ", 1) if err.ctx is not None else []
    where = f"{path[1]}: " if len(path) > 1 else ""
    message = " ".join(err.format_message().split())
    return f"{where}{message} (see --help)"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="disgu")
def cli() -> None:
    """Generative disentangled representation learning: Glow, directions, Dis-GU."""


def _register() -> None:
    from disgu.cli.baseline import baseline
    from disgu.cli.compare import compare
    from disgu.cli.config import config
    from disgu.cli.data import data
    from disgu.cli.encode import encode
    from disgu.cli.explore import explore
    from disgu.cli.metrics import metrics
    from disgu.cli.report import report
    from disgu.cli.run import run
    from disgu.cli.train_glow import export_glow_command, sample_command, train_glow_command
    from disgu.cli.traverse import traverse

    cli.add_command(data)
    cli.add_command(run)
    cli.add_command(config)
    cli.add_command(encode)
    cli.add_command(traverse)
    cli.add_command(metrics)
    cli.add_command(baseline)
    cli.add_command(compare)
    cli.add_command(report)
    cli.add_command(explore)
    cli.add_command(train_glow_command)
    cli.add_command(sample_command)
    cli.add_command(export_glow_command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `disgu` console script."""
    cli.main(args=argv, prog_name="disgu")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
