"""disgu report: the page a run and a baseline get, its sections, its offline-ness, and a real browser loading it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import NO_CHROMIUM, Browser, find_chromium
from click.testing import CliRunner

from disgu.cli import cli
from disgu.report import write_report
from disgu.report.curves import draw_curves


class _Refs(HTMLParser):
    """Every src/href of a page, and the img tags."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "img":
            self.images.append(a)


def _refs(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    return parser


def _baseline_dir(root: Path) -> Path:
    """What `disgu baseline beta-vae` leaves (no checkpoint: the report then notes the missing code map)."""
    out = root / "bvae"
    out.mkdir()
    (out / "run_info.json").write_text(json.dumps({"config": {"model": "beta-vae", "dataset": "shapes3d",
                                                               "resolution": 16, "seed": 0}, "seed": 0}))
    (out / "metrics.json").write_text(json.dumps({"mig": 0.123, "dci_disentanglement": 0.234, "factor_vae": 0.5,
                                                  "beta_vae": 0.6, "factor_sizes": [10, 10, 10, 8, 4, 15]}))
    (out / "evaluation.json").write_text(json.dumps({"model": "beta-vae", "training_seconds": 600.0}))
    lines = [json.dumps({"step": s, "loss": 500.0 - s, "recon": 480.0 - s, "kl": 2.0 + s / 100}) for s in range(1, 40)]
    (out / "log.jsonl").write_text("\n".join(lines) + "\n{\"step\": 4")  # a torn last line
    return out


def test_a_baseline_dir_has_its_vae_curves_despite_a_torn_last_line(tmp_path):
    out = _baseline_dir(tmp_path)
    assert [t for t, _ in draw_curves(out)] == ["VAE: loss", "VAE: KL"]


def test_run_ends_with_the_report_and_its_path(tiny_run_dir):
    out, output = tiny_run_dir
    assert (out / "report.html").is_file()
    assert f"report: {out / 'report.html'}" in output


def test_report_of_a_run_has_every_section_and_needs_no_network(tiny_run_dir):
    out, _ = tiny_run_dir
    html = write_report(out).read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"{metrics['mig']:.3f}" in html and "this run: Dis-GU" in html and "Dis-GU (" not in html
    assert "paper: Dis-GU" in html and "0.45 &plusmn; 0.04" in html  # the paper's Shapes3D row
    assert "id='factor-map'" in html and "id='glow-samples'" in html
    for title in ("Glow: bits per dim", "Discovery: reconstructor accuracy", "Contrastive: loss",
                  "Contrastive: positive-negative gap"):
        assert f"alt='{title}'" in html, title
    refs = _refs(html)
    assert not [r for r in refs.refs if re.match(r"(https?:)?//", r)], "the page must not load from the network"
    index = json.loads((out / "traversals" / "index.json").read_text())
    gifs = [i["src"] for i in refs.images if str(i["src"]).endswith(".gif")]
    assert gifs == [f"traversals/{d['gif']}" for d in index["directions"]]  # ranked order, relative links
    assert all((out / g).is_file() for g in gifs)
    for d in index["directions"]:
        assert f"<td>{d['code_dim']}</td><td>{d['factor']}" in html
    assert json.dumps(json.loads((out / "config.json").read_text())["discovery"]["n_directions"]) in html


def test_report_with_a_baseline_row_and_a_baseline_dir_of_its_own(tiny_run_dir, tmp_path):
    out, _ = tiny_run_dir
    base = _baseline_dir(tmp_path)
    result = CliRunner().invoke(cli, ["report", "--run", str(out), "--baseline", str(base)])
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "baseline: beta-vae, 10.0 min of training" in html and "0.123" in html
    html = write_report(base).read_text()
    assert "this run: beta-vae" in html and "paper: beta-VAE" in html
    assert "alt='VAE: loss'" in html and "alt='VAE: KL'" in html
    assert "no code x factor map" in html  # no checkpoint in this dir: a note, not a crash


def test_curves_skip_torn_lines_and_absent_logs(tmp_path):
    (tmp_path / "distil").mkdir()
    rows = [json.dumps({"step": s, "mse": 1.0 / s}) for s in range(1, 6)]
    (tmp_path / "distil" / "log.jsonl").write_text("\n".join(rows) + "\nnot json\n")
    assert [t for t, _ in draw_curves(tmp_path)] == ["Glow-ICA distillation: MSE"]
    assert draw_curves(tmp_path / "nowhere") == []


@pytest.mark.parametrize("case", ["missing", "not-a-run", "bad-baseline"])
def test_report_refuses_a_dir_that_is_not_a_run_in_one_line(case, tiny_run_dir, tmp_path):
    out, _ = tiny_run_dir
    args = {"missing": ["--run", str(tmp_path / "nope")], "not-a-run": ["--run", str(tmp_path)],
            "bad-baseline": ["--run", str(out), "--baseline", str(tmp_path)]}[case]
    before = (out / "report.html").stat().st_mtime_ns
    result = CliRunner().invoke(cli, ["report", *args])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and line.startswith("disgu: error: ")
    assert ("--baseline" if case == "bad-baseline" else "--run") in line
    assert not (tmp_path / "report.html").exists()
    assert (out / "report.html").stat().st_mtime_ns == before  # nothing rewritten


def test_report_loads_in_chromium_with_no_broken_image_and_no_console_error(tiny_run_dir, tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip(NO_CHROMIUM)
    out, _ = tiny_run_dir
    page = write_report(out)
    browser = Browser(binary)
    try:
        browser.open(page.resolve().as_uri())
        images = browser.evaluate("document.images.length")
        broken = browser.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                                  ".map(i => i.getAttribute('src').slice(0, 60))")
        errors = browser.console_errors()
        browser.screenshot(tmp_path / "report.png")
    finally:
        browser.close()
    index = json.loads((out / "traversals" / "index.json").read_text())
    assert images >= len(index["directions"]) + 2 + 4  # GIFs, map, samples, curves
    assert broken == []
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 1000
