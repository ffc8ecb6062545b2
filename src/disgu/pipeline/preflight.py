"""What a run's config asks of its Glow, checked before the run folder is written.

`validate_config` checks each setting on its own; some can only be judged against the Glow the run
will use (its resolution, its number of levels, the memory a batch takes through it). That Glow is
known before any stage runs: the run's own when its Glow stage is done, else the --glow file, the
shipped weights, or the one the Glow stage would train. So a `--set resolution=33`, a
`discovery.levels=7` or a `glow.batch_size=100000000` is one line naming the option, and nothing
is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from disgu.errors import UserError
from disgu.models.glow import GlowConfig
from disgu.pipeline.stages import BUILTIN, done_marker, glow_train_settings, is_done

FLOAT_BYTES = 4


def planned_glow(cfg, run_dir: Path, given: GlowConfig | None) -> tuple[GlowConfig, str]:
    """(config of the Glow the run will use, where it comes from, in words); UserError when none can be had.

    The Glow to be trained is described with one input channel: the dataset's count changes none of the checks.
    """
    if is_done(run_dir, "glow"):
        record = json.loads(done_marker(run_dir, "glow").read_text())
        return GlowConfig.from_dict(record["glow_config"]), f"the Glow of {run_dir}"
    if given is not None:
        return given, "the --glow file"
    g = cfg.glow
    if g.source in ("auto", "pretrained") and cfg.data_path is None and cfg.dataset in BUILTIN:
        from disgu.models.pretrained import load_pretrained_glow, read_manifest

        manifest = read_manifest(cfg.dataset, cfg.resolution)
        if manifest is not None:
            return GlowConfig.from_dict(manifest["glow_config"]), "the shipped Glow"
        if g.source == "pretrained":
            load_pretrained_glow(cfg.dataset, cfg.resolution)  # raises the one line that names what is shipped
    elif g.source == "pretrained":
        raise UserError(f"--set glow.source=pretrained: weights are shipped only for built-in datasets "
                        f"({', '.join(BUILTIN)}) without --data-path; pass --glow CKPT")
    model, _ = glow_train_settings(cfg, in_channels=1)
    try:
        return GlowConfig(**model), "the Glow this run trains"
    except ValueError as err:
        if cfg.resolution % (2 ** model["n_levels"]):
            raise UserError(f"--set resolution={cfg.resolution}: expected a multiple of {2 ** model['n_levels']}, "
                            f"as the Glow this run trains has {model['n_levels']} levels (glow.n_levels)") from None
        raise UserError(f"--set glow: the Glow this run trains is not valid ({err})") from None


def check_against_glow(cfg, glow: GlowConfig, where: str, pending: tuple[str, ...]) -> None:
    """One line for a setting the Glow cannot serve: another resolution, a level it lacks, a batch beyond memory."""
    from disgu.arrays import memory_bytes
    from disgu.models.generator import parse_levels

    if glow.resolution != cfg.resolution:
        raise UserError(f"--set resolution={cfg.resolution}: {where} is for {glow.resolution}x{glow.resolution} "
                        f"images (set --set resolution={glow.resolution})")
    levels = ("ica", cfg.ica) if cfg.representation == "glow-ica" else ("discovery", cfg.discovery)
    try:
        parse_levels(levels[1].levels, glow.n_levels)
    except UserError as err:
        raise UserError(f"--set {levels[0]}.levels={levels[1].levels}: {str(err).removeprefix('levels: ')} "
                        f"({where})") from None
    memory = memory_bytes()
    for option, need in _batch_memory(cfg, glow, where, pending):
        if need > memory:
            raise UserError(f"--set {option}: a batch needs at least {need / 2**30:,.0f} GiB through {where}, "
                            f"more than this machine's {memory / 2**30:,.0f} GiB")


def _batch_memory(cfg, glow: GlowConfig, where: str, pending: tuple[str, ...]) -> list[tuple[str, int]]:
    """(option=value, a lower bound of the bytes one step takes): one float per pixel of a coupling network's
    hidden layer at the finest level, per image (and per flow step where the Glow itself trains)."""
    per_image = (glow.resolution // 2) ** 2 * glow.hidden * FLOAT_BYTES
    out: list[tuple[str, Any]] = []
    if "glow" in pending and where == "the Glow this run trains":
        _, train = glow_train_settings(cfg, glow.in_channels)
        out.append((f"glow.batch_size={train['batch_size']}", train["batch_size"] * per_image * glow.n_steps))
    d, c = cfg.discovery, cfg.contrastive
    if "discovery" in pending and cfg.representation != "glow-ica":
        out.append((f"discovery.batch_size={d.batch_size}", 2 * d.batch_size * per_image))
    if "contrastive" in pending:
        images = 2 * (c.batch_size + c.n_positives + c.n_negatives)
        out.append((f"contrastive.batch_size={c.batch_size}", images * per_image))
    return out
