"""`disgu compare`: every method over seeds on one dataset and preset, resumable, then one table."""

from __future__ import annotations

import os
from pathlib import Path

import click

from disgu.cli.options import check_output, lock_out, set_option
from disgu.errors import UserError

DEFAULT_JOBS = min(2, os.cpu_count() or 1)


@click.command("compare")
@click.option("--dataset", required=True, help="Dataset name (shapes3d, mpi3d, cars3d, ...) or a file/folder.")
@click.option("--data-path", type=click.Path(), default=None, help="The official file or folder of DATASET.")
@click.option("--methods", default="all", show_default=True,
              help="all, or a comma-separated subset of dis-gu, beta-vae, factor-vae, dip-vae-i, dip-vae-ii, gs, cf, "
                   "ds, ica, ld, disco, untrained.")
@click.option("--seeds", type=int, default=3, show_default=True, help="Seeds 0 .. N-1 of every method.")
@click.option("--preset", type=click.Choice(["demo", "cpu", "paper", "tiny"]), default="cpu", show_default=True,
              help="The `disgu run` preset: Dis-GU's settings, the direction methods' and the VAEs' budget.")
@click.option("--out", type=click.Path(), required=True,
              help="Folder of the comparison: one run dir and log per method and seed, and the tables.")
@click.option("--jobs", type=int, default=DEFAULT_JOBS, show_default=True,
              help="Runs at a time, each on one thread (default: 2, or 1 on a one-core machine).")
@set_option("--set contrastive.tau=0.1 (to Dis-GU's run) or --set beta-vae:beta=4 (to one method)")
def compare(dataset: str, data_path: str | None, methods: str, seeds: int, preset: str, out: str, jobs: int,
            overrides: tuple[str, ...]) -> None:
    """Run every method over seeds (finished runs are skipped, so rerunning resumes), then write table.md,
    table.csv, table.json (mean +- std, training time, the paper's row, the best marked) and factors.md/.json.

    Every run is one thread; with the default --jobs two runs share a 2-core machine.
    """
    from disgu.compare.plan import is_finished, parse_methods, plan_runs, split_overrides

    names = parse_methods(methods)
    if seeds < 1:
        raise UserError(f"--seeds {seeds}: needs at least 1")
    if jobs < 1:
        raise UserError(f"--jobs {jobs}: needs at least 1")
    root = check_output(out, "--out", folder=True)
    specs = plan_runs(dataset, names, seeds, preset, root, split_overrides(list(overrides), names), data_path)
    lock_out(root)  # each run's own `disgu run` locks its folder inside
    root.mkdir(parents=True, exist_ok=True)
    _write_config(root, dataset, data_path, names, seeds, preset, jobs, list(overrides), specs)

    todo = [s for s in specs if not is_finished(s.run_dir)]
    for s in specs:
        if s not in todo:
            click.echo(f"skipped {s.name}: {s.run_dir / 'metrics.json'} is finished")
    failures, interrupted = _run(todo, jobs)
    _write_tables(root, dataset, specs)
    if interrupted:
        click.echo("interrupted: stopped every run; the table holds the finished ones; rerun the same command "
                   "to resume", err=True)
        raise SystemExit(130)
    if failures:
        lines = "\n".join(f"  {s.name} (exit {rc}): see {s.log}" for s, rc in failures)
        click.echo(f"disgu compare: {len(failures)} of {len(todo)} runs failed; the table holds the rest; rerun "
                   f"the same command to retry them:\n{lines}", err=True)
        raise SystemExit(1)


def _run(todo: list, jobs: int) -> tuple[list[tuple], bool]:
    """Run the missing runs with a progress bar: ((spec, exit status) of each failure, whether stopped).

    Ctrl-C and SIGTERM (a scheduler's stop) both stop every child, which checkpoints and exits.
    """
    import signal
    import threading

    from tqdm import tqdm

    from disgu.compare.runner import run_all

    failures: list[tuple] = []
    if not todo:
        return failures, False
    click.echo(f"running {len(todo)} runs, {jobs} at a time; logs in <method>/s<seed>.log")
    bar = tqdm(total=len(todo), unit="run", dynamic_ncols=True)

    def done(o) -> None:
        if o.skipped:
            bar.write(f"skipped {o.spec.name}: finished meanwhile by another process")
        elif o.returncode == 0:
            bar.write(f"finished {o.spec.name} in {o.seconds:.0f} s")
        else:
            failures.append((o.spec, o.returncode))
            bar.write(f"FAILED {o.spec.name} (exit {o.returncode}); log: {o.spec.log}")
        bar.update(1)

    def on_term(signum, frame) -> None:
        raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, on_term) if main else None
    try:
        run_all(todo, jobs, done)
    except KeyboardInterrupt:
        return failures, True
    finally:
        bar.close()
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    return failures, False


def _write_config(root: Path, dataset: str, data_path: str | None, methods: list[str], seeds: int, preset: str,
                  jobs: int, overrides: list[str], specs: list) -> None:
    """compare.json (the resolved comparison, every command) and run_info.json (versions, machine, time)."""
    from disgu.atomic import write_json
    from disgu.compare.plan import spec_summary
    from disgu.runinfo import write_run_info

    config = {"dataset": dataset, "data_path": data_path, "methods": methods, "seeds": seeds, "preset": preset,
              "jobs": jobs, "overrides": overrides, "runs": [spec_summary(s) for s in specs]}
    write_json(root / "compare.json", config)
    write_run_info(root, {k: v for k, v in config.items() if k != "runs"}, None)


def _write_tables(root: Path, dataset: str, specs: list) -> None:
    from disgu.compare.factors import factor_view, write_factors
    from disgu.compare.table import build_table, write_tables

    table = build_table(dataset, specs)
    if not table["rows"]:
        click.echo("no finished run yet: no table written", err=True)
        return
    for w in table["warnings"]:
        click.echo(f"warning: {w}", err=True)
    from disgu.report import write_report

    paths = write_tables(root, table) + write_factors(root, factor_view(specs)) + [write_report(root)]
    click.echo("wrote " + ", ".join(str(p) for p in paths))
