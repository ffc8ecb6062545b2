"""The settings of a direction baseline run (`disgu baseline gs|cf|ds|ica|ld`) and how a preset fills them.

Why derived from `disgu run`'s presets: the Glow, the discovery stage (LD), the number of
generated images, the encoder's updates and the metric sample sizes are then the same as in
the Dis-GU run of that preset, so the rows of a comparison differ only in the directions.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from disgu.stages.discovery.trainer import DiscoveryConfig
from disgu.errors import UserError
from disgu.evaluation.config import EvalConfig
from disgu.pipeline.config import GlowStageConfig, RunTarget

METHODS = ("gs", "cf", "ds", "ica", "ld")


@dataclass
class DirectionsConfig:
    """How the directions are found (the method's own knobs)."""

    n_directions: int = 10  # k (LD: the discovery stage's discovery.n_directions instead)
    levels: str = "top"  # navigated levels ('top', 'all' or indices); CF needs 'top'
    data_images: int = 4000  # GS, ICA: training images whose latents are analysed
    jacobian_samples: int = 32  # DS: z ~ N(0, T^2 I) over which J^T J is averaged
    jacobian_batch: int = 16  # DS: samples per forward/backward pass
    jacobian_iterations: int = 10  # DS: subspace iterations (each one J^T J product with k + oversample vectors)
    jacobian_oversample: int = 4  # DS: extra vectors that speed up convergence of the leading k
    temperature: float = 0.7  # DS: prior temperature of the samples
    navigator: str | None = None  # LD: a finished run's discovery/navigator.pt (None: run the discovery stage here)


@dataclass
class RegressionConfig:
    """The encoder trained on Glow samples G(z) to predict z's coordinates along the directions (MSE)."""

    images: int = 20_000  # generated images (decoded in resumable chunks)
    temperature: float = 0.7
    chunk: int = 1000  # images per chunk file
    steps: int = 3000
    batch_size: int = 64
    lr: float = 3e-4
    heldout: int = 1000  # generated images kept out of training for the held-out MSE
    checkpoint_every: int = 500
    log_every: int = 50


@dataclass
class DirectionBaselineConfig(RunTarget):
    """Everything that defines a direction baseline run; saved in run_info.json."""

    model: str = "cf"  # one of METHODS
    threads: int = 1
    glow: GlowStageConfig = field(default_factory=GlowStageConfig)  # as `disgu run`'s glow section
    directions: DirectionsConfig = field(default_factory=DirectionsConfig)
    encoder: RegressionConfig = field(default_factory=RegressionConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)  # LD only
    evaluation: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def run_config(self):
        """The `disgu run` config whose glow and discovery stages this run shares."""
        from disgu.pipeline.config import RunConfig

        target = {f.name: getattr(self, f.name) for f in fields(RunTarget)}
        return RunConfig(**target, representation="contrastive",
                         glow=copy.deepcopy(self.glow),
                         discovery=replace(self.discovery, levels=self.directions.levels),
                         evaluation=copy.deepcopy(self.evaluation))


# DS's estimator per preset: samples, batch, iterations (the rest of a preset comes from `disgu run`'s)
_JACOBIAN = {"tiny": (4, 4, 3), "demo": (16, 8, 6), "cpu": (32, 16, 10), "paper": (64, 16, 20)}


def make_direction_config(model: str, preset: str, **top: Any) -> DirectionBaselineConfig:
    """The preset's settings for `model` with top-level fields (dataset, seed, resolution, ...) set when not None."""
    from disgu.pipeline.config import make_config, set_top_fields

    if model not in METHODS:
        raise UserError(f"direction baseline: expected one of {', '.join(METHODS)}, got {model!r}")
    run = make_config(preset)  # a bad --preset fails here, naming the choices
    ica = run.ica
    samples, batch, iterations = _JACOBIAN[preset]
    cfg = DirectionBaselineConfig(
        model=model, preset=preset, resolution=run.resolution,
        glow=copy.deepcopy(run.glow),
        directions=DirectionsConfig(n_directions=ica.n_components, data_images=ica.fit_images,
                                    jacobian_samples=samples, jacobian_batch=batch, jacobian_iterations=iterations),
        encoder=RegressionConfig(images=ica.images, temperature=ica.temperature, chunk=ica.encode_chunk,
                                 steps=ica.steps, batch_size=ica.batch_size, lr=ica.lr, heldout=ica.heldout,
                                 checkpoint_every=ica.checkpoint_every, log_every=ica.log_every),
        discovery=run.discovery, evaluation=run.evaluation)
    return set_top_fields(cfg, top, "baseline")


def check_direction_config(cfg: DirectionBaselineConfig) -> None:
    """One-line errors, naming the field as `--set` spells it, before anything runs."""
    from disgu.pipeline.config import validate_config

    validate_config(cfg.run_config(), stages=("glow", "discovery", "evaluation"))
    d, e = cfg.directions, cfg.encoder
    counts = {"directions": ("n_directions", "data_images", "jacobian_samples", "jacobian_batch",
                             "jacobian_iterations"),
              "encoder": ("images", "chunk", "steps", "batch_size", "checkpoint_every", "log_every")}
    for section, names in counts.items():
        obj = getattr(cfg, section)
        for name in names:
            value = getattr(obj, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"--set {section}.{name}={value}: expected a positive integer")
    if not isinstance(d.jacobian_oversample, int) or d.jacobian_oversample < 0:
        raise UserError(f"--set directions.jacobian_oversample={d.jacobian_oversample}: expected an integer >= 0")
    for section, name in (("directions", "temperature"), ("encoder", "temperature"), ("encoder", "lr")):
        value = getattr(getattr(cfg, section), name)
        if not (isinstance(value, (int, float)) and value > 0 and value < float("inf")):
            raise UserError(f"--set {section}.{name}={value}: expected a number > 0")
    if not 0 <= e.heldout < e.images:
        raise UserError(f"--set encoder.heldout={e.heldout}: expected 0 <= heldout < encoder.images ({e.images})")
    if cfg.model == "cf" and str(d.levels).strip().lower() != "top":
        raise UserError(f"--set directions.levels={d.levels}: the closed-form map acts on the top level only "
                        f"(directions.levels=top)")
    if d.navigator is not None and cfg.model != "ld":
        raise UserError(f"--set directions.navigator: only the ld baseline reads a navigator, not {cfg.model}")
