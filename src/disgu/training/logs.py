"""A stage's training log: JSON lines in log.jsonl (+ TensorBoard scalars in tensorboard/), main rank only.

A resumed stage redoes the steps after its checkpoint, so opening the log at `start_step` drops
every record past it (and a torn last line left by a crash); TensorBoard's events past it are
purged the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from disgu.atomic import atomic_path
from disgu.distributed import is_main

LOG_NAME = "log.jsonl"
TENSORBOARD_NAME = "tensorboard"


class TrainingLog:
    """One JSON object per logged step or event; numbers also go to TensorBoard when asked for."""

    def __init__(self, stage_dir: str | Path, start_step: int = 0, tensorboard: bool = False):
        self.stage_dir = Path(stage_dir)
        self.path = self.stage_dir / LOG_NAME
        self.enabled = is_main()
        self.writer = None
        if not self.enabled:
            return
        self.stage_dir.mkdir(parents=True, exist_ok=True)
        self._truncate_after(start_step)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency, but the JSON log is enough to go on
                return
            self.writer = SummaryWriter(str(self.stage_dir / TENSORBOARD_NAME),
                                        purge_step=start_step + 1 if start_step else None)

    def write(self, step: int, **record: Any) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **record}) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _truncate_after(self, step: int) -> None:
        if not self.path.is_file():
            return
        kept = [ln for ln in self.path.read_text().splitlines() if _logged_step(ln) <= step]
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(ln + "\n" for ln in kept))


def _logged_step(line: str) -> float:
    """The step of a log line; a torn or empty line (a crash mid-write) sorts last, so it is dropped."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return float("inf")
