"""The first thing to run on a GPU: paper-size step times, peak memory, hours per stage, bf16 decodes,
a one-GPU NCCL step and a short contrastive training, in one command of a few minutes.

Run (one CUDA GPU, about 5 minutes; no run folder, no dataset file needed):
    python benchmarks/gpu_check.py
It writes benchmarks/results/gpu-check/<date>-<gpu>.json and appends one line to
benchmarks/results/gpu-check/results.md. Without CUDA it says so in one line and exits with
code 2, writing nothing. `--device cpu --tiny` runs every section at toy sizes on the CPU (gloo
instead of NCCL): a check of this script, not a measurement.

Sections (each is recorded, and a failing one does not stop the others; the exit code is 1 if any failed):
- steps: a Glow training step (batch 64: dequantised bits/dim, backward, clip, Adam, as the trainer
  does), a discovery step and a contrastive step (`discovery_step`, `contrastive_step` +
  `apply_update`) at the `paper` preset's sizes with random weights; seconds per step after
  warm-up, peak memory, and the preset's hours per stage from them.
- merged decodes: the contrastive step with its no-grad decodes merged (the GPU default) and not.
- bf16 decode: the shipped Shapes3D Glow decoding 256 prior latents with its coupling networks
  under bf16 autocast against fp32: pixel differences, broken decodes, and the time of each.
- nccl: a process group of one rank on the GPU with the collective timeout, and the library's
  collectives (`sum_over_ranks`, `average_gradients`) run on it after a contrastive step.
- training: the `cpu` preset's contrastive stage on the shipped Shapes3D Glow from a random
  orthonormal navigator for up to `--train-steps` steps (at most `--train-seconds`); the loss
  and the positive-negative gap of the first and last 100 steps, and whether both moved.
- deterministic: the contrastive step again under `make_deterministic()` (last: it is process-wide).
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "gpu-check"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_mib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def timed(fn: Callable[[], Any], device: torch.device, warmup: int, steps: int) -> dict[str, Any]:
    """Median seconds per call of `fn` after `warmup` calls, and the peak memory over all of them."""
    reset_peak(device)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return {"seconds_per_step": round(statistics.median(times), 5), "all_seconds": [round(t, 5) for t in times],
            "peak_mib": peak_mib(device)}


# ----------------------------------------------------------------------------- models at the preset's sizes


def run_config(preset: str, tiny: bool):
    from disgu.pipeline.config import resolve_config

    return resolve_config("tiny" if tiny else preset, ["representation=contrastive"])


def glow_model(tiny: bool, device: torch.device):
    """The `paper` Glow (or a toy one) with random weights and actnorm initialised on a random batch."""
    from disgu.models.glow import Glow, GlowConfig
    from disgu.presets import GLOW_PRESETS

    model = GLOW_PRESETS["paper"]["model"] if not tiny else {"resolution": 16, "n_levels": 2, "n_steps": 1,
                                                              "hidden": 8, "n_bits": 5}
    torch.manual_seed(0)
    glow = Glow(GlowConfig(**model)).to(device)
    with torch.no_grad():
        glow(torch.rand(16, 3, model["resolution"], model["resolution"], device=device) - 0.5)
    return glow


def contrastive_parts(glow, cfg, device: torch.device, navigator_base: str = "random"):
    """FrozenGlow, navigator, encoder, source, optimiser, params and generators as train_contrastive builds them
    (the navigator a fresh one, as the DisCo baseline starts: the check needs no discovery stage)."""
    from disgu.stages.contrastive.trainer import build_encoder
    from disgu.stages.discovery.trainer import build_navigator
    from disgu.models.generator import FrozenGlow, parse_levels
    from disgu.models.latents import LatentSource
    from disgu.training.shifts import device_generator

    frozen = FrozenGlow(glow, parse_levels(cfg.discovery.levels, glow.config.n_levels))
    c = cfg.contrastive
    cfg.discovery.navigator_base = navigator_base  # DisCo's start: a seeded random orthonormal frame
    navigator = build_navigator(cfg.discovery, frozen, 1).to(device)
    encoder = build_encoder(c, glow.config.in_channels, glow.config.resolution).to(device)
    params = list(encoder.parameters()) + list(navigator.parameters())
    opt = torch.optim.Adam(params, lr=c.lr)
    gen = torch.Generator().manual_seed(500)
    draws = device_generator(501, device)
    return frozen, navigator, encoder, LatentSource(glow, c.latents, c.temperature), opt, params, gen, draws


def section_steps(device: torch.device, tiny: bool, warmup: int, steps: int) -> dict[str, Any]:
    from disgu.stages.contrastive.trainer import apply_update, contrastive_step
    from disgu.stages.discovery.trainer import build_navigator, discovery_step
    from disgu.models.reconstructor import build_reconstructor
    from disgu.models.generator import FrozenGlow, parse_levels
    from disgu.models.latents import LatentSource
    from disgu.presets import GLOW_PRESETS
    from disgu.training.nan_guard import NonFiniteGuard
    from disgu.training.shifts import device_generator

    cfg = run_config("paper", tiny)
    glow = glow_model(tiny, device)
    out: dict[str, Any] = {"glow_model": glow.config.to_dict()}

    # Glow training step, as glow_step does it (dequantised input, bits/dim, backward, clip, Adam)
    glow_batch = 8 if tiny else GLOW_PRESETS["paper"]["batch_size"]
    glow.train()
    for p in glow.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(glow.parameters(), lr=1e-4)
    res, bins = glow.config.resolution, 2 ** glow.config.n_bits
    images = torch.randint(0, bins, (glow_batch, 3, res, res), device=device).float()

    def glow_step() -> None:
        x = (images + torch.rand_like(images)) / bins - 0.5
        loss = glow.bits_per_dim(x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(glow.parameters(), 50.0)
        opt.step()

    out["glow"] = {"batch": glow_batch, **timed(glow_step, device, warmup, steps)}
    del opt

    # discovery step
    frozen = FrozenGlow(glow, parse_levels(cfg.discovery.levels, glow.config.n_levels))
    d = cfg.discovery
    navigator = build_navigator(d, frozen, 0).to(device)
    reconstructor = build_reconstructor(d.reconstructor, 3, d.n_directions).to(device)
    optimizers = [torch.optim.Adam(reconstructor.parameters(), lr=d.lr), torch.optim.Adam(navigator.parameters())]
    source, guard = LatentSource(glow, d.latents, d.temperature), NonFiniteGuard()
    draws = device_generator(0, device) or torch.Generator().manual_seed(0)
    out["discovery"] = {"batch": d.batch_size, **timed(
        lambda: discovery_step(frozen, navigator, reconstructor, source, d, draws, optimizers, guard),
        device, warmup, steps)}
    del reconstructor, optimizers

    # contrastive step, merged decodes (the GPU default) and separate
    frozen, navigator, encoder, source, opt, params, gen, draws = contrastive_parts(glow, cfg, device)
    c = cfg.contrastive

    def contrastive() -> None:
        loss, _ = contrastive_step(frozen, navigator, encoder, source, c, gen, draws)
        apply_update(loss, opt, params, guard)

    out["contrastive"] = {"batch": {"queries": c.batch_size, "positives": c.n_positives, "negatives": c.n_negatives},
                          **timed(contrastive, device, warmup, steps)}
    frozen.merge_decodes = False
    out["contrastive_separate_decodes"] = timed(contrastive, device, 1, steps)
    frozen.merge_decodes = None
    glow_steps = GLOW_PRESETS["paper"]["steps"]
    out["hours_per_stage"] = {
        "glow": round(out["glow"]["seconds_per_step"] * glow_steps / 3600, 2),
        "discovery": round(out["discovery"]["seconds_per_step"] * d.steps / 3600, 2),
        "contrastive": round(out["contrastive"]["seconds_per_step"] * c.steps / 3600, 2),
        "steps": {"glow": glow_steps, "discovery": d.steps, "contrastive": c.steps},
    }
    return out


def section_bf16_decode(device: torch.device, tiny: bool) -> dict[str, Any]:
    from disgu.models.generator import FrozenGlow
    from disgu.models.pretrained import load_pretrained_glow

    glow, _ = load_pretrained_glow("shapes3d", 32)
    n = 4 if tiny else 256
    z = glow.sample_latents(n, 0.7, generator=torch.Generator().manual_seed(0))  # on the CPU, then moved
    glow.to(device)
    z = [t.to(device) for t in z]
    frozen = FrozenGlow(glow, (glow.config.n_levels - 1,))
    out: dict[str, Any] = {"glow": "shipped shapes3d-32", "images": n}
    with torch.no_grad():
        x32 = frozen.decode(z)
        out["fp32"] = timed(lambda: frozen.decode(z), device, 1, 3)
        glow.set_amp(torch.bfloat16)
        x16 = frozen.decode(z)
        out["bf16"] = timed(lambda: frozen.decode(z), device, 1, 3)
        glow.set_amp(None)
    diff = (x16 - x32).abs().flatten(1)
    to_u8 = lambda x: torch.round(FrozenGlow.to_unit(x) * 255)  # noqa: E731
    out.update({
        "max_abs_pixel_diff": float(diff.nan_to_num(0.0).max()),  # images lie in [-0.5, 0.5]
        "mean_abs_pixel_diff": float(diff.nan_to_num(0.0).mean()),
        "uint8_pixels_changed": float((to_u8(x16) != to_u8(x32)).float().mean()),
        "broken_fp32": int(frozen.broken_mask(x32).sum()), "broken_bf16": int(frozen.broken_mask(x16).sum()),
    })
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def section_nccl(device: torch.device, tiny: bool) -> dict[str, Any]:
    import torch.distributed as dist

    from disgu import distributed
    from disgu.stages.contrastive.trainer import contrastive_step
    from disgu.models.pretrained import load_pretrained_glow

    backend = "nccl" if device.type == "cuda" else "gloo"
    timeout = distributed.collective_timeout()
    t0 = time.perf_counter()
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1,
                            timeout=timeout, **({"device_id": device} if device.type == "cuda" else {}))
    real_world = distributed.world
    try:
        cfg = run_config("cpu", tiny)
        glow = glow_model(True, device) if tiny else load_pretrained_glow("shapes3d", 32, map_location=device)[0]
        frozen, navigator, encoder, source, opt, params, gen, draws = contrastive_parts(glow, cfg, device)
        loss, stats = contrastive_step(frozen, navigator, encoder, source, cfg.contrastive, gen, draws)
        if loss is not None:  # None when too few pairs survived; the collectives run all the same
            loss.backward()
        # One rank, reported as two so that the helpers do not skip the collectives: every tensor they hand
        # to the backend must be on the GPU, which is what NCCL demands (the sums over one rank are discarded).
        distributed.world = lambda: (0, 2)
        counts = distributed.sum_over_ranks([stats["broken"], stats["pairs"]], frozen.device)
        distributed.average_gradients(params)
        distributed.barrier()
        sync(device)
        return {"backend": backend, "timeout_minutes": timeout.total_seconds() / 60, "pair_counts": counts,
                "seconds": round(time.perf_counter() - t0, 3), "ok": True}
    finally:
        distributed.world = real_world
        dist.destroy_process_group()


def section_training(device: torch.device, tiny: bool, max_steps: int, max_seconds: float) -> dict[str, Any]:
    from disgu.stages.contrastive.trainer import apply_update, contrastive_step
    from disgu.models.pretrained import load_pretrained_glow
    from disgu.training.nan_guard import NonFiniteGuard

    cfg = run_config("cpu", tiny)
    glow = glow_model(True, device) if tiny else load_pretrained_glow("shapes3d", 32, map_location=device)[0]
    frozen, navigator, encoder, source, opt, params, gen, draws = contrastive_parts(glow, cfg, device)
    guard, curve, t0 = NonFiniteGuard(), [], time.perf_counter()
    for _ in range(max_steps):
        loss, stats = contrastive_step(frozen, navigator, encoder, source, cfg.contrastive, gen, draws)
        apply_update(loss, opt, params, guard)
        curve.append({k: stats[k] for k in ("loss", "gap") if k in stats})
        if time.perf_counter() - t0 > max_seconds:
            break
    window = min(100, max(1, len(curve) // 4))
    first = {k: statistics.mean(r[k] for r in curve[:window]) for k in ("loss", "gap")}
    last = {k: statistics.mean(r[k] for r in curve[-window:]) for k in ("loss", "gap")}
    return {"steps": len(curve), "seconds": round(time.perf_counter() - t0, 1), "window": window,
            "first": first, "last": last, "skipped_nonfinite": guard.skipped,
            "loss_fell": last["loss"] < first["loss"], "gap_grew": last["gap"] > first["gap"]}


def section_deterministic(device: torch.device, tiny: bool, warmup: int, steps: int) -> dict[str, Any]:
    from disgu.stages.contrastive.trainer import apply_update, contrastive_step
    from disgu.determinism import determinism_state, make_deterministic, restore_determinism
    from disgu.training.nan_guard import NonFiniteGuard

    cfg = run_config("paper", tiny)
    glow = glow_model(tiny, device)
    frozen, navigator, encoder, source, opt, params, gen, draws = contrastive_parts(glow, cfg, device)
    guard = NonFiniteGuard()

    def step() -> None:
        loss, _ = contrastive_step(frozen, navigator, encoder, source, cfg.contrastive, gen, draws)
        apply_update(loss, opt, params, guard)

    default = timed(step, device, warmup, steps)
    state = determinism_state()
    make_deterministic()
    try:
        det = timed(step, device, warmup, steps)
    finally:
        restore_determinism(state)
    return {"default": default, "deterministic": det,
            "slowdown": round(det["seconds_per_step"] / default["seconds_per_step"], 3)}


def environment(device: torch.device) -> dict[str, Any]:
    env = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
           "python": platform.python_version(), "host_cpu": platform.machine(), "device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update({"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                    "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda,
                    "cudnn": torch.backends.cudnn.version(), "bf16": torch.cuda.is_bf16_supported()})
    return env


def markdown_line(result: dict[str, Any]) -> str:
    env, s = result["environment"], result["sections"]
    steps = s.get("steps", {})
    parts = [env["date"][:10], env.get("gpu", env["device"]), f"torch {env['torch']}"]
    if "error" not in steps:
        per_step = {k: steps[k]["seconds_per_step"] for k in ("glow", "discovery", "contrastive")}
        parts += ["s/step " + ", ".join(f"{k} {v}" for k, v in per_step.items()),
                  "hours " + ", ".join(f"{k} {v}" for k, v in steps["hours_per_stage"].items() if k != "steps")]
    train = s.get("training", {})
    if "error" not in train:
        first, last = train["first"], train["last"]
        parts.append(f"training {train['steps']} steps: loss {first['loss']:.3f} -> {last['loss']:.3f}, "
                     f"gap {first['gap']:.3f} -> {last['gap']:.3f}")
    failed = [k for k, v in s.items() if "error" in v]
    parts.append("failed: " + ", ".join(failed) if failed else "all sections ran")
    return "| " + " | ".join(parts) + " |"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu (with --tiny: a dry run)")
    ap.add_argument("--tiny", action="store_true", help="toy sizes: checks this script, measures nothing")
    ap.add_argument("--out", default=str(RESULTS), help="folder for the JSON and results.md")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    ap.add_argument("--train-steps", type=int, default=3000)
    ap.add_argument("--train-seconds", type=float, default=150.0)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); nothing measured, nothing "
              "written. Run it on a machine with a GPU and a CUDA build of torch.", file=sys.stderr)
        return 2
    if device.type != "cuda" and not args.tiny:
        print(f"gpu_check: --device {args.device}: measurements are for a GPU; add --tiny for a dry run",
              file=sys.stderr)
        return 2
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.set_flush_denormal(True)
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "steps": lambda: section_steps(device, args.tiny, args.warmup, args.steps),
        "bf16_decode": lambda: section_bf16_decode(device, args.tiny),
        "nccl": lambda: section_nccl(device, args.tiny),
        "training": lambda: section_training(device, args.tiny, args.train_steps, args.train_seconds),
        "deterministic": lambda: section_deterministic(device, args.tiny, args.warmup, args.steps),
    }
    result: dict[str, Any] = {"environment": environment(device), "tiny": args.tiny, "sections": {}}
    t_all = time.perf_counter()
    for name, fn in sections.items():
        t0 = time.perf_counter()
        try:
            result["sections"][name] = fn()
        except Exception as err:  # record and go on: one broken section must not hide the others
            result["sections"][name] = {"error": f"{type(err).__name__}: {err}",
                                        "traceback": traceback.format_exc(limit=8)}
        result["sections"][name]["section_seconds"] = round(time.perf_counter() - t0, 1)
        print(f"gpu_check: {name}: {json.dumps(result['sections'][name])[:400]}", file=sys.stderr)
    result["total_seconds"] = round(time.perf_counter() - t_all, 1)

    from disgu.atomic import write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    label = result["environment"].get("gpu", str(device)).replace(" ", "-").replace("/", "-")
    stamp = result["environment"]["date"].replace(":", "").replace("+0000", "")
    path = out / f"{stamp}-{label}{'-tiny' if args.tiny else ''}.json"
    write_json(path, result)
    with open(out / "results.md", "a") as f:
        f.write(markdown_line(result) + "\n")
    print(f"gpu_check: wrote {path} and a line in {out / 'results.md'} ({result['total_seconds']} s)", file=sys.stderr)
    return 1 if any("error" in v for v in result["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
