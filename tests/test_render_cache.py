"""The render cache behind the procedural MPI3D and Cars3D: lazy, persistent, and the same bytes in every process."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from disgu.data.procedural.render_cache import RenderCache


def _fake_render(calls: list):
    def render(items):
        calls.append(items.tolist())
        return (items[:, None, None] * np.arange(6).reshape(2, 3)[None] % 251).astype(np.uint8)
    return render


def test_renders_only_missing_items_and_persists(tmp_path, monkeypatch):
    monkeypatch.setenv("DISGU_CACHE_DIR", str(tmp_path))
    calls = []
    cache = RenderCache("fake", 100, (2, 3), _fake_render(calls))
    first = cache.get([5, 7, 5])
    assert calls == [[5, 7]] and first.shape == (3, 2, 3)
    cache.get([7, 9])
    assert calls == [[5, 7], [9]]
    assert cache.path.is_file()

    def fail(items):
        raise AssertionError(f"rendered {items} again")
    again = RenderCache("fake", 100, (2, 3), fail)  # a new process opening the same cache
    np.testing.assert_array_equal(again.get([5, 7, 5]), first)


def test_a_damaged_or_resized_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("DISGU_CACHE_DIR", str(tmp_path))
    (tmp_path / "fake.npy").write_bytes(b"not an array")
    calls = []
    assert RenderCache("fake", 10, (2, 3), _fake_render(calls)).get([3]).shape == (1, 2, 3)
    bigger = RenderCache("fake", 20, (2, 3), _fake_render(calls))
    assert bigger.get([15])[0, 1, 2] == 15 * 5 % 251 and calls == [[3], [15]]


def test_unwritable_cache_dir_falls_back_to_memory(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("DISGU_CACHE_DIR", str(blocked / "cache"))  # a folder cannot be made under a file
    calls = []
    cache = RenderCache("fake", 10, (2, 3), _fake_render(calls))
    cache.get([1])
    cache.get([1])
    assert calls == [[1]]


_SCRIPT = """
import hashlib, numpy as np
from disgu.data import load_dataset
for name, idx in (("mpi3d", [0, 523_111, 1_036_799]), ("cars3d", [0, 9_000, 17_567])):
    print(name, hashlib.sha256(load_dataset(name).images(np.array(idx)).tobytes()).hexdigest())
"""


def test_rendering_is_the_same_in_another_process(tmp_path, monkeypatch):
    """A fresh process with an empty cache renders the very same bytes as this one."""
    monkeypatch.setenv("DISGU_CACHE_DIR", str(tmp_path / "here"))
    from disgu.data import load_dataset

    here = {name: hashlib.sha256(load_dataset(name).images(np.array(idx)).tobytes()).hexdigest()
            for name, idx in (("mpi3d", [0, 523_111, 1_036_799]), ("cars3d", [0, 9_000, 17_567]))}
    env = dict(os.environ, DISGU_CACHE_DIR=str(tmp_path / "there"), OMP_NUM_THREADS="2")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    there = dict(line.split() for line in out.stdout.splitlines())
    assert there == here


@pytest.mark.parametrize("name", ["mpi3d", "cars3d"])
def test_datasets_pickle_without_their_memory_map(tmp_path, monkeypatch, name):
    """DataLoader workers get a copy that maps the cache file itself."""
    import pickle

    monkeypatch.setenv("DISGU_CACHE_DIR", str(tmp_path))
    from disgu.data import load_dataset

    ds = load_dataset(name)
    first = ds.images([3])
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone.images([3]), first)
