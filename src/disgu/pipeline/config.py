"""The resolved configuration of a `disgu run`: one dataclass per stage, presets, and key=value overrides.

Presets:
- `paper`: the paper's settings for a GPU: 64x64, 64 directions, K = 64, T = 0.95, eta = 0.25,
  Adam 1e-4, batch 32, 70,000 iterations with a checkpoint every 10,000, full metric sample sizes.
- `cpu`: the best 2 CPU cores can do in about 30 minutes past the Glow (32x32; shipped Glow).
  Deviations from the paper, each one a lever measured on CPU (BENCHMARKS.md): 32 directions,
  navigator lr 1e-3, shifts within +-3, tau 0.1, entropy on softmax(v / 0.1) (the paper's weight 1),
  contrastive lr 3e-4, 2,000 discovery and 500 contrastive steps; MIG and DCI at disentanglement_lib's sample sizes,
  FactorVAE and beta-VAE reduced.
- `demo`: finishes all stages in under 10 minutes on 2 CPU cores, a tiny Glow trained on the
  spot when no weights are shipped (32x32, few steps), few directions and steps, small metric
  samples. It shows the pipeline working, not the method's quality.
- `tiny`: seconds; for tests (16x16).
Every field can be overridden with `section.field=value` (see `apply_overrides`); `validate_config`
refuses values no stage can use before any stage starts.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from disgu.stages.contrastive.trainer import ContrastiveConfig
from disgu.stages.discovery.trainer import DiscoveryConfig
from disgu.errors import UserError
from disgu.evaluation.config import EvalConfig
from disgu.stages.glow_ica.distil import ICAConfig
from disgu.overrides import apply_overrides  # noqa: F401  (re-exported: `--set` of `disgu run`)
from disgu.presets import GLOW_PRESETS, PRESET_NAMES, RUN_PRESETS

T = TypeVar("T")


@dataclass
class GlowStageConfig:
    """Where the frozen Glow comes from, and how to train one when none is given or shipped."""

    source: str = "auto"  # 'auto': --glow, else shipped weights, else train; 'pretrained'; 'train'
    train_preset: str = "cpu"  # preset of the Glow trainer used when training
    steps: int | None = None  # None: the Glow preset's steps
    n_levels: int | None = None
    n_steps: int | None = None  # K, flow steps per level
    hidden: int | None = None
    batch_size: int | None = None
    eval_every: int | None = None
    checkpoint_every: int | None = None
    heldout_size: int | None = None


@dataclass
class TraverseConfig:
    n_latents: int = 5  # rows of each strip (different z)
    n_shifts: int = 9  # columns (eps values)
    shift_range: float = 3.0  # eps from -r to r
    scale: int = 4  # pixel upscaling in the PNG/GIF (32x32 images become 128x128)
    gif_ms: int = 120  # frame duration


@dataclass
class RunTarget:
    """What every run is about, whatever the method: the data, the preset, the seed and the device."""

    dataset: str = "shapes3d"
    data_path: str | None = None
    preset: str = "demo"  # the default of `disgu run`, `disgu config` and DisGU
    seed: int = 0
    resolution: int = 32
    device: str = "auto"
    deterministic: bool = False  # deterministic GPU kernels, no TF32 (disgu.determinism); the CPU is so already


@dataclass
class RunConfig(RunTarget):
    representation: str = "contrastive"  # 'contrastive' (the paper's Dis-GU), 'glow-ica' or 'disco' (docs/method.md)
    glow: GlowStageConfig = field(default_factory=GlowStageConfig)
    ica: ICAConfig = field(default_factory=ICAConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    contrastive: ContrastiveConfig = field(default_factory=ContrastiveConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    traversal: TraverseConfig = field(default_factory=TraverseConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        sections = {"glow": GlowStageConfig, "ica": ICAConfig, "discovery": DiscoveryConfig, "contrastive": ContrastiveConfig,
                    "evaluation": EvalConfig, "traversal": TraverseConfig}
        kw = {}
        for k, v in d.items():
            kw[k] = sections[k](**v) if k in sections else v
        return cls(**kw)




def _merge(obj, values: dict[str, Any]):
    for k, v in values.items():
        cur = getattr(obj, k)
        if dataclasses.is_dataclass(cur):
            _merge(cur, v)
        else:
            setattr(obj, k, v)


def make_config(preset: str, **top: Any) -> RunConfig:
    """The preset's RunConfig with top-level fields (dataset, data_path, seed, device, resolution) set."""
    if preset not in RUN_PRESETS:
        raise UserError(f"--preset: expected one of {', '.join(PRESET_NAMES)}, got {preset!r}")
    cfg = RunConfig(preset=preset)
    _merge(cfg, copy.deepcopy(RUN_PRESETS[preset]))
    return set_top_fields(cfg, top, "run")


# DisCo's fresh navigator: a seeded random orthonormal frame (docs/method.md, "DisCo"), trained with the encoder.
DISCO_NAVIGATOR_BASE = "random"


def disco_config(preset: str, **top: Any) -> RunConfig:
    """The DisCo baseline under a preset: Dis-GU's Glow, contrastive stage and evaluation, no discovery stage.

    Why a RunConfig: `disgu baseline disco` runs `run_pipeline` with representation=disco, so the encoder,
    loss, steps and metrics are the preset's Dis-GU ones by construction, not by a copy kept in step.
    """
    cfg = make_config(preset, **top)
    cfg.representation = "disco"
    cfg.discovery.navigator_base = DISCO_NAVIGATOR_BASE
    cfg.contrastive.finetune_navigator = True
    return cfg


def set_top_fields(cfg: T, top: dict[str, Any], what: str) -> T:
    """Set the top-level fields given (None means: keep the preset's); an unknown name is a UserError."""
    for k, v in top.items():
        if v is not None:
            if not hasattr(cfg, k):
                raise UserError(f"unknown {what} option {k!r}")
            setattr(cfg, k, v)
    return cfg


def read_run_config(run_dir: str | os.PathLike, option: str = "--run") -> RunConfig:
    """The RunConfig saved in RUN_DIR/config.json; a missing, non-JSON or hand-broken file is one line naming it."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UserError(f"{option} {run_dir}: no config.json (not a `disgu run` dir)")
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path}: not readable JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(saved, dict):
        raise UserError(f"{path}: expected a JSON object of settings, got a {type(saved).__name__}")
    _check_tree(RunConfig(), saved, path, "")
    cfg = RunConfig.from_dict(saved)
    try:
        validate_config(cfg)
    except UserError as err:  # its message speaks of --set, but the value came from the file
        raise UserError(f"{path}: {str(err).removeprefix('--set ')}") from None
    return cfg


def _check_tree(obj: Any, saved: dict[str, Any], path: Path, prefix: str) -> None:
    """Every key of `saved` is a field of `obj`, and every section of it a JSON object."""
    names = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    for key, value in saved.items():
        if key not in names:
            raise UserError(f"{path}: unknown setting {prefix}{key!r} (expected some of {', '.join(names)})")
        if dataclasses.is_dataclass(names[key]):
            if not isinstance(value, dict):
                raise UserError(f"{path}: section {prefix}{key!r} is a {type(value).__name__}, expected a JSON object")
            _check_tree(names[key], value, path, f"{prefix}{key}.")


def resolve_config(preset: str, overrides: typing.Sequence[str] = (), stages: typing.Sequence[str] | None = None,
                   **top: Any) -> RunConfig:
    """The configuration `disgu run` runs: the preset, the top-level options, every `--set`, then validated.

    `disgu config` prints the same object, so what it shows is what a run with those options would use.
    """
    cfg = make_config(preset, **top)
    apply_overrides(cfg, list(overrides))
    validate_config(cfg, stages)
    return cfg


def config_json(cfg: RunConfig) -> str:
    """The resolved tree as `disgu config` prints it: the dict a run records in config.json, keys sorted."""
    return json.dumps(cfg.to_dict(), indent=2, sort_keys=True)


# ----------------------------------------------------------------------------- validation

SEED_MAX = 2**32 - 1  # = disgu.cli.options.SEED_MAX: numpy's RandomState takes seeds in 0 .. 2**32 - 1

# section -> fields that must be integers >= 1 (None allowed where the field is optional)
_COUNTS: dict[str, tuple[str, ...]] = {
    "": ("resolution",),
    "glow": ("steps", "n_levels", "n_steps", "hidden", "batch_size", "eval_every", "checkpoint_every",
             "heldout_size"),
    "discovery": ("n_directions", "pca_images", "batch_size", "steps", "eval_every", "eval_batches",
                  "checkpoint_every", "log_every"),
    "contrastive": ("out_dim", "batch_size", "n_positives", "n_negatives", "prune_min_directions", "prune_samples",
                    "steps", "checkpoint_every", "log_every"),
    "evaluation": ("mig_train", "dci_train", "dci_test", "factor_vae_variance", "factor_vae_train",
                   "factor_vae_eval", "beta_vae_train", "beta_vae_eval", "metric_batch", "direction_samples"),
    "traversal": ("n_latents", "n_shifts", "scale", "gif_ms"),
    "ica": ("n_components", "fit_images", "images", "group_bins", "max_iter", "encode_chunk", "steps", "batch_size",
            "checkpoint_every", "log_every"),
}
# fields that must be > 0: learning rates, temperatures, shift ranges, limits
_POSITIVE: dict[str, tuple[str, ...]] = {
    "discovery": ("shift_range", "temperature", "lr", "nav_lr", "broken_limit"),
    "contrastive": ("tau", "entropy_temperature", "lr", "nav_lr", "shift_range", "temperature", "broken_limit"),
    "evaluation": ("direction_shift",),
    "traversal": ("shift_range",),
    "ica": ("lr", "temperature"),
}
# fields that must be >= 0: loss weights, minimum shifts, scales
_NON_NEGATIVE: dict[str, tuple[str, ...]] = {
    "discovery": ("init_scale", "eta", "min_shift"),
    "contrastive": ("entropy_weight", "scale_weight", "min_shift"),
    "ica": ("group_threshold", "circle_cv", "heldout"),
}
# fields that must lie in a closed interval
_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "": {"seed": (0, SEED_MAX)},
    "contrastive": {"hard_threshold": (0.0, 1.0), "prune_similarity": (-1.0, 1.0)},
    "evaluation": {"seed": (0, SEED_MAX)},
}
_CHOICES: dict[str, dict[str, tuple[str, ...]]] = {  # plus representation and glow.train_preset, see below
    "glow": {"source": ("auto", "pretrained", "train")},
    "discovery": {"navigator": ("ortho", "proj"), "navigator_base": ("identity", "random", "pca", "ica"),
                  "reconstructor": ("light", "resnet18"), "latents": ("prior", "data")},
    "contrastive": {"latents": ("prior", "data"), "entropy_form": ("sample", "direction"),
                    "shift_distribution": ("uniform", "normal"), "encoder_init": ("default", "kaiming")},
    "evaluation": {"dci_estimator": ("exact", "sklearn", "hist")},
    "ica": {"teacher": ("real", "generated")},
}


def _show(value: Any) -> Any:
    return format(value, "g") if isinstance(value, float) else value  # -1, not -1.0, for --set x=-1


def _bad(key: str, value: Any, expected: str) -> UserError:
    return UserError(f"--set {key}={_show(value)}: expected {expected}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _leaves(obj: Any, prefix: str = "") -> typing.Iterator[tuple[str, Any]]:
    """(section.field, value) of every setting in a config tree."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, value


def validate_config(cfg: RunConfig, stages: typing.Sequence[str] | None = None) -> None:
    """Refuse values no stage can use, before any stage spends time, naming the field as `--set` spells it.

    `stages`: the stages about to run (default all); the contrastive bank is only checked when its stage runs.
    What can only be judged against the Glow (resolution, levels, batch memory) is disgu.pipeline.preflight's.
    """
    from disgu.stages.contrastive.trainer import check_bank_config
    from disgu.stages.glow_ica.distil import check_ica_config
    from disgu.metrics.evaluate import resolve_metrics
    from disgu.pipeline.stages import REPRESENTATIONS

    def fields(section: str) -> tuple[Any, str]:
        return (getattr(cfg, section), f"{section}.") if section else (cfg, "")

    for key, value in _leaves(cfg):
        if isinstance(value, float) and not math.isfinite(value):
            raise _bad(key, value, "a finite number")
    for section, names in _COUNTS.items():
        obj, prefix = fields(section)
        for name in names:
            value = getattr(obj, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise _bad(prefix + name, value, "a positive integer")
    for table, test, expected in ((_POSITIVE, lambda v: v > 0, "a number > 0"),
                                  (_NON_NEGATIVE, lambda v: v >= 0, "a number >= 0")):
        for section, names in table.items():
            obj, prefix = fields(section)
            for name in names:
                value = getattr(obj, name)
                if value is not None and not (_number(value) and test(value)):
                    raise _bad(prefix + name, value, expected)
    for section, limits in _RANGES.items():
        obj, prefix = fields(section)
        for name, (lo, hi) in limits.items():
            value = getattr(obj, name)
            if value is not None and not (_number(value) and lo <= value <= hi):
                raise _bad(prefix + name, value, f"a number in {_show(lo)} .. {_show(hi)}")
    choices_of = {**_CHOICES, "": {"representation": REPRESENTATIONS},
                  "glow": {**_CHOICES["glow"], "train_preset": tuple(GLOW_PRESETS)}}
    for section, choices in choices_of.items():
        obj, prefix = fields(section)
        for name, allowed in choices.items():
            if getattr(obj, name) not in allowed:
                raise _bad(prefix + name, getattr(obj, name), f"one of {', '.join(allowed)}")
    for section in ("discovery", "contrastive"):
        obj = getattr(cfg, section)
        if obj.min_shift > obj.shift_range:
            raise UserError(f"--set {section}.min_shift={_show(obj.min_shift)}: expected at most "
                            f"{section}.shift_range ({_show(obj.shift_range)})")
    if cfg.representation == "disco" and not cfg.contrastive.finetune_navigator:
        raise UserError("--set contrastive.finetune_navigator=false: DisCo trains its navigator with the encoder "
                        "(with no discovery stage a frozen navigator would keep its random initial directions)")
    try:
        resolve_metrics(cfg.evaluation.metrics)
    except UserError as err:
        raise UserError(f"--set evaluation.metrics={cfg.evaluation.metrics}: {err}") from None
    try:  # their messages start with the field (ica.steps: ...), which the user set with --set
        if cfg.representation == "glow-ica":
            check_ica_config(cfg.ica)
        elif stages is None or "contrastive" in stages:
            check_bank_config(cfg.contrastive)
    except UserError as err:
        raise UserError(f"--set {err}") from None
