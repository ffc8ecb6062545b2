"""What a bf16 decode does to the images: the shipped Shapes3D Glow decoding prior latents with its coupling
networks under bf16 autocast, against fp32 (the same latents).

Run (one thread, seconds):
    python benchmarks/bf16_decode.py --threads 1
On the CPU this is torch's CPU bf16 autocast; a GPU's bf16 kernels round the same format but may add in
another order, so the size of the differences carries over, not the exact pixels.
"""

from __future__ import annotations

import argparse
import json

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from disgu.models.generator import FrozenGlow
    from disgu.models.pretrained import load_pretrained_glow

    glow, _ = load_pretrained_glow("shapes3d", 32)
    z = glow.sample_latents(args.images, 0.7, generator=torch.Generator().manual_seed(0))  # on the CPU, then moved
    glow.to(args.device)
    z = [t.to(args.device) for t in z]
    frozen = FrozenGlow(glow, (glow.config.n_levels - 1,))
    with torch.no_grad():
        x32 = frozen.decode(z)
        glow.set_amp(torch.bfloat16)
        x16 = frozen.decode(z)
        glow.set_amp(None)
    diff = (x16 - x32).abs().nan_to_num(0.0).flatten()  # model space: images lie in [-0.5, 0.5]
    levels = (torch.round(FrozenGlow.to_unit(x16) * 255) - torch.round(FrozenGlow.to_unit(x32) * 255)).abs()
    print(json.dumps({
        "images": args.images, "device": args.device,
        "mean_abs_diff_in_255ths": round(float(diff.mean()) * 255, 3),
        "p99_abs_diff_in_255ths": round(float(diff.kthvalue(int(0.99 * diff.numel())).values) * 255, 3),
        "max_abs_diff_in_255ths": round(float(diff.max()) * 255, 2),
        "uint8_pixels_changed": round(float((levels > 0).float().mean()), 4),
        "broken_fp32": int(frozen.broken_mask(x32).sum()), "broken_bf16": int(frozen.broken_mask(x16).sum()),
    }))


if __name__ == "__main__":
    main()
