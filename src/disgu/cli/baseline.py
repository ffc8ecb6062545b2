"""`disgu baseline`: the same-budget yardsticks for Dis-GU (beta-VAE, FactorVAE, DIP-VAE-I/II), the untrained-encoder
floor, the direction baselines in the frozen Glow (GS, CF, DS, ICA, LD) read out by a regression encoder, DisCo
(Dis-GU's contrastive stage from a fresh navigator, no discovery stage) and the training-free Glow-ICA codes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from disgu.cli.options import POSITIVE, lock_out, output_callback, seed_option, set_option, threads_option
from disgu.evaluation.config import EvalConfig
from disgu.models.vae import DIP_DEFAULTS
from disgu.presets import PRESET_NAMES, VAE_BUDGETS


def _common_options(f):
    """Dataset, output, seed and device options shared by every baseline command."""
    f = click.option("--metric-samples", type=click.IntRange(min=20), default=None, hidden=True,
                     help="Quick check: this many points where disentanglement_lib uses 10,000.")(f)
    f = click.option("--dci-estimator", type=click.Choice(["exact", "sklearn", "hist"]), default="exact",
                     show_default=True,
                     help="DCI's gradient-boosting estimator, as in `disgu metrics`.")(f)
    f = threads_option(f)
    f = set_option("--set beta=4 --set evaluation.mig_train=2000 (BaselineConfig fields; evaluation.* the "
                   "metric settings)")(f)
    f = click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")(f)
    f = seed_option(help="Seed of the weights and of the training draws (metrics always use seed 0).")(f)
    f = click.option("--out", type=click.Path(file_okay=False), required=True, callback=output_callback(folder=True),
                     help="Output folder: checkpoints, logs, metrics.json.")(f)
    f = click.option("--resolution", type=click.IntRange(min=8), default=None,
                     help="Resize images to this power of two (default: the dataset's size).")(f)
    f = click.option("--data-path", type=click.Path(), default=None, help="The official file or folder of DATASET.")(f)
    return click.option("--dataset", required=True, help="Dataset name, .npz/.h5 file or image folder.")(f)


def _preset_option(f):
    """--preset for the commands that do not run a `disgu run` preset themselves (the VAEs, the untrained floor)."""
    return click.option("--preset", type=click.Choice(PRESET_NAMES), default=None,
                        help="Size the run as `disgu compare` does under this `disgu run` preset: its resolution, "
                             "its metric sample sizes and, unless --steps or --minutes is given, Dis-GU's training "
                             f"time (cpu: {VAE_BUDGETS['cpu']['minutes']:g} min; paper: disentanglement_lib's "
                             "300,000 steps). Explicit options win.")(f)


def _preset_resolution(opts: dict) -> int | None:
    """--resolution, else the preset's, else None (the dataset's own size)."""
    if opts["resolution"] is not None or opts.get("preset") is None:
        return opts["resolution"]
    from disgu.pipeline.config import make_config

    return make_config(opts["preset"]).resolution


def _train_options(f):
    f = _preset_option(f)
    f = click.option("--no-eval", is_flag=True, help="Train only; do not compute metrics.json.")(f)
    f = click.option("--checkpoint-every", type=click.IntRange(min=1), default=1000, show_default=True)(f)
    f = click.option("--batch-size", type=click.IntRange(min=2), default=64, show_default=True)(f)
    f = click.option("--lr", type=POSITIVE, default=1e-4, show_default=True,
                     help="Adam learning rate.")(f)
    f = click.option("--latent-dim", type=click.IntRange(min=2), default=10, show_default=True)(f)
    f = click.option("--minutes", type=POSITIVE, default=None,
                     help="Training wall-time budget (minutes, summed over resumes).")(f)
    f = click.option("--steps", type=click.IntRange(min=1), default=None,
                     help="Training steps (default 300,000 unless --minutes is given).")(f)
    return f


@click.group(help="Baselines for Dis-GU: beta-VAE / FactorVAE / DIP-VAE-I / DIP-VAE-II trained at a given budget, the "
                   "untrained floor, directions in the frozen Glow (gs, cf, ds, ica, ld) with a regression encoder, "
                   "DisCo (disco: the contrastive stage from a fresh navigator) and glow-ica (the Glow's independent "
                   "components read off each image, no encoder).")
def baseline() -> None:
    pass


@baseline.command("beta-vae")
@_common_options
@_train_options
@click.option("--beta", type=click.FloatRange(min=0), default=5.0, show_default=True, help="Weight of the KL term.")
def beta_vae_command(**opts) -> None:
    """Train a beta-VAE (disentanglement_lib's conv encoder/decoder, Bernoulli decoder), then evaluate it.

    Rerunning the same command resumes from the last checkpoint in --out.
    """
    _train_and_evaluate("beta-vae", opts)


@baseline.command("factor-vae")
@_common_options
@_train_options
@click.option("--gamma", type=click.FloatRange(min=0), default=9.0, show_default=True,
              help="Weight of the total-correlation term.")
def factor_vae_command(**opts) -> None:
    """Train a FactorVAE (6 x 1000 discriminator), then evaluate it. Rerunning resumes."""
    _train_and_evaluate("factor-vae", opts)


def _dip_vae_command(kind: str):
    """`disgu baseline dip-vae-KIND`: the same options as beta-vae, with the DIP weights instead of --beta."""
    od, d = DIP_DEFAULTS[kind]
    what = "Cov[mu] over the batch" if kind == "i" else "E[Sigma] + Cov[mu]"

    @_common_options
    @_train_options
    @click.option("--lambda-od", type=click.FloatRange(min=0), default=od, show_default=True,
                  help="Weight of the squared off-diagonal covariance entries.")
    @click.option("--lambda-d", type=click.FloatRange(min=0), default=d, show_default=True,
                  help="Weight of the squared distance of the covariance's diagonal to 1.")
    def command(**opts) -> None:
        _train_and_evaluate(f"dip-vae-{kind}", opts)

    command.__doc__ = (f"Train a DIP-VAE-{kind.upper()} (the beta-VAE's networks; loss recon + KL + the DIP "
                       f"regulariser on {what}), then evaluate it. Rerunning resumes.")
    return baseline.command(f"dip-vae-{kind}")(command)


for _kind in ("i", "ii"):
    _dip_vae_command(_kind)


@baseline.command("untrained")
@_common_options
@_preset_option
@click.option("--encoder", "arch", type=click.Choice(["auto", "contrastive", "beta-vae"]), default="auto",
              show_default=True,
              help="Architecture: Dis-GU's contrastive encoder (auto) or the beta-VAE encoder.")
@click.option("--dim", type=click.IntRange(min=2), default=None,
              help="Code size (default 64 for the contrastive encoder, 10 for the beta-VAE one).")
def untrained_command(**opts) -> None:
    """The floor: metrics of a randomly initialised encoder that never saw a training step."""
    from disgu.stages.vae.trainer import BaselineConfig, open_dataset
    from disgu.distributed import resolve_device
    from disgu.evaluation import representation_function
    from disgu.runinfo import write_run_info

    cfg = BaselineConfig(model="untrained", dataset=opts["dataset"], data_path=opts["data_path"],
                         resolution=_preset_resolution(opts), seed=opts["seed"], device=opts["device"],
                         threads=opts["threads"])
    _apply_set(cfg, opts)
    lock_out(opts["out"])
    device = resolve_device(cfg.device)
    ds = open_dataset(cfg)
    resolution, _, channels = ds.image_shape
    arch, dim, encode = _untrained_encoder(opts["arch"], opts["dim"], resolution, channels, cfg.seed, device)
    out = Path(opts["out"])
    out.mkdir(parents=True, exist_ok=True)
    keep = ("dataset", "data_path", "resolution", "seed", "device", "threads")
    write_run_info(out, {"model": "untrained", "encoder": arch, "dim": dim,
                         **{k: v for k, v in cfg.to_dict().items() if k in keep}}, cfg.seed)
    click.echo(f"untrained {arch} encoder ({dim} dims) on {ds.name} {resolution}x{resolution}: evaluating")
    result = _evaluate(out, ds, representation_function(encode, device), _eval_config(opts), cfg.seed,
                       {"model": "untrained", "encoder": arch, "dim": dim, "training_steps": 0,
                        "preset": opts["preset"]})
    _report(out, result)


_DIRECTION_HELP = {
    "gs": "GS: principal axes of the training images' latents (GANSpace, with the Glow's exact encoder).",
    "cf": "CF: closed-form factorisation, eigenvectors of A^T A for the first mixing map of the Glow's reverse pass.",
    "ds": "DS: leading eigenvectors of the decoder's mean J^T J over prior samples (Jacobian-vector products).",
    "ica": "ICA: independent components of the training images' latents.",
    "ld": "LD: the discovery stage's directions alone (or a finished run's, --set directions.navigator=PATH).",
}


def _run_preset_options(no_eval_help: str, preset_help: str):
    """The options of the baselines that run under a `disgu run` preset (the direction methods, DisCo)."""
    def wrap(f):
        f = _common_options(f)
        f = click.option("--preset", type=click.Choice(["demo", "cpu", "paper", "tiny"]), default="cpu",
                         show_default=True, help=preset_help)(f)
        f = click.option("--no-eval", is_flag=True, help=no_eval_help)(f)
        return click.option("--no-progress", is_flag=True, help="No progress bars.")(f)
    return wrap


def _direction_command(method: str):
    @_run_preset_options("Train only; do not compute metrics.json.",
                         "The `disgu run` preset whose Glow, sample counts, encoder steps and metric sizes are used.")
    def command(**opts) -> None:
        _run_direction_baseline(method, opts)

    command.__doc__ = (f"{_DIRECTION_HELP[method]}\n\nThen an encoder trained on Glow samples to predict their "
                       f"coordinates along the directions, and its metrics. Rerunning skips the finished parts.")
    return baseline.command(method)(command)


def _configure(cfg, opts: dict) -> None:
    """--dci-estimator, --metric-samples and --set on the config of a baseline run under a preset."""
    from disgu.overrides import apply_overrides

    cfg.evaluation.dci_estimator = opts["dci_estimator"]
    if opts.get("metric_samples"):
        cfg.evaluation = cfg.evaluation.reduced(opts["metric_samples"])
    apply_overrides(cfg, list(opts.get("overrides", ())))


def _run_direction_baseline(method: str, opts: dict) -> None:
    from disgu.directions.config import make_direction_config
    from disgu.directions.runner import run_direction_baseline
    from disgu.evaluation import representation_function

    cfg = make_direction_config(method, opts["preset"], dataset=opts["dataset"], data_path=opts["data_path"],
                                resolution=opts["resolution"], seed=opts["seed"], device=opts["device"],
                                threads=opts["threads"])
    _configure(cfg, opts)
    lock_out(opts["out"])
    out = Path(opts["out"])
    run = run_direction_baseline(cfg, out, progress=not opts["no_progress"], log=click.echo)
    if opts["no_eval"]:
        return
    e = cfg.evaluation
    if _already_evaluated(out, run.steps, e):
        from disgu.report import write_report

        click.echo(f"{method}: {out / 'metrics.json'} already holds the scores of this encoder\n"
                   f"report: {write_report(out)}")
        return
    click.echo(f"{method}: evaluating the regression encoder ({run.steps} steps)")
    about = {"model": method, "training_steps": run.steps, "training_seconds": run.training_seconds,
             "glow_seconds": run.glow_seconds, "preset": cfg.preset}
    result = _evaluate(out, run.dataset, representation_function(run.encoder, run.encoder.target_mean.device), e,
                       cfg.seed, about)
    _report(out, result)


for _method in ("gs", "cf", "ds", "ica", "ld"):
    _direction_command(_method)


@baseline.command("glow-ica")
@_run_preset_options("Fit only; do not compute metrics.json.",
                     "The `disgu run` preset whose Glow, `ica` section and metric sizes are used.")
def glow_ica_command(**opts) -> None:
    """Glow-ICA codes with no encoder: FastICA unmixing of each real image's exact Glow latent.

    The preset's `ica` stage (the independent components of the navigated latents of training images,
    grouped into one code per factor) runs in DIR/fit; the metrics then read every image's codes through
    the Glow's exact inverse, which costs a Glow pass per image (the `cpu` preset's Dis-GU distils these
    codes into a fast encoder instead). Rerunning skips the finished parts.
    """
    from disgu.baselines.glow_ica_codes import run_glow_ica_codes
    from disgu.pipeline.config import make_config
    from disgu.runinfo import write_run_info

    cfg = make_config(opts["preset"], dataset=opts["dataset"], data_path=opts["data_path"],
                      resolution=opts["resolution"], seed=opts["seed"], device=opts["device"])
    cfg.representation = "glow-ica"
    _configure(cfg, opts)
    lock_out(opts["out"])
    out = Path(opts["out"])
    run = run_glow_ica_codes(cfg, out, progress=not opts["no_progress"], log=click.echo)
    if not (out / "run_info.json").is_file():
        write_run_info(out, {"model": "glow-ica", **cfg.to_dict()}, cfg.seed)
    if opts["no_eval"]:
        return
    e = cfg.evaluation
    if _already_evaluated(out, 0, e):
        from disgu.report import write_report

        click.echo(f"glow-ica: {out / 'metrics.json'} already holds the scores of this fit\n"
                   f"report: {write_report(out)}")
        return
    click.echo(f"glow-ica: evaluating the {run.n_codes} codes read through the Glow")
    about = {"model": "glow-ica", "training_steps": 0, "training_seconds": run.training_seconds,
             "glow_seconds": run.glow_seconds, "preset": cfg.preset}
    _report(out, _evaluate(out, run.dataset, run.represent, e, cfg.seed, about))


@baseline.command("disco")
@_run_preset_options("Train only; no metrics.json, no traversals.",
                     "The `disgu run` preset whose Glow, contrastive stage and metric sizes are used.")
def disco_command(**opts) -> None:
    """DisCo: Dis-GU's contrastive stage from a fresh navigator, with no discovery stage (Ren et al., 2022).

    The navigator starts as a seeded random orthonormal frame and is trained jointly with the encoder
    (--set discovery.navigator_base=identity|pca|ica picks another start); everything else is the preset's
    Dis-GU run, written in the same run-dir layout. Rerunning skips the finished stages.
    """
    import json

    from disgu.pipeline.config import disco_config
    from disgu.pipeline.result_table import result_table
    from disgu.pipeline.run import run_pipeline
    from disgu.pipeline.stages import STAGES

    cfg = disco_config(opts["preset"], dataset=opts["dataset"], data_path=opts["data_path"],
                       resolution=opts["resolution"], seed=opts["seed"], device=opts["device"])
    _configure(cfg, opts)
    lock_out(opts["out"])
    out = Path(opts["out"])
    stages = ("glow", "discovery", "contrastive") if opts["no_eval"] else STAGES
    try:
        run_pipeline(cfg, out, progress=not opts["no_progress"], stages=stages, log=click.echo)
    except KeyboardInterrupt:
        click.echo(f"\ndisco: stopped; rerun the same command to resume from the last checkpoint in {out}", err=True)
        raise click.exceptions.Exit(130) from None
    if opts["no_eval"] or not (out / "metrics.json").is_file():
        return
    from disgu.report import write_report

    click.echo(f"{result_table(json.loads((out / 'metrics.json').read_text()), out)}\nreport: {write_report(out)}")


def _untrained_encoder(arch: str, dim: int | None, resolution: int, channels: int, seed: int, device):
    """(architecture name, code size, images -> codes) of a freshly initialised encoder."""
    import torch

    torch.manual_seed(seed)
    if arch in ("auto", "contrastive"):
        from disgu.models.encoder import ContrastiveEncoder

        dim = dim or 64
        net = ContrastiveEncoder(in_channels=channels, resolution=resolution, out_dim=dim).to(device).eval()
        return "contrastive", dim, net
    from disgu.models.vae import ConvEncoder

    dim = dim or 10
    net = ConvEncoder(resolution, channels, dim).to(device).eval()
    return arch, dim, lambda x: net(x)[0]  # the mean head, as for a trained VAE


@dataclass
class _EvalSection:
    """The `evaluation` section of a baseline's `--set` (the rest sets BaselineConfig fields)."""

    evaluation: EvalConfig


def _eval_config(opts: dict) -> EvalConfig:
    """The evaluation settings of a baseline: disentanglement_lib's sizes (or --preset's), or the quick
    --metric-samples ones."""
    from dataclasses import replace

    from disgu.evaluation import EvalConfig
    from disgu.overrides import apply_overrides

    if opts.get("preset") is not None:
        from disgu.pipeline.config import make_config

        e = replace(make_config(opts["preset"]).evaluation, dci_estimator=opts["dci_estimator"])
    else:
        e = EvalConfig(dci_estimator=opts["dci_estimator"])
    e = e.reduced(opts["metric_samples"]) if opts.get("metric_samples") else e
    holder = _EvalSection(e)
    apply_overrides(holder, [o for o in opts.get("overrides", ()) if o.startswith("evaluation.")])
    return holder.evaluation


def _apply_set(cfg, opts: dict):
    """`--set field=value` on the BaselineConfig (the evaluation.* ones go to `_eval_config`)."""
    from disgu.overrides import apply_overrides

    return apply_overrides(cfg, [o for o in opts.get("overrides", ()) if not o.startswith("evaluation.")])


def _evaluate(out: Path, ds, represent, e, seed: int, about: dict) -> dict:
    """metrics.json in the schema every method shares, and evaluation.json: what was scored and how long it took."""
    import time
    from dataclasses import asdict

    from disgu.atomic import write_json
    from disgu.evaluation import score_representation, write_metrics

    t0 = time.perf_counter()
    scores = score_representation(ds, represent, e, _say_metric)
    result = write_metrics(out, scores, {"dataset": ds.name, "seed": seed, "resolution": ds.image_shape[0],
                                         "representation": about["model"], **about})
    write_json(out / "evaluation.json", {**about, "metric_seed": e.seed, "metric_options": asdict(e),
                                         "eval_seconds": round(time.perf_counter() - t0, 2)})
    return result


def _train_and_evaluate(model: str, opts: dict) -> None:
    from disgu.stages.vae.trainer import BaselineConfig, load_model_from_run, open_dataset, train
    from disgu.distributed import resolve_device
    from disgu.evaluation import representation_function

    budget = {"steps": opts["steps"], "minutes": opts["minutes"]}
    if opts["preset"] is not None and opts["steps"] is None and opts["minutes"] is None:
        budget.update(VAE_BUDGETS[opts["preset"]])
    cfg = BaselineConfig(
        model=model, dataset=opts["dataset"], data_path=opts["data_path"], resolution=_preset_resolution(opts),
        latent_dim=opts["latent_dim"], beta=opts.get("beta", 5.0), gamma=opts.get("gamma", 9.0),
        lambda_od=opts.get("lambda_od"), lambda_d=opts.get("lambda_d"), lr=opts["lr"],
        batch_size=opts["batch_size"], **budget, seed=opts["seed"],
        checkpoint_every=opts["checkpoint_every"], device=opts["device"], threads=opts["threads"],
    )
    _apply_set(cfg, opts)
    e = _eval_config(opts)  # a bad --set evaluation.* fails here, before any training
    cfg.validate()
    device = resolve_device(cfg.device)
    ds = open_dataset(cfg)
    lock_out(opts["out"])
    out = Path(opts["out"])
    res = train(cfg, out, dataset=ds, device=device)
    click.echo(f"{model}: {res.step} steps in {res.elapsed_s / 60:.1f} min; checkpoint {res.checkpoint}")
    if opts["no_eval"]:
        return
    vae, _, step = load_model_from_run(out, device)
    if _already_evaluated(out, step, e):
        from disgu.report import write_report

        click.echo(f"{model}: {out / 'metrics.json'} already holds the scores of step {step}\n"
                   f"report: {write_report(out)}")
        return
    click.echo(f"{model}: evaluating the encoder mean at step {step}")
    result = _evaluate(out, ds, representation_function(vae.represent, device), e, cfg.seed,
                       {"model": model, "training_steps": step, "training_seconds": round(res.elapsed_s, 1),
                        "preset": opts["preset"]})
    _report(out, result)


def _say_metric(name: str | None) -> None:
    if name is not None:
        click.echo(f"  computing {name} ...", err=True)


def _already_evaluated(out: Path, step: int, e) -> bool:
    """True when metrics.json exists for this very checkpoint and metric settings (a rerun after completion)."""
    import json
    from dataclasses import asdict

    try:
        about = json.loads((out / "evaluation.json").read_text())
        json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return about.get("training_steps") == step and about.get("metric_options") == asdict(e)


def _report(out: Path, result: dict) -> None:
    from disgu.evaluation import HEADLINE_KEYS
    from disgu.report import write_report

    scores = ", ".join(f"{k} {result[k]:.3f}" for k in HEADLINE_KEYS if k in result)
    click.echo(f"{scores}\nwrote {out / 'metrics.json'}\nreport: {write_report(out)}")
