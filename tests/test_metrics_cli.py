"""`disgu metrics` and `disgu metrics aggregate` end to end on small files."""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
from click.testing import CliRunner

from disgu.cli import cli
from disgu.metrics.aggregate import aggregate, format_markdown


def _grid():
    return np.array(list(itertools.product(range(4), range(3), range(5))), dtype=np.float64)


def test_metrics_command_writes_the_headline_keys(tmp_path):
    f = _grid()
    np.save(tmp_path / "codes.npy", f.astype(np.float32))
    np.save(tmp_path / "factors.npy", f)
    out = tmp_path / "r" / "metrics.json"
    res = CliRunner().invoke(cli, ["metrics", "--codes", str(tmp_path / "codes.npy"), "--factors",
                                   str(tmp_path / "factors.npy"), "--metrics", "mig,factor_vae", "--seed", "3",
                                   "--dataset", "toy", "--method", "identity", "--out", str(out)])
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["mig"] > 0.95 and r["factor_vae"] == 1.0
    assert r["seed"] == 3 and r["dataset"] == "toy" and r["method"] == "identity"
    assert set(r["timings"]) == {"mig", "factor_vae"}
    assert r["run"]["config"]["metrics"] == ["mig", "factor_vae"]


def test_metrics_command_reports_bad_input_in_one_line(tmp_path):
    f = _grid()
    codes = f.copy()
    codes[0, 0] = np.nan
    np.save(tmp_path / "codes.npy", codes)
    np.save(tmp_path / "factors.npy", f)
    res = CliRunner().invoke(cli, ["metrics", "--codes", str(tmp_path / "codes.npy"), "--factors",
                                   str(tmp_path / "factors.npy"), "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 2
    assert "NaN" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli, ["metrics", "--codes", str(tmp_path / "missing.npy"), "--factors",
                                   str(tmp_path / "factors.npy"), "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 2 and "does not exist" in res.output
    np.save(tmp_path / "few.npy", f[:-5])
    few = str(tmp_path / "few.npy")
    res = CliRunner().invoke(cli, ["metrics", "--codes", few, "--factors", few, "--metrics", "beta_vae",
                                   "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 2 and "full factorial grid" in res.output
    assert not (tmp_path / "m.json").exists()


def _fake(tmp_path, name, dataset, method, seed, mig, dci):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"dataset": dataset, "method": method, "seed": seed, "mig": mig,
                                "dci_disentanglement": dci, "factor_vae": 0.9, "beta_vae": 1.0}))
    return str(path)


def test_aggregate_gives_mean_and_std_in_table_layout(tmp_path):
    files = [_fake(tmp_path, "a0", "Shapes3D", "Dis-GU", 0, 0.40, 0.5),
             _fake(tmp_path, "a1", "Shapes3D", "Dis-GU", 1, 0.50, 0.7),
             _fake(tmp_path, "b0", "Shapes3D", "DisCo", 0, 0.15, 0.52)]
    res = CliRunner().invoke(cli, ["metrics", "aggregate", *files, "--out", str(tmp_path / "t.md"),
                                   "--out", str(tmp_path / "t.csv"), "--out", str(tmp_path / "t.json")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "t.md").read_text().splitlines()
    assert md[0] == "| dataset | method | MIG | DCI | FactorVAE | beta-VAE |"
    assert md[2] == "| Shapes3D | Dis-GU | 0.45+-0.07 | 0.60+-0.14 | 0.90+-0.00 | 1.00+-0.00 |"
    assert md[3] == "| Shapes3D | DisCo | 0.15 | 0.52 | 0.90 | 1.00 |"
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert float(rows[0]["MIG mean"]) == 0.45 and rows[0]["num_runs"] == "2"
    assert rows[1]["MIG std"] == ""
    table = json.loads((tmp_path / "t.json").read_text())
    assert table["rows"][0]["MIG"]["std"] == np.std([0.4, 0.5], ddof=1)


def test_aggregate_needs_labels(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"mig": 0.3}))
    res = CliRunner().invoke(cli, ["metrics", "aggregate", str(path)])
    assert res.exit_code == 2 and "--dataset" in res.output
    res = CliRunner().invoke(cli, ["metrics", "aggregate", str(path), "--dataset", "X", "--method", "Y"])
    assert res.exit_code == 0 and "| X | Y | 0.30 | - | - | - |" in res.output


def test_aggregate_function_skips_missing_scores():
    rows = aggregate([{"dataset": "d", "method": "m", "mig": 0.2}, {"dataset": "d", "method": "m", "mig": 0.4}])
    assert rows[0]["MIG"]["n"] == 2 and rows[0]["DCI"]["mean"] is None
    assert "| d | m | 0.30+-0.14 | - |" in format_markdown(rows)


def test_metrics_warns_on_overlapping_draws_and_splits_without_overlap(tmp_path):
    f = np.array(list(itertools.product(range(4), range(5), range(6))), dtype=np.float64)  # 120 rows
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).normal(size=(120, 5)))
    np.save(tmp_path / "factors.npy", f)
    args = ["metrics", "--codes", str(tmp_path / "noise.npy"), "--factors", str(tmp_path / "factors.npy"),
            "--metrics", "dci", "--dci-estimator", "hist"]
    same = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "protocol.json")])
    assert same.exit_code == 0, same.output
    assert "disgu: warning: dci: 120 rows" in same.output and "--split disjoint" in same.output
    apart = CliRunner().invoke(cli, [*args, "--split", "disjoint", "--out", str(tmp_path / "disjoint.json")])
    assert apart.exit_code == 0 and "warning" not in apart.output, apart.output
    protocol = json.loads((tmp_path / "protocol.json").read_text())
    disjoint = json.loads((tmp_path / "disjoint.json").read_text())
    assert protocol["dci_informativeness"] > 0.9 and protocol["warnings"]
    assert disjoint["dci_informativeness"] < 0.45 and disjoint["split"] == "disjoint" and "warnings" not in disjoint


def test_aggregate_warns_when_two_results_share_a_training_seed(tmp_path):
    files = [_fake(tmp_path, "a0", "Shapes3D", "Dis-GU", 0, 0.40, 0.5),
             _fake(tmp_path, "a1", "Shapes3D", "Dis-GU", 1, 0.50, 0.7)]
    for name, seed in (("a0", 7), ("a1", 7)):
        r = json.loads((tmp_path / f"{name}.json").read_text())
        (tmp_path / f"{name}.json").write_text(json.dumps({**r, "training_seed": seed}))
    res = CliRunner().invoke(cli, ["metrics", "aggregate", *files])
    assert res.exit_code == 0 and "have training seed 7" in res.output, res.output
    copy = tmp_path / "copy.json"
    copy.write_text((tmp_path / "a0.json").read_text().replace('"training_seed": 7', '"training_seed": 8'))
    res = CliRunner().invoke(cli, ["metrics", "aggregate", files[0], str(copy)])
    assert "identical scores" in res.output, res.output


def test_help_says_out_is_required():
    from click.testing import CliRunner

    from disgu.cli import cli

    text = " ".join(CliRunner().invoke(cli, ["metrics", "--help"]).output.split())
    assert "--out" in text and "Result JSON to write (required" in text
