"""One writer per run folder: a second process on the same --out exits 2 naming the holder; a dead holder's lock is
taken over."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from disgu.cli import cli
from disgu.errors import UserError
from disgu.runlock import LOCK_NAME, holder, run_folder_lock

_HOLD = ("import sys; from disgu.runlock import run_folder_lock\n"
         "with run_folder_lock(sys.argv[1]):\n"
         "    print('held', flush=True); sys.stdin.read()\n")


def _holder_process(folder: Path) -> subprocess.Popen:
    """A separate process holding `folder` until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "RANK": "0"})
    assert proc.stdout.readline().strip() == "held"
    return proc


def _one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["run", "--dataset", "shapes3d", "--preset", "tiny", "--no-progress", "--device", "cpu"],
    ["baseline", "beta-vae", "--dataset", "shapes3d", "--steps", "1", "--no-eval"],
    ["train-glow", "--dataset", "shapes3d", "--steps", "1", "--no-progress"],
    ["compare", "--dataset", "shapes3d", "--methods", "beta-vae", "--seeds", "1", "--preset", "tiny"],
])
def test_a_second_process_on_the_same_out_is_refused(tmp_path, argv):
    out = tmp_path / "run"
    proc = _holder_process(out)
    try:
        before = sorted(p.name for p in out.iterdir())
        line = _one_line(CliRunner().invoke(cli, [*argv, "--out", str(out)]))
        assert line.startswith("disgu: error: --out ") and str(out) in line
        assert f"pid {proc.pid} on host {socket.gethostname()}" in line and "in use by" in line
        assert sorted(p.name for p in out.iterdir()) == before == [LOCK_NAME]  # the holder's lock, nothing else
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert list(out.iterdir()) == []  # the holder let go: its lock file is gone


def test_a_killed_holder_is_taken_over(tmp_path):
    out = tmp_path / "run"
    proc = _holder_process(out)
    (out / "keep.txt").write_text("work of the killed run\n")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert holder(out)["pid"] == proc.pid  # the lock file outlives its process
    heard: list[str] = []
    with run_folder_lock(out, log=heard.append):
        assert holder(out)["pid"] == os.getpid()
    assert len(heard) == 1 and f"pid {proc.pid}" in heard[0] and "no longer runs" in heard[0]
    assert not (out / LOCK_NAME).exists() and (out / "keep.txt").is_file()


def test_a_killed_run_resumes_under_the_cli(tmp_path):
    out = tmp_path / "run"
    proc = _holder_process(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    result = CliRunner().invoke(cli, ["run", "--dataset", "shapes3d", "--preset", "tiny", "--no-progress",
                                      "--device", "cpu", "--stages", "glow", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"took over the lock of pid {proc.pid}" in result.stderr


def test_reentrant_in_one_process_and_inside_a_held_folder(tmp_path):
    with run_folder_lock(tmp_path / "r"):
        with run_folder_lock(tmp_path / "r"), run_folder_lock(tmp_path / "r" / "glow" / "train"):
            assert not (tmp_path / "r" / "glow" / "train" / LOCK_NAME).exists()
        assert (tmp_path / "r" / LOCK_NAME).is_file()
    assert list((tmp_path / "r").iterdir()) == [tmp_path / "r" / "glow"]  # the lock file is gone


def test_a_failure_leaves_no_folder_the_lock_created(tmp_path):
    with pytest.raises(RuntimeError), run_folder_lock(tmp_path / "a" / "b"):
        (tmp_path / "a" / "b" / "glow").mkdir()
        raise RuntimeError
    assert not (tmp_path / "a").exists()


def test_without_flock_the_file_itself_is_the_lock(tmp_path, monkeypatch):
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    out = tmp_path / "run"
    out.mkdir()
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=60)
    try:
        (out / LOCK_NAME).write_text(json.dumps({"pid": live.pid, "host": socket.gethostname()}))
        with pytest.raises(UserError, match=f"in use by pid {live.pid}"), run_folder_lock(out):
            pass
        (out / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
        heard: list[str] = []
        with run_folder_lock(out, log=heard.append):
            assert holder(out)["pid"] == os.getpid()
        assert f"pid {dead.pid}" in heard[0] and not (out / LOCK_NAME).exists()
        (out / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": "another-host"}))
        with pytest.raises(UserError, match="another-host"), run_folder_lock(out):
            pass  # a pid on another host cannot be checked: assumed alive
    finally:
        live.stdin.close()
        live.wait(timeout=60)
