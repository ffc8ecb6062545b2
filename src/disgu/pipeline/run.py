"""`run_pipeline`: run the stages in order in one run dir, skipping finished ones, resuming unfinished ones."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from disgu.atomic import write_json
from disgu.errors import UserError
from disgu.pipeline.config import RunConfig, validate_config
from disgu.pipeline.stages import (
    MAIN_RANK_STAGES,
    STAGE_FUNCTIONS,
    STAGES,
    RunContext,
    invalidate_after,
    is_done,
    peak_rss_mib,
    planned_stages,
    stage_dir,
    write_done,
)


def _check_same_config(run_dir: Path, cfg: RunConfig) -> bool:
    """True when the run dir starts afresh: no config.json yet, or one that no stage has produced anything for.

    A first run that failed before computing anything (a wrong --data-path, a bad --glow) leaves only
    config.json behind; the corrected command then replaces it instead of being refused.
    """
    path = run_dir / "config.json"
    if not path.is_file():
        return True
    old = _with_new_fields(json.loads(path.read_text()))
    new = cfg.to_dict()
    for key in ("device", "deterministic"):  # resuming on another device, or with other kernels, is fine
        old.pop(key, None), new.pop(key, None)
    if old == new:
        return False
    if not _has_stage_output(run_dir):
        return True
    diff = sorted(_diff_keys(old, new))
    raise UserError(f"--out {run_dir}: holds a run with a different configuration ({', '.join(diff[:6])} differ); "
                    f"rerun with the same options to resume, or choose a new --out")


def _has_stage_output(run_dir: Path) -> bool:
    """Whether any stage wrote a file (a checkpoint, a DONE.json, ...) into the run dir."""
    return any(p.is_file() for stage in STAGES for p in stage_dir(run_dir, stage).rglob("*"))


def _with_new_fields(old: dict[str, Any]) -> dict[str, Any]:
    """A saved config with the fields added since it was written at their defaults, so older run dirs resume.

    New fields keep the old behaviour at their defaults; a saved field that no longer exists leaves the
    config as saved (and the comparison then names it).
    """
    try:
        return RunConfig.from_dict(old).to_dict()
    except TypeError:
        return old


def _diff_keys(a: dict, b: dict, prefix: str = "") -> set[str]:
    out = set()
    for k in set(a) | set(b):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out |= _diff_keys(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.add(prefix + k)
    return out


def _quiet(_message: str) -> None:
    """Ranks other than 0 stay silent."""


def run_pipeline(cfg: RunConfig, out_dir: str | Path, glow_path: str | None = None, progress: bool = True,
                 stages: Sequence[str] = STAGES, log=print, dataset=None) -> dict[str, Any]:
    """Run `stages` (in pipeline order) into out_dir; returns {stage: info} for the stages run or skipped.

    `dataset`: an already opened dataset object to use instead of opening cfg.dataset (the Glow
    trainer still opens cfg.dataset by name when a Glow has to be trained). A second process on the
    same out_dir is refused while this one runs (disgu.runlock).
    Under torchrun every rank runs the training stages; before the first stage that rank 0 does alone
    (MAIN_RANK_STAGES) the ranks meet once and the others return, so none waits out rank 0's evaluation.
    """
    from disgu.runlock import run_folder_lock

    with run_folder_lock(out_dir, log=log):
        return _run_pipeline(cfg, Path(out_dir), glow_path, progress, stages, log, dataset)


def _run_pipeline(cfg: RunConfig, out_dir: Path, glow_path: str | None, progress: bool, stages: Sequence[str],
                  log, dataset) -> dict[str, Any]:
    from disgu.distributed import barrier, is_main, leave_group, setup_distributed
    from disgu.runinfo import write_run_info

    torch.set_flush_denormal(True)
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise UserError(f"stages: unknown {sorted(unknown)}; expected some of {', '.join(STAGES)}")
    # settings that cannot work are refused before the Glow and discovery stages spend their time
    validate_config(cfg, stages)
    plan = planned_stages(cfg)
    if glow_path is not None and not Path(glow_path).is_file():
        raise UserError(f"--glow {glow_path}: no such file (expected a Glow checkpoint .pt or .safetensors)")
    run_dir = Path(out_dir)
    if cfg.deterministic:
        from disgu.determinism import make_deterministic

        make_deterministic()
    info = setup_distributed(cfg.device)
    if not is_main():
        log = _quiet
    fresh = _check_same_config(run_dir, cfg)
    pending = [s for s in plan if s in stages and not is_done(run_dir, s)]
    if pending and dataset is None:  # a wrong dataset or --data-path fails here, before anything is written
        from disgu.data import load_dataset

        dataset = load_dataset(cfg.dataset, data_path=cfg.data_path, resolution=cfg.resolution)
    given = None
    if glow_path is not None and "glow" in pending:  # so does a truncated or foreign --glow file
        from disgu.models import load_glow

        _, given = load_glow(glow_path)
    if pending:  # and a setting the Glow cannot serve (resolution, levels, a batch beyond memory)
        from disgu.pipeline.preflight import check_against_glow, planned_glow

        check_against_glow(cfg, *planned_glow(cfg, run_dir, given), tuple(pending))
    if is_main():
        run_dir.mkdir(parents=True, exist_ok=True)
        first = fresh or not (run_dir / "run_info.json").is_file()
        write_json(run_dir / "config.json", cfg.to_dict())
        write_run_info(run_dir, cfg, cfg.seed, name="run_info.json" if first else "run_info_resumed.json")
    barrier()
    ctx = RunContext(run_dir, cfg, info.device, glow_path, progress)
    ctx._dataset = dataset
    results: dict[str, Any] = {}
    timings_path = run_dir / "stage_times.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    in_group = info.distributed
    for stage in plan:
        if stage not in stages:
            continue
        if is_done(run_dir, stage):
            log(f"disgu: stage {stage}: done already (skipped; delete {stage_dir(run_dir, stage)}/DONE.json to redo)")
            results[stage] = {"skipped": True}
            continue
        if in_group and stage in MAIN_RANK_STAGES:
            leave_group(info)
            in_group = False
            if not info.is_main:
                break
        log(f"disgu: stage {stage} ...")
        if is_main():
            invalidate_after(run_dir, stage)
            stage_dir(run_dir, stage).mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed)
        out = STAGE_FUNCTIONS[stage](ctx)
        if in_group:
            barrier()
        wall = time.perf_counter() - t0
        record = {"stage": stage, "wall_seconds": round(wall, 2), "peak_rss_mib_so_far": round(peak_rss_mib(), 1),
                  "world_size": info.world_size if in_group else 1, **out}
        if is_main():
            write_done(run_dir, stage, record)
            timings[stage] = {"wall_seconds": record["wall_seconds"],
                              "peak_rss_mib_so_far": record["peak_rss_mib_so_far"]}
            write_json(timings_path, timings)
        if in_group:
            barrier()
        log(f"disgu: stage {stage}: done in {wall:.1f} s")
        results[stage] = record
    return results
