"""The progress bar of every training stage: tqdm on the main rank, over steps or over a wall-time budget."""

from __future__ import annotations

from disgu.distributed import is_main


def progress_bar(total: int | None, initial: int, desc: str, enabled: bool = True, unit: str = "it"):
    """A tqdm bar (step, loss/metric in the postfix, ETA) shown on the main rank only."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not (enabled and is_main()),
                dynamic_ncols=True, leave=True, mininterval=1.0)


class BudgetBar:
    """A bar over the seconds of a wall-time budget, so its ETA is the budget's end; `update` takes elapsed seconds."""

    def __init__(self, seconds: float, elapsed: float, desc: str, enabled: bool = True):
        total = round(seconds)
        self._shown = min(round(elapsed), total)
        self.bar = progress_bar(total, self._shown, desc, enabled, unit="s")

    def update(self, elapsed: float) -> None:
        now = min(round(elapsed), self.bar.total)
        if now > self._shown:
            self.bar.update(now - self._shown)
            self._shown = now

    def set_postfix(self, **kw) -> None:
        self.bar.set_postfix(**kw)

    def close(self) -> None:
        self.bar.close()
