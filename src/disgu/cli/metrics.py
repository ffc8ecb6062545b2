"""`disgu metrics`: disentanglement scores of saved codes, and mean +- std tables over seeds."""

from __future__ import annotations

from pathlib import Path

import click

from disgu.cli.options import output_callback, seed_option
from disgu.errors import UserError


def _load_array(path: str, option: str):
    """The array of --codes / --factors, its declared size checked against the file before anything is read."""
    import numpy as np

    from disgu.arrays import load_array

    return np.asarray(load_array(path, option, npz_key=option.lstrip("-")))


@click.group(invoke_without_command=True)
@click.option("--codes", type=click.Path(dir_okay=False), help="Codes (N, d) as .npy (or .npz).")
@click.option("--factors", type=click.Path(dir_okay=False), help="Factors (N, F) as .npy (or .npz), one row per code.")
@click.option("--metrics", "metric_names", default="headline", show_default=True,
              help="Comma-separated: mig, dci, factor_vae, beta_vae, sap, modularity; or 'headline', 'all'.")
@seed_option(help="Each metric gets RandomState(seed).")
@click.option("--dci-estimator", type=click.Choice(["exact", "sklearn", "hist"]), default="exact", show_default=True,
              help="exact: disentanglement_lib's GradientBoostingClassifier model, fitted by disgu (seconds); "
                   "sklearn: the same model fitted by sklearn (minutes, for checking); "
                   "hist: histogram boosting, up to ~0.05 off, not for reported numbers.")
@click.option("--n-jobs", type=click.IntRange(min=1), default=None,
              help="Threads for DCI/SAP, one factor or dim each (default: 1).")
@click.option("--split", type=click.Choice(["protocol", "disjoint"]), default="protocol", show_default=True,
              help="protocol: DCI/SAP/modularity draw train and test points from the same rows, as "
                   "disentanglement_lib does (with few rows they overlap and test scores read high: a warning "
                   "says so); disjoint: train and test from disjoint rows.")
@click.option("--training-seed", type=int, default=None,
              help="Seed of the model these codes came from, stored in the JSON; 'aggregate' warns on repeats.")
@click.option("--dataset", "dataset_label", default=None, help="Label stored in the JSON, used by 'aggregate'.")
@click.option("--method", "method_label", default=None, help="Label stored in the JSON, used by 'aggregate'.")
@click.option("--out", type=click.Path(dir_okay=False), callback=output_callback(),
              help="Result JSON to write (required, like --codes and --factors, unless a subcommand is given).")
@click.pass_context
def metrics(ctx, codes, factors, metric_names, seed, dci_estimator, n_jobs, split, training_seed, dataset_label,
            method_label, out) -> None:
    """Score codes against ground-truth factors as disentanglement_lib does.

    FactorVAE and beta-VAE need FACTORS to be a full factorial grid (any row order); MIG, DCI,
    SAP and modularity accept any labelled samples. Subcommand 'aggregate' builds tables.
    """
    if ctx.invoked_subcommand is not None:
        return
    missing = [name for name, value in (("--codes", codes), ("--factors", factors), ("--out", out)) if not value]
    if missing:
        raise UserError(f"disgu metrics needs {', '.join(missing)} (or a subcommand: aggregate)")
    from disgu.atomic import write_json
    from disgu.metrics import evaluate
    from disgu.runinfo import run_info

    z = _load_array(codes, "--codes")
    y = _load_array(factors, "--factors")
    result = evaluate(z, y, metrics=metric_names, seed=seed, dci_estimator=dci_estimator, n_jobs=n_jobs,
                      progress=lambda name: click.echo(f"computing {name} ...", err=True), split=split)
    for warning in result.get("warnings", []):
        click.echo(f"disgu: warning: {warning}", err=True)
    labels = {k: v for k, v in (("dataset", dataset_label), ("method", method_label),
                                ("training_seed", training_seed)) if v is not None}
    config = {"codes": codes, "factors": factors, "metrics": result["metrics"], "seed": seed,
              "dci_estimator": dci_estimator, "n_jobs": n_jobs, "split": split, **labels}
    result = {**labels, **result, "run": run_info(config, seed)}
    write_json(out, result)
    from disgu.metrics.evaluate import HEADLINE_KEYS

    shown = [f"{k}={result[k]:.4f}" for k in HEADLINE_KEYS if k in result]
    click.echo(" ".join(shown) + f"  -> {out}")


@metrics.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", "outs", multiple=True, type=click.Path(dir_okay=False), callback=output_callback(),
              help="Table file(s); the format follows the suffix: .md, .csv or .json. Repeatable.")
@click.option("--dataset", default=None, help="Dataset label for files that carry none.")
@click.option("--method", default=None, help="Method label for files that carry none.")
@click.option("--digits", type=click.IntRange(min=0), default=2, show_default=True,
              help="Decimals in the Markdown table.")
def aggregate(files, outs, dataset, method, digits) -> None:
    """Mean +- std over runs (seeds) of metrics JSON FILES, in the paper's Table 1 layout."""
    from disgu.atomic import atomic_path
    from disgu.metrics.aggregate import aggregate as build_rows
    from disgu.metrics.aggregate import format_csv, format_json, format_markdown, load_results, repeated_seeds

    results = load_results(files, dataset=dataset, method=method)
    for warning in repeated_seeds(results):
        click.echo(f"disgu: warning: {warning}", err=True)
    rows = build_rows(results)
    writers = {".md": lambda: format_markdown(rows, digits=digits), ".csv": lambda: format_csv(rows),
               ".json": lambda: format_json(rows)}
    for out in outs:
        suffix = Path(out).suffix.lower()
        if suffix not in writers:
            raise UserError(f"--out {out}: the suffix must be .md, .csv or .json")
        with atomic_path(out) as tmp:
            tmp.write_text(writers[suffix]())
    click.echo(format_markdown(rows, digits=digits), nl=False)
