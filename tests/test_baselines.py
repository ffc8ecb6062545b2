"""beta-VAE / FactorVAE / DIP-VAE baselines: shapes, losses, learning, exact resume, metrics.json, CLI errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from disgu.stages.vae.losses import (
    dip_covariance,
    dip_regularizer,
    discriminator_loss,
    gaussian_kl,
    shuffle_dims,
    vae_loss,
)
from disgu.stages.vae.trainer import BaselineConfig, load_model_from_run, train
from disgu.cli import cli
from disgu.data import load_dataset
from disgu.errors import UserError
from disgu.evaluation import HEADLINE_KEYS
from disgu.models.vae import DIPVAE, BetaVAE, ConvEncoder, DeconvDecoder, FactorVAE, conv_channels


def _square_images(sizes=(4, 4), res: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A full grid: a bright 4x4 square at (row, column) set by two factors, on a dim background."""
    rows, cols = np.meshgrid(np.arange(sizes[0]), np.arange(sizes[1]), indexing="ij")
    factors = np.stack([rows.ravel(), cols.ravel()], axis=1)
    images = np.full((len(factors), res, res, 1), 30, dtype=np.uint8)
    step = (res - 4) // max(max(sizes) - 1, 1)
    for i, (r, c) in enumerate(factors):
        images[i, r * step:r * step + 4, c * step:c * step + 4, 0] = 230
    return images, factors


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "squares.npz"
    images, factors = _square_images()
    np.savez(path, images=images, factors=factors, factor_names=np.array(["row", "column"]))
    return path


@pytest.fixture(scope="module")
def tiny_ds(tiny_npz):
    return load_dataset(str(tiny_npz))


def _cfg(**kw) -> BaselineConfig:
    base = dict(dataset="tiny", batch_size=8, lr=1e-3, steps=6, checkpoint_every=100, log_every=1, device="cpu")
    return BaselineConfig(**{**base, **kw})


# ----------------------------------------------------------------------------- architecture


def test_conv_channels_follow_disentanglement_lib():
    assert conv_channels(64) == (32, 32, 64, 64)
    assert conv_channels(32) == (32, 64, 64)
    assert conv_channels(128) == (32, 32, 32, 64, 64)
    for bad in (48, 4, 100):
        with pytest.raises(UserError, match="power of two"):
            conv_channels(bad)


@pytest.mark.parametrize("res,channels", [(64, 3), (32, 3), (16, 1)])
def test_shapes(res, channels):
    enc, dec = ConvEncoder(res, channels, 10), DeconvDecoder(res, channels, 10)
    x = torch.rand(5, channels, res, res)
    mean, log_var = enc(x)
    assert mean.shape == log_var.shape == (5, 10)
    assert dec(mean).shape == (5, channels, res, res)
    # the FC layers see the same 4x4x64 bottleneck at every resolution
    assert enc.fc[1].in_features == 4 * 4 * 64


def test_64x64_layers_match_the_standard_stack():
    enc = ConvEncoder(64, 3, 10)
    convs = [m for m in enc.convs if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(c, (4, 4), (2, 2)) for c in (32, 32, 64, 64)]
    assert enc.fc[1].out_features == 256 and enc.mean.out_features == 10
    dec = DeconvDecoder(64, 3, 10)
    deconvs = [m for m in dec.deconvs if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [d.out_channels for d in deconvs] == [64, 32, 32, 3]
    assert [m.out_features for m in dec.fc if isinstance(m, torch.nn.Linear)] == [256, 1024]


def test_kl_is_zero_at_the_prior_and_loss_weights_beta():
    zero = torch.zeros(4, 10)
    assert gaussian_kl(zero, zero).item() == 0.0
    assert gaussian_kl(torch.ones(4, 10), zero).item() == pytest.approx(5.0)
    torch.manual_seed(0)
    m = BetaVAE(16, 1, 10, beta=5.0)
    x, noise = torch.rand(4, 1, 16, 16).round(), torch.randn(4, 10)
    out = vae_loss(m, x, noise)
    assert torch.allclose(out.loss, out.recon + 5.0 * out.kl)
    assert torch.equal(m.represent(x), m.encoder(x)[0])


def test_shuffle_dims_permutes_each_column_separately():
    z = torch.arange(40.0).reshape(8, 5) * torch.tensor([1.0, 100, 1e4, 1e6, 1e8])
    s = shuffle_dims(z, torch.Generator().manual_seed(0))
    for j in range(5):
        assert sorted(s[:, j].tolist()) == sorted(z[:, j].tolist())
    assert not torch.equal(s, z)


def test_factor_vae_loss_has_the_tc_term():
    torch.manual_seed(0)
    m = FactorVAE(16, 1, 10, gamma=9.0)
    out = vae_loss(m, torch.rand(8, 1, 16, 16), torch.randn(8, 10))
    logits = m.discriminator(out.z)
    assert torch.allclose(out.loss, out.recon + out.kl + 9.0 * (logits[:, 0] - logits[:, 1]).mean())
    assert torch.allclose(out.tc, (logits[:, 0] - logits[:, 1]).mean())
    assert discriminator_loss(m.discriminator, out.z).item() > 0


# Four codes of three latents whose covariance is worked out by hand: the batch mean is (0, 1, 1), the centred
# codes are (1, -1, 1), (-1, 1, -1), (1, 1, 1), (-1, -1, -1), so Cov[mu] (divided by 4) = [[1, 0, 1], [0, 1, 0],
# [1, 0, 1]].
_MU = torch.tensor([[1.0, 0.0, 2.0], [-1.0, 2.0, 0.0], [1.0, 2.0, 2.0], [-1.0, 0.0, 0.0]])
_COV_MU = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
# posterior variances whose batch mean E[Sigma] is diag(1, 0.25, 1)
_VAR = torch.tensor([[0.5, 0.25, 1.0], [1.5, 0.25, 1.0], [0.5, 0.25, 1.0], [1.5, 0.25, 1.0]])


def test_dip_covariances_by_hand():
    assert torch.allclose(dip_covariance(_MU, torch.zeros(4, 3), "i"), _COV_MU)
    assert torch.allclose(dip_covariance(_MU, _VAR.log(), "i"), _COV_MU)  # type I ignores the variances
    assert torch.allclose(dip_covariance(_MU, _VAR.log(), "ii"), _COV_MU + torch.diag(torch.tensor([1.0, 0.25, 1.0])))


def test_dip_regularizers_by_hand():
    # type I: two off-diagonal entries of 1 and a diagonal of ones: 10 * 2 + 100 * 0
    assert dip_regularizer(_MU, torch.zeros(4, 3), "i", 10.0, 100.0).item() == pytest.approx(20.0)
    # doubled codes: Cov = 4 x _COV_MU, off-diagonal 2 x 16, diagonal 3 x (4 - 1)^2
    assert dip_regularizer(2 * _MU, torch.zeros(4, 3), "i", 10.0, 100.0).item() == pytest.approx(10 * 32 + 100 * 27)
    # type II: E[Sigma] + Cov = [[2, 0, 1], [0, 1.25, 0], [1, 0, 2]]: off 2 x 1, diagonal 1 + 0.0625 + 1
    assert dip_regularizer(_MU, _VAR.log(), "ii", 1.0, 1.0).item() == pytest.approx(2.0 + 2.0625)
    assert dip_regularizer(_MU, _VAR.log(), "ii", 2.0, 3.0).item() == pytest.approx(2 * 2.0 + 3 * 2.0625)


def test_dip_regularizers_vanish_at_the_identity():
    # type I: the corners of a square have identity covariance
    corners = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert dip_regularizer(corners, torch.zeros(4, 2), "i", 10.0, 100.0).item() == 0.0
    # type II: Cov[mu] = 0.5 I (a cross) plus posterior variances 0.5 = I
    cross = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    half = torch.full((4, 2), 0.5).log()
    assert dip_regularizer(cross, half, "ii", 1.0, 1.0).item() == pytest.approx(0.0, abs=1e-6)
    assert dip_regularizer(cross, half, "i", 1.0, 1.0).item() == pytest.approx(2 * 0.25)  # type I sees 0.5 I only


@pytest.mark.parametrize("dip_type,od,d", [("i", 10.0, 100.0), ("ii", 1.0, 1.0)])
def test_dip_vae_loss_adds_the_regulariser_to_recon_and_kl(dip_type, od, d):
    torch.manual_seed(0)
    m = DIPVAE(16, 1, 10, dip_type)
    assert (m.lambda_od, m.lambda_d, m.beta) == (od, d, 1.0)
    out = vae_loss(m, torch.rand(8, 1, 16, 16), torch.randn(8, 10))
    assert torch.allclose(out.loss, out.recon + out.kl + out.dip)
    assert torch.allclose(out.dip, dip_regularizer(out.mean, out.log_var, dip_type, od, d))
    assert m.represent(torch.zeros(2, 1, 16, 16)).shape == (2, 10)


def test_dip_vae_config_takes_its_types_weights_unless_given():
    assert (_cfg(model="dip-vae-i").lambda_od, _cfg(model="dip-vae-i").lambda_d) == (10.0, 100.0)
    assert (_cfg(model="dip-vae-ii").lambda_od, _cfg(model="dip-vae-ii").lambda_d) == (1.0, 1.0)
    assert _cfg(model="dip-vae-ii", lambda_od=5.0).lambda_od == 5.0
    assert _cfg(model="beta-vae").lambda_od is None
    with pytest.raises(UserError, match="--lambda-d"):
        _cfg(model="dip-vae-i", lambda_d=-1.0).validate()


# ----------------------------------------------------------------------------- training


def test_loss_decreases_on_a_tiny_grid(tmp_path, tiny_ds):
    losses = []
    train(_cfg(steps=40), tmp_path, dataset=tiny_ds, progress=False, on_step=lambda s, sc: losses.append(sc["loss"]))
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


@pytest.mark.parametrize("model", ["beta-vae", "factor-vae", "dip-vae-ii"])
def test_resume_gives_the_same_weights_as_one_run(tmp_path, tiny_ds, model):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(_cfg(model=model, steps=8), whole, dataset=tiny_ds, progress=False)
    train(_cfg(model=model, steps=3), parts, dataset=tiny_ds, progress=False)
    train(_cfg(model=model, steps=8), parts, dataset=tiny_ds, progress=False)
    a, _, step_a = load_model_from_run(whole)
    b, _, step_b = load_model_from_run(parts)
    assert step_a == step_b == 8
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), k
    # the scalar log holds each step once, in order, after the resume
    steps = [json.loads(ln)["step"] for ln in (parts / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))


def test_ctrl_c_stops_after_the_step_and_saves_it(tmp_path, tiny_ds):
    import os
    import signal

    def interrupt(step, _):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(steps=8), tmp_path / "parts", dataset=tiny_ds, progress=False, on_step=interrupt)
    assert load_model_from_run(tmp_path / "parts")[2] == 3
    train(_cfg(steps=8), tmp_path / "parts", dataset=tiny_ds, progress=False)
    train(_cfg(steps=8), tmp_path / "whole", dataset=tiny_ds, progress=False)
    a, b = load_model_from_run(tmp_path / "parts")[0], load_model_from_run(tmp_path / "whole")[0]
    assert all(torch.equal(va, vb) for va, vb in zip(a.state_dict().values(), b.state_dict().values()))


def test_resume_drops_a_torn_log_line(tmp_path, tiny_ds):
    train(_cfg(steps=2), tmp_path, dataset=tiny_ds, progress=False)
    with (tmp_path / "log.jsonl").open("a") as f:
        f.write('{"step": 3, "lo')  # a crash in the middle of a write
    train(_cfg(steps=4), tmp_path, dataset=tiny_ds, progress=False)
    steps = [json.loads(ln)["step"] for ln in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_a_different_seed_gives_different_weights(tmp_path, tiny_ds):
    train(_cfg(seed=0, steps=2), tmp_path / "s0", dataset=tiny_ds, progress=False)
    train(_cfg(seed=1, steps=2), tmp_path / "s1", dataset=tiny_ds, progress=False)
    a, b = load_model_from_run(tmp_path / "s0")[0], load_model_from_run(tmp_path / "s1")[0]
    assert not torch.equal(a.encoder.mean.weight, b.encoder.mean.weight)


def test_resume_refuses_changed_settings(tmp_path, tiny_ds):
    train(_cfg(steps=2), tmp_path, dataset=tiny_ds, progress=False)
    with pytest.raises(UserError, match="beta=5.0"):
        train(_cfg(steps=4, beta=2.0), tmp_path, dataset=tiny_ds, progress=False)


def test_minutes_budget_stops_training(tmp_path, tiny_ds):
    res = train(_cfg(steps=None, minutes=1e-9), tmp_path, dataset=tiny_ds, progress=False)
    assert res.step == 1  # the budget is checked before each step


def test_checkpoints_refuse_pickled_code(tmp_path, tiny_ds):
    train(_cfg(steps=2), tmp_path, dataset=tiny_ds, progress=False)
    ckpt = next((tmp_path / "checkpoints").glob("ckpt-*.pt"))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "disgu-checkpoint", "x": Evil()}, ckpt)
    with pytest.raises(UserError, match="refused to load"):
        load_model_from_run(tmp_path)


# ----------------------------------------------------------------------------- command line


def _run(args):
    return CliRunner().invoke(cli, ["baseline", *args])


def test_cli_beta_vae_writes_metrics(tmp_path, tiny_npz):
    out = tmp_path / "bvae"
    res = _run(["beta-vae", "--dataset", str(tiny_npz), "--out", str(out), "--steps", "3", "--device", "cpu",
                "--batch-size", "8", "--metric-samples", "40"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    for key in HEADLINE_KEYS:
        assert 0.0 <= metrics[key] <= 1.0, key
    run_info = json.loads((out / "run_info.json").read_text())
    assert run_info["config"]["beta"] == 5.0 and run_info["seed"] == 0
    assert (out / "tensorboard").is_dir() and (out / "log.jsonl").is_file() and (out / "summary.json").is_file()
    # the same command again: nothing left to train, the scores are already there
    again = _run(["beta-vae", "--dataset", str(tiny_npz), "--out", str(out), "--steps", "3", "--device", "cpu",
                  "--batch-size", "8", "--metric-samples", "40"])
    assert again.exit_code == 0 and "already holds the scores of step 3" in again.output, again.output


def test_cli_preset_sizes_resolution_budget_and_metrics_unless_told(tmp_path, tiny_npz):
    from dataclasses import asdict

    from disgu.pipeline.config import make_config

    tiny = make_config("tiny")
    out = tmp_path / "by-preset"
    res = _run(["beta-vae", "--dataset", str(tiny_npz), "--out", str(out), "--preset", "tiny", "--batch-size", "8",
                "--device", "cpu"])
    assert res.exit_code == 0, res.output
    config = json.loads((out / "run_info.json").read_text())["config"]
    assert (config["steps"], config["minutes"], config["resolution"]) == (2, None, tiny.resolution)
    about = json.loads((out / "evaluation.json").read_text())
    assert about["metric_options"] == asdict(tiny.evaluation) and about["preset"] == "tiny"
    told = tmp_path / "told"
    res = _run(["beta-vae", "--dataset", str(tiny_npz), "--out", str(told), "--preset", "tiny", "--steps", "3",
                "--resolution", "8", "--batch-size", "8", "--device", "cpu", "--set", "evaluation.mig_train=150"])
    assert res.exit_code == 0, res.output
    config = json.loads((told / "run_info.json").read_text())["config"]
    assert (config["steps"], config["resolution"]) == (3, 8)
    about = json.loads((told / "evaluation.json").read_text())
    assert about["metric_options"]["mig_train"] == 150 and about["metric_options"]["dci_train"] == 100


@pytest.mark.parametrize("model,lambdas", [("dip-vae-i", (10.0, 100.0)), ("dip-vae-ii", (2.0, 1.0))])
def test_cli_dip_vae_trains_and_writes_metrics(tmp_path, tiny_npz, tiny_ds, model, lambdas):
    out = tmp_path / model
    extra = ["--set", "lambda_od=2"] if model == "dip-vae-ii" else []
    res = _run([model, "--dataset", str(tiny_npz), "--out", str(out), "--steps", "3", "--device", "cpu",
                "--batch-size", "8", "--latent-dim", "6", "--metric-samples", "40", *extra])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["representation"] == model and metrics["training_steps"] == 3
    assert all(0.0 <= metrics[k] <= 1.0 for k in HEADLINE_KEYS)
    config = json.loads((out / "run_info.json").read_text())["config"]
    assert (config["model"], config["lambda_od"], config["lambda_d"]) == (model, *lambdas)
    vae, _, step = load_model_from_run(out)
    assert isinstance(vae, DIPVAE) and (vae.lambda_od, vae.lambda_d) == lambdas and step == 3
    x = torch.from_numpy(tiny_ds.images(np.arange(5))).permute(0, 3, 1, 2).float() / 255
    assert vae.represent(x).shape == (5, 6)
    assert "dip" in json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert (out / "report.html").is_file()


@pytest.mark.parametrize("preset", ["tiny", "demo", "cpu", "paper"])
def test_disco_is_the_presets_contrastive_stage_without_discovery(preset):
    from disgu.pipeline.config import disco_config, make_config
    from disgu.pipeline.stages import planned_stages

    ours, disgu = disco_config(preset, seed=3), make_config(preset, seed=3)
    assert ours.representation == "disco" and ours.discovery.navigator_base == "random"
    assert ours.contrastive.finetune_navigator
    for section in ("glow", "contrastive", "evaluation", "traversal"):
        assert getattr(ours, section) == getattr(disgu, section), section
    assert ours.resolution == disgu.resolution and ours.seed == 3
    assert planned_stages(ours) == ("glow", "discovery", "contrastive", "evaluation", "traversal")


def test_cli_disco_trains_navigator_and_encoder_from_a_fresh_start(tmp_path):
    from disgu.models.navigator import load_navigator
    from disgu.pipeline.config import make_config
    from disgu.pipeline.stages import load_trained

    out = tmp_path / "disco"
    args = ["disco", "--dataset", "shapes3d", "--preset", "tiny", "--out", str(out), "--device", "cpu",
            "--no-progress", "--set", "evaluation.metrics=mig,dci"]
    res = _run(args)
    assert res.exit_code == 0, res.output
    tiny = make_config("tiny")
    assert "stage discovery" in res.output and (out / "report.html").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["representation"] == "disco" and metrics["navigator_init"] == "random"
    assert 0 <= metrics["mig"] <= 1 and metrics["reconstructor_accuracy"] is None
    # no discovery training: the navigator as initialised (a random frame, not the identity), then trained with E
    start = json.loads((out / "discovery" / "summary.json").read_text())
    assert start["steps"] == 0 and not (out / "discovery" / "checkpoints").exists()
    initial, _ = load_navigator(out / "discovery" / "navigator.pt")
    trained, _ = load_navigator(out / "contrastive" / "navigator.pt")
    assert not torch.allclose(initial.base, torch.eye(*initial.base.shape))
    assert not torch.equal(initial.matrix(), trained.matrix())
    assert json.loads((out / "contrastive" / "summary.json").read_text())["steps"] == tiny.contrastive.steps
    _, _, _, encoder = load_trained(out)
    images = load_dataset("shapes3d", resolution=tiny.resolution).images(np.arange(5))
    assert encoder.encode_images(images).shape == (5, tiny.contrastive.out_dim)
    again = _run(args)
    assert again.exit_code == 0 and again.output.count("done already") == 5, again.output


def test_cli_glow_ica_scores_the_codes_read_through_the_glow(tmp_path):
    from disgu.baselines.glow_ica_codes import codes_function
    from disgu.stages.glow_ica import GlowICA
    from disgu.models import load_glow
    from disgu.models.generator import FrozenGlow
    from disgu.pipeline.config import make_config
    from disgu.report.compute import FactorInfo, factor_information
    from disgu.report.sources import open_run

    out = tmp_path / "gi"
    args = ["glow-ica", "--dataset", "shapes3d", "--preset", "tiny", "--out", str(out), "--device", "cpu",
            "--no-progress"]
    res = _run(args)
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["representation"] == "glow-ica" and 0 <= metrics["mig"] <= 1 and 0 <= metrics["beta_vae"] <= 1
    about = json.loads((out / "evaluation.json").read_text())
    assert about["training_steps"] == 0 and about["training_seconds"] > 0
    # the codes are the frame's codes of each image's exact latent: no encoder in between
    tiny = make_config("tiny")
    images = load_dataset("shapes3d", resolution=tiny.resolution).images(np.arange(6))
    represent, n_codes = codes_function(out / "fit")
    frame = GlowICA.load(out / "fit" / "ica" / "frame.npz")
    frozen = FrozenGlow(load_glow(out / "fit" / "glow" / "glow.safetensors")[0], frame.levels)
    codes = represent(images)
    assert codes.shape == (6, n_codes) and not (out / "encoder").exists()
    # (the baseline's Glow runs channels-last on a CPU: the same codes to float rounding)
    np.testing.assert_allclose(codes, frame.codes(frozen.encode_navigated(images).double().numpy()), atol=1e-4)
    info = factor_information(open_run(out))
    assert isinstance(info, FactorInfo) and info.nmi.shape == (n_codes, 6)
    again = _run(args)
    assert again.exit_code == 0 and "already holds the scores" in again.output, again.output


def test_disco_refuses_a_frozen_navigator(tmp_path):
    res = _run(["disco", "--dataset", "shapes3d", "--preset", "tiny", "--out", str(tmp_path / "d"),
                "--set", "contrastive.finetune_navigator=false"])
    assert res.exit_code == 2 and "contrastive.finetune_navigator" in res.stderr, res.output
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "d").exists()


@pytest.mark.parametrize("encoder,dim", [("beta-vae", 10), ("contrastive", 64)])
def test_cli_untrained_floor_writes_metrics(tmp_path, tiny_npz, encoder, dim):
    res = _run(["untrained", "--dataset", str(tiny_npz), "--out", str(tmp_path), "--metric-samples", "40",
                "--encoder", encoder])
    assert res.exit_code == 0, res.output
    assert set(HEADLINE_KEYS) <= set(json.loads((tmp_path / "metrics.json").read_text()))
    about = json.loads((tmp_path / "evaluation.json").read_text())
    assert about["encoder"] == encoder and about["dim"] == dim and about["training_steps"] == 0


@pytest.mark.parametrize("args,expect", [
    (["beta-vae", "--out", "OUT", "--steps", "0"], "--steps"),
    (["beta-vae", "--out", "OUT", "--minutes", "-1"], "--minutes"),
    (["beta-vae", "--out", "OUT", "--resolution", "24"], "--resolution"),
    (["beta-vae", "--out", "OUT", "--seed", "-3"], "--seed"),
    (["beta-vae", "--steps", "2"], "--out"),
    (["untrained", "--out", "OUT", "--dataset", "no-such-set"], "no-such-set"),
    (["factor-vae", "--out", "OUT", "--device", "tpu"], "--device"),
    (["dip-vae-i", "--out", "OUT", "--lambda-od", "-1"], "--lambda-od"),
    (["dip-vae-ii", "--out", "OUT", "--set", "lambda_d=-2"], "--lambda-d"),
    (["vae-of-my-dreams"], "vae-of-my-dreams"),
])
def test_cli_bad_options_are_one_line_and_exit_2(tmp_path, tiny_npz, args, expect):
    args = [str(tmp_path / "o") if a == "OUT" else a for a in args]
    if "--dataset" not in args and args[0] != "vae-of-my-dreams":
        args += ["--dataset", str(tiny_npz)]
    res = _run(args)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("disgu: error:") and expect in lines[0], res.stderr
    assert not (tmp_path / "o" / "checkpoints").exists()


def test_baseline_set_overrides_are_checked_before_training(tmp_path):
    from click.testing import CliRunner

    from disgu.cli import cli

    base = ["baseline", "beta-vae", "--dataset", "shapes3d", "--resolution", "16", "--steps", "1"]
    for bad, says in (("evaluation.mig_train=many", "evaluation.mig_train=many"), ("width=3", "no option 'width'")):
        out = tmp_path / bad.split("=")[0]
        result = CliRunner().invoke(cli, [*base, "--out", str(out), "--set", bad])
        assert result.exit_code == 2 and says in result.output, result.output
        assert not (out / "metrics.json").exists()
