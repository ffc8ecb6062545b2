"""What a report computes from the saved models rather than reads: the code x factor information, Glow samples.

Both take seconds on a CPU (a few thousand images through the encoder, a few dozen decodes). A
model or dataset that cannot be opened (files moved, an official dataset no longer at its path)
gives a note instead, so the rest of the report is still written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from disgu.errors import UserError
from disgu.report.sources import RunFiles


@dataclass
class FactorInfo:
    """nmi[d, f]: MI of code dim d with factor f over the factor's entropy, on `n_images` dataset images."""

    nmi: np.ndarray
    factor_names: list[str]
    n_images: int


def _run_dataset(run: RunFiles) -> Any:
    """The dataset a run was trained and scored on, as its config.json names it."""
    from disgu.data import load_dataset

    cfg = run.config
    return load_dataset(cfg["dataset"], data_path=cfg.get("data_path"), resolution=cfg.get("resolution"))


def _encoder_and_dataset(run: RunFiles) -> tuple[Any, Any]:
    """(images -> codes function, dataset) of a run or a trained baseline."""
    if run.kind == "run":
        from disgu.pipeline.stages import load_trained

        return load_trained(run.root)[3].encode_images, _run_dataset(run)
    from disgu.stages.vae.trainer import BaselineConfig, load_model_from_run, open_dataset
    from disgu.evaluation import representation_function

    if run.config.get("model") == "glow-ica":  # no encoder: the codes are read through the Glow
        from disgu.baselines.glow_ica_codes import FIT, codes_function

        return codes_function(run.root / FIT)[0], _run_dataset(run)
    if (run.root / "encoder" / "encoder.pt").is_file():  # a direction baseline: its regression encoder
        from disgu.models.encoder import load_encoder

        return load_encoder(run.root / "encoder" / "encoder.pt").encode_images, _run_dataset(run)
    if run.config.get("model") == "untrained":
        raise UserError("an untrained-encoder baseline keeps no weights to read codes from")
    dataset = open_dataset(BaselineConfig.from_dict(run.config))
    vae = load_model_from_run(run.root)[0]
    return representation_function(vae.represent), dataset


def factor_information(run: RunFiles, n: int = 2000) -> FactorInfo | str:
    """The normalised MI matrix of a run's codes, or a one-line note saying why there is none.

    For a `disgu run` dir the images are those the evaluation stage used to name each direction's
    factor (same count and seed), so the map and the direction labels agree.
    """
    from disgu.data.base import GroundTruthDataset
    from disgu.metrics.mig import normalised_mutual_info

    seed = 2
    if run.kind == "run":
        e = run.config.get("evaluation", {})
        n, seed = int(e.get("mig_train", n)), int(e.get("seed", 0)) + 2
    try:
        encode, dataset = _encoder_and_dataset(run)
    except (UserError, OSError, KeyError) as err:
        return f"no code x factor map: {err}"
    if not isinstance(dataset, GroundTruthDataset):
        return f"no code x factor map: dataset {run.dataset!r} has no ground-truth factors"
    factors = dataset.sample_factors(n, np.random.RandomState(seed))
    with torch.no_grad():
        codes = encode(dataset.images(dataset.index_of(factors)))
    return FactorInfo(normalised_mutual_info(codes, factors), list(dataset.factor_names), n)


def glow_samples(run: RunFiles, n: int = 32, temperature: float = 0.7, seed: int = 0, scale: int = 2) -> bytes | str:
    """A PNG grid of n Glow samples at `temperature` (fixed seed), or a note when the run has no Glow."""
    from disgu.models import load_glow
    from disgu.models.glow import input_to_images
    from disgu.viz.grid import tile

    path = run.root / "glow" / "glow.safetensors"
    if not path.is_file():
        return "no Glow samples: this run has no glow/glow.safetensors"
    try:
        glow, _ = load_glow(path)
    except (UserError, OSError) as err:
        return f"no Glow samples: {err}"
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = glow.eval().sample(n, temperature, gen)
    images = input_to_images(x.nan_to_num(0.0).clamp(-0.5, 0.5), glow.config.n_bits)
    sheet = tile(images, ncols=min(n, 8))
    img = Image.fromarray(sheet)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
