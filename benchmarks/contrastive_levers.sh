#!/bin/bash
# Rerun only the contrastive stage of a finished `cpu` run with other settings, then quick metrics.
# Usage: benchmarks/contrastive_levers.sh BASE_RUN OUT_ROOT NAME STEPS [--set section.field=value ...]
# e.g.   benchmarks/contrastive_levers.sh runs/cpu-s0 runs/levers ew1 300 --set contrastive.entropy_weight=1.0
# SEED=N (default 0) must be the base run's seed so that the contrastive stage draws what that run drew.
set -euo pipefail
base=$1; root=$2; name=$3; steps=$4; shift 4
d=$root/$name
mkdir -p "$d"
[ -d "$d/glow" ] || cp -r "$base/glow" "$d/glow"
[ -d "$d/discovery" ] || cp -r "$base/discovery" "$d/discovery"
disgu run --dataset shapes3d --preset cpu --seed "${SEED:-0}" --out "$d" --threads 1 --no-progress \
  --stages glow,discovery,contrastive --set contrastive.steps="$steps" --set contrastive.checkpoint_every=100 "$@"
python "$(dirname "$0")/quick_codes_eval.py" "$d" >> "$root/results.jsonl"
