"""CPU profile of paper-size contrastive steps: seconds per step, and the operations that wait for the device.

Run (one thread, a few minutes):
    python benchmarks/profile_step.py --threads 1 --out profile.json
Against another commit's code (the same script, that commit's package first on the path):
    git archive COMMIT src | tar -x -C OTHER
    PYTHONPATH=OTHER/src python benchmarks/profile_step.py --threads 1 --label COMMIT --out before.json

Builds the `paper` preset's Glow (64x64, L=4, K=32, hidden 512) with random weights (actnorm
initialised on one random batch; the step's cost does not depend on the weights), the paper's
contrastive encoder and a 64-direction navigator, and runs `contrastive_step` + `apply_update`
as the stage does, with a small batch so that a CPU thread finishes a step in seconds. After
warm-up it times steps, then profiles one more with `torch.profiler` and counts the operations
that make the host wait for a GPU: `aten::_local_scalar_dense` (every `.item()`, `int()`,
`float()`, `bool()` of a tensor), `aten::linalg_inv_ex` (an inverse checks its result on the
host), `aten::nonzero` (boolean indexing). These counts do not depend on the batch size.
Host-to-device copies of CPU draws cannot be seen on a CPU and are not counted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import datetime, timezone

import torch

SYNC_OPS = ("aten::_local_scalar_dense", "aten::linalg_inv_ex", "aten::nonzero")


def build(batch: int, positives: int, negatives: int):
    from disgu.stages.contrastive.trainer import ContrastiveConfig, build_encoder
    from disgu.models.generator import FrozenGlow, parse_levels
    from disgu.models.glow import Glow, GlowConfig
    from disgu.models.latents import LatentSource
    from disgu.models.navigator import Navigator
    from disgu.presets import GLOW_PRESETS, RUN_PRESETS

    torch.manual_seed(0)
    glow = Glow(GlowConfig(**GLOW_PRESETS["paper"]["model"]))
    with torch.no_grad():
        glow(torch.rand(2, 3, 64, 64) - 0.5)  # initialises actnorm
    frozen = FrozenGlow(glow, parse_levels("top", glow.config.n_levels))
    paper = RUN_PRESETS["paper"]["contrastive"]
    keep = ("encoder_widths", "encoder_slope", "encoder_init", "shift_distribution")
    cfg = ContrastiveConfig(**{k: paper[k] for k in keep}, batch_size=batch, n_positives=positives,
                            n_negatives=negatives)
    navigator = Navigator(frozen.nav_dim, RUN_PRESETS["paper"]["discovery"]["n_directions"], "ortho", "random",
                          1e-3, generator=torch.Generator().manual_seed(1))
    encoder = build_encoder(cfg, 3, 64)
    params = list(encoder.parameters()) + list(navigator.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    return frozen, navigator, encoder, LatentSource(glow, cfg.latents, cfg.temperature), cfg, opt, params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=2, help="queries B (the preset: 32)")
    ap.add_argument("--positives", type=int, default=2, help="positives N (the preset: 32)")
    ap.add_argument("--negatives", type=int, default=4, help="negatives K (the preset: 64)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2, help="timed steps (then one profiled step)")
    ap.add_argument("--label", default="", help="what code this is (a commit), kept in the JSON")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)

    from disgu.stages.contrastive.trainer import apply_update, contrastive_step
    from disgu.training.nan_guard import NonFiniteGuard

    frozen, navigator, encoder, source, cfg, opt, params = build(args.batch, args.positives, args.negatives)
    gen, guard = torch.Generator().manual_seed(3), NonFiniteGuard()

    def step() -> None:
        loss, _ = contrastive_step(frozen, navigator, encoder, source, cfg, gen)
        apply_update(loss, opt, params, guard)

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    counts = {e.key: e.count for e in prof.key_averages() if e.key in SYNC_OPS}
    counts = {k: counts.get(k, 0) for k in SYNC_OPS}
    result = {
        "label": args.label, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}",
        "glow": frozen.glow.config.to_dict(),
        "batch": {"queries": args.batch, "positives": args.positives, "negatives": args.negatives},
        "seconds_per_step": times, "median_seconds_per_step": statistics.median(times),
        "host_waits_per_step": counts, "host_waits_total": sum(counts.values()),
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: result[k] for k in ("median_seconds_per_step", "host_waits_per_step", "host_waits_total")}))


if __name__ == "__main__":
    main()
