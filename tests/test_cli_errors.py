"""Every user mistake on the command line: exit status 2, one line naming the option or file, nothing left behind.

The battery is tests/cli_error_cases.py (also the source of docs/cli-errors.md); the tests after it
cover what a table cannot: threads, Ctrl-C, a first run that failed, DisGU.transform, the validator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_error_cases import CASES, Case, make_files
from click.testing import CliRunner

from disgu.cli import cli
from disgu.errors import UserError


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cases")
    make_files(tmp)
    return tmp


def _listing(tmp: Path) -> set[str]:
    return {str(p.relative_to(tmp)) for p in tmp.rglob("*")}


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_each_mistake_is_one_line_and_exit_2(files: Path, case: Case):
    if case.proc and not Path("/proc").is_dir():
        pytest.skip("needs /proc")
    before = _listing(files)
    result = CliRunner().invoke(cli, case.argv(files))
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("disgu: error: ") and case.expect in lines[0], lines[0]
    assert _listing(files) == before  # no output, no temporary, no run dir left behind


def test_battery_names_every_command_that_takes_the_options():
    commands = {c.args[0] if c.args[0] not in ("baseline", "data") else " ".join(c.args[:2]) for c in CASES}
    for name in ("run", "train-glow", "baseline beta-vae", "encode", "traverse", "sample", "metrics", "data show",
                 "export-glow"):
        assert name in commands, name


# ---------------------------------------------------------------- --threads and --seed are one option each


def _torch_commands():
    from disgu.cli.baseline import baseline

    return [cli.commands[n] for n in ("run", "train-glow", "encode", "traverse", "sample")] + [
        baseline.commands[n] for n in ("beta-vae", "factor-vae", "untrained")]


def test_threads_is_the_same_option_everywhere_with_default_1():
    from disgu.cli.options import THREADS_HELP

    for command in _torch_commands():
        (opt,) = [p for p in command.params if p.name == "threads"]
        assert opt.default == 1 and opt.help == THREADS_HELP, command.name
    for name in ("run", "train-glow", "encode", "traverse", "sample"):
        assert "--threads" in CliRunner().invoke(cli, [name, "--help"]).output


def test_threads_are_applied_while_parsing(tmp_path):
    before = torch.get_num_threads()
    try:
        result = CliRunner().invoke(cli, ["run", "--dataset", "shapes3d", "--preset", "tiny", "--out",
                                          str(tmp_path / "r"), "--threads", "2", "--set", "discovery.steps=0"])
        assert result.exit_code == 2 and torch.get_num_threads() == 2
        result = CliRunner().invoke(cli, ["run", "--dataset", "shapes3d", "--preset", "tiny", "--out",
                                          str(tmp_path / "r"), "--set", "discovery.steps=0"])
        assert result.exit_code == 2 and torch.get_num_threads() == 1  # the default
    finally:
        torch.set_num_threads(before)


def test_apply_threads_refuses_nonsense():
    from disgu.cli.options import apply_threads

    for bad in (0, -1, True, 1.5):
        with pytest.raises(UserError, match="--threads"):
            apply_threads(bad)


def test_seed_bounds_are_inclusive():
    from disgu.cli.options import SEED
    from disgu.pipeline.config import SEED_MAX

    assert SEED.convert("4294967295", None, None) == SEED_MAX == 2**32 - 1
    assert SEED.convert("0", None, None) == 0


# ---------------------------------------------------------------- validate_config


def test_validate_config_accepts_every_preset():
    from disgu.pipeline.config import PRESET_NAMES, make_config, validate_config

    for name in PRESET_NAMES:
        validate_config(make_config(name))


@pytest.mark.parametrize("override,expect", [
    ("discovery.lr=-1", "--set discovery.lr=-1: expected a number > 0"),
    ("discovery.steps=-5", "--set discovery.steps=-5: expected a positive integer"),
    ("contrastive.steps=0", "--set contrastive.steps=0: expected a positive integer"),
    ("discovery.nav_lr=0", "--set discovery.nav_lr=0: expected a number > 0"),
    ("contrastive.entropy_weight=-1", "expected a number >= 0"),
    ("contrastive.prune_similarity=2", "--set contrastive.prune_similarity=2: expected a number in -1"),
    ("glow.hidden=0", "--set glow.hidden=0"),
    ("glow.train_preset=huge", "--set glow.train_preset=huge: expected one of"),
    ("traversal.n_shifts=0", "--set traversal.n_shifts=0"),
    ("evaluation.dci_estimator=magic", "--set evaluation.dci_estimator=magic"),
    ("evaluation.seed=-1", "--set evaluation.seed=-1"),
    ("resolution=0", "--set resolution=0"),
])
def test_validate_config_names_the_field_as_set_spells_it(override, expect):
    from disgu.pipeline.config import apply_overrides, make_config, validate_config

    cfg = apply_overrides(make_config("tiny"), [override])
    with pytest.raises(UserError) as info:
        validate_config(cfg)
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_optional_fields_may_stay_none():
    from disgu.pipeline.config import apply_overrides, make_config, validate_config

    validate_config(apply_overrides(make_config("demo"), ["discovery.nav_lr=none", "glow.steps=none"]))


def test_disgu_estimator_refuses_bad_overrides_before_training(tmp_path):
    from disgu import DisGU

    with pytest.raises(UserError, match="discovery.steps"):
        DisGU(preset="tiny", out=tmp_path / "r", overrides={"discovery.steps": 0}).fit("shapes3d")
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- images for DisGU.transform


def test_transform_refuses_anything_but_n_h_w_c():
    from disgu import DisGU

    model = DisGU()
    model.encoder_ = object()  # never reached: the shape is checked first
    for bad in (np.zeros((64, 64, 3), np.uint8), np.zeros((8, 64, 3), np.uint8), np.zeros((4, 8, 8), np.uint8),
                np.zeros((2, 8, 8, 5), np.uint8), np.zeros((2, 8, 8, 3), np.float32)):
        with pytest.raises(UserError) as info:
            model.transform(bad)
        message = str(info.value)
        assert "(N, H, W, C)" in message and "images[None]" in message and str(bad.shape) in message


# ---------------------------------------------------------------- weight files through the library


def test_load_glow_and_load_checkpoint_name_the_file(files: Path):
    from disgu.checkpoint import load_checkpoint
    from disgu.models import load_glow

    for name, expect in (("glow.safetensors", "truncated or not that format"), ("glow.pt", "truncated"),
                         ("notes.pt", "not a torch .pt file")):
        with pytest.raises(UserError) as info:
            load_glow(files / name)
        assert str(files / name) in str(info.value) and expect in str(info.value)
    empty = files.parent / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        load_checkpoint(empty)


# ---------------------------------------------------------------- a failed first run does not poison --out


def _npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 255, (64, 16, 16, 3), np.uint8),
             factors=np.stack([np.arange(64) % 4, np.arange(64) // 16], 1))
    return path


def test_wrong_data_path_writes_nothing_and_the_fix_runs(tmp_path):
    out = tmp_path / "run"
    base = ["run", "--dataset", "shapes3d", "--preset", "tiny", "--out", str(out), "--no-progress", "--device", "cpu",
            "--stages", "glow"]
    bad = CliRunner().invoke(cli, [*base, "--data-path", str(tmp_path / "3dshapes.h5")])
    assert bad.exit_code == 2 and "3dshapes.h5" in bad.stderr
    assert not out.exists()
    good = CliRunner().invoke(cli, base)
    assert good.exit_code == 0, good.output


def test_a_config_no_stage_has_used_may_be_replaced(tmp_path, monkeypatch):
    """A first run that failed inside its first stage, before writing anything, leaves only config.json."""
    from disgu.pipeline.stages import STAGE_FUNCTIONS

    data = _npz(tmp_path / "mine.npz")
    out = tmp_path / "run"
    base = ["run", "--dataset", str(data), "--preset", "tiny", "--out", str(out), "--no-progress", "--device", "cpu",
            "--stages", "glow"]
    refused = CliRunner().invoke(cli, [*base, "--set", "glow.source=pretrained"])  # known before the run starts
    assert refused.exit_code == 2 and "glow.source=pretrained" in refused.stderr and not out.exists()

    def failing(ctx):
        raise UserError("the Glow stage failed")

    with monkeypatch.context() as m:
        m.setitem(STAGE_FUNCTIONS, "glow", failing)
        failed = CliRunner().invoke(cli, [*base, "--set", "glow.hidden=6"])
    assert failed.exit_code == 2 and "the Glow stage failed" in failed.stderr
    assert (out / "config.json").is_file()
    fixed = CliRunner().invoke(cli, base)
    assert fixed.exit_code == 0, fixed.output
    assert json.loads((out / "config.json").read_text())["glow"]["hidden"] == 8
    assert json.loads((out / "run_info.json").read_text())["config"]["glow"]["hidden"] == 8
    assert not (out / "run_info_resumed.json").exists()
    changed = CliRunner().invoke(cli, [*base, "--set", "glow.hidden=4"])  # now a stage has finished: refused
    assert changed.exit_code == 2 and "different configuration" in changed.stderr


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_says_how_to_resume_and_exits_130(tmp_path, monkeypatch):
    from disgu.pipeline.stages import STAGE_FUNCTIONS

    def interrupted(ctx):
        raise KeyboardInterrupt

    monkeypatch.setitem(STAGE_FUNCTIONS, "glow", interrupted)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", "--dataset", "shapes3d", "--preset", "tiny", "--out", str(out),
                                      "--no-progress", "--device", "cpu"])
    assert result.exit_code == 130
    lines = [line for line in result.stderr.splitlines() if line.startswith("disgu: run stopped")]
    assert len(lines) == 1 and "rerun the same command to resume" in lines[0] and str(out) in lines[0]
    assert "Aborted" not in result.output


def test_ctrl_c_in_any_command_is_one_line_not_aborted():
    import click

    from disgu.cli import _Group

    @click.group(cls=_Group)
    def group() -> None:
        pass

    @group.command()
    def slow() -> None:
        raise KeyboardInterrupt

    result = CliRunner().invoke(group, ["slow"])
    assert result.exit_code == 130
    assert "Aborted" not in result.output and "Traceback" not in result.output
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "disgu: interrupted (Ctrl-C); a rerun of a training command resumes from its last checkpoint"]


def test_sigint_while_the_glow_trains(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-c", "import sys; from disgu.cli import main; main(sys.argv[1:])", "run", "--dataset",
           "shapes3d", "--preset", "tiny", "--out", str(out), "--no-progress", "--device", "cpu", "--set",
           "glow.steps=100000", "--set", "glow.checkpoint_every=100000", "--set", "glow.eval_every=100000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    log = out / "glow" / "train" / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text().strip()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Aborted" not in err
    assert "disgu: run stopped; rerun the same command to resume" in err
