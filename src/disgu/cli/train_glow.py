"""`disgu train-glow`, `disgu sample` and `disgu export-glow`: train, look at and ship a Glow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from disgu.cli.options import COUNT, POSITIVE, lock_out, output_callback, seed_option, set_option, threads_option
from disgu.errors import UserError

# CLI option -> (section, field): "train" fields of GlowTrainConfig, "model" fields of GlowConfig.
_OVERRIDES = {
    "steps": ("train", "steps"), "batch_size": ("train", "batch_size"), "lr": ("train", "lr"),
    "optimizer": ("train", "optimizer"), "warmup_steps": ("train", "warmup_steps"),
    "grad_clip": ("train", "grad_clip"), "seed": ("train", "seed"), "device": ("train", "device"),
    "amp": ("train", "amp"), "deterministic": ("train", "deterministic"),
    "checkpoint_every": ("train", "checkpoint_every"),
    "eval_every": ("train", "eval_every"), "sample_every": ("train", "sample_every"),
    "heldout_size": ("train", "heldout_size"), "progress": ("train", "progress"),
    "threads": ("train", "threads"),
    "resolution": ("model", "resolution"), "levels": ("model", "n_levels"),
    "flow_steps": ("model", "n_steps"), "hidden": ("model", "hidden"), "n_bits": ("model", "n_bits"),
    "additive": ("model", "affine"),
}


def build_train_config(options: dict[str, Any], resume_path: Path | None):
    """Preset (or the resumed checkpoint's config), then every option given on the command line."""
    from disgu.models import GlowConfig
    from disgu.presets import glow_preset as preset
    from disgu.stages.glow import GlowTrainConfig, config_from_checkpoint

    if resume_path is not None:
        cfg = config_from_checkpoint(resume_path)
        train, model = cfg.to_dict(), cfg.model.to_dict()
        train.pop("model")
    else:
        p = preset(options["preset"])
        model = {**GlowConfig().to_dict(), **p.pop("model")}
        train = {**GlowTrainConfig().to_dict(), **p, "preset": options["preset"]}
        train.pop("model")
    for opt, (section, name) in _OVERRIDES.items():
        value = options.get(opt)
        if value is None:
            continue
        if opt == "additive":
            value = not value
        if section == "model":
            if resume_path is not None and model[name] != value:
                raise UserError(f"--{opt.replace('_', '-')}: cannot change the Glow architecture when resuming "
                                f"(checkpoint has {name}={model[name]!r})")
            model[name] = value
        else:
            train[name] = value
    for name in ("dataset", "data_path"):
        if options.get(name) is not None:
            train[name] = options[name]
    train["out"] = options["out"]
    if options.get("overrides"):
        train, model = _apply_set(train, model, list(options["overrides"]), resume_path)
    if train.get("dataset") is None:
        raise UserError("--dataset: required (a built-in name, an .npz/.h5 file or an image folder)")
    try:
        model_cfg = GlowConfig.from_dict(model)
    except ValueError as err:
        raise UserError(str(err)) from None
    return GlowTrainConfig.from_dict({**train, "model": model_cfg})


def _apply_set(train: dict, model: dict, overrides: list[str], resume_path: Path | None) -> tuple[dict, dict]:
    """`--set field=value` on the training config, `--set model.field=value` on the architecture."""
    from disgu.models import GlowConfig
    from disgu.overrides import apply_overrides
    from disgu.stages.glow import GlowTrainConfig

    try:
        cfg = GlowTrainConfig.from_dict({**train, "model": GlowConfig.from_dict(model)})
    except ValueError as err:
        raise UserError(str(err)) from None
    apply_overrides(cfg, overrides)
    new_model = cfg.model.to_dict()
    changed = [k for k in new_model if new_model[k] != model.get(k)]
    if resume_path is not None and changed:
        raise UserError(f"--set model.{changed[0]}: cannot change the Glow architecture when resuming "
                        f"(checkpoint has {changed[0]}={model[changed[0]]!r})")
    new_train = cfg.to_dict()
    new_train.pop("model")
    return new_train, new_model


@click.command("train-glow")
@click.option("--dataset", default=None, help="Built-in dataset name, an .npz/.h5 file or an image folder.")
@click.option("--data-path", type=click.Path(), default=None, help="The official file or folder of the dataset.")
@click.option("--out", type=click.Path(file_okay=False), required=True, callback=output_callback(folder=True),
              help="Run folder: checkpoints, samples, logs.")
@click.option("--preset", type=click.Choice(["demo", "cpu", "paper"]), default="demo", show_default=True,
              help="Architecture and schedule sized for the machine (see docs/glow.md).")
@click.option("--steps", type=COUNT, default=None, help="Total optimizer steps (a resumed run continues to this).")
@click.option("--batch-size", type=COUNT, default=None, help="Images per step per process.")
@click.option("--lr", type=POSITIVE, default=None, help="Peak learning rate after warm-up.")
@click.option("--optimizer", type=click.Choice(["adam", "adamax"]), default=None)
@click.option("--warmup-steps", type=click.IntRange(min=0), default=None)
@click.option("--grad-clip", type=POSITIVE, default=None, help="Max global gradient norm.")
@click.option("--resolution", type=COUNT, default=None, help="Image size (must be divisible by 2**levels).")
@click.option("--levels", type=COUNT, default=None, help="L, number of levels.")
@click.option("--flow-steps", type=COUNT, default=None, help="K, flow steps per level.")
@click.option("--hidden", type=COUNT, default=None, help="Width of the coupling networks.")
@click.option("--n-bits", type=click.IntRange(1, 8), default=None, help="Bits per colour channel the model sees (1-8).")
@click.option("--additive/--affine", "additive", default=None, help="Coupling type (default affine).")
@click.option("--heldout-size", type=COUNT, default=None, help="Images held out for bits/dim (<= 10%).")
@click.option("--checkpoint-every", type=COUNT, default=None)
@click.option("--eval-every", type=COUNT, default=None)
@click.option("--sample-every", type=COUNT, default=None)
@seed_option(default=None, help="Seed of the weights and batches (default: the preset's, 0; or the checkpoint's).")
@click.option("--resume", default=None, is_flag=False, flag_value="auto", metavar="[CKPT]",
              help="Continue from CKPT, or from the newest checkpoint in --out when no path is given.")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (default auto).")
@click.option("--amp/--no-amp", default=None, help="bf16 autocast for the coupling networks.")
@click.option("--deterministic/--no-deterministic", default=None,
              help="Deterministic GPU kernels and no TF32: the same seed, the same numbers on a GPU (slower).")
@click.option("--progress/--no-progress", default=None, help="Show the progress bar.")
@set_option("--set lr=5e-4 --set model.hidden=64 (fields of GlowTrainConfig and its model)")
@threads_option
def train_glow_command(**options: Any) -> None:
    """Train a Glow on a dataset; resumable, DDP-ready (run under torchrun for several processes)."""
    from disgu.stages.glow import train_glow
    from disgu.stages.glow.trainer import _resolve_resume

    lock_out(options["out"])
    resume = options.pop("resume")
    resume_path = _resolve_resume(resume, Path(options["out"]))
    cfg = build_train_config(options, resume_path)
    result = train_glow(cfg, resume=str(resume_path) if resume_path else None)
    if result.summary.get("checkpoint"):  # the main process reports
        click.echo(json.dumps(result.summary, indent=2))


@click.command("sample")
@click.option("--glow", "glow_path", type=click.Path(), required=True, help="Checkpoint (.pt) or export (.safetensors).")
@click.option("--out", type=click.Path(dir_okay=False), required=True, callback=output_callback(),
              help="PNG grid to write.")
@click.option("-n", "--num", type=COUNT, default=36, show_default=True)
@click.option("--temperature", type=POSITIVE, default=0.7, show_default=True)
@seed_option(help="Seed of the sampled latents.")
@click.option("--device", default="cpu", show_default=True,
              help="Where to decode: cpu, cuda, cuda:N or auto (a paper-size Glow decodes slowly on a CPU). The "
                   "latents are drawn on the CPU, so a seed gives the same grid on every device, up to rounding.")
@threads_option
def sample_command(glow_path: str, out: str, num: int, temperature: float, seed: int, device: str,
                   threads: int) -> None:
    """Write a grid of Glow samples at a temperature."""
    import torch

    from disgu.distributed import resolve_device
    from disgu.models import input_to_images, load_glow
    from disgu.stages.glow.trainer import save_grid

    dev = resolve_device(device)
    model, config = load_glow(glow_path)
    z = model.sample_latents(num, temperature, generator=torch.Generator().manual_seed(seed))
    model.to(dev)
    with torch.no_grad():
        x = model.decode([t.to(dev) for t in z]).cpu()
    save_grid(input_to_images(x, config.n_bits), Path(out))
    click.echo(f"wrote {out}")


@click.command("export-glow")
@click.argument("checkpoint", type=click.Path())
@click.option("--name", required=True, help="File stem, e.g. glow-shapes3d-32 (what load_pretrained_glow looks for).")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None, callback=output_callback(folder=True),
              help="Default: the package's weights folder.")
def export_glow_command(checkpoint: str, name: str, out_dir: str | None) -> None:
    """Export a training checkpoint to <name>.safetensors plus a <name>.json manifest."""
    from disgu.models.pretrained import WEIGHTS_DIR, export_glow

    path = export_glow(checkpoint, name, out_dir or WEIGHTS_DIR)
    click.echo(f"wrote {path} and {path.with_suffix('.json')}")
