"""Glow speed and memory: steps/s and peak memory per preset, and disgu's Glow vs a rosinality-style port.

Run (heavy: take the shared lock):
    python benchmarks/bench_glow.py --out bench_glow.json

Per preset, a fresh subprocess builds the preset's Glow, initialises actnorm on procedural
Shapes3D and times full training steps (dequantise, forward, backward, clip, Adam) after
warm-up; peak memory is the subprocess's max RSS. The comparison builds the `cpu` preset's
architecture twice in one process -- disgu's Glow and `RosinalityGlow` below (the layout of
the common PyTorch port, written here from its structure) -- and alternates timed rounds
of (a) a training step and (b) decode + backward to the latents (what direction discovery
does), so both see the same machine load.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------- rosinality-style reference
# The same maths as disgu.models.glow laid out as the common port does it: actnorm checks its
# init flag with .item() every call, the 1x1 conv builds W from masked LU factors held in
# buffers and runs as a separate pass after actnorm, the zero convs pad with ones via F.pad and
# rescale in a separate pass, the coupling takes log(sigmoid) on the scale, and reverse inverts W
# in float32 every call.


class RefActNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.scale = nn.Parameter(torch.ones(1, c, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    def forward(self, x):
        if self.initialized.item() == 0:
            with torch.no_grad():
                flat = x.permute(1, 0, 2, 3).reshape(x.shape[1], -1)
                self.loc.copy_(-flat.mean(1).view(1, -1, 1, 1))
                self.scale.copy_(1 / (flat.std(1).view(1, -1, 1, 1) + 1e-6))
                self.initialized.fill_(1)
        logdet = x.shape[2] * x.shape[3] * torch.sum(torch.log(torch.abs(self.scale)))
        return self.scale * (x + self.loc), logdet

    def reverse(self, y):
        return y / self.scale - self.loc


class RefInvConvLU(nn.Module):
    def __init__(self, c):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(c, c, dtype=torch.float64))
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        u_mask = torch.triu(torch.ones(c, c), 1)
        self.register_buffer("w_p", p.float())
        self.register_buffer("u_mask", u_mask)
        self.register_buffer("l_mask", u_mask.T.contiguous())
        self.register_buffer("s_sign", torch.sign(s).float())
        self.register_buffer("l_eye", torch.eye(c))
        self.w_l = nn.Parameter(lower.float())
        self.w_s = nn.Parameter(torch.log(torch.abs(s)).float())
        self.w_u = nn.Parameter(torch.triu(upper, 1).float())

    def weight(self):
        return self.w_p @ (self.w_l * self.l_mask + self.l_eye) @ (
            self.w_u * self.u_mask + torch.diag(self.s_sign * torch.exp(self.w_s)))

    def forward(self, x):
        return F.conv2d(x, self.weight().unsqueeze(2).unsqueeze(3)), x.shape[2] * x.shape[3] * torch.sum(self.w_s)

    def reverse(self, y):
        return F.conv2d(y, self.weight().inverse().unsqueeze(2).unsqueeze(3))


class RefZeroConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=0)
        self.conv.weight.data.zero_()
        self.conv.bias.data.zero_()
        self.scale = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x):
        return self.conv(F.pad(x, [1, 1, 1, 1], value=1)) * torch.exp(self.scale * 3)


class RefCoupling(nn.Module):
    def __init__(self, c, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(c // 2, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=True), RefZeroConv(hidden, c))
        for i in (0, 2):
            self.net[i].weight.data.normal_(0, 0.05)
            self.net[i].bias.data.zero_()

    def forward(self, x):
        a, b = x.chunk(2, 1)
        log_s, t = self.net(a).chunk(2, 1)
        s = torch.sigmoid(log_s + 2)
        return torch.cat([a, (b + t) * s], 1), torch.sum(torch.log(s).view(x.shape[0], -1), 1)

    def reverse(self, y):
        a, b = y.chunk(2, 1)
        log_s, t = self.net(a).chunk(2, 1)
        return torch.cat([a, b / torch.sigmoid(log_s + 2) - t], 1)


class RefFlow(nn.Module):
    def __init__(self, c, hidden):
        super().__init__()
        self.actnorm, self.invconv, self.coupling = RefActNorm(c), RefInvConvLU(c), RefCoupling(c, hidden)

    def forward(self, x):
        x, l1 = self.actnorm(x)
        x, l2 = self.invconv(x)
        x, l3 = self.coupling(x)
        return x, l1 + l2 + l3

    def reverse(self, y):
        return self.actnorm.reverse(self.invconv.reverse(self.coupling.reverse(y)))


def _gauss_log_p(x, mean, log_sd):
    return -0.5 * math.log(2 * math.pi) - log_sd - 0.5 * (x - mean) ** 2 / torch.exp(2 * log_sd)


class RefBlock(nn.Module):
    def __init__(self, c, k, hidden, split):
        super().__init__()
        self.flows = nn.ModuleList(RefFlow(c * 4, hidden) for _ in range(k))
        self.split = split
        self.prior = RefZeroConv(c * 2, c * 4) if split else RefZeroConv(c * 4, c * 8)

    def forward(self, x):
        n, c, h, w = x.shape
        out = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).contiguous().view(n, c * 4, h // 2, w // 2)
        logdet = 0
        for flow in self.flows:
            out, det = flow(out)
            logdet = logdet + det
        if self.split:
            out, z = out.chunk(2, 1)
            mean, log_sd = self.prior(out).chunk(2, 1)
        else:
            z = out
            mean, log_sd = self.prior(torch.zeros_like(out)).chunk(2, 1)
        return out, logdet, _gauss_log_p(z, mean, log_sd).view(n, -1).sum(1), z

    def reverse(self, out, eps):
        if self.split:
            mean, log_sd = self.prior(out).chunk(2, 1)
            x = torch.cat([out, mean + torch.exp(log_sd) * eps], 1)
        else:
            mean, log_sd = self.prior(torch.zeros_like(eps)).chunk(2, 1)
            x = mean + torch.exp(log_sd) * eps
        for flow in self.flows[::-1]:
            x = flow.reverse(x)
        n, c, h, w = x.shape
        return x.view(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).contiguous().view(n, c // 4, h * 2, w * 2)


class RosinalityGlow(nn.Module):
    def __init__(self, in_channels, n_levels, n_steps, hidden):
        super().__init__()
        blocks, c = [], in_channels
        for i in range(n_levels):
            blocks.append(RefBlock(c, n_steps, hidden, split=i < n_levels - 1))
            c *= 2
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        log_p, logdet, zs = 0, 0, []
        for block in self.blocks:
            x, det, lp, z = block(x)
            zs.append(z)
            logdet, log_p = logdet + det, log_p + lp
        return log_p, logdet, zs

    def decode(self, eps_list):
        x = None
        for i, block in enumerate(self.blocks[::-1]):
            x = block.reverse(eps_list[-1] if i == 0 else x, eps_list[-(i + 1)])
        return x


# ----------------------------------------------------------------------------- measurements


def _images(resolution: int, n: int) -> torch.Tensor:
    from disgu.data import load_dataset
    from disgu.models import images_to_input

    ds = load_dataset("shapes3d", resolution=resolution)
    idx = np.random.default_rng(0).choice(len(ds), size=n, replace=False)
    return images_to_input(ds.images(idx), 5)


def _train_step(model, opt, x, n_dims):
    x = x + torch.rand_like(x) / 32
    log_p, logdet, _ = model(x)
    loss = (-(log_p + logdet) / (n_dims * math.log(2)) + 5).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 50.0)
    opt.step()
    return loss.item()


def bench_preset(name: str, batch: int | None, steps: int) -> dict:
    """Steps/s and peak RSS of one preset's training step (run in a fresh process)."""
    from disgu.models import Glow, GlowConfig
    from disgu.presets import glow_preset as preset

    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    p = preset(name)
    cfg = GlowConfig(**p["model"])
    batch = batch or p["batch_size"]
    x = _images(cfg.resolution, batch)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = Glow(cfg)
    model.initialize(x + torch.rand_like(x) / 32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    for _ in range(2):
        _train_step(model, opt, x, model.n_dims)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        loss = _train_step(model, opt, x, model.n_dims)
        times.append(time.perf_counter() - t)
    n_params = sum(p.numel() for p in model.parameters())
    sec = statistics.median(times)
    return {
        "preset": name, "resolution": cfg.resolution, "L": cfg.n_levels, "K": cfg.n_steps, "hidden": cfg.hidden,
        "batch": batch, "params_M": n_params / 1e6, "weights_MB": 4 * n_params / 2**20,
        "s_per_step_median": sec, "steps_per_s": 1 / sec, "images_per_s": batch / sec,
        "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_model_MB": rss_before / 1024, "timed_steps": steps, "last_loss_bpd": loss,
        "threads": torch.get_num_threads(),
    }


def bench_vs_reference(rounds: int, steps_per_round: int, batch: int) -> dict:
    """disgu Glow vs RosinalityGlow, cpu-preset architecture, alternating timed rounds in one process."""
    from disgu.models import Glow, GlowConfig
    from disgu.presets import glow_preset as preset

    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    cfg = GlowConfig(**preset("cpu")["model"])
    x = _images(cfg.resolution, batch)
    ours = Glow(cfg)
    ref = RosinalityGlow(cfg.in_channels, cfg.n_levels, cfg.n_steps, cfg.hidden)
    models = {"disgu": ours, "rosinality_style": ref}
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-4) for k, m in models.items()}
    for k, m in models.items():
        with torch.no_grad():
            m(x + torch.rand_like(x) / 32)  # actnorm init
        for _ in range(2):
            _train_step(m, opts[k], x, ours.n_dims)

    def decode_backward(k, m):
        eps = [torch.randn(batch, *s, requires_grad=True) for s in ours.latent_shapes]
        out = m.decode(eps)
        out.square().mean().backward()

    train_t = {k: [] for k in models}
    dec_t = {k: [] for k in models}
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(models)[::-1]
        for k in order:
            for _ in range(steps_per_round):
                t = time.perf_counter()
                _train_step(models[k], opts[k], x, ours.n_dims)
                train_t[k].append(time.perf_counter() - t)
                t = time.perf_counter()
                decode_backward(k, models[k])
                dec_t[k].append(time.perf_counter() - t)
    res = {"architecture": cfg.to_dict(), "batch": batch, "timed_steps_each": rounds * steps_per_round}
    for k in models:
        # the counts differ only in the top prior: a 3x3 zero conv on zeros there, a per-position parameter here
        res[k] = {"params": sum(p.numel() for p in models[k].parameters()),
                  "train_s_per_step_median": statistics.median(train_t[k]),
                  "decode_backward_s_median": statistics.median(dec_t[k])}
    res["train_speedup"] = res["rosinality_style"]["train_s_per_step_median"] / res["disgu"]["train_s_per_step_median"]
    res["decode_backward_speedup"] = (res["rosinality_style"]["decode_backward_s_median"]
                                      / res["disgu"]["decode_backward_s_median"])
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="*", default=["demo", "cpu", "paper"])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per preset")
    ap.add_argument("--paper-batch", type=int, default=8, help="the paper preset is for GPUs: a small CPU batch")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", default=None, help="write all results as JSON here")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's); use 1 when another job holds one of 2 cores")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.one:  # child process: one preset, one JSON line
        print(json.dumps(bench_preset(args.one, args.batch, args.steps)))
        return

    results = {"machine": f"{torch.get_num_threads()} threads, torch {torch.__version__}", "presets": []}
    for name in args.presets:
        cmd = [sys.executable, __file__, "--one", name, "--steps", str(args.steps if name != "paper" else 3)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if name == "paper":
            cmd += ["--batch", str(args.paper_batch)]
        line = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(line)
        results["presets"].append(r)
        print(f"{name:6s} {r['resolution']}px L={r['L']} K={r['K']} h={r['hidden']} batch {r['batch']}: "
              f"{r['s_per_step_median']:.3f} s/step ({r['steps_per_s']:.2f} steps/s, {r['images_per_s']:.1f} img/s), "
              f"peak RSS {r['peak_rss_MB']:.0f} MB, {r['params_M']:.2f} M params", flush=True)
    cmp = bench_vs_reference(args.rounds, 3, 32)
    results["vs_rosinality"] = cmp
    print(f"cpu-preset architecture, batch 32: train step disgu {cmp['disgu']['train_s_per_step_median']:.3f} s vs "
          f"rosinality-style {cmp['rosinality_style']['train_s_per_step_median']:.3f} s "
          f"(x{cmp['train_speedup']:.2f}); decode+backward {cmp['disgu']['decode_backward_s_median']:.3f} s vs "
          f"{cmp['rosinality_style']['decode_backward_s_median']:.3f} s (x{cmp['decode_backward_speedup']:.2f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
