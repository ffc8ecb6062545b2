"""benchmarks/gpu_check.py: one clear line and nothing written without CUDA; every section runs in its CPU dry run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_writes_nothing(gpu_check, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA device" in err[0]
    assert not (tmp_path / "out").exists()


def test_the_cpu_is_refused_without_tiny(gpu_check, tmp_path, capsys):
    assert gpu_check.main(["--device", "cpu", "--out", str(tmp_path / "out")]) == 2
    assert "--tiny" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_the_cpu_dry_run_runs_every_section(gpu_check, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "out"
    rc = gpu_check.main(["--device", "cpu", "--tiny", "--out", str(out), "--warmup", "0", "--steps", "1",
                         "--train-steps", "4"])
    [path] = out.glob("*.json")
    result = json.loads(path.read_text())
    errors = {k: v["error"] for k, v in result["sections"].items() if "error" in v}
    assert rc == 0 and not errors, errors
    s = result["sections"]
    assert set(s) == {"steps", "bf16_decode", "nccl", "training", "deterministic"}
    assert set(s["steps"]["hours_per_stage"]) == {"glow", "discovery", "contrastive", "steps"}
    assert s["nccl"]["backend"] == "gloo" and s["nccl"]["ok"]
    assert s["training"]["steps"] == 4 and s["bf16_decode"]["max_abs_pixel_diff"] >= 0.0
    assert not torch.are_deterministic_algorithms_enabled()  # the deterministic section put the settings back
    [line] = (out / "results.md").read_text().splitlines()
    assert line.startswith("| ") and "all sections ran" in line
