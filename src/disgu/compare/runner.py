"""Run the planned commands, J at a time, each writing to its own log; stop them all on Ctrl-C.

Children start in their own session, so Ctrl-C reaches this process only and it decides what to
stop (every child it started, by pid); a rerun then resumes each run dir where it was.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from disgu.compare.plan import RunSpec, is_finished


@dataclass
class RunOutcome:
    """How one run ended: returncode 0 is success; `seconds` is the wall time of the subprocess.

    `skipped`: finished by another process (a `disgu baseline` by hand, a second comparison) between
    the plan and this run's turn, so nothing was started.
    """

    spec: RunSpec
    returncode: int
    seconds: float
    skipped: bool = False


class _Children:
    """The subprocesses started so far and not yet finished, so that an interrupt can stop exactly those."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self.stopping = False

    def start(self, spec: RunSpec) -> subprocess.Popen | None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        with self._lock:
            if self.stopping:
                return None
            spec.log.parent.mkdir(parents=True, exist_ok=True)
            with open(spec.log, "w") as log:
                log.write("$ " + " ".join(spec.argv) + "\n")
                log.flush()
                proc = subprocess.Popen(spec.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=env, start_new_session=True)
            self._procs.add(proc)
        return proc

    def done(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def stop_all(self, grace_s: float = 10.0) -> None:
        """SIGTERM each child (checkpoints are written atomically), then SIGKILL what is left after `grace_s`."""
        with self._lock:
            self.stopping = True
            procs = list(self._procs)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _run_one(spec: RunSpec, children: _Children) -> RunOutcome:
    if is_finished(spec.run_dir):
        return RunOutcome(spec, 0, 0.0, skipped=True)
    t0 = time.perf_counter()
    proc = children.start(spec)
    if proc is None:
        return RunOutcome(spec, -signal.SIGTERM, 0.0)
    try:
        rc = proc.wait()
    finally:
        children.done(proc)
    return RunOutcome(spec, rc, time.perf_counter() - t0)


def run_all(specs: list[RunSpec], jobs: int, on_done: Callable[[RunOutcome], None]) -> list[RunOutcome]:
    """Run every spec with `jobs` workers; `on_done` sees each outcome as it finishes (failures included).

    A KeyboardInterrupt stops every child and is raised again once they are gone.
    """
    children = _Children()
    outcomes: list[RunOutcome] = []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        pending: set[Future] = {pool.submit(_run_one, s, children) for s in specs}
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                outcome = fut.result()
                outcomes.append(outcome)
                on_done(outcome)
    except KeyboardInterrupt:
        children.stop_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes
