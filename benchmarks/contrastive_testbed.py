"""The contrastive stage on a perfect generator (`disgu.stages.contrastive.testbed`): levers against steps.

Each named setting trains the stage's own encoder with its own loss on pairs rendered by a
procedural dataset (directions = factors, or factors mixed by a seeded rotation) and records gap,
MIG, DCI and per-factor best / second normalised MI at fixed steps. One JSON per (setting, seed) in
--out, written as the run goes, so a stopped sweep resumes where it left off; `--plot` draws the
learning curves of the records found.

    python benchmarks/contrastive_testbed.py --settings tau1,tau0.1,tau0.1-kaiming --seeds 0 \
        --steps 600 --out benchmarks/results/contrastive-testbed
    python benchmarks/contrastive_testbed.py --out benchmarks/results/contrastive-testbed \
        --plot docs/images/contrastive-testbed.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

# Named settings: TestbedConfig fields, with `contrastive` holding ContrastiveConfig overrides.
SETTINGS: dict[str, dict[str, Any]] = {
    "tau1": {"contrastive": {"tau": 1.0, "entropy_temperature": 1.0}},
    "tau0.1": {"contrastive": {"tau": 0.1, "entropy_temperature": 0.1}},
    "tau1-kaiming": {"contrastive": {"encoder_init": "kaiming", "tau": 1.0, "entropy_temperature": 1.0}},
    "tau0.1-kaiming": {"contrastive": {"encoder_init": "kaiming", "tau": 0.1, "entropy_temperature": 0.1}},
    "tau1-ent0.1-kaiming": {"contrastive": {"encoder_init": "kaiming", "tau": 1.0, "entropy_temperature": 0.1}},
    "tau1-ent0.1-dir-kaiming": {"contrastive": {"encoder_init": "kaiming", "tau": 1.0, "entropy_temperature": 0.1,
                                                "entropy_form": "direction"}},
    "tau0.1-dir-kaiming": {"contrastive": {"encoder_init": "kaiming", "tau": 0.1, "entropy_temperature": 0.1,
                                           "entropy_form": "direction"}},
}


def setting(name: str) -> dict[str, Any]:
    """A named setting, or NAME+key=value,key=value extending one (contrastive keys prefixed 'c.')."""
    base, _, extra = name.partition("+")
    cfg = json.loads(json.dumps(SETTINGS[base]))
    for item in filter(None, extra.split(",")):
        key, _, value = item.partition("=")
        parsed = json.loads(value) if value[:1] in "-0123456789[tfn" else value
        if key.startswith("c."):
            cfg.setdefault("contrastive", {})[key[2:]] = parsed
        else:
            cfg[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return cfg


def run_one(name: str, seed: int, steps: int, eval_every: int, dataset: str, out: Path) -> None:
    from disgu.atomic import write_json
    from disgu.stages.contrastive.testbed import TestbedConfig, run_testbed

    path = out / f"{dataset}-{name}-s{seed}.json"
    if path.is_file() and json.loads(path.read_text()).get("finished"):
        print(f"{path.name}: done")
        return
    cfg = TestbedConfig(**{"dataset": dataset, "steps": steps, "eval_every": eval_every, "seed": seed,
                           **setting(name)})
    points: list[dict[str, Any]] = []

    def log(point: dict[str, Any]) -> None:
        points.append(point)
        write_json(path, {"setting": name, "seed": seed, "finished": False, "curve": points})
        print(json.dumps({"setting": name, "seed": seed, "step": point["step"], "gap": round(point["gap"], 3),
                          "mig": round(point["mig"], 3), "best_nmi": point["best_nmi"]}), flush=True)

    result = run_testbed(cfg, log)
    write_json(path, {"setting": name, "seed": seed, "finished": True, **result})


def plot(out: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for f in sorted(out.glob("*.json")):
        rec = json.loads(f.read_text())
        steps = [p["step"] for p in rec["curve"]]
        label = f"{rec['setting']} s{rec['seed']}"
        axes[0].plot(steps, [p["gap"] for p in rec["curve"]], marker=".", label=label)
        axes[1].plot(steps, [p["mig"] for p in rec["curve"]], marker=".", label=label)
        axes[2].plot(steps, [min(p["best_nmi"].values()) for p in rec["curve"]], marker=".", label=label)
    for ax, title in zip(axes, ("positive - negative gap", "MIG", "worst factor's best-dim nMI")):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", default="tau0.1")
    p.add_argument("--seeds", default="0")
    p.add_argument("--dataset", default="shapes3d")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--eval-every", type=int, default=150)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/contrastive-testbed"))
    p.add_argument("--plot", type=Path)
    a = p.parse_args()
    if a.plot:
        plot(a.out, a.plot)
        return
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    for name in a.settings.split(";"):
        for seed in [int(s) for s in a.seeds.split(",")]:
            run_one(name, seed, a.steps, a.eval_every, a.dataset, a.out)


if __name__ == "__main__":
    main()
