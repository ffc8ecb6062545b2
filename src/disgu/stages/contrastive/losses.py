"""The losses of the contrastive stage (paper eq. 7-8, DisCo's hard-negative flipping and entropy term).

A variation is v = |E(G(z + eps n_d)) - E(G(z))|, L2-normalised, so similarities are cosines
in [0, 1]. For queries q (B, D), positives k+ (N, D) along the same direction and negatives k-
(K, D) along other directions:

    L = BCE(sigma(q.k+ / tau), 1) + BCE(sigma(q.k- / tau), target)

with target 0, except for negatives more similar to their query than `threshold`, whose target
is that similarity (detached): two directions can move the same factor, and pushing them apart
would tear the factor over two code dims. Averaged over all B x (N + K) pairs. `pair_loss` is the
stage's loss: this BCE plus the entropy term (and the optional code-scale term) on a step's pairs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from disgu.stages.contrastive.config import ContrastiveConfig
    from disgu.models.encoder import ContrastiveEncoder


def variation(shifted: Tensor, base: Tensor) -> Tensor:
    """|E(G(z + shift)) - E(G(z))|, L2-normalised per row."""
    return F.normalize((shifted - base).abs(), dim=1, eps=1e-8)


def flipped_negative_targets(neg_sim: Tensor, threshold: float) -> Tensor:
    """0 for ordinary negatives; the (detached) similarity itself where it exceeds `threshold`."""
    s = neg_sim.detach()
    return torch.where(s > threshold, s, torch.zeros_like(s))


def contrastive_bce_loss(q: Tensor, pos: Tensor, neg: Tensor, tau: float = 1.0, threshold: float = 0.95
                         ) -> tuple[Tensor, dict[str, Tensor]]:
    """(loss, stats): BCE-with-logits over the (B, N + K) similarity matrix, hard negatives flipped."""
    s_pos = q @ pos.T
    s_neg = q @ neg.T
    logits = torch.cat([s_pos, s_neg], 1) / tau
    targets = torch.cat([torch.ones_like(s_pos), flipped_negative_targets(s_neg, threshold)], 1)
    loss = F.binary_cross_entropy_with_logits(logits, targets)
    stats = {
        "pos_sim": s_pos.detach().mean(),
        "neg_sim": s_neg.detach().mean(),
        "flipped": (s_neg.detach() > threshold).float().mean(),
    }
    return loss, stats


def entropy_loss(v: Tensor, temperature: float = 1.0, form: str = "sample") -> Tensor:
    """Entropy (nats) of softmax(v / temperature) over the D code dims: low when few dims carry v.

    form "sample" (the paper's): the mean of each variation's own entropy, so every variation is
    dominated by some dim. form "direction": the entropy of the rows' mean, so the variations of one
    direction (all rows passed share it) are dominated by the same dim.
    """
    if form == "direction":
        v = v.mean(0, keepdim=True)
    logp = F.log_softmax(v / temperature, dim=1)
    return -(logp.exp() * logp).sum(1).mean()


def code_scale_loss(codes: Tensor) -> Tensor:
    """Mean over code dims of (log std_j)^2 over a batch of codes: pulls every dim's spread towards 1.

    The BCE sees only L2-normalised variations, so it is blind to the scale of E(x); raw codes
    then stay as small as at initialisation, and metrics that threshold raw scales (FactorVAE's
    pruning at std 0.05) or fit default-regularised classifiers (beta-VAE) cannot read them.
    Off by default (`contrastive.scale_weight = 0`).
    """
    std = codes.std(0).clamp_min(1e-6)
    return (torch.log(std) ** 2).mean()


def pair_loss(encoder: ContrastiveEncoder, base: torch.Tensor, shifted: torch.Tensor, broken: torch.Tensor,
              cfg: ContrastiveConfig, direction: int) -> tuple[torch.Tensor | None, dict[str, float]]:
    """The loss on decoded pairs, shared by the on-the-fly and the bank path so both train on the same loss.

    base, shifted: (B + N + K, C, H, W) encoder inputs in [0, 1], rows ordered queries, positives,
    negatives; shifted[:B + N] may carry gradients into the navigator. broken: (B + N + K,) pairs to drop.
    """
    b_n = cfg.batch_size + cfg.n_positives
    keep_q = ~broken[: cfg.batch_size]
    keep_p = ~broken[cfg.batch_size : b_n]
    keep_n = ~broken[b_n:]
    stats = {"broken": float(broken.sum()), "pairs": float(len(broken)), "direction": float(direction)}
    if keep_q.sum() < 1 or keep_p.sum() < 1 or keep_n.sum() < 1:
        return None, stats
    e_base_qp = encoder(base[:b_n])
    v_qp = variation(encoder(shifted[:b_n]), e_base_qp)
    with torch.no_grad():
        v_neg = variation(encoder(shifted[b_n:]), encoder(base[b_n:]))
    q = v_qp[: cfg.batch_size][keep_q]
    pos = v_qp[cfg.batch_size :][keep_p]
    neg = v_neg[keep_n]
    bce, s = contrastive_bce_loss(q, pos, neg, cfg.tau, cfg.hard_threshold)
    ent = entropy_loss(torch.cat([q, pos]), cfg.entropy_temperature, cfg.entropy_form)
    loss = bce + cfg.entropy_weight * ent
    if cfg.scale_weight > 0:
        scale = code_scale_loss(e_base_qp[~broken[:b_n]])
        loss = loss + cfg.scale_weight * scale
        stats["scale"] = float(scale.detach())
    stats.update({"loss": float(loss.detach()), "bce": float(bce.detach()), "entropy": float(ent.detach()),
                  **{key: float(val) for key, val in s.items()}})
    stats["gap"] = stats["pos_sim"] - stats["neg_sim"]
    return loss, stats
