"""A bank of decoded pairs for the contrastive stage: decode once, train the encoder on many draws.

Decoding through the Glow is nearly all the cost of an on-the-fly step. With a frozen navigator
nothing the encoder learns changes G(z) or G(z + eps n_k), so the pairs can be decoded once and
the encoder trained on batches drawn from them with the same loss (`trainer.pair_loss`).

Files in the bank dir:
    manifest.json   spec, `filled` (slots written so far), broken decodes replaced, fill seconds
    pairs.npy       uint8 (n_slots, 2, H, W, C): [G(z), G(z + eps n_k)] of each slot
    eps.npy         float32 (n_slots,): the shift of each slot
    directions.npy  int64 (n_slots,): the direction of each slot, slot % n_directions
Slot i moves along direction i % n_directions, so every direction gets the same number of pairs
and a fill chunk of consecutive slots covers the directions evenly.

Images are stored as real dataset images are, uint8 = round(255 * to_unit(x)) (`models.generator.quantise`),
and the encoder reads them as uint8 / 255, its path for real images (`ContrastiveEncoder.encode_images`): the
input differs from the on-the-fly path's to_unit(x) by at most 1/510. (Glow's n_bits grid,
`input_to_images`, was not used: it moves pixels by up to a bin from what the encoder sees on the fly.)

Filling is resumable: chunks of `fill_batch` slots, each from a generator seeded by (seed, chunk
index), are written, flushed, and only then counted in the manifest (atomic rename). A killed
fill restarts at `filled` and ends byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from disgu.atomic import atomic_path, write_json
from disgu.distributed import is_main
from disgu.errors import UserError
from disgu.models.generator import FrozenGlow, quantise
from disgu.models.latents import LatentSource
from disgu.models.navigator import Navigator
from disgu.training.progress import progress_bar
from disgu.training.shifts import sample_other_directions, sample_shifts

FORMAT = "disgu-pair-bank"
VERSION = 1


@dataclass(frozen=True)
class BankSpec:
    """Everything the bank's bytes depend on; a bank on disk with another spec is stale."""

    n_directions: int
    pairs_per_direction: int
    fill_batch: int
    seed: int
    shift_range: float
    min_shift: float
    latents: str
    temperature: float
    image_shape: tuple[int, int, int]  # (H, W, C)
    fingerprint: str  # of the Glow's weights, the navigated levels and the navigator's directions
    shift_distribution: str = "uniform"

    @property
    def n_slots(self) -> int:
        return self.n_directions * self.pairs_per_direction

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


def fingerprint(frozen: FrozenGlow, navigator: Navigator) -> str:
    """sha256 of what the decoded images depend on besides the spec: Glow weights, levels, directions."""
    h = hashlib.sha256(repr(frozen.levels).encode())
    tensors = [(k, v) for k, v in sorted(frozen.glow.state_dict().items())] + [("navigator", navigator.matrix())]
    for name, t in tensors:
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def to_encoder_input(images: Tensor, device: torch.device | str = "cpu") -> Tensor:
    """uint8 NHWC -> float NCHW in [0, 1] (uint8 / 255, as `ContrastiveEncoder.encode_images` reads real images).

    Made contiguous, as the on-the-fly path's input is: a strided input takes another conv kernel, whose
    float rounding differs.
    """
    return (images.to(device).permute(0, 3, 1, 2).float() / 255.0).contiguous()


def chunk_generator(seed: int, chunk: int) -> torch.Generator:
    """The generator of one fill chunk, from (seed, chunk) alone, so a resumed fill draws what a straight one would."""
    state = np.random.SeedSequence([int(seed), int(chunk)]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


@dataclass
class ChunkPairs:
    """One decoded chunk: the latents, directions and shifts of its slots (broken ones already redrawn)."""

    start: int
    z: list[Tensor]
    directions: Tensor
    eps: Tensor
    base: Tensor  # uint8 (n, H, W, C)
    shifted: Tensor  # uint8 (n, H, W, C)
    broken: int  # broken decodes dropped and redrawn


@torch.no_grad()
def decode_chunk(frozen: FrozenGlow, navigator: Navigator, source: LatentSource, spec: BankSpec, chunk: int,
                 max_redraws: int = 100) -> ChunkPairs:
    """Decode the slots of one chunk; a broken pair is redrawn (new z and eps, same direction) until it decodes."""
    device = frozen.device
    lo = chunk * spec.fill_batch
    hi = min(lo + spec.fill_batch, spec.n_slots)
    gen = chunk_generator(spec.seed, chunk)
    dirs = torch.arange(lo, hi) % spec.n_directions
    z = source.sample(hi - lo, gen)
    eps = sample_shifts(hi - lo, spec.shift_range, spec.min_shift, gen, distribution=spec.shift_distribution)
    base = frozen.decode(z)
    shifted = frozen.decode_shifted(z, navigator(dirs.to(device), eps.to(device)))
    bad = (frozen.broken_mask(base) | frozen.broken_mask(shifted)).cpu()
    broken = 0
    for _ in range(max_redraws):
        idx = bad.nonzero().flatten()
        if len(idx) == 0:
            break
        broken += len(idx)
        z_new = source.sample(len(idx), gen)
        eps[idx] = sample_shifts(len(idx), spec.shift_range, spec.min_shift, gen, distribution=spec.shift_distribution)
        for t, t_new in zip(z, z_new):
            t[idx.to(t.device)] = t_new
        b = frozen.decode(z_new)
        s = frozen.decode_shifted(z_new, navigator(dirs[idx].to(device), eps[idx].to(device)))
        base[idx.to(device)], shifted[idx.to(device)] = b, s
        bad[idx] = (frozen.broken_mask(b) | frozen.broken_mask(s)).cpu()
    if bad.any():
        d = sorted(set(dirs[bad].tolist()))
        raise UserError(f"pair bank: directions {d} still decode broken after {max_redraws} redraws; "
                        f"lower contrastive.shift_range or raise contrastive.broken_limit")
    return ChunkPairs(lo, z, dirs, eps, quantise(base), quantise(shifted), broken)


class PairBank:
    """A filled bank on disk (memory-mapped), and the draw of a training batch's slots."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.manifest = json.loads((self.directory / "manifest.json").read_text())
        spec = self.manifest["spec"]
        self.n_directions = int(spec["n_directions"])
        self.pairs_per_direction = int(spec["pairs_per_direction"])
        self.n_slots = self.n_directions * self.pairs_per_direction
        if self.manifest["filled"] != self.n_slots:
            raise UserError(f"{self.directory}: the pair bank is filled {self.manifest['filled']}/{self.n_slots}")
        self.pairs = np.load(self.directory / "pairs.npy", mmap_mode="r")

    def slot(self, direction: Tensor, index: Tensor) -> Tensor:
        """Slot of the index-th pair of a direction (slot i moves along direction i % n_directions)."""
        return index * self.n_directions + direction

    def batch_slots(self, k: int, n_same: int, n_other: int, gen: torch.Generator) -> Tensor:
        """n_same distinct slots of direction k (queries, positives), then n_other slots of uniform other directions."""
        same = self.slot(torch.full((n_same,), k), torch.randperm(self.pairs_per_direction, generator=gen)[:n_same])
        others = sample_other_directions(n_other, self.n_directions, k, gen)
        other = self.slot(others, torch.randint(self.pairs_per_direction, (n_other,), generator=gen))
        return torch.cat([same, other])

    def images(self, slots: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 NHWC (base, shifted) images of the given slots, in that order."""
        both = torch.from_numpy(np.ascontiguousarray(self.pairs[slots.numpy()]))
        return both[:, 0], both[:, 1]


def _create(directory: Path, spec: BankSpec) -> dict[str, Any]:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    h, w, c = spec.image_shape
    np.lib.format.open_memmap(directory / "pairs.npy", "w+", np.uint8, (spec.n_slots, 2, h, w, c)).flush()
    np.lib.format.open_memmap(directory / "eps.npy", "w+", np.float32, (spec.n_slots,)).flush()
    with atomic_path(directory / "directions.npy") as tmp:
        np.save(tmp, np.arange(spec.n_slots, dtype=np.int64) % spec.n_directions)
    manifest = {"format": FORMAT, "version": VERSION, "spec": spec.to_json(), "filled": 0,
                "shape": [spec.n_slots, 2, h, w, c], "direction_of_slot": "slot % n_directions",
                "quantisation": "uint8 = round(255 * clamp(x + 0.5, 0, 1)); the encoder reads uint8 / 255",
                "broken_pairs": 0, "fill_seconds": 0.0}
    write_json(directory / "manifest.json", manifest)  # last: a bank without a manifest is rebuilt
    return manifest


def _open_or_create(directory: Path, spec: BankSpec) -> dict[str, Any]:
    path = directory / "manifest.json"
    if path.is_file():
        manifest = json.loads(path.read_text())
        if manifest.get("format") == FORMAT and manifest.get("version") == VERSION and manifest["spec"] == spec.to_json():
            return manifest
        if is_main():
            print(f"disgu: {directory}: the pair bank was made with other settings or another navigator; "
                  f"rebuilding it", file=sys.stderr)
    return _create(directory, spec)


def fill_bank(directory: str | Path, frozen: FrozenGlow, navigator: Navigator, source: LatentSource, spec: BankSpec,
              progress: bool = True, max_chunks: int | None = None) -> dict[str, Any]:
    """Fill (or go on filling) the bank in `directory`; returns the manifest. `max_chunks` stops early (tests)."""
    directory = Path(directory)
    manifest = _open_or_create(directory, spec)
    pairs = np.load(directory / "pairs.npy", mmap_mode="r+")
    eps = np.load(directory / "eps.npy", mmap_mode="r+")
    bar = progress_bar(spec.n_slots, manifest["filled"], "pair bank", progress)
    chunk, done = manifest["filled"] // spec.fill_batch, 0
    while manifest["filled"] < spec.n_slots and (max_chunks is None or done < max_chunks):
        t0 = time.perf_counter()
        c = decode_chunk(frozen, navigator, source, spec, chunk)
        hi = c.start + len(c.eps)
        pairs[c.start : hi, 0] = c.base.numpy()
        pairs[c.start : hi, 1] = c.shifted.numpy()
        eps[c.start : hi] = c.eps.numpy()
        pairs.flush()
        eps.flush()
        manifest["filled"] = hi
        manifest["broken_pairs"] += c.broken
        manifest["fill_seconds"] += time.perf_counter() - t0
        write_json(directory / "manifest.json", manifest)
        bar.update(hi - c.start)
        bar.set_postfix(broken=manifest["broken_pairs"])
        chunk, done = chunk + 1, done + 1
    bar.close()
    del pairs, eps
    return manifest


def fill_stats(manifest: dict[str, Any]) -> dict[str, Any]:
    """The fill's numbers for summaries: pairs, broken decodes replaced, seconds, pairs decoded per second."""
    spec = manifest["spec"]
    decoded = manifest["filled"] + manifest["broken_pairs"]
    return {"pairs": manifest["filled"], "directions": spec["n_directions"],
            "pairs_per_direction": spec["pairs_per_direction"], "broken_pairs_during_fill": manifest["broken_pairs"],
            "fill_seconds": manifest["fill_seconds"],
            "pairs_decoded_per_second": decoded / manifest["fill_seconds"] if manifest["fill_seconds"] > 0 else None}
