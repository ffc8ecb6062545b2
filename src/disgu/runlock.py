"""One writer per run folder: a second disgu process on the same --out is refused, naming the holder.

The lock is `DIR/.disgu-lock`, held with `flock` for as long as the command runs. The kernel drops
a flock when its process dies, so a killed run never blocks the next one: the file it leaves behind
names a pid that no longer runs, and the next process takes the lock over. Where the filesystem has
no flock (some network mounts) the file itself is the lock (created exclusively), and a file whose
pid no longer runs on this host is taken over. The file holds the holder's pid, host and command,
so the refusal can say who holds the folder.

Within one process the lock is re-entrant, also for folders inside a held one (the Glow stage of
a run trains in DIR/glow/train), and under torchrun only rank 0 locks. A folder the lock had to
create is removed again if the command fails before writing anything into it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from disgu.errors import UserError

LOCK_NAME = ".disgu-lock"
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}
_held: set[Path] = set()  # folders this process holds


@contextmanager
def run_folder_lock(folder: str | os.PathLike, option: str = "--out",
                    log: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold `folder` for the block (creating it if needed); UserError when another live process holds it.

    `log` hears about a stale lock taken over (its holder no longer runs).
    """
    folder = Path(folder).absolute()
    if int(os.environ.get("RANK", "0")) != 0 or any(p == folder or p in folder.parents for p in _held):
        _make_folder(folder, option)
        yield folder
        return
    created = _make_folder(folder, option)
    path = folder / LOCK_NAME
    try:
        fd, stale = _acquire(path, option)
    except BaseException:
        _remove_empty(created)
        raise
    if stale and log is not None:
        log(f"disgu: {option} {folder}: took over the lock of {_describe(stale)}, which no longer runs")
    _held.add(folder)
    try:
        yield folder
    except BaseException:
        _held.discard(folder)
        _release(path, fd)
        _remove_empty(created)
        raise
    _held.discard(folder)
    _release(path, fd)


def holder(folder: str | os.PathLike) -> dict | None:
    """What the lock file of `folder` says about its holder (None: no readable lock file)."""
    return _read(Path(folder) / LOCK_NAME)


# ----------------------------------------------------------------------------- acquiring


def _acquire(path: Path, option: str) -> tuple[int, dict | None]:
    """(file descriptor of the held lock file, the stale holder's record or None)."""
    for _ in range(100):  # retried only when the file was replaced under us by a holder letting go
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(path, option) from None
        except OSError as err:
            os.close(fd)
            if err.errno not in _NO_FLOCK:
                raise UserError(f"{option} {path.parent}: cannot lock the run folder ({err.strerror})") from None
            return _acquire_exclusive(path, option)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder removed the file between our open and our flock
            os.close(fd)
            continue
        previous = _read(path)
        _write_record(fd)
        return fd, previous if previous and previous.get("pid") != os.getpid() else None
    raise UserError(f"{option} {path.parent}: cannot lock the run folder (its lock file keeps changing)")


def _acquire_exclusive(path: Path, option: str) -> tuple[int, dict | None]:
    """The lock as a file created with O_EXCL, for filesystems without flock; a dead holder's file is taken over."""
    stale = None
    for _ in range(2):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            record = _read(path)
            if record is None or not _is_dead(record):
                raise _busy(path, option) from None
            stale = record
            path.unlink(missing_ok=True)
            continue
        _write_record(fd)
        return fd, stale
    raise _busy(path, option)


def _release(path: Path, fd: int) -> None:
    """Remove the lock file while still holding it, then let go (a waiting process then retries on a new file)."""
    try:
        if os.fstat(fd).st_ino == os.stat(path).st_ino:
            path.unlink()
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def _busy(path: Path, option: str) -> UserError:
    record = _read(path)
    who = _describe(record) if record else "another process (it is starting)"
    return UserError(f"{option} {path.parent}: in use by {who}; wait for it to finish or choose another {option}")


# ----------------------------------------------------------------------------- the holder's record


def _write_record(fd: int) -> None:
    record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": " ".join(["disgu", *sys.argv[1:]])[:300]}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)


def _read(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _describe(record: dict) -> str:
    since = f" since {record['since']}" if record.get("since") else ""
    return f"pid {record.get('pid')} on host {record.get('host')}{since}"


def _is_dead(record: dict) -> bool:
    """True only when the holder ran on this host and its pid no longer exists (another host's: assume alive)."""
    pid = record.get("pid")
    if record.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# ----------------------------------------------------------------------------- the folder


def _make_folder(folder: Path, option: str) -> Path | None:
    """Create `folder` (and missing parents); returns the topmost folder created, None if it existed."""
    top = None
    for p in (folder, *folder.parents):
        if p.exists():
            break
        top = p
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{option} {folder}: cannot create the folder ({err.strerror})") from None
    return top


def _remove_empty(top: Path | None) -> None:
    """Remove the folders this lock created under `top`, where they are still empty."""
    if top is None:
        return
    for p in sorted((q for q in top.rglob("*") if q.is_dir()), key=lambda q: len(q.parts), reverse=True):
        try:
            p.rmdir()
        except OSError:
            pass
    try:
        top.rmdir()
    except OSError:
        pass
