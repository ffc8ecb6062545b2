"""The command-line mistakes a new user makes, each with the one line `disgu` must answer.

Shared by tests/test_cli_errors.py (which checks every case) and benchmarks/cli_errors.py (which
writes the table in docs/cli-errors.md), so the documented messages are the tested ones.
In `args`, {tmp} is a scratch folder prepared by `make_files`, {file} a regular file in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Case:
    what: str  # the mistake, in words
    args: tuple[str, ...]  # the command line after `disgu`
    expect: str  # must appear in the error line
    proc: bool = False  # needs Linux's /proc

    def argv(self, tmp: Path) -> list[str]:
        return [a.format(tmp=tmp, file=tmp / "a_file") for a in self.args]


def make_files(tmp: Path) -> None:
    """The damaged weight files, odd arrays and a finished-looking run dir the cases point at."""
    import torch
    from safetensors.torch import save_file

    from disgu.checkpoint import save_checkpoint

    (tmp / "a_file").write_text("a regular file, not a folder\n")
    save_file({"w": torch.zeros(4096)}, str(tmp / "glow.safetensors"), metadata={"glow_config": "{}"})
    _truncate(tmp / "glow.safetensors", 0.5)
    save_checkpoint(tmp / "glow.pt", model={"w": torch.zeros(4096)}, config={"model": {}}, step=1)
    _truncate(tmp / "glow.pt", 0.5)
    (tmp / "notes.pt").write_text("hello, not a checkpoint\n")
    np.save(tmp / "one_image.npy", np.zeros((8, 64, 3), np.uint8))
    np.save(tmp / "float_images.npy", np.zeros((2, 8, 8, 3), np.float32))
    run = tmp / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"dataset": "shapes3d"}))
    np.save(tmp / "images.npy", np.zeros((2, 8, 8, 3), np.uint8))
    _forged_files(tmp)


def _forged_files(tmp: Path) -> None:
    """Files whose declared sizes or fields lie: a small Glow's weights under configs that do not describe them,
    .npy headers claiming GiB, hand-edited run configs."""
    import torch
    from safetensors.torch import save_file

    from disgu.checkpoint import FORMAT, save_checkpoint
    from disgu.models.glow import Glow, GlowConfig

    small = GlowConfig(resolution=8, n_levels=1, n_steps=1, hidden=4)
    state = Glow(small).state_dict()
    model = small.to_dict()
    save_checkpoint(tmp / "huge_hidden.pt", model=state, config={"model": {**model, "hidden": 10**6}}, step=1)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "huge_hidden.safetensors"),
              metadata={"glow_config": json.dumps({**model, "hidden": 30000})})
    save_checkpoint(tmp / "mismatch.pt", model=state, config={"model": {**model, "hidden": 8}}, step=1)
    save_checkpoint(tmp / "zero_levels.pt", model=state, config={"model": {**model, "n_levels": 0}}, step=1)
    good = {"format": FORMAT, "version": 1, "step": 1, "config": {"model": model}, "model": state, "extra": {}}
    for name, change in (("string_version", {"version": "1"}), ("list_config", {"config": [model]}),
                         ("no_step", {"step": None})):
        torch.save({k: v for k, v in {**good, **change}.items() if v is not None}, tmp / f"{name}.pt")
    torch.save({k: v for k, v in good.items() if k != "model"}, tmp / "no_model.pt")
    with open(tmp / "huge_header.npy", "wb") as f:  # claims 11 GiB of images, holds 16 bytes
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                                 "shape": (1_000_000, 64, 64, 3)})
        f.write(bytes(16))
    trained = Glow(small)
    with torch.no_grad():
        trained(torch.rand(2, 3, 8, 8) - 0.5)  # initialises actnorm: a usable Glow, for 8x8 images
    save_checkpoint(tmp / "glow8.pt", model=trained.state_dict(), config={"model": model}, step=1)
    for name, text in (("run_not_json", "{not json"), ("run_unknown_key", '{"dataset": "shapes3d", "colour": 1}'),
                       ("run_string_section", '{"dataset": "shapes3d", "contrastive": "fast"}')):
        (tmp / name).mkdir()
        (tmp / name / "config.json").write_text(text)


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


RUN = ("run", "--dataset", "shapes3d", "--preset", "tiny", "--no-progress")
BASE = ("baseline", "beta-vae", "--dataset", "shapes3d")
GLOW = ("train-glow", "--dataset", "shapes3d")
OUT = "{tmp}/out"  # an output that must not exist after the error

CASES: tuple[Case, ...] = (
    # threads
    Case("run: zero threads", (*RUN, "--out", OUT, "--threads", "0"), "--threads"),
    Case("train-glow: zero threads", (*GLOW, "--out", OUT, "--threads", "0"), "--threads"),
    Case("baseline: zero threads", (*BASE, "--out", OUT, "--threads", "0"), "--threads"),
    Case("encode: zero threads", ("encode", "--run", "{tmp}/run", "--images", "{tmp}/x.npy", "--out",
                                  "{tmp}/out.npy", "--threads", "0"), "--threads"),
    Case("traverse: zero threads", ("traverse", "--run", "{tmp}/run", "--out", OUT, "--threads", "-2"), "--threads"),
    Case("sample: zero threads", ("sample", "--glow", "{tmp}/glow.pt", "--out", "{tmp}/out.png", "--threads", "0"),
         "--threads"),
    Case("sample: unknown device", ("sample", "--glow", "{tmp}/glow.pt", "--out", "{tmp}/out.png", "--device", "gpu0"),
         "--device: expected cpu, cuda"),
    # seeds
    Case("run: negative seed", (*RUN, "--out", OUT, "--seed", "-1"), "--seed"),
    Case("run: seed beyond 2**32 - 1", (*RUN, "--out", OUT, "--seed", "4294967296"), "--seed"),
    Case("metrics: negative seed", ("metrics", "--codes", "{tmp}/c.npy", "--factors", "{tmp}/f.npy", "--out",
                                    "{tmp}/out.json", "--seed", "-1"), "--seed"),
    Case("train-glow: negative seed", (*GLOW, "--out", OUT, "--seed", "-1"), "--seed"),
    Case("baseline: negative seed", (*BASE, "--out", OUT, "--seed", "-1"), "--seed"),
    Case("traverse: negative seed", ("traverse", "--run", "{tmp}/run", "--out", OUT, "--seed", "-1"), "--seed"),
    Case("sample: seed beyond 2**32 - 1", ("sample", "--glow", "{tmp}/glow.pt", "--out", "{tmp}/out.png", "--seed",
                                          "4294967296"), "--seed"),
    Case("data show: negative seed", ("data", "show", "shapes3d", "--out", "{tmp}/out.png", "--seed", "-1"),
         "--seed"),
    Case("run: --set seed out of range", (*RUN, "--out", OUT, "--set", "seed=-3"), "--set seed=-3"),
    # --set values of `disgu run`
    Case("run: negative learning rate", (*RUN, "--out", OUT, "--set", "discovery.lr=-1"), "--set discovery.lr"),
    Case("run: negative steps", (*RUN, "--out", OUT, "--set", "discovery.steps=-5"), "--set discovery.steps=-5"),
    Case("run: zero steps", (*RUN, "--out", OUT, "--set", "contrastive.steps=0"), "--set contrastive.steps=0"),
    Case("run: zero batch size", (*RUN, "--out", OUT, "--set", "contrastive.batch_size=0"),
         "--set contrastive.batch_size=0"),
    Case("run: zero temperature", (*RUN, "--out", OUT, "--set", "contrastive.tau=0"), "--set contrastive.tau"),
    Case("run: threshold above 1", (*RUN, "--out", OUT, "--set", "contrastive.hard_threshold=1.5"),
         "--set contrastive.hard_threshold"),
    Case("run: zero metric sample", (*RUN, "--out", OUT, "--set", "evaluation.mig_train=0"),
         "--set evaluation.mig_train=0"),
    Case("run: unknown choice", (*RUN, "--out", OUT, "--set", "discovery.navigator=spiral"),
         "--set discovery.navigator=spiral"),
    Case("run: min shift above the range", (*RUN, "--out", OUT, "--set", "discovery.min_shift=9"),
         "discovery.min_shift"),
    Case("run: unknown metric", (*RUN, "--out", OUT, "--set", "evaluation.metrics=mig,nope"),
         "--set evaluation.metrics"),
    Case("run: Glow-ICA with zero steps", (*RUN, "--out", OUT, "--set", "representation=glow-ica", "--set",
                                           "ica.steps=0"), "--set ica.steps"),
    Case("run: not a number", (*RUN, "--out", OUT, "--set", "discovery.lr=fast"), "--set discovery.lr=fast"),
    # --set numbers, parsed strictly
    Case("run: a fraction for an integer", (*RUN, "--out", OUT, "--set", "discovery.steps=9e-1"),
         "--set discovery.steps=9e-1: expected an integer"),
    Case("run: an integer beyond float range", (*RUN, "--out", OUT, "--set", "glow.steps=1e400"),
         "--set glow.steps=1e400: expected an integer"),
    Case("run: an integer beyond int64", (*RUN, "--out", OUT, "--set", "contrastive.steps=99999999999999999999"),
         "--set contrastive.steps=99999999999999999999: expected an integer of at most"),
    Case("run: nan learning rate", (*RUN, "--out", OUT, "--set", "ica.lr=nan"), "--set ica.lr=nan: expected a finite"),
    Case("run: infinite temperature", (*RUN, "--out", OUT, "--set", "contrastive.tau=inf"),
         "--set contrastive.tau=inf: expected a finite"),
    # settings the Glow cannot serve, refused before the run folder is written
    Case("run: a resolution the Glow's levels do not divide", (*RUN, "--out", OUT, "--set", "resolution=33"),
         "--set resolution=33: expected a multiple of 4"),
    Case("run: a level the Glow lacks", (*RUN, "--out", OUT, "--set", "discovery.levels=7"),
         "--set discovery.levels=7: level 7 out of range"),
    Case("run: a Glow batch beyond memory", (*RUN, "--out", OUT, "--set", "glow.batch_size=1000000000000"),
         "--set glow.batch_size=1000000000000: a batch needs at least"),
    Case("run: a contrastive batch beyond memory", (*RUN, "--out", OUT, "--set", "contrastive.batch_size=10000000000"),
         "--set contrastive.batch_size=10000000000: a batch needs at least"),
    Case("run: --glow of another resolution", (*RUN, "--out", OUT, "--glow", "{tmp}/glow8.pt"),
         "--set resolution=16: the --glow file is for 8x8 images"),
    # options of train-glow and baseline
    Case("train-glow: zero steps", (*GLOW, "--out", OUT, "--steps", "0"), "--steps"),
    Case("train-glow: negative learning rate", (*GLOW, "--out", OUT, "--lr", "-1e-3"), "--lr"),
    Case("train-glow: zero batch size", (*GLOW, "--out", OUT, "--batch-size", "0"), "--batch-size"),
    Case("train-glow: 9 bits", (*GLOW, "--out", OUT, "--n-bits", "9"), "--n-bits"),
    Case("baseline: zero steps", (*BASE, "--out", OUT, "--steps", "0"), "--steps"),
    Case("baseline: zero minutes", (*BASE, "--out", OUT, "--minutes", "0"), "--minutes"),
    Case("baseline: nan learning rate", (*BASE, "--out", OUT, "--lr", "nan"), "--lr"),
    Case("sample: zero images", ("sample", "--glow", "{tmp}/glow.pt", "--out", "{tmp}/out.png", "-n", "0"), "--num"),
    # outputs that cannot be written
    Case("run: --out in /proc", (*RUN, "--out", "/proc/x"), "--out /proc/x", proc=True),
    Case("run: --out is a file", (*RUN, "--out", "{file}"), "--out"),
    Case("encode: --out under a file", ("encode", "--run", "{tmp}/run", "--images", "{tmp}/one_image.npy", "--out",
                                        "{file}/codes.npy"), "--out"),
    Case("traverse: --out in /proc", ("traverse", "--run", "{tmp}/run", "--out", "/proc/x"), "--out /proc/x",
         proc=True),
    Case("sample: --out in /proc", ("sample", "--glow", "{tmp}/glow.pt", "--out", "/proc/x/s.png"), "--out /proc/x",
         proc=True),
    Case("data show: --out under a file", ("data", "show", "shapes3d", "--out", "{file}/sheet.png"), "--out"),
    Case("metrics: --out in /proc", ("metrics", "--codes", "{tmp}/c.npy", "--factors", "{tmp}/f.npy", "--out",
                                     "/proc/x/m.json"), "--out /proc/x", proc=True),
    Case("metrics aggregate: --out in /proc", ("metrics", "aggregate", "{tmp}/m.json", "--out", "/proc/x/t.md"),
         "--out /proc/x", proc=True),
    Case("train-glow: --out in /proc", (*GLOW, "--out", "/proc/x"), "--out /proc/x", proc=True),
    Case("baseline: --out under a file", (*BASE, "--out", "{file}/b"), "--out"),
    Case("export-glow: --out-dir in /proc", ("export-glow", "{tmp}/glow.pt", "--name", "g", "--out-dir", "/proc/x"),
         "--out-dir /proc/x", proc=True),
    # damaged weight files
    Case("run: truncated --glow .safetensors", (*RUN, "--out", OUT, "--glow", "{tmp}/glow.safetensors"),
         "glow.safetensors: not a readable .safetensors"),
    Case("sample: truncated --glow .safetensors", ("sample", "--glow", "{tmp}/glow.safetensors", "--out",
                                                   "{tmp}/out.png"), "glow.safetensors: not a readable .safetensors"),
    Case("run: truncated --glow .pt", (*RUN, "--out", OUT, "--glow", "{tmp}/glow.pt"), "glow.pt: not a readable"),
    Case("sample: a text file as --glow", ("sample", "--glow", "{tmp}/notes.pt", "--out", "{tmp}/out.png"),
         "notes.pt: not a readable"),
    Case("export-glow: truncated checkpoint", ("export-glow", "{tmp}/glow.pt", "--name", "g", "--out-dir", OUT),
         "glow.pt: not a readable"),
    # sizes declared inside files, refused before anything is allocated
    Case("sample: .pt whose config says hidden=10**6", ("sample", "--glow", "{tmp}/huge_hidden.pt", "--out",
                                                         "{tmp}/out.png"), "huge_hidden.pt: the weights are not"),
    Case("sample: .safetensors whose metadata says hidden=30000", ("sample", "--glow", "{tmp}/huge_hidden.safetensors",
                                                                   "--out", "{tmp}/out.png"),
         "huge_hidden.safetensors: the weights are not"),
    Case("run: --glow whose config says hidden=10**6", (*RUN, "--out", OUT, "--glow", "{tmp}/huge_hidden.pt"),
         "huge_hidden.pt: the weights are not"),
    Case("encode: .npy header claiming 11 GiB", ("encode", "--run", "{tmp}/run", "--images", "{tmp}/huge_header.npy",
                                                 "--out", "{tmp}/out.npy"), "huge_header.npy: its header declares"),
    Case("metrics: .npy header claiming 11 GiB", ("metrics", "--codes", "{tmp}/huge_header.npy", "--factors",
                                                  "{tmp}/huge_header.npy", "--out", "{tmp}/out.json"),
         "huge_header.npy: its header declares"),
    # malformed checkpoints
    Case("sample: checkpoint version a string", ("sample", "--glow", "{tmp}/string_version.pt", "--out",
                                                 "{tmp}/out.png"), "string_version.pt: damaged checkpoint: version"),
    Case("sample: checkpoint without weights", ("sample", "--glow", "{tmp}/no_model.pt", "--out", "{tmp}/out.png"),
         "no_model.pt: damaged checkpoint: 'model' is missing"),
    Case("sample: checkpoint config a list", ("sample", "--glow", "{tmp}/list_config.pt", "--out", "{tmp}/out.png"),
         "list_config.pt: damaged checkpoint: 'config' is a list"),
    Case("sample: checkpoint with n_levels 0", ("sample", "--glow", "{tmp}/zero_levels.pt", "--out", "{tmp}/out.png"),
         "zero_levels.pt: its Glow config is not valid"),
    Case("sample: weights of another shape", ("sample", "--glow", "{tmp}/mismatch.pt", "--out", "{tmp}/out.png"),
         "where the config gives"),
    Case("export-glow: checkpoint without a step", ("export-glow", "{tmp}/no_step.pt", "--name", "g", "--out-dir",
                                                    OUT), "no_step.pt: damaged checkpoint: step"),
    # hand-edited run folders
    Case("encode: config.json not JSON", ("encode", "--run", "{tmp}/run_not_json", "--images", "{tmp}/images.npy",
                                          "--out", "{tmp}/out.npy"), "config.json: not readable JSON"),
    Case("traverse: config.json with an unknown key", ("traverse", "--run", "{tmp}/run_unknown_key", "--out", OUT),
         "unknown setting 'colour'"),
    Case("explore: config.json with a section that is a string", ("explore", "--run", "{tmp}/run_string_section"),
         "section 'contrastive' is a str"),
    # image arrays
    Case("encode: one (H, W, C) image", ("encode", "--run", "{tmp}/run", "--images", "{tmp}/one_image.npy", "--out",
                                         "{tmp}/out.npy"), "(N, H, W, C)"),
    Case("encode: float images", ("encode", "--run", "{tmp}/run", "--images", "{tmp}/float_images.npy", "--out",
                                  "{tmp}/out.npy"), "uint8"),
)
