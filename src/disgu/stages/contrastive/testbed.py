"""The contrastive stage on a ground-truth renderer: can the loss learn when the variations are clean?

Through a Glow, a failing contrastive stage has two suspects: the loss (and its encoder) and the
variations the Glow gives it. Here the generator G is a procedural dataset itself, so every
"latent" is a point z in [0, 1)^F of factor coordinates (factor f shows class floor(z_f * size_f),
cyclically) and every "direction" moves factors exactly. Directions are the factor axes, or, with
`mixing > 0`, the axes turned by a seeded rotation expm(mixing * A) (A skew-symmetric), which
imitates discovered directions that each move several factors a little.

A step draws its pairs as the stage does (B queries and N positives along one direction, K negatives
along others, shifts with random sign), renders base and shifted images, and calls the stage's own
`pair_loss` on the stage's own encoder: only G differs from a real run. `run_testbed` records the
loss, the positive-negative gap, the code spread, MIG, DCI and each factor's best and second
normalised MI against steps.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from disgu.stages.contrastive.losses import pair_loss
from disgu.stages.contrastive.bank import to_encoder_input
from disgu.stages.contrastive.trainer import ContrastiveConfig, build_encoder
from disgu.errors import UserError
from disgu.models.encoder import ContrastiveEncoder


@dataclass
class TestbedConfig:
    """A testbed run: the renderer, the directions, the stage's settings and the measurement plan."""

    __test__ = False  # a name pytest would otherwise try to collect

    dataset: str = "shapes3d"
    resolution: int = 32
    mixing: float = 0.0  # 0: each direction is one factor; > 0: factor axes turned by a seeded rotation
    min_shift_classes: float = 1.0  # smallest |shift| along a direction, in classes of its widest-moving factor
    steps: int = 600
    eval_every: int = 150
    eval_images: int = 5000
    dci_at: str = "end"  # "end": DCI only at the last evaluation; "every": at each; "never"
    seed: int = 0
    contrastive: dict[str, Any] = field(default_factory=dict)  # ContrastiveConfig overrides (tau, encoder_init, ...)

    def stage_config(self) -> ContrastiveConfig:
        unknown = set(self.contrastive) - set(ContrastiveConfig.__dataclass_fields__)
        if unknown:
            raise UserError(f"testbed contrastive settings: unknown {sorted(unknown)}")
        return ContrastiveConfig(**self.contrastive)


class FactorRenderer:
    """G for the testbed: factor coordinates z (n, F) in R (read modulo 1) -> uint8 images of the dataset."""

    def __init__(self, dataset, mixing: float = 0.0, seed: int = 0):
        self.dataset = dataset
        self.sizes = np.asarray(dataset.factor_sizes, dtype=np.int64)
        self.n_factors = len(self.sizes)
        self.directions = rotation(self.n_factors, mixing, seed)  # column k = direction k in factor coordinates

    def classes(self, z: np.ndarray) -> np.ndarray:
        return np.floor(np.mod(z, 1.0) * self.sizes).astype(np.int64) % self.sizes

    def render(self, z: np.ndarray) -> np.ndarray:
        return self.dataset.images(self.dataset.index_of(self.classes(z)))

    def min_shift(self, k: int, classes: float = 1.0) -> float:
        """The |shift| (in cycles) that moves direction k's widest-moving factor by `classes` classes."""
        return float(classes / np.max(self.sizes * np.abs(self.directions[:, k])))


def rotation(n: int, mixing: float, seed: int) -> np.ndarray:
    """An n x n rotation expm(mixing * A), A a seeded skew-symmetric Gaussian matrix; the identity at 0."""
    if mixing == 0:
        return np.eye(n)
    import scipy.linalg

    a = np.random.default_rng(seed + 17).standard_normal((n, n))
    return scipy.linalg.expm(mixing * (a - a.T) / 2)


def draw_pairs(renderer: FactorRenderer, cfg: ContrastiveConfig, min_classes: float, rng: np.random.Generator
               ) -> tuple[int, np.ndarray, np.ndarray]:
    """(direction k, base images, shifted images) of one step, rows ordered queries, positives, negatives."""
    n_dirs = renderer.n_factors
    b_n = cfg.batch_size + cfg.n_positives
    k = int(rng.integers(n_dirs))
    others = rng.integers(n_dirs - 1, size=cfg.n_negatives)
    dirs = np.concatenate([np.full(b_n, k), others + (others >= k)])
    lo = np.array([renderer.min_shift(d, min_classes) for d in range(n_dirs)])[dirs]
    eps = rng.choice([-1.0, 1.0], size=len(dirs)) * rng.uniform(np.minimum(lo, 0.5), 0.5)
    z = rng.random((len(dirs), renderer.n_factors))
    shifted = z + eps[:, None] * renderer.directions[:, dirs].T
    return k, renderer.render(z), renderer.render(shifted)


def testbed_step(encoder: ContrastiveEncoder, renderer: FactorRenderer, cfg: ContrastiveConfig, min_classes: float,
                 rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
    """The stage's loss on one step of rendered pairs (no pair is ever broken here)."""
    k, base, shifted = draw_pairs(renderer, cfg, min_classes, rng)
    broken = torch.zeros(len(base), dtype=torch.bool)
    x_base, x_shifted = (to_encoder_input(torch.from_numpy(x)) for x in (base, shifted))
    loss, stats = pair_loss(encoder, x_base, x_shifted, broken, cfg, k)
    assert loss is not None
    return loss, stats


def measure(encoder: ContrastiveEncoder, dataset, n_images: int, with_dci: bool, seed: int = 0) -> dict[str, Any]:
    """MIG, optional DCI, code spread and each factor's best / second normalised MI on `n_images` images."""
    from disgu.metrics.dci import dci_from_samples
    from disgu.metrics.mig import mig_from_samples, normalised_mutual_info

    idx = np.random.default_rng(seed + 99).integers(len(dataset), size=n_images)
    codes = encoder.encode_images(dataset.images(idx))
    factors = dataset.factors(idx)
    nmi = normalised_mutual_info(codes, factors)
    top = np.sort(nmi, axis=0)[::-1]
    out: dict[str, Any] = {
        "mig": mig_from_samples(codes, factors)["mig"],
        "best_nmi": dict(zip(dataset.factor_names, top[0].round(4).tolist())),
        "second_nmi": dict(zip(dataset.factor_names, top[1].round(4).tolist())),
        "code_std_median": float(np.median(codes.std(0))),
        "dims_above_0.05": int((codes.std(0) > 0.05).sum()),
    }
    if with_dci:
        cut = int(0.8 * n_images)
        out["dci"] = dci_from_samples(codes[:cut], factors[:cut], codes[cut:], factors[cut:])["disentanglement"]
    return out


def run_testbed(cfg: TestbedConfig, log=None, progress: bool = True) -> dict[str, Any]:
    """Train the stage's encoder on the renderer; {'config', 'curve': [{step, loss, gap, mig, ...}], 'seconds'}."""
    from disgu.data import GroundTruthDataset, load_dataset
    from disgu.training.progress import progress_bar

    dataset = load_dataset(cfg.dataset, resolution=cfg.resolution)
    if not isinstance(dataset, GroundTruthDataset):
        raise UserError(f"testbed: dataset {cfg.dataset!r} has no ground-truth factors")
    stage = cfg.stage_config()
    renderer = FactorRenderer(dataset, cfg.mixing, cfg.seed)
    torch.manual_seed(cfg.seed + 1)
    encoder = build_encoder(stage, dataset.image_shape[2], cfg.resolution)
    opt = torch.optim.Adam(encoder.parameters(), lr=stage.lr)
    rng = np.random.default_rng(cfg.seed * 1000 + 500)
    curve: list[dict[str, Any]] = []
    recent: list[dict[str, float]] = []
    train_s = 0.0
    bar = progress_bar(cfg.steps, 0, "testbed", progress)
    for step in range(1, cfg.steps + 1):
        t0 = time.process_time()
        loss, stats = testbed_step(encoder, renderer, stage, cfg.min_shift_classes, rng)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        train_s += time.process_time() - t0
        recent = (recent + [stats])[-50:]
        if step % cfg.eval_every == 0 or step == cfg.steps:
            last = step == cfg.steps
            with_dci = cfg.dci_at == "every" or (cfg.dci_at == "end" and last)
            point = {"step": step, "train_cpu_s": round(train_s, 1),
                     **{k: float(np.mean([r[k] for r in recent])) for k in ("loss", "bce", "entropy", "gap")},
                     **measure(encoder, dataset, cfg.eval_images, with_dci, cfg.seed)}
            curve.append(point)
            if log is not None:
                log(point)
            bar.set_postfix(gap=f"{point['gap']:.3f}", mig=f"{point['mig']:.3f}")
        bar.update(1)
    bar.close()
    return {"config": {**asdict(cfg), "stage": asdict(stage)}, "curve": curve, "train_cpu_s": train_s}
