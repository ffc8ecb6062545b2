"""A quick look at a run's codes: MIG, DCI (hist), and the best / second-best code dim per factor.

Used to compare contrastive-stage settings cheaply (BENCHMARKS.md, "Contrastive-stage levers").
The redundancy it prints (two dims carrying the same factor almost equally) is what keeps MIG low.

    python benchmarks/quick_codes_eval.py RUN_DIR [--dataset shapes3d] >> results.jsonl
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from disgu import DisGU
from disgu.data import load_dataset
from disgu.metrics.dci import dci_from_samples
from disgu.metrics.mig import mig_from_samples


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--dataset", default="shapes3d")
    a = p.parse_args()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    model = DisGU.load(a.run)
    ds = load_dataset(a.dataset, resolution=model.config_.resolution)
    rs = np.random.RandomState(0)

    def draw(n: int):
        f = ds.sample_factors(n, rs)
        return model.transform(ds.images(ds.index_of(f))), f

    codes, factors = draw(10_000)
    mig = mig_from_samples(codes, factors)
    nmi = np.array(mig["mutual_info"]) / np.array(mig["factor_entropy"])
    top = np.sort(nmi, 0)[::-1]
    codes_test, factors_test = draw(1000)
    d = dci_from_samples(codes[:2000], factors[:2000], codes_test, factors_test, estimator="hist")
    print(json.dumps({
        "run": a.run, "mig": round(mig["mig"], 4),
        "dci_hist": round(d["disentanglement"], 4), "completeness": round(d["completeness"], 4),
        "informativeness": round(d["informativeness_test"], 4),
        "best_dim_nmi": np.round(top[0], 3).tolist(), "second_dim_nmi": np.round(top[1], 3).tolist(),
    }))


if __name__ == "__main__":
    main()
