"""The five stages of `disgu run`, each reading the previous stage's files and writing its own into the run dir.

    glow/         glow.safetensors (+ source.json; train/ when trained here)
    discovery/    navigator.pt, summary.json, log.jsonl, checkpoints/ (representation=disco: the untrained
                  navigator.pt and summary.json only)
    contrastive/  encoder.pt, navigator.pt (fine-tuned), summary.json, log.jsonl, checkpoints/, bank/ (bank=true)
    evaluation/   per_direction.json; the scores go to DIR/metrics.json
    traversals/   direction_XXX.png/.gif, top_directions.png, index.json

A stage is finished when <stage>/DONE.json exists (written last, atomically). Rerunning skips
finished stages; an unfinished one resumes from its own checkpoints.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from disgu.atomic import write_json
from disgu.errors import UserError

STAGES = ("glow", "ica", "discovery", "contrastive", "distil", "evaluation", "traversal")
MAIN_RANK_STAGES = ("evaluation", "traversal")  # rank 0 alone; under torchrun the other ranks leave before them
REPRESENTATIONS = ("contrastive", "glow-ica", "disco")
BUILTIN = ("shapes3d", "dsprites", "mpi3d", "cars3d")  # procedural without --data-path: shipped Glows


def planned_stages(cfg) -> tuple[str, ...]:
    """The stages a run of this config goes through, in order.

    `contrastive`: the paper's Dis-GU (discovery, then contrastive training of the encoder).
    `glow-ica`: the Glow's independent components, grouped, distilled into the encoder (no discovery).
    `disco`: the DisCo baseline, Dis-GU's stages with the discovery stage reduced to the navigator's initialisation.
    """
    if cfg.representation == "glow-ica":
        return ("glow", "ica", "distil", "evaluation", "traversal")
    return ("glow", "discovery", "contrastive", "evaluation", "traversal")


def representation_of(run_dir: Path) -> str:
    """The representation a run dir's config.json names (RunConfig's default, contrastive, where it names none)."""
    path = run_dir / "config.json"
    if path.is_file():
        return json.loads(path.read_text()).get("representation", "contrastive")
    return "contrastive"


def stage_dir(run_dir: Path, stage: str) -> Path:
    return run_dir / ("traversals" if stage == "traversal" else stage)


def done_marker(run_dir: Path, stage: str) -> Path:
    return stage_dir(run_dir, stage) / "DONE.json"


def is_done(run_dir: Path, stage: str) -> bool:
    return done_marker(run_dir, stage).is_file()


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RunContext:
    """What every stage needs: the run dir, the resolved config, the device, and lazily loaded inputs."""

    def __init__(self, run_dir: Path, cfg, device: torch.device, glow_path: str | None = None,
                 progress: bool = True):
        self.run_dir, self.cfg, self.device, self.glow_path, self.progress = run_dir, cfg, device, glow_path, progress
        self._dataset = None

    @property
    def dataset(self):
        if self._dataset is None:
            from disgu.data import load_dataset

            self._dataset = load_dataset(self.cfg.dataset, data_path=self.cfg.data_path,
                                         resolution=self.cfg.resolution)
        return self._dataset

    def glow(self):
        from disgu.models import load_glow

        model, _ = load_glow(self.run_dir / "glow" / "glow.safetensors", map_location=self.device)
        return model

    def frozen(self, glow, levels, broken_limit: float = 1.5):
        from disgu.models.generator import FrozenGlow

        return FrozenGlow(glow, levels, broken_limit)


# ----------------------------------------------------------------------------- glow


def _save_glow_safetensors(model, path: Path) -> None:
    from safetensors.torch import save_file

    from disgu.atomic import atomic_path

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"glow_config": json.dumps(model.config.to_dict())})


def glow_train_settings(cfg, in_channels: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(GlowConfig fields, GlowTrainConfig fields) of the Glow this run trains: its Glow preset under `glow.*`."""
    from disgu.presets import glow_preset
    from disgu.stages.glow import GlowTrainConfig

    g = cfg.glow
    p = glow_preset(g.train_preset)
    model = {**p.pop("model"), "resolution": cfg.resolution, "in_channels": in_channels}
    for name in ("n_levels", "n_steps", "hidden"):
        if getattr(g, name) is not None:
            model[name] = getattr(g, name)
    train = {k: v for k, v in p.items() if k in GlowTrainConfig.__dataclass_fields__}
    for name in ("steps", "batch_size", "eval_every", "checkpoint_every", "heldout_size"):
        if getattr(g, name) is not None:
            train[name] = getattr(g, name)
    return model, train


def _train_glow(ctx: RunContext) -> dict[str, Any]:
    from disgu.models.glow import GlowConfig
    from disgu.stages.glow import GlowTrainConfig, train_glow

    g = ctx.cfg.glow
    model, train = glow_train_settings(ctx.cfg, ctx.dataset.image_shape[2])
    train["sample_every"] = min(train.get("sample_every", 200), train["steps"])
    out = ctx.run_dir / "glow" / "train"
    tcfg = GlowTrainConfig(dataset=ctx.cfg.dataset, data_path=ctx.cfg.data_path, out=str(out), preset=g.train_preset,
                           model=GlowConfig(**model), seed=ctx.cfg.seed, device=str(ctx.device),
                           progress=ctx.progress, tensorboard=False, deterministic=ctx.cfg.deterministic, **train)
    from disgu.checkpoint import latest_checkpoint

    resume = "auto" if latest_checkpoint(out) is not None else None
    result = train_glow(tcfg, resume=resume)
    if result.summary.get("interrupted"):
        raise KeyboardInterrupt("Glow training interrupted; rerun the same command to resume")
    return {"kind": "trained", "train_dir": str(out), "summary": result.summary, "model": result.model}


def stage_glow(ctx: RunContext) -> dict[str, Any]:
    """glow/glow.safetensors from --glow, the shipped weights, or a Glow trained here."""
    from disgu.distributed import is_main
    from disgu.models import load_glow, load_pretrained_glow

    cfg, out = ctx.cfg, ctx.run_dir / "glow"
    out.mkdir(parents=True, exist_ok=True)
    source: dict[str, Any]
    model = None
    if ctx.glow_path is not None:
        model, _ = load_glow(ctx.glow_path)
        source = {"kind": "given", "path": str(Path(ctx.glow_path).resolve())}
    elif cfg.glow.source in ("auto", "pretrained") and cfg.data_path is None and cfg.dataset in BUILTIN:
        try:
            model, _ = load_pretrained_glow(cfg.dataset, cfg.resolution)
            from disgu.models.pretrained import read_manifest

            source = {"kind": "shipped", "manifest": read_manifest(cfg.dataset, cfg.resolution)}
        except UserError as err:
            if cfg.glow.source == "pretrained":
                raise
            source = {"kind": "trained", "why": str(err)}
    elif cfg.glow.source == "pretrained":
        raise UserError(f"glow.source=pretrained: weights are shipped only for built-in datasets "
                        f"({', '.join(BUILTIN)}) without --data-path; pass --glow CKPT")
    else:
        source = {"kind": "trained"}
    if model is None:
        trained = _train_glow(ctx)
        model = trained.pop("model")
        source.update(trained)
    if model.config.resolution != cfg.resolution:
        raise UserError(f"the Glow is for {model.config.resolution}x{model.config.resolution} images but the run "
                        f"uses resolution {cfg.resolution} (set --set resolution={model.config.resolution})")
    if is_main():
        _save_glow_safetensors(model, out / "glow.safetensors")
        write_json(out / "source.json", source)
    return {"source": source["kind"], "glow_config": model.config.to_dict()}


# ----------------------------------------------------------------------------- discovery / contrastive


def stage_discovery(ctx: RunContext) -> dict[str, Any]:
    """discovery/navigator.pt: trained (Dis-GU), or as initialised for the contrastive stage to train (DisCo)."""
    from disgu.stages.discovery.trainer import save_initial_navigator, train_discovery

    cfg = ctx.cfg.discovery
    dataset = ctx.dataset if cfg.latents == "data" or cfg.navigator_base in ("pca", "ica") else None
    if ctx.cfg.representation == "disco":
        init = save_initial_navigator(ctx.glow(), cfg, ctx.run_dir / "discovery", ctx.cfg.seed, dataset)
        return {"trained": False, "navigator_base": init["navigator_base"], "heldout": None, "broken_fraction": None}
    summary = train_discovery(ctx.glow(), cfg, ctx.run_dir / "discovery", ctx.cfg.seed, dataset, ctx.progress)
    return {"heldout": summary["heldout"], "broken_fraction": summary["broken_fraction"]}


def stage_contrastive(ctx: RunContext) -> dict[str, Any]:
    from disgu.stages.contrastive.trainer import train_contrastive
    from disgu.models.navigator import load_navigator

    cfg = ctx.cfg.contrastive
    navigator, levels = load_navigator(ctx.run_dir / "discovery" / "navigator.pt", ctx.device)
    dataset = ctx.dataset if cfg.latents == "data" else None
    summary = train_contrastive(ctx.glow(), navigator, levels, cfg, ctx.run_dir / "contrastive", ctx.cfg.seed,
                                dataset, ctx.progress, navigator_settings=asdict(ctx.cfg.discovery))
    return {"mean_of_last_100_steps": summary["mean_of_last_100_steps"],
            "broken_fraction": summary["broken_fraction"]}


# ----------------------------------------------------------------------------- glow-ica


def stage_ica(ctx: RunContext) -> dict[str, Any]:
    """ica/frame.npz: independent components of the navigated latents of training images, and their groups."""
    from disgu.distributed import is_main
    from disgu.stages.glow_ica import GlowICA
    from disgu.stages.glow_ica.latents import encode_in_chunks, sample_indices
    from disgu.models.generator import parse_levels

    cfg, out = ctx.cfg.ica, ctx.run_dir / "ica"
    glow = ctx.glow()
    frozen = ctx.frozen(glow, parse_levels(cfg.levels, glow.config.n_levels))
    idx = sample_indices(len(ctx.dataset), cfg.images, ctx.cfg.seed)
    t0 = time.perf_counter()
    latents = encode_in_chunks(frozen, ctx.dataset, idx, out / "latents", cfg.encode_chunk, ctx.progress)
    t1 = time.perf_counter()
    frame = GlowICA.fit(latents[: cfg.fit_images], frozen.levels, cfg.n_components, ctx.cfg.seed,
                        cfg.group_threshold, cfg.group_bins, cfg.max_iter, cfg.circle_cv)
    summary = {"images": len(idx), "fit_images": cfg.fit_images, "n_components": cfg.n_components,
               "groups": frame.groups.groups, "n_codes": frame.groups.n_codes, "ica_iterations": frame.ica.n_iter,
               "ica_converged": frame.ica.converged, "encode_seconds_this_session": round(t1 - t0, 2),
               "fit_seconds": round(time.perf_counter() - t1, 2)}
    if is_main():
        np.save(out / "indices.npy", idx)
        frame.save(out / "frame.npz")
        write_json(out / "summary.json", summary)
    return {k: summary[k] for k in ("groups", "n_codes", "ica_converged")}


def stage_distil(ctx: RunContext) -> dict[str, Any]:
    """distil/encoder.pt: the encoder trained to predict the Glow-ICA coordinates of its teacher's images.

    teacher 'real': training images and their latents through the Glow's inverse (the `ica` stage's cache);
    'generated': Glow samples and the latents they were decoded from (decoded here, in resumable chunks).
    """
    from disgu.stages.glow_ica import GlowICA
    from disgu.stages.glow_ica.distil import train_distilled_encoder
    from disgu.stages.glow_ica.generated import decode_in_chunks
    from disgu.stages.glow_ica.latents import encode_in_chunks

    cfg, ica_dir = ctx.cfg.ica, ctx.run_dir / "ica"
    frame = GlowICA.load(ica_dir / "frame.npz")
    frozen = ctx.frozen(ctx.glow(), frame.levels)
    broken = None
    if cfg.teacher == "generated":
        images, latents, broken = decode_in_chunks(frozen, cfg.images, cfg.temperature, ctx.cfg.seed,
                                                   ctx.run_dir / "distil" / "generated", cfg.encode_chunk,
                                                   progress=ctx.progress)
    else:
        idx = np.load(ica_dir / "indices.npy")
        latents = encode_in_chunks(frozen, ctx.dataset, idx, ica_dir / "latents", cfg.encode_chunk, progress=False)
        order = np.argsort(idx)
        images = np.empty((len(idx), *ctx.dataset.image_shape), np.uint8)
        images[order] = ctx.dataset.images(idx[order])
    summary = train_distilled_encoder(images, frame.targets(latents), frame.groups.layout(), frame.groups.code_cuts(),
                                      cfg, ctx.run_dir / "distil", ctx.cfg.seed, ctx.device, ctx.progress,
                                      info={"teacher": cfg.teacher, "broken_decodes": broken})
    return {"heldout_mse": summary["heldout_mse"], "teacher": cfg.teacher}


def glow_ica_navigator(frame, device: torch.device | str = "cpu"):
    """A fixed `proj` navigator whose directions are the frame's independent components (for traversals)."""
    from disgu.models.navigator import Navigator

    dirs = torch.from_numpy(frame.directions().T.astype(np.float32))
    nav = Navigator(dirs.shape[0], dirs.shape[1], kind="proj", base=dirs, init_scale=0.0)
    return nav.to(device).requires_grad_(False)


def load_trained(run_dir: Path, device: torch.device | str = "cpu"):
    """(glow, navigator, levels, encoder) of a finished run: its representation's encoder and directions."""
    from disgu.models import load_glow
    from disgu.models.encoder import load_encoder
    from disgu.models.navigator import load_navigator

    if representation_of(run_dir) == "glow-ica":
        from disgu.stages.glow_ica import GlowICA

        for stage in ("glow", "ica", "distil"):
            if not is_done(run_dir, stage):
                raise UserError(f"{run_dir}: stage {stage!r} is not finished (no {done_marker(run_dir, stage)}); "
                                f"run `disgu run ... --out {run_dir}` to complete it")
        glow, _ = load_glow(run_dir / "glow" / "glow.safetensors", map_location=device)
        frame = GlowICA.load(run_dir / "ica" / "frame.npz")
        encoder = load_encoder(run_dir / "distil" / "encoder.pt", device)
        return glow, glow_ica_navigator(frame, device), frame.levels, encoder
    for stage in ("glow", "contrastive"):
        if not is_done(run_dir, stage):
            raise UserError(f"{run_dir}: stage {stage!r} is not finished (no {done_marker(run_dir, stage)}); "
                            f"run `disgu run ... --out {run_dir}` to complete it")
    glow, _ = load_glow(run_dir / "glow" / "glow.safetensors", map_location=device)
    navigator, levels = load_navigator(run_dir / "contrastive" / "navigator.pt", device)
    encoder = load_encoder(run_dir / "contrastive" / "encoder.pt", device)
    return glow, navigator, levels, encoder


# ----------------------------------------------------------------------------- evaluation


def stage_evaluation(ctx: RunContext) -> dict[str, Any]:
    """DIR/metrics.json: disentanglement metrics of E(x) on real dataset images, plus per-direction statistics."""
    from disgu.data.base import GroundTruthDataset
    from disgu.evaluation import HEADLINE_KEYS, metric_progress, score_representation, write_metrics
    from disgu.evaluation.directions import direction_code_effects, label_directions, rank_directions

    e = ctx.cfg.evaluation
    glow, navigator, levels, encoder = load_trained(ctx.run_dir, ctx.device)
    frozen = ctx.frozen(glow, levels)
    effects = direction_code_effects(frozen, navigator, encoder, e.direction_samples, e.direction_shift,
                                     ctx.cfg.contrastive.temperature, ctx.cfg.seed + 11)
    (ctx.run_dir / "evaluation").mkdir(parents=True, exist_ok=True)
    np.save(ctx.run_dir / "evaluation" / "direction_effects.npy", effects)
    ranked = rank_directions(effects, navigator.active.tolist())
    dims_used = sorted({r["code_dim"] for r in ranked})
    dataset = ctx.dataset
    if isinstance(dataset, GroundTruthDataset):
        label_directions(ranked, dataset, encoder, e.mig_train, e.seed + 2)
    per_direction = {"ranked": ranked, "distinct_top_code_dims": len(dims_used), "n_directions": len(ranked),
                     "shift": e.direction_shift, "samples": e.direction_samples}
    write_json(ctx.run_dir / "evaluation" / "per_direction.json", per_direction)

    if isinstance(dataset, GroundTruthDataset):
        scores = score_representation(dataset, encoder.encode_images, e, metric_progress(e, ctx.progress))
    else:
        scores = {"note": f"dataset {ctx.cfg.dataset!r} has no ground-truth factors: no disentanglement metrics",
                  "sample_sizes": e.sample_sizes()}
    result = write_metrics(ctx.run_dir, scores, {
        "dataset": ctx.cfg.dataset, "preset": ctx.cfg.preset, "seed": ctx.cfg.seed, "resolution": ctx.cfg.resolution,
        "representation": ctx.cfg.representation,
        **_stage_statistics(ctx),
        "per_direction": {
            "distinct_top_code_dims": len(dims_used),
            "mean_exclusivity": float(np.mean([r["exclusivity"] for r in ranked])),
            "mean_strength": float(np.mean([r["strength"] for r in ranked])),
            "top": ranked[: min(8, len(ranked))],
            "file": "evaluation/per_direction.json",
        },
    })
    return {k: result.get(k) for k in HEADLINE_KEYS}


def _stage_statistics(ctx: RunContext) -> dict[str, Any]:
    """What metrics.json reports of the training stages this run went through."""
    def summary(stage: str) -> dict[str, Any]:
        path = ctx.run_dir / stage / "summary.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    if ctx.cfg.representation == "glow-ica":
        ica, dis = summary("ica"), summary("distil")
        return {"glow_ica": {k: ica.get(k) for k in ("n_components", "groups", "n_codes", "ica_converged")},
                "distil": {k: dis.get(k) for k in ("steps", "mse_of_last_100_steps", "heldout_mse")}}
    disc, con = summary("discovery"), summary("contrastive")
    stats = {
        "reconstructor_accuracy": (disc.get("heldout") or {}).get("accuracy"),
        "reconstructor_chance": 1.0 / ctx.cfg.discovery.n_directions,
        "discovery_broken_fraction": disc.get("broken_fraction"),
        "contrastive": con.get("mean_of_last_100_steps"),
        "contrastive_broken_fraction": con.get("broken_fraction"),
        "nonfinite_steps": {"discovery": disc.get("nonfinite_steps"), "contrastive": con.get("nonfinite_steps")},
    }
    if ctx.cfg.representation == "disco":  # no discovery: the navigator started from this frame
        stats["navigator_init"] = disc.get("navigator_base")
    return stats


# ----------------------------------------------------------------------------- traversals


def stage_traversal(ctx: RunContext) -> dict[str, Any]:
    from disgu.evaluation.directions import saved_direction_labels
    from disgu.viz.traverse import write_traversals

    glow, navigator, levels, encoder = load_trained(ctx.run_dir, ctx.device)
    effects_path = ctx.run_dir / "evaluation" / "direction_effects.npy"
    effects = np.load(effects_path) if effects_path.is_file() else None
    labels = saved_direction_labels(ctx.run_dir) if effects is not None else None
    ranked = write_traversals(ctx.frozen(glow, levels), navigator, encoder, ctx.run_dir / "traversals",
                              ctx.cfg.traversal, ctx.cfg.seed + 13, ctx.cfg.contrastive.temperature, effects,
                              labels=labels)
    return {"top": [r["direction"] for r in ranked[:8]]}


STAGE_FUNCTIONS: dict[str, Callable[[RunContext], dict[str, Any]]] = {
    "glow": stage_glow, "ica": stage_ica, "discovery": stage_discovery, "contrastive": stage_contrastive,
    "distil": stage_distil, "evaluation": stage_evaluation, "traversal": stage_traversal,
}


def invalidate_after(run_dir: Path, stage: str) -> None:
    """A stage that reruns makes every later stage stale: drop their done-markers (outputs stay until rewritten)."""
    for later in STAGES[STAGES.index(stage) + 1 :]:
        done_marker(run_dir, later).unlink(missing_ok=True)


def write_done(run_dir: Path, stage: str, info: dict[str, Any]) -> None:
    write_json(done_marker(run_dir, stage), info)
