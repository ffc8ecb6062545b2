"""What a report reads from a dir on disk: which kind of dir it is, its JSON files and its training logs.

Why one place: the page, the plots and the CLI all ask the same questions of a dir (is it a
`disgu run` dir or a `disgu baseline` dir, where are its logs), and a missing or torn file must
become a note on the page, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disgu.errors import UserError

BASELINE_MODELS = ("beta-vae", "factor-vae", "dip-vae-i", "dip-vae-ii", "untrained", "gs", "cf", "ds", "ica", "ld",
                   "glow-ica")


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it is missing or not valid JSON (a report shows what there is)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a log, one a line; torn or blank lines (a crash mid-write) are skipped."""
    rows = []
    try:
        text = path.read_text()
    except OSError:
        return rows
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


@dataclass
class RunFiles:
    """The files of one run dir that a report shows; `kind` is 'run' (disgu run) or 'baseline' (disgu baseline)."""

    root: Path
    kind: str
    config: dict[str, Any]
    run_info: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    stage_times: dict[str, Any] | None = None
    directions: list[dict[str, Any]] = field(default_factory=list)
    traversal_index: dict[str, Any] | None = None

    @property
    def dataset(self) -> str:
        return str(self.config.get("dataset") or (self.metrics or {}).get("dataset") or "?")

    @property
    def method(self) -> str:
        """'Dis-GU' (discovery + contrastive only), 'Glow-ICA', 'DisCo' or the baseline's model name."""
        if self.kind == "baseline":
            return str(self.config.get("model", "baseline"))
        representation = self.config.get("representation", "contrastive")
        if representation == "disco":  # `disgu baseline disco` writes a `disgu run` dir
            return "DisCo"
        if representation == "contrastive":
            return "Dis-GU"
        return "Glow-ICA" if representation == "glow-ica" else str(representation)


def open_run(path: str | Path, option: str = "--run") -> RunFiles:
    """Read a `disgu run` or `disgu baseline` dir; a dir that is neither is a UserError naming `option`."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"{option} {root}: no such folder (expected a `disgu run` or `disgu baseline` output dir)")
    config = read_json(root / "config.json")
    run_info = read_json(root / "run_info.json") or {}
    if isinstance(config, dict):
        kind = "run"
    elif isinstance(run_info.get("config"), dict) and run_info["config"].get("model") in BASELINE_MODELS:
        kind, config = "baseline", run_info["config"]
    else:
        raise UserError(f"{option} {root}: neither config.json (a `disgu run` dir) nor a run_info.json of "
                        f"`disgu baseline` is there")
    index = read_json(root / "traversals" / "index.json")
    directions = index.get("directions", []) if isinstance(index, dict) else []
    metrics = read_json(root / "metrics.json")
    return RunFiles(root=root, kind=kind, config=config, run_info=run_info,
                    metrics=metrics if isinstance(metrics, dict) else None,
                    stage_times=read_json(root / "stage_times.json"), directions=directions,
                    traversal_index=index if isinstance(index, dict) else None)
