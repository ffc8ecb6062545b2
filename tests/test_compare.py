"""`disgu compare`: real runs of the tiny preset, a failing method, a resumed rerun, and refused options."""

from __future__ import annotations

import csv
import json
import shutil
import sys

import pytest
from click.testing import CliRunner

from disgu.cli import cli
from disgu.compare.plan import parse_methods, plan_runs, split_overrides
from disgu.errors import UserError


def _compare(out, *extra):
    args = ["compare", "--dataset", "shapes3d", "--preset", "tiny", "--seeds", "2", "--jobs", "2", "--out", str(out)]
    return CliRunner().invoke(cli, args + list(extra))


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """dis-gu and untrained over 2 seeds, plus cf given a setting it refuses, so that every cf run fails."""
    out = tmp_path_factory.mktemp("compare") / "cmp"
    result = _compare(out, "--methods", "dis-gu,untrained,cf", "--set", "cf:no_such_field=1")
    return out, result


def test_failing_method_does_not_stop_the_others(compared):
    out, result = compared
    assert result.exit_code == 1, result.output
    assert "2 of 6 runs failed" in result.stderr
    for seed in (0, 1):
        assert f"cf/s{seed} (exit 2): see {out / 'cf' / f's{seed}.log'}" in result.stderr
        assert "no_such_field" in (out / "cf" / f"s{seed}.log").read_text()
        for method in ("dis-gu", "untrained"):
            assert (out / method / f"s{seed}" / "metrics.json").is_file()
            assert f"finished {method}/s{seed}" in result.output


def test_tables_hold_mean_std_paper_row_and_best(compared):
    out, _ = compared
    table = json.loads((out / "table.json").read_text())
    rows = {r["method"]: r for r in table["rows"]}
    assert set(rows) == {"dis-gu", "untrained"}  # cf has no finished run
    # the dis-gu row is the paper's method, not the preset's default Glow-ICA recipe
    assert json.loads((out / "dis-gu" / "s0" / "config.json").read_text())["representation"] == "contrastive"
    for method in rows:
        ours = [json.loads((out / method / f"s{s}" / "metrics.json").read_text())["mig"] for s in (0, 1)]
        assert rows[method]["num_runs"] == 2
        assert rows[method]["MIG"]["mean"] == pytest.approx(sum(ours) / 2)
        assert rows[method]["MIG"]["std"] == pytest.approx(abs(ours[0] - ours[1]) / 2 ** 0.5)
    assert rows["dis-gu"]["paper"] == {"MIG": 0.45, "DCI": 0.58, "FactorVAE": 0.92, "beta-VAE": 0.98}
    assert rows["untrained"]["paper"] is None
    assert rows["dis-gu"]["training_seconds"] > 0 and rows["untrained"]["training_seconds"] == 0
    stages = [json.loads((out / "dis-gu" / f"s{s}" / "stage_times.json").read_text()) for s in (0, 1)]
    evals = [json.loads((out / "untrained" / f"s{s}" / "evaluation.json").read_text())["eval_seconds"] for s in (0, 1)]
    whole = sum(t["wall_seconds"] for st in stages for t in st.values()) + sum(evals)
    assert table["total"] == {"runs": 4, "timed_runs": 4, "seconds": pytest.approx(whole)}
    assert any(line.startswith("The whole comparison: 4 finished runs") for line in table["footer"])
    best_dci = max(rows, key=lambda m: rows[m]["DCI"]["mean"])
    assert rows[best_dci]["DCI"]["best"] and not rows[({"dis-gu", "untrained"} - {best_dci}).pop()]["DCI"]["best"]

    md = (out / "table.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith(f"| {best_dci} |"))
    dci = rows[best_dci]["DCI"]
    assert f"**{dci['mean']:.2f} +- {dci['std']:.2f}**" in line
    assert "0.45 / 0.58 / 0.92 / 0.98" in md and "Training budget per method" in md

    with open(out / "table.csv") as fh:
        csv_rows = {r["method"]: r for r in csv.DictReader(fh)}
    assert float(csv_rows["dis-gu"]["paper MIG"]) == 0.45 and csv_rows["untrained"]["budget"] == "no training"

    factors = json.loads((out / "factors.json").read_text())
    assert "shape" in factors["factors"]
    disgu_row = next(r for r in factors["rows"] if r["method"] == "dis-gu")
    assert disgu_row["runs"] == 2 and all(0 <= v <= 1 for v in disgu_row["best_nmi"].values())
    assert (out / "factors.md").is_file()
    config = json.loads((out / "compare.json").read_text())
    assert config["methods"] == ["dis-gu", "untrained", "cf"] and (out / "run_info.json").is_file()


def test_rerun_skips_finished_runs(compared):
    out, _ = compared
    metrics = [out / m / f"s{s}" / "metrics.json" for m in ("dis-gu", "untrained") for s in (0, 1)]
    before = [p.stat().st_mtime_ns for p in metrics]
    result = _compare(out, "--methods", "dis-gu,untrained")
    assert result.exit_code == 0, result.output
    assert [p.stat().st_mtime_ns for p in metrics] == before
    for m in ("dis-gu", "untrained"):
        assert f"skipped {m}/s0" in result.output and f"skipped {m}/s1" in result.output
    assert "running" not in result.output


def test_records_alone_rebuild_the_tables(compared, tmp_path):
    """A comparison's small records (no checkpoints, no encoders) are enough for a rerun to skip and tabulate."""
    out, _ = compared
    records = ("metrics.json", "stage_times.json", "evaluation.json", "factor_nmi.json")
    copy = tmp_path / "records"
    for method in ("dis-gu", "untrained"):
        for seed in (0, 1):
            run = out / method / f"s{seed}"
            assert (run / "factor_nmi.json").is_file()
            (copy / method / f"s{seed}").mkdir(parents=True)
            for name in records:
                if (run / name).is_file():
                    shutil.copy(run / name, copy / method / f"s{seed}" / name)
    result = _compare(copy, "--methods", "dis-gu,untrained")
    assert result.exit_code == 0, result.output
    assert "running" not in result.output
    for name in ("table.json", "factors.json"):
        again, first = json.loads((copy / name).read_text()), json.loads((out / name).read_text())
        assert again["rows"] == first["rows"], name
    assert json.loads((copy / "factors.json").read_text())["notes"] == json.loads((out / "factors.json").read_text())["notes"]


@pytest.mark.parametrize("args, message", [
    (["--methods", "dis-gu,dip-vae"], "dip-vae is dip-vae-i and dip-vae-ii here"),
    (["--methods", "disco-vae"], "unknown method 'disco-vae'; available: all, dis-gu"),
    (["--methods", "nope"], "unknown method 'nope'"),
    (["--seeds", "0"], "--seeds 0"),
    (["--jobs", "0"], "--jobs 0"),
])
def test_bad_options_give_one_line_and_exit_2(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["compare", "--dataset", "shapes3d", "--preset", "tiny",
                                      "--out", str(tmp_path / "c")] + args)
    assert result.exit_code == 2, result.output
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "c").exists()


def test_unwritable_out_is_refused(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(cli, ["compare", "--dataset", "shapes3d", "--preset", "tiny", "--out", str(blocker)])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "not a folder" in result.stderr


def test_plan_gives_every_method_the_preset_and_the_vaes_a_budget(tmp_path):
    specs = plan_runs("shapes3d", parse_methods("all"), 1, "cpu", tmp_path)
    by = {s.method: s.argv for s in specs}
    assert by["dis-gu"][3:5] == ["run", "--preset"] and "cpu" in by["dis-gu"]
    assert by["gs"][3:7] == ["baseline", "gs", "--preset", "cpu"]
    for vae in ("beta-vae", "factor-vae", "dip-vae-i", "dip-vae-ii"):  # the preset sizes budget and metrics
        assert by[vae][3:7] == ["baseline", vae, "--preset", "cpu"]
        assert "--minutes" not in by[vae] and "--set" not in by[vae]
    assert by["untrained"][3:7] == ["baseline", "untrained", "--preset", "cpu"]
    assert {s.budget for s in specs if s.method == "beta-vae"} == {"15 min of training (Dis-GU's `cpu` training time)"}
    assert by["disco"][3:8] == ["baseline", "disco", "--preset", "cpu", "--no-progress"]  # dis-gu's budget rule
    assert by["glow-ica"][3:8] == ["baseline", "glow-ica", "--preset", "cpu", "--no-progress"]
    assert split_overrides(["contrastive.tau=0.2", "cf:seed=1"], ["dis-gu", "cf"]) == {
        "dis-gu": ["contrastive.tau=0.2"], "cf": ["seed=1"]}
    with pytest.raises(UserError, match="not one of the compared"):
        split_overrides(["gs:x=1"], ["dis-gu"])


def test_comparison_page_shows_the_table_charts_and_links_to_each_run(compared):
    from browser import NO_CHROMIUM, Browser, find_chromium

    out, _ = compared
    html = (out / "report.html").read_text()
    assert "Table 1 layout" in html and html.count("data:image/svg+xml;base64,") == 4  # one chart per metric
    table = json.loads((out / "table.json").read_text())
    for row in table["rows"]:
        assert f"{row['MIG']['mean']:.3f}" in html
    for seed in (0, 1):
        assert f"href='dis-gu/s{seed}/report.html'" in html and (out / "dis-gu" / f"s{seed}" / "report.html").is_file()
    assert "href='cf/" not in html  # every cf run failed: nothing to link
    assert "http://" not in html and "https://" not in html
    binary = find_chromium()
    if binary is None:
        pytest.skip(NO_CHROMIUM)
    browser = Browser(binary)
    try:
        browser.open((out / "report.html").resolve().as_uri())
        broken = browser.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
        assert broken == 0 and browser.console_errors() == []
    finally:
        browser.close()


def test_plan_of_the_new_methods_under_the_tiny_preset(tmp_path):
    specs = plan_runs("shapes3d", parse_methods("dip-vae-i,dip-vae-ii,disco"), 2, "tiny", tmp_path,
                      split_overrides(["disco:contrastive.tau=0.5"], ["dip-vae-i", "dip-vae-ii", "disco"]))
    assert [s.name for s in specs] == ["dip-vae-i/s0", "dip-vae-i/s1", "dip-vae-ii/s0", "dip-vae-ii/s1",
                                       "disco/s0", "disco/s1"]
    by = {s.name: s for s in specs}
    dip = by["dip-vae-ii/s1"].argv
    assert dip[3:7] == ["baseline", "dip-vae-ii", "--preset", "tiny"]
    assert dip[dip.index("--seed") + 1] == "1" and dip[dip.index("--out") + 1] == str(tmp_path / "dip-vae-ii" / "s1")
    disco = by["disco/s0"].argv
    assert disco[3:8] == ["baseline", "disco", "--preset", "tiny", "--no-progress"]
    assert disco[-2:] == ["--set", "contrastive.tau=0.5"]
    assert by["disco/s0"].budget.startswith("`tiny` preset") and by["dip-vae-i/s0"].budget == "2 steps (test preset)"
    assert parse_methods("all")[-4:] == ["ld", "disco", "glow-ica", "untrained"]


def test_both_dip_vae_types_stand_beside_the_papers_single_row(tmp_path):
    from disgu.compare.table import DIP_NOTE, build_table, format_table_markdown

    specs = plan_runs("shapes3d", ["dip-vae-i", "dip-vae-ii", "disco"], 1, "tiny", tmp_path)
    for i, spec in enumerate(specs):
        spec.run_dir.mkdir(parents=True)
        (spec.run_dir / "metrics.json").write_text(json.dumps(
            {"mig": 0.1 * (i + 1), "dci_disentanglement": 0.2, "factor_vae": 0.5, "beta_vae": 0.6, "seed": 0,
             "metric_seed": 0}))
    table = build_table("shapes3d", specs)
    rows = {r["method"]: r for r in table["rows"]}
    dip_row = {"MIG": 0.38, "DCI": 0.57, "FactorVAE": 0.68, "beta-VAE": 0.83}
    assert rows["dip-vae-i"]["paper"] == rows["dip-vae-ii"]["paper"] == dip_row
    assert rows["disco"]["paper"] == {"MIG": 0.15, "DCI": 0.52, "FactorVAE": 0.85, "beta-VAE": 0.86}
    assert DIP_NOTE in table["footer"] and "does not say whether it is DIP-VAE-I or DIP-VAE-II" in DIP_NOTE
    assert DIP_NOTE in format_table_markdown(table)
    assert DIP_NOTE not in build_table("shapes3d", specs[2:])["footer"]


def test_paper_note_names_the_dataset_of_the_table(tmp_path):
    from disgu.compare.table import build_table

    for dataset, name in (("mpi3d", "MPI3D"), ("cars3d", "Cars3D"), ("shapes3d", "Shapes3D")):
        specs = plan_runs(dataset, ["dis-gu"], 1, "tiny", tmp_path / dataset)
        specs[0].run_dir.mkdir(parents=True)
        (specs[0].run_dir / "metrics.json").write_text(json.dumps(
            {"mig": 0.1, "dci_disentanglement": 0.2, "factor_vae": 0.5, "beta_vae": 0.6, "seed": 0}))
        assert f"official {name} files" in build_table(dataset, specs)["paper_note"]


def test_sigterm_stops_the_runs_and_still_writes_the_table(compared, tmp_path, monkeypatch):
    """A scheduler's SIGTERM is Ctrl-C: the children are stopped, the finished runs' table is written, exit 130."""
    import os
    import signal
    import time

    from disgu.compare import runner

    out = tmp_path / "cmp"
    shutil.copytree(compared[0], out)
    (out / "table.md").unlink()
    started = []

    def stopped_by_scheduler(specs, jobs, on_done):
        started.extend(s.name for s in specs)
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises at once; this only bounds a failing run
        raise AssertionError("SIGTERM did not stop the comparison")

    monkeypatch.setattr(runner, "run_all", stopped_by_scheduler)
    before = signal.getsignal(signal.SIGTERM)
    res = _compare(out, "--methods", "dis-gu,untrained,cf", "--set", "cf:no_such_field=1")
    assert res.exit_code == 130, res.output
    assert started == ["cf/s0", "cf/s1"] and "interrupted" in res.output
    table = (out / "table.md").read_text()
    assert "| dis-gu | 2 |" in table and "| untrained | 2 |" in table
    assert signal.getsignal(signal.SIGTERM) == before


def test_no_run_starts_and_no_folder_appears_once_stopping(tmp_path):
    from disgu.compare.runner import _Children

    spec = plan_runs("shapes3d", ["untrained"], 1, "tiny", tmp_path)[0]
    children = _Children()
    children.stop_all()
    assert children.start(spec) is None
    assert not spec.log.parent.exists()


def test_a_run_finished_meanwhile_by_another_process_is_not_started_again(tmp_path):
    """The plan is made once; a run finished by hand (or by a second comparison) before its turn is skipped."""
    from disgu.compare.runner import run_all

    first, second = plan_runs("shapes3d", ["untrained"], 2, "tiny", tmp_path)
    first.argv = [sys.executable, "-c", f"open({str(second.run_dir / 'metrics.json')!r}, 'w').write('{{}}')"]
    second.run_dir.mkdir(parents=True)
    outcomes = run_all([first, second], 1, lambda o: None)
    # both can finish within one poll of run_all, which then reports them in no set order
    assert sorted((o.spec.name, o.returncode, o.skipped) for o in outcomes) == [("untrained/s0", 0, False),
                                                                                 ("untrained/s1", 0, True)]
    assert not second.log.exists()
