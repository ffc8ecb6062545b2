"""Wall time of each metric on a Shapes3D-sized grid, against disentanglement_lib on the same codes.

Grid: 480,000 points, factor sizes 10,10,10,8,4,15 (Shapes3D). Codes: a noisy nonlinear mix of
the standardised factors (the first F dims lean on one factor each; the rest are weaker mixtures),
10 and 64 dims. For each size it times disgu's MIG, DCI (exact and hist estimators), FactorVAE and
beta-VAE at disentanglement_lib's default sample sizes, then disentanglement_lib's own functions
(if installed, `pip install -e .[parity]` + `pip install --no-deps disentanglement-lib`) on the same
codes and seed, and reports scores, deltas and speed-ups. `--deviation` also compares the hist
estimator with the exact one on varied 10-dim codes. Run it in a heavy-job slot (one thread); the
two parts can run side by side as two one-thread processes, then print one table:

    python benchmarks/bench_metrics.py --part disgu --n-jobs 1 --out disgu.json
    python benchmarks/bench_metrics.py --part dlib --out dlib.json
    python benchmarks/bench_metrics.py --table disgu.json dlib.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

SIZES = (10, 10, 10, 8, 4, 15)


def grid(sizes=SIZES) -> np.ndarray:
    return np.array(list(itertools.product(*[range(k) for k in sizes])), dtype=np.float64)


def make_codes(kind: str, factors: np.ndarray, dims: int, seed: int = 0) -> np.ndarray:
    rs = np.random.RandomState(seed)
    z = (factors - factors.mean(0)) / factors.std(0)
    f = z.shape[1]
    if kind == "mixed":  # the benchmark's codes: partly disentangled, with nuisance dims
        mix = np.eye(f, dims) + 0.3 * rs.randn(f, dims)
        return np.tanh(0.7 * z @ mix) + 0.1 * rs.randn(len(z), dims)
    if kind == "identity":
        return np.c_[z, 0.1 * rs.randn(len(z), dims - f)] + 0.05 * rs.randn(len(z), dims)
    if kind == "rotated":
        q = np.linalg.qr(rs.randn(dims, dims))[0]
        return np.c_[z, np.zeros((len(z), dims - f))] @ q + 0.05 * rs.randn(len(z), dims)
    if kind == "random":
        return rs.randn(len(z), dims)
    if kind == "nonlinear":  # each dim a different nonlinear function of two factors
        a, b = rs.randint(f, size=dims), rs.randint(f, size=dims)
        return np.sin(1.5 * z[:, a]) * (1 + 0.5 * z[:, b]) + 0.2 * rs.randn(len(z), dims)
    raise ValueError(kind)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_dims(dims: int, factors: np.ndarray, args, log) -> dict:
    import disgu.metrics as M

    codes = make_codes("mixed", factors, dims)
    row: dict = {"dims": dims, "disgu": {}, "dlib": {}}
    src = M.as_source(codes, factors)
    jobs = [] if args.part == "dlib" else [
        ("mig", lambda: M.mig(src, random_state=args.seed)["mig"]),
        ("dci_exact", lambda: M.dci(src, random_state=args.seed, estimator="exact", n_jobs=args.n_jobs)),
        ("dci_hist", lambda: M.dci(src, random_state=args.seed, estimator="hist", n_jobs=args.n_jobs)),
        ("factor_vae", lambda: M.factor_vae(src, random_state=args.seed)["factor_vae"]),
        ("beta_vae", lambda: M.beta_vae(src, random_state=args.seed)["beta_vae"]),
    ]
    for name, fn in jobs:
        if name == "dci_exact" and dims in args.skip_exact_dci:
            continue
        sec, out = timed(fn)
        if isinstance(out, dict):
            out = {k: out[k] for k in ("disentanglement", "completeness", "informativeness_test")}
        row["disgu"][name] = {"seconds": round(sec, 2), "score": out}
        log(f"disgu {dims}-dim {name}: {sec:.1f}s {out}")
    if args.no_dlib or args.part == "disgu":
        return row
    from metrics_oracle import load_oracle

    Oracle = load_oracle()
    if Oracle is None:
        log("disentanglement_lib not installed; skipping the comparison")
        return row
    o = Oracle(codes, SIZES)
    their = [("mig", lambda: o.mig(args.seed)), ("factor_vae", lambda: o.factor_vae(args.seed)),
             ("beta_vae", lambda: o.beta_vae(args.seed))]
    if dims not in args.skip_dlib_dci:
        their.append(("dci", lambda: {k: float(v) for k, v in o.dci(args.seed).items()}))
    for name, fn in their:
        sec, out = timed(fn)
        row["dlib"][name] = {"seconds": round(sec, 2), "score": out}
        log(f"dlib  {dims}-dim {name}: {sec:.1f}s {out}")
    return row


def deviation(factors: np.ndarray, args, log) -> list:
    """DCI of each estimator in --deviation-estimators on varied 10-dim codes ("dlib": disentanglement_lib)."""
    import disgu.metrics as M

    rows = []
    for kind in ("identity", "rotated", "random", "nonlinear", "mixed"):
        codes = make_codes(kind, factors, 10, seed=1)
        src = M.as_source(codes, factors)
        r: dict = {"codes": kind, "dims": 10, "seconds": {}}
        for est in args.deviation_estimators:
            if est == "dlib":
                from metrics_oracle import load_oracle

                sec, out = timed(lambda c=codes: {k: float(v) for k, v in load_oracle()(c, SIZES).dci(args.seed).items()})
            else:
                sec, out = timed(lambda s=src, e=est: M.dci(s, random_state=args.seed, estimator=e, n_jobs=args.n_jobs))
            r["seconds"][est] = round(sec, 1)
            for key in ("disentanglement", "completeness", "informativeness_test"):
                r.setdefault(key, {})[est] = out[key]
        rows.append(r)
        log(f"deviation {kind}: " + json.dumps(r))
    return rows


def jobs_scaling(factors: np.ndarray, args, log) -> list:
    """Wall time of DCI with 1 and 2 threads, same samples, same machine state (hold both CPU slots)."""
    import disgu.metrics as M

    rows = []
    for dims in args.dims:
        src = M.as_source(make_codes("mixed", factors, dims), factors)
        for estimator in args.scaling_estimators:
            for n_jobs in (1, 2):
                sec, out = timed(lambda s=src, e=estimator, j=n_jobs: M.dci(s, random_state=args.seed, estimator=e,
                                                                            n_jobs=j))
                rows.append({"dims": dims, "estimator": estimator, "n_jobs": n_jobs, "seconds": round(sec, 1),
                             "disentanglement": out["disentanglement"]})
                log(f"jobs scaling {dims}-dim {estimator} n_jobs={n_jobs}: {sec:.1f}s D={out['disentanglement']:.4f}")
    return rows


def print_table(paths) -> None:
    """Markdown rows: wall time per metric, speed-up over disentanglement_lib, score deltas."""
    runs: dict = {}
    for path in paths:
        with open(path) as fh:
            for run in json.load(fh)["runs"]:
                merged = runs.setdefault(run["dims"], {"disgu": {}, "dlib": {}})
                merged["disgu"].update(run["disgu"])
                merged["dlib"].update(run["dlib"])
    keys = ("disentanglement", "completeness", "informativeness_test")
    print("| codes | metric | disgu (s) | dlib (s) | speed-up | disgu score | dlib score | delta |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for dims, run in sorted(runs.items()):
        ours, theirs = run["disgu"], run["dlib"]
        total_ours, total_theirs = 0.0, 0.0
        for name, their_name, label in (("mig", "mig", "MIG"), ("dci_exact", "dci", "DCI exact"),
                                        ("dci_hist", "dci", "DCI hist"), ("factor_vae", "factor_vae", "FactorVAE"),
                                        ("beta_vae", "beta_vae", "beta-VAE")):
            if name not in ours:
                continue
            o, t = ours[name], theirs.get(their_name)
            if name != "dci_hist":
                total_ours += o["seconds"]
                total_theirs += t["seconds"] if t else float("nan")
            speed = f"{t['seconds'] / o['seconds']:.1f}x" if t else ""
            t_sec = f"{t['seconds']:.1f}" if t else ""
            if isinstance(o["score"], dict):
                for i, key in enumerate(keys):
                    their = t["score"][key] if t else None
                    cells = [f"{dims}-dim", f"{label}: {key.replace('_test', ' (test)')}",
                             f"{o['seconds']:.1f}" if i == 0 else "", t_sec if i == 0 else "", speed if i == 0 else "",
                             f"{o['score'][key]:.4f}", f"{their:.4f}" if t else "",
                             f"{o['score'][key] - their:+.4f}" if t else ""]
                    print("| " + " | ".join(cells) + " |")
            else:
                cells = [f"{dims}-dim", label, f"{o['seconds']:.1f}", t_sec, speed, f"{o['score']:.4f}",
                         f"{t['score']:.4f}" if t else "", f"{o['score'] - t['score']:+.4f}" if t else ""]
                print("| " + " | ".join(cells) + " |")
        print(f"| {dims}-dim | all four headline metrics (exact DCI) | {total_ours:.1f} | {total_theirs:.1f} | "
              f"{total_theirs / total_ours:.1f}x | | | |")
    for path in paths:
        with open(path) as fh:
            rows = json.load(fh).get("deviation", [])
        if not rows:
            continue
        names = list(rows[0]["seconds"])
        ref = "dlib" if "dlib" in names else names[0]
        others = [n for n in names if n != ref]
        head = ["codes (10-dim)"]
        for key in ("D", "C", "I"):
            head += [f"{key} {ref}"] + [f"{key} {o} (delta)" for o in others]
        head += [f"{n} s" for n in names]
        print("\n| " + " | ".join(head) + " |")
        print("| " + " | ".join("---" for _ in head) + " |")
        for r in rows:
            cells = [r["codes"]]
            for key in keys:
                cells.append(f"{r[key][ref]:.4f}")
                cells += [f"{r[key][o]:.4f} ({r[key][o] - r[key][ref]:+.4f})" for o in others]
            cells += [f"{r['seconds'][n]:.1f}" for n in names]
            print("| " + " | ".join(cells) + " |")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dims", type=int, nargs="+", default=[10, 64])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--no-dlib", action="store_true", help="Skip disentanglement_lib.")
    p.add_argument("--part", choices=["all", "disgu", "dlib", "none"], default="all",
                   help="Time only disgu or only disentanglement_lib (two one-thread processes side by side); "
                   "none: only --deviation or --jobs-scaling.")
    p.add_argument("--table", nargs="+", metavar="JSON",
                   help="Print the BENCHMARKS.md table from result files (e.g. a disgu part and a dlib part).")
    p.add_argument("--skip-dlib-dci", type=int, nargs="*", default=[], help="Dims for which dlib's DCI is skipped.")
    p.add_argument("--skip-exact-dci", type=int, nargs="*", default=[], help="Dims for which exact DCI is skipped.")
    p.add_argument("--deviation", action="store_true", help="Also compare DCI estimators on varied 10-dim codes.")
    p.add_argument("--deviation-estimators", nargs="+", default=["exact", "hist"],
                   help="Estimators for --deviation: exact, sklearn, hist, dlib (disentanglement_lib).")
    p.add_argument("--jobs-scaling", action="store_true", help="Only time DCI with 1 vs 2 threads (--dims).")
    p.add_argument("--scaling-estimators", nargs="+", default=["exact"], help="Estimators for --jobs-scaling.")
    p.add_argument("--out", default="bench_metrics.json")
    args = p.parse_args(argv)

    import sklearn

    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
              "numpy": np.__version__, "sklearn": sklearn.__version__, "grid": list(SIZES), "seed": args.seed,
              "n_jobs": args.n_jobs, "runs": [], "deviation": []}

    def log(msg):
        print(msg, flush=True)
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2, default=float)

    if args.table:
        print_table(args.table)
        return
    factors = grid()
    if args.jobs_scaling:
        result["jobs_scaling"] = jobs_scaling(factors, args, log)
        log("finished")
        return
    for dims in args.dims if args.part != "none" else ():
        result["runs"].append(bench_dims(dims, factors, args, log))
        log(f"done {dims}")
    if args.deviation:
        result["deviation"] = deviation(factors, args, log)
    log("finished")


if __name__ == "__main__":
    main()
