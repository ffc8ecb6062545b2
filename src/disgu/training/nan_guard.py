"""The NaN guard: an optimiser step whose gradients are not finite is skipped, never written into the weights.

A shift can land where the Glow's reverse pass is fragile, a VAE's loss can overflow for one
batch: skipping that one update is cheaper than losing the run. The guard counts the skips and
the current run of consecutive ones, so a stage can react to a streak (the Glow restores its last
checkpoint with a lower learning rate). Called after the gradients were averaged over ranks, so
every rank makes the same decision.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from disgu.distributed import gradients_finite


class NonFiniteGuard:
    """Decides whether a step's update may be applied, and counts those that may not."""

    def __init__(self, skipped: int = 0, restore_after: int | None = None):
        self.skipped = skipped  # in the whole run (restored from the checkpoint on resume)
        self.streak = 0  # consecutive skipped steps
        self.restore_after = restore_after

    def check(self, params: Iterable[torch.nn.Parameter]) -> bool:
        """True when every gradient is finite (apply the step); else count a skipped step."""
        return self.record(gradients_finite(params))

    def record(self, finite: bool) -> bool:
        """Count a decision made elsewhere (the Glow also looks at its loss and gradient norm); returns `finite`."""
        if finite:
            self.streak = 0
        else:
            self.skipped += 1
            self.streak += 1
        return finite

    def restore_due(self) -> bool:
        """True once `restore_after` steps in a row were skipped (the streak then starts again)."""
        if self.restore_after is None or self.streak < self.restore_after:
            return False
        self.streak = 0
        return True
