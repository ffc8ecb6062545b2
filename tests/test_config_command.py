"""`disgu config` prints the config `disgu run` would use: same resolution code, same one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from disgu.cli import cli
from disgu.pipeline.config import RunConfig, make_config


def _config(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["config", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_preset_prints_as_resolved():
    assert _config("--preset", "cpu") == make_config("cpu").to_dict()
    assert _config()["preset"] == "demo" and _config()["representation"] == "glow-ica"


def test_overrides_and_dataset_are_applied():
    tree = _config("--preset", "paper", "--dataset", "mpi3d", "--seed", "7", "--set", "contrastive.tau=0.5",
                   "--set", "representation=glow-ica")
    assert (tree["dataset"], tree["seed"], tree["contrastive"]["tau"], tree["representation"]) == \
        ("mpi3d", 7, 0.5, "glow-ica")
    assert tree["discovery"] == make_config("paper").to_dict()["discovery"]


def test_it_prints_what_disgu_run_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    seen = {}

    def fake_run_pipeline(cfg, out, **kwargs):
        seen["cfg"] = cfg.to_dict()
        return {}

    monkeypatch.setattr("disgu.pipeline.run.run_pipeline", fake_run_pipeline)
    options = ["--preset", "tiny", "--dataset", "dsprites", "--set", "discovery.steps=3", "--set", "ica.steps=2"]
    result = CliRunner().invoke(cli, ["run", *options, "--out", str(tmp_path / "run"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert _config(*options) == seen["cfg"]


@pytest.mark.parametrize("bad", ["discovery.steps=0", "contrastive.nope=1", "nosection.x=1", "tau", "seed=-3",
                                 "evaluation.metrics=mig,nope"])
def test_a_bad_set_is_the_same_one_line_as_in_disgu_run(tmp_path: Path, bad: str):
    out = tmp_path / "run"
    runs = [CliRunner().invoke(cli, [*cmd, "--preset", "tiny", "--dataset", "shapes3d", "--set", bad])
            for cmd in (["config"], ["run", "--out", str(out), "--no-progress"])]
    for result in runs:
        assert result.exit_code == 2 and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("disgu: error: --set ")
    assert runs[0].stderr == runs[1].stderr
    assert not out.exists()


def test_the_config_default_preset_is_the_commands_default():
    from disgu.cli.config import config
    from disgu.cli.run import run

    defaults = {p.name: p.default for cmd in (run, config) for p in cmd.params if p.name == "preset"}
    assert RunConfig().preset == "demo" and set(defaults.values()) == {"demo"}
