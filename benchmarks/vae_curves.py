"""VAE learning curves: the four metrics of one long baseline run at fixed points of its training time.

Each (model, dataset, seed) is one `disgu baseline MODEL` run folder that grows milestone by
milestone: `--minutes M` resumes the run from its last checkpoint and trains until M minutes of
training wall time (summed over resumes, evaluation not counted), then scores it with the
preset's metric sizes. After every milestone the run's small records (metrics.json,
evaluation.json, summary.json) are copied to RECORDS/<model>-<dataset>-s<seed>/<M>min/, so a stop
loses at most the milestone in progress and a rerun of the same command carries on where it left
off. Milestones run in order of time across all curves (every curve reaches 15 min before any
reaches 30), so a short sitting still gives comparable points. One thread per run.

    python benchmarks/vae_curves.py --models beta-vae --datasets shapes3d,mpi3d,cars3d \
        --milestones 15,30,60,120,240 --runs runs/vae-curves --records benchmarks/results/vae-curves
    python benchmarks/vae_curves.py --records benchmarks/results/vae-curves --plot docs/images/vae-curves.png
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

RECORD_FILES = ("metrics.json", "evaluation.json", "summary.json", "run_info.json")
METRICS = ("mig", "dci", "factor_vae", "beta_vae")


def curve_name(model: str, dataset: str, seed: int) -> str:
    return f"{model}-{dataset}-s{seed}"


def run_milestone(model: str, dataset: str, seed: int, minutes: float, runs: Path, records: Path,
                  preset: str) -> None:
    """Train the curve's run to `minutes`, score it, copy its records. Skipped when the record exists."""
    name = curve_name(model, dataset, seed)
    target = records / name / f"{minutes:g}min"
    if (target / "metrics.json").is_file():
        return
    out = runs / name
    cmd = [sys.executable, "-m", "disgu.cli", "baseline", model, "--dataset", dataset, "--preset", preset,
           "--seed", str(seed), "--minutes", f"{minutes:g}", "--threads", "1", "--out", str(out)]
    print("+", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in RECORD_FILES:
        if (out / f).is_file():
            # records are committed: the run folder's machine-specific prefix becomes the documented one
            text = (out / f).read_text().replace(str(out.resolve()), f"runs/vae-curves/{name}")
            (tmp / f).write_text(text.replace(str(out), f"runs/vae-curves/{name}"))
    tmp.rename(target)


def read_curves(records: Path) -> dict[str, list[dict]]:
    """{curve: [{'minutes', 'step', metric: value, ...}, ...]} sorted by minutes."""
    curves: dict[str, list[dict]] = {}
    for point in sorted(records.glob("*/*min/metrics.json")):
        m = json.loads(point.read_text())
        summary_file = point.parent / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        scores = m.get("scores", m)
        row = {"minutes": float(point.parent.name[:-3]), "step": summary.get("step")}
        for k in METRICS:
            v = scores.get(k)
            row[k] = v.get("score", v.get("value")) if isinstance(v, dict) else v
        curves.setdefault(point.parent.parent.name, []).append(row)
    return {k: sorted(v, key=lambda r: r["minutes"]) for k, v in curves.items()}


def plot(records: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = read_curves(records)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.4), sharex=True)
    for ax, metric in zip(axes, METRICS):
        for name, rows in sorted(curves.items()):
            xs = [r["minutes"] for r in rows if r[metric] is not None]
            ys = [r[metric] for r in rows if r[metric] is not None]
            ax.plot(xs, ys, marker="o", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("training minutes (one core)")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="beta-vae")
    p.add_argument("--datasets", default="shapes3d,mpi3d,cars3d")
    p.add_argument("--seeds", default="0")
    p.add_argument("--milestones", default="15,30,60,120,240")
    p.add_argument("--preset", default="cpu")
    p.add_argument("--runs", type=Path, default=Path("runs/vae-curves"))
    p.add_argument("--records", type=Path, default=Path("benchmarks/results/vae-curves"))
    p.add_argument("--plot", type=Path, help="draw the curves found in --records to this PNG and exit")
    a = p.parse_args()
    if a.plot:
        plot(a.records, a.plot)
        return
    for minutes in [float(m) for m in a.milestones.split(",")]:
        for model in a.models.split(","):
            for dataset in a.datasets.split(","):
                for seed in [int(s) for s in a.seeds.split(",")]:
                    run_milestone(model, dataset, seed, minutes, a.runs, a.records, a.preset)


if __name__ == "__main__":
    main()
