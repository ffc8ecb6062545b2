"""What a comparison runs: one `disgu` command line per method and seed, and which of them are already done.

Every run is a subprocess of the `disgu` CLI under the same interpreter, so a comparison is exactly
what a user would get by typing the commands one by one, and each run dir resumes on its own.
Every method is scored with the preset's metric sample sizes, so the rows differ by the method only.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from disgu.errors import UserError

METHODS = ("dis-gu", "beta-vae", "factor-vae", "dip-vae-i", "dip-vae-ii", "gs", "cf", "ds", "ica", "ld", "disco",
           "glow-ica", "untrained")
# Table 1's names that stand for more than one method here: the paper does not say which DIP-VAE it ran.
PAPER_ALIASES = {"dip-vae": ("dip-vae-i", "dip-vae-ii")}
VAE_METHODS = ("beta-vae", "factor-vae", "dip-vae-i", "dip-vae-ii")
DIRECTION_METHODS = ("gs", "cf", "ds", "ica", "ld")

# DisCo is Dis-GU's contrastive stage without the discovery stage: it runs under the same preset as dis-gu.
# The VAEs and the untrained floor take the preset too: its resolution, metric sizes and (VAEs)
# `disgu.presets.VAE_BUDGETS`, Dis-GU's training time at that preset.


@dataclass
class RunSpec:
    """One method at one seed: the command that produces its run dir, and where its output goes."""

    method: str
    seed: int
    run_dir: Path
    log: Path
    argv: list[str]
    budget: str

    @property
    def name(self) -> str:
        return f"{self.method}/s{self.seed}"


def parse_methods(text: str) -> list[str]:
    """'all' or a comma-separated list, in the order given; unknown names (and the paper's ambiguous 'dip-vae')
    are a UserError."""
    if text.strip().lower() == "all":
        return list(METHODS)
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    if not names:
        raise UserError(f"--methods {text!r}: name at least one method (available: all, {', '.join(METHODS)})")
    for name in names:
        if name in PAPER_ALIASES:
            raise UserError(f"--methods: {name} is {' and '.join(PAPER_ALIASES[name])} here (the paper does not say "
                            f"which it ran); name one or both")
        if name not in METHODS:
            raise UserError(f"--methods: unknown method {name!r}; available: all, {', '.join(METHODS)}")
    return list(dict.fromkeys(names))


def split_overrides(overrides: list[str], methods: list[str]) -> dict[str, list[str]]:
    """`--set field=value` goes to Dis-GU's run; `--set METHOD:field=value` to that method's command."""
    out: dict[str, list[str]] = {m: [] for m in methods}
    for item in overrides:
        head, sep, rest = item.partition(":")
        if sep and "=" not in head:
            if head not in out:
                raise UserError(f"--set {item!r}: {head!r} is not one of the compared methods ({', '.join(methods)})")
            out[head].append(rest)
        elif "dis-gu" in out:
            out["dis-gu"].append(item)
        else:
            raise UserError(f"--set {item!r}: a plain --set goes to dis-gu, which is not compared; "
                            f"write METHOD:field=value")
    return out


def is_finished(run_dir: Path) -> bool:
    """A run counts as done when its metrics.json holds a JSON object (written last, atomically)."""
    try:
        return isinstance(json.loads((run_dir / "metrics.json").read_text()), dict)
    except (OSError, ValueError):
        return False


def vae_budget(preset: str) -> str:
    """The words the table says about the VAEs' budget under `preset`."""
    from disgu.presets import VAE_BUDGETS

    budget = VAE_BUDGETS[preset]
    if "minutes" in budget:
        return f"{budget['minutes']:g} min of training (Dis-GU's `{preset}` training time)"
    if "steps" in budget:
        return f"{budget['steps']} steps (test preset)"
    return "300,000 steps (disentanglement_lib's, as the paper's baseline rows)"


def plan_runs(dataset: str, methods: list[str], seeds: int, preset: str, out: Path,
              overrides: dict[str, list[str]] | None = None, data_path: str | None = None) -> list[RunSpec]:
    """Every (method, seed) of the comparison, method by method, each with its command line."""
    overrides = overrides or {}
    common = ["--dataset", dataset, "--threads", "1"] + (["--data-path", data_path] if data_path else [])
    specs = []
    for method in methods:
        sets = [a for o in overrides.get(method, []) for a in ("--set", o)]
        for seed in range(seeds):
            run_dir = out / method / f"s{seed}"
            where = common + ["--seed", str(seed), "--out", str(run_dir)]
            if method == "dis-gu":
                # the paper's method whatever the preset's default representation (`cpu` and `demo` default to Glow-ICA)
                args, budget = ["run", "--preset", preset, "--no-progress", "--set", "representation=contrastive"], \
                    f"`{preset}` preset, discovery + contrastive"
            elif method == "disco":
                args, budget = ["baseline", "disco", "--preset", preset, "--no-progress"], \
                    f"`{preset}` preset's contrastive stage, no discovery"
            elif method in DIRECTION_METHODS:
                args, budget = ["baseline", method, "--preset", preset, "--no-progress"], \
                    f"`{preset}` preset's Glow, samples and encoder steps"
            elif method == "glow-ica":
                args, budget = ["baseline", "glow-ica", "--preset", preset, "--no-progress"], \
                    f"`{preset}` preset's ICA fit, no training (codes read through the Glow)"
            elif method in VAE_METHODS:
                args, budget = ["baseline", method, "--preset", preset], vae_budget(preset)
            else:
                args, budget = ["baseline", "untrained", "--preset", preset], "no training"
            argv = [sys.executable, "-m", "disgu.cli"] + args + where + sets
            specs.append(RunSpec(method, seed, run_dir, out / method / f"s{seed}.log", argv, budget))
    return specs


def spec_summary(spec: RunSpec) -> dict:
    """A run's plan as JSON (paths as strings), for the resolved compare config."""
    d = asdict(spec)
    d["run_dir"], d["log"] = str(spec.run_dir), str(spec.log)
    d["argv"] = ["python"] + spec.argv[1:]
    return d
