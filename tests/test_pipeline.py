"""The pipeline: presets, overrides, a tiny end-to-end run (CLI), resume via done-markers, encode, traverse, DisGU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sklearn.exceptions import NotFittedError

from disgu.cli import cli
from disgu.data import load_dataset
from disgu.data.base import GroundTruthDataset
from disgu.errors import UserError
from disgu.evaluation.directions import label_directions
from disgu.pipeline.config import RunConfig, apply_overrides, make_config
from disgu.pipeline.stages import done_marker, planned_stages

HEADLINE = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "factor_vae", "beta_vae")


def test_paper_preset_is_the_papers_setting():
    c = make_config("paper")
    assert c.resolution == 64
    assert c.discovery.n_directions == 64 and c.discovery.eta == 0.25 and c.discovery.shift_range == 6.0
    assert c.discovery.lr == c.contrastive.lr == 1e-4 and c.discovery.batch_size == c.contrastive.batch_size == 32
    assert c.contrastive.n_negatives == 64 and c.contrastive.hard_threshold == 0.95
    assert c.contrastive.steps == 70_000 and c.contrastive.checkpoint_every == 10_000
    assert c.contrastive.finetune_navigator and c.discovery.temperature == 0.7
    assert c.evaluation.mig_train == 10_000 and c.evaluation.dci_test == 5_000


def test_overrides_are_typed_and_checked():
    c = apply_overrides(make_config("cpu"), ["discovery.nav_lr=none", "contrastive.tau=0.5", "discovery.levels=all",
                                             "contrastive.finetune_navigator=false", "seed=4"])
    assert c.discovery.nav_lr is None and c.contrastive.tau == 0.5 and c.discovery.levels == "all"
    assert c.contrastive.finetune_navigator is False and c.seed == 4
    for bad in ["discovery.nope=1", "contrastive.tau=abc", "nosuch.x=1", "tau"]:
        with pytest.raises(UserError):
            apply_overrides(make_config("cpu"), [bad])
    with pytest.raises(UserError):
        make_config("huge")
    assert RunConfig.from_dict(c.to_dict()) == c


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    args = ["run", "--dataset", "shapes3d", "--preset", "tiny", "--seed", "0", "--out", str(out), "--no-progress",
            "--device", "cpu"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output + str(result.exception)
    return out, args


def test_end_to_end_writes_every_stage_and_metrics(tiny_run):
    out, _ = tiny_run
    for stage in planned_stages(make_config("tiny")):
        assert done_marker(out, stage).is_file(), stage
    metrics = json.loads((out / "metrics.json").read_text())
    for key in HEADLINE:
        assert isinstance(metrics[key], float) and 0.0 <= metrics[key] <= 1.0, key
    assert metrics["per_direction"]["top"] and "reconstructor_accuracy" in metrics
    assert 0.0 <= metrics["factor_vae_standardised"] <= 1.0
    info = json.loads((out / "run_info.json").read_text())
    assert info["seed"] == 0 and info["config"]["preset"] == "tiny" and "git_revision" in info and info["versions"]
    index = json.loads((out / "traversals" / "index.json").read_text())
    ranked = index["directions"]
    assert len(ranked) == 4 and [r["rank"] for r in ranked] == [0, 1, 2, 3]
    assert all(ranked[i]["score"] >= ranked[i + 1]["score"] for i in range(3))
    for r in ranked:
        assert (out / "traversals" / r["png"]).is_file() and (out / "traversals" / r["gif"]).is_file()
        assert r["factor"] in load_dataset("shapes3d").factor_names and 0.0 <= r["factor_nmi"] <= 1.0
    src = json.loads((out / "glow" / "source.json").read_text())
    assert src["kind"] == "trained"


def test_run_ends_with_a_table_of_scores_and_chance_levels(tiny_run):
    from disgu.pipeline.result_table import chance_levels, result_table

    out, _ = tiny_run
    m = json.loads((out / "metrics.json").read_text())
    table = result_table(m, out)
    assert "FactorVAE score" in table and str(out / "metrics.json") in table
    assert f"{m['mig']:.3f}" in table
    chance = chance_levels([10, 10, 10, 8, 4, 15])
    assert chance["factor_vae"] == chance["beta_vae"] == 1 / 6 and chance["mig"] == 0
    assert abs(chance["dci_informativeness"] - (3 / 10 + 1 / 8 + 1 / 4 + 1 / 15) / 6) < 1e-12


def test_rerun_skips_finished_stages(tiny_run):
    out, args = tiny_run
    stages = planned_stages(make_config("tiny"))
    before = {s: done_marker(out, s).stat().st_mtime_ns for s in stages}
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.count("done already") == len(stages)
    assert {s: done_marker(out, s).stat().st_mtime_ns for s in stages} == before


def test_redoing_a_stage_redoes_the_later_ones_only(tiny_run, tmp_path):
    import shutil

    out, args = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    done_marker(copy, "contrastive").unlink()
    glow_mtime = done_marker(copy, "glow").stat().st_mtime_ns
    result = CliRunner().invoke(cli, [*args[:-4], str(copy), "--no-progress", "--device", "cpu",
                                      "--stages", "glow,discovery,contrastive"])
    assert result.exit_code == 0, result.output
    assert "stage contrastive: done in" in result.output and "stage glow: done already" in result.output
    assert done_marker(copy, "glow").stat().st_mtime_ns == glow_mtime
    assert done_marker(copy, "contrastive").is_file()
    for stale in ("evaluation", "traversal"):  # stale after contrastive reran
        assert not done_marker(copy, stale).exists()


def test_changed_options_on_an_existing_run_dir_is_a_user_error(tiny_run):
    _, args = tiny_run
    result = CliRunner().invoke(cli, [a if a != "0" else "5" for a in args])
    assert result.exit_code == 2 and "different configuration" in result.output


def test_encode_and_transform_agree(tiny_run, tmp_path):
    from disgu import DisGU

    out, _ = tiny_run
    images = np.random.RandomState(0).randint(0, 256, (7, 64, 64, 3)).astype(np.uint8)
    np.save(tmp_path / "x.npy", images)
    result = CliRunner().invoke(cli, ["encode", "--run", str(out), "--images", str(tmp_path / "x.npy"),
                                      "--out", str(tmp_path / "codes.npy")])
    assert result.exit_code == 0, result.output
    codes = np.load(tmp_path / "codes.npy")
    model = DisGU.load(out)
    assert codes.shape == (7, model.n_features_out_) == (7, 4)
    assert np.allclose(codes, model.transform(images), atol=1e-6)
    bad = CliRunner().invoke(cli, ["encode", "--run", str(tmp_path), "--images", str(tmp_path / "x.npy"),
                                   "--out", str(tmp_path / "c.npy")])
    assert bad.exit_code == 2
    with pytest.raises(UserError):
        model.transform(images.astype(np.float32))


def test_traverse_command(tiny_run, tmp_path):
    out, _ = tiny_run
    result = CliRunner().invoke(cli, ["traverse", "--run", str(out), "--out", str(tmp_path / "t"), "--n-shifts", "4"])
    assert result.exit_code == 0, result.output
    index = json.loads((tmp_path / "t" / "index.json").read_text())
    assert len(index["shifts"]) == 4 and (tmp_path / "t" / "top_directions.png").is_file()


def test_same_seed_same_numbers(tiny_run, tmp_path):
    """Determinism on CPU: the same command in a fresh dir gives the same discovery and contrastive results."""
    import shutil

    out, args = tiny_run
    again = tmp_path / "again"
    shutil.copytree(out / "glow", again / "glow")  # the same Glow (its own training is covered by the Glow tests)
    shutil.copy(out / "config.json", again / "config.json")
    result = CliRunner().invoke(cli, [*args[:-4], str(again), "--no-progress", "--device", "cpu",
                                      "--stages", "glow,discovery,contrastive"])
    assert result.exit_code == 0, result.output
    for stage in ("discovery", "contrastive"):
        a = json.loads((out / stage / "summary.json").read_text())
        b = json.loads((again / stage / "summary.json").read_text())
        a.pop("train_seconds_this_session"), b.pop("train_seconds_this_session")
        assert a == b, stage


@pytest.mark.parametrize("representation", ["contrastive", "glow-ica"])
def test_stages_run_under_torchrun_with_two_processes(tmp_path, representation):
    """DDP: two CPU processes (gloo) run the training stages of either representation; rank 0 writes the files."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    script = shutil.which("disgu") or os.path.join(os.path.dirname(sys.executable), "disgu")
    if not (os.path.exists(torchrun) and os.path.exists(script)):
        pytest.skip("torchrun or the disgu script is not installed")
    out = tmp_path / "ddp"
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", str(29400 + os.getpid() % 500), script, "run",
           "--dataset", "shapes3d", "--preset", "tiny", "--out", str(out), "--device", "cpu", "--no-progress",
           "--stages", "glow,ica,discovery,contrastive,distil", "--set", f"representation={representation}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    trained = ("discovery", "contrastive") if representation == "contrastive" else ("ica", "distil")
    for stage in ("glow", *trained):
        assert json.loads(done_marker(out, stage).read_text())["world_size"] == 2
    assert (out / trained[-1] / "encoder.pt").is_file()
    assert proc.stderr.count(f"stage {trained[0]}: done in") == 1  # only rank 0 logs


def test_disgu_estimator_fit_transform(tiny_run, tmp_path):
    from disgu import DisGU

    out, _ = tiny_run
    model = DisGU(preset="tiny", seed=1, out=tmp_path / "fit", glow=str(out / "glow" / "glow.safetensors"),
                  progress=False, overrides={"contrastive.out_dim": 3})
    assert model.fit("shapes3d") is model
    assert json.loads((tmp_path / "fit" / "glow" / "source.json").read_text())["kind"] == "given"
    images = np.zeros((2, 16, 16, 3), np.uint8)
    codes = model.transform(images)
    assert codes.shape == (2, 3) and codes.dtype == np.float32
    assert not (tmp_path / "fit" / "metrics.json").exists()  # fit trains; evaluation is `disgu run`'s job
    with pytest.raises(NotFittedError):
        DisGU().transform(images)
    with pytest.raises(UserError, match="needs an image array"):  # refused before any training
        model.fit_transform("shapes3d")
    with pytest.raises(UserError, match="y"):
        model.fit("shapes3d", np.zeros((2, 1), np.int64))


def test_disgu_is_a_scikit_learn_estimator():
    from sklearn.base import clone

    from disgu import DisGU

    model = DisGU(preset="demo", seed=3, overrides={"discovery.nav_lr": 1e-3}, evaluate=True)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert copy.get_params()["preset"] == "demo" and copy.overrides == {"discovery.nav_lr": 1e-3}
    params = {"preset": "tiny", "seed": 7, "out": "runs/x", "glow": "g.pt", "device": "cpu", "progress": False,
              "overrides": {"contrastive.out_dim": 3}, "evaluate": False}
    assert DisGU().set_params(**params).get_params() == params
    assert DisGU(**params).get_params() == params
    with pytest.raises(NotFittedError):
        copy.transform(np.zeros((1, 16, 16, 3), np.uint8))


def _sprites(n: int) -> np.ndarray:
    ds = load_dataset("dsprites", resolution=16)
    return ds.images(np.random.default_rng(0).choice(len(ds), n, replace=False))


def test_disgu_fits_an_image_array_without_factors(tmp_path):
    from disgu import DisGU

    images = _sprites(120)  # greyscale (N, 16, 16, 1)
    model = DisGU(preset="tiny", progress=False, out=tmp_path / "fit", evaluate=True)
    assert model.fit(images) is model
    codes = model.transform(images)
    assert codes.shape == (len(images), model.n_features_out_) and codes.dtype == np.float32
    metrics = json.loads((tmp_path / "fit" / "metrics.json").read_text())
    assert "no ground-truth factors" in metrics["note"] and "mig" not in metrics
    # the same data and out: every stage is done already, so fit_transform returns the fitted model's codes
    np.testing.assert_array_equal(DisGU(preset="tiny", progress=False, out=tmp_path / "fit",
                                        evaluate=True).fit_transform(images), codes)
    with pytest.raises(UserError, match="different configuration"):
        DisGU(preset="tiny", progress=False, out=tmp_path / "fit", evaluate=True).fit(images[:100])
    assert len(list((tmp_path / "fit" / "fit_data").iterdir())) == 1  # the refused data left no copy there
    for bad, y in ((images[..., 0], None), (images.astype(np.float32), None), (images, np.zeros((3, 2), int)),
                   (images, np.zeros((len(images), 2)))):
        with pytest.raises(UserError, match="X:|y:"):
            model.fit(bad, y)


def test_disgu_fit_transform_with_grid_factors_scores_them(tmp_path):
    """Factors holding every combination once (here 2 x 2 x 2 x 2 x 2 x 3 Shapes3D classes) reach the metrics."""
    import itertools

    from disgu import DisGU

    ds = load_dataset("shapes3d", resolution=16)
    classes = np.array(list(itertools.product(*(range(k) for k in (2, 2, 2, 2, 2, 3)))))
    images, factors = ds.images(ds.index_of(classes)), 10 * classes  # any integer values, not only 0..K-1
    model = DisGU(preset="tiny", seed=1, progress=False, out=tmp_path / "fit", evaluate=True,
                  overrides={"representation": "glow-ica", "evaluation.metrics": "mig"})
    codes = model.fit_transform(images, factors)
    assert codes.shape == (len(images), model.n_features_out_) and codes.dtype == np.float32
    metrics = json.loads((tmp_path / "fit" / "metrics.json").read_text())
    assert metrics["representation"] == "glow-ica" and 0.0 <= metrics["mig"] <= 1.0
    np.testing.assert_allclose(DisGU.load(tmp_path / "fit").transform(images), codes, rtol=1e-5, atol=1e-6)


class _PixelFactors(GroundTruthDataset):
    """A 4 x 3 grid whose image stores factor 'b' in pixel (0, 0) and nothing else."""

    def __init__(self):
        super().__init__(("a", "b"), (4, 3), None, (4, 4, 1))

    def _read(self, idx):
        out = np.zeros((len(idx), 4, 4, 1), dtype=np.uint8)
        out[:, 0, 0, 0] = 80 * self.factors(idx)[:, 1]
        return out


class _PixelEncoder:
    """Code dim 0 reads pixel (0, 0); dim 1 is noise."""

    def encode_images(self, images):
        rng = np.random.RandomState(0)
        return np.stack([images[:, 0, 0, 0].astype(float), rng.randn(len(images))], axis=1)


def test_directions_are_labelled_with_the_factor_their_code_dim_carries():
    ranked = [{"direction": 0, "code_dim": 0}, {"direction": 1, "code_dim": 1}]
    label_directions(ranked, _PixelFactors(), _PixelEncoder(), 600, seed=0)
    assert ranked[0]["factor"] == "b" and ranked[0]["factor_nmi"] > 0.99
    assert ranked[1]["factor_nmi"] < 0.05


def test_pca_base_discovery_stage_gets_the_images(tmp_path):
    out = tmp_path / "pca"
    result = CliRunner().invoke(cli, ["run", "--dataset", "shapes3d", "--preset", "tiny", "--seed", "0", "--out",
                                      str(out), "--no-progress", "--device", "cpu", "--stages", "glow,discovery",
                                      "--set", "discovery.navigator_base=pca", "--set", "discovery.pca_images=40"])
    assert result.exit_code == 0, result.output + str(result.exception)
    from disgu.models.navigator import load_navigator

    nav, _ = load_navigator(out / "discovery" / "navigator.pt")
    assert not torch.equal(nav.base, torch.eye(*nav.base.shape))  # the data frame, not the identity


def test_a_run_dir_written_before_a_config_field_existed_still_resumes(tiny_run, tmp_path):
    import shutil

    out, args = tiny_run
    copy = tmp_path / "older"
    shutil.copytree(out, copy)
    saved = json.loads((copy / "config.json").read_text())
    del saved["discovery"]["pca_images"]  # as written before that field was added
    (copy / "config.json").write_text(json.dumps(saved))
    result = CliRunner().invoke(cli, [*args[:-4], str(copy), "--no-progress", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "stage contrastive: done already" in result.output
    saved["discovery"]["no_such_field"] = 1  # a field this version does not know is still a difference
    (copy / "config.json").write_text(json.dumps(saved))
    result = CliRunner().invoke(cli, [*args[:-4], str(copy), "--no-progress", "--device", "cpu"])
    assert result.exit_code == 2 and "discovery.no_such_field" in result.output


def test_contrastive_navigator_records_the_discovery_settings_it_came_from(tiny_run):
    from disgu.checkpoint import load_checkpoint

    out, _ = tiny_run
    run = json.loads((out / "config.json").read_text())["discovery"]
    for stage in ("discovery", "contrastive"):
        saved = load_checkpoint(out / stage / "navigator.pt")["config"]["discovery"]
        assert saved == run, stage


def test_deterministic_run_records_the_flag_and_keeps_the_cpu_numbers(tiny_run, tmp_path):
    """`--deterministic` switches on deterministic kernels and no TF32, is saved in config.json, and on the CPU
    (deterministic with one thread already) gives the numbers of a run without it."""
    import shutil

    from disgu.determinism import determinism_state, restore_determinism

    out, args = tiny_run
    again = tmp_path / "det"
    shutil.copytree(out / "glow", again / "glow")
    state = determinism_state()
    try:
        result = CliRunner().invoke(cli, [*args[:-4], str(again), "--no-progress", "--device", "cpu",
                                          "--stages", "glow,discovery,contrastive", "--deterministic"])
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.allow_tf32
    finally:
        restore_determinism(state)
    assert result.exit_code == 0, result.output
    assert json.loads((again / "config.json").read_text())["deterministic"] is True
    for stage in ("discovery", "contrastive"):
        a = json.loads((out / stage / "summary.json").read_text())
        b = json.loads((again / stage / "summary.json").read_text())
        a.pop("train_seconds_this_session"), b.pop("train_seconds_this_session")
        assert a == b, stage
