"""Stop on SIGTERM / Ctrl-C at the end of the current step, so the checkpoint written on the way out is consistent.

The first signal sets a flag that the loop reads between steps; a second Ctrl-C stops at once.
(A second SIGTERM does not: schedulers repeat it, and the checkpoint is on its way.) Outside
the main thread signals cannot be caught and this does nothing.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import torch

from disgu.distributed import all_reduce_min, world


class StopRequest:
    """A context manager whose `requested` turns true once SIGTERM or SIGINT arrived."""

    def __init__(self):
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def agreed(self, device: torch.device | str = "cpu") -> bool:
        """True on every rank once any rank was asked to stop (so all ranks leave after the same step)."""
        if world()[1] == 1:
            return self.requested
        go_on = torch.tensor([0.0 if self.requested else 1.0], device=device)
        return not bool(all_reduce_min(go_on).item())

    def checkpoint_or_stop(self, done: int, total: int, every: int, save, bar, what: str, out_dir,
                           device: torch.device | str = "cpu") -> None:
        """After step `done`: checkpoint every `every` steps, at the end, and when asked to stop; then stop.

        Stopping raises KeyboardInterrupt (the checkpoint is written first), which `disgu run` reports
        as "rerun to resume".
        """
        stopping = self.agreed(device) and done < total
        if stopping or done % every == 0 or done == total:
            save(done)
        if stopping:
            bar.close()
            raise KeyboardInterrupt(f"{what} stopped at step {done}; checkpoint saved in {out_dir}")
