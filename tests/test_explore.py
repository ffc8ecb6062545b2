"""disgu explore: the API against a running server (good and bad requests, coalescing, load), and the page in Chromium."""

from __future__ import annotations

import base64
import http.client
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from browser import NO_CHROMIUM, Browser, find_chromium
from disgu.cli import cli

pytest.importorskip("starlette", reason="the explorer needs starlette (pip install -e '.[test]')")
pytest.importorskip("uvicorn", reason="the explorer needs uvicorn (pip install -e '.[test]')")

from disgu.explore.api import MAX_BODY, LatestOnly  # noqa: E402
from disgu.explore.server import bind, is_loopback, make_server  # noqa: E402


@pytest.fixture(scope="module")
def server(tiny_run_dir):
    """The explorer of the tiny run, served on a free loopback port in a thread of this process."""
    out, _ = tiny_run_dir
    sock = bind("127.0.0.1", 0)
    srv, explorer = make_server(out, sock)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield sock.getsockname()[1], explorer
    srv.should_exit = True
    thread.join(10)
    sock.close()


def call(port: int, method: str, path: str, body: bytes | str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.getheader("content-type") or "", r.read()
    finally:
        conn.close()


def render(port: int, **body) -> dict:
    status, _, data = call(port, "POST", "/api/render", json.dumps(body), {"Content-Type": "application/json"})
    assert status == 200, data
    return json.loads(data)


def decoded(out: dict) -> np.ndarray:
    assert out["image"].startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(out["image"].split(",", 1)[1]))))


def test_info_lists_the_ranked_directions(server, tiny_run_dir):
    port, _ = server
    out, _ = tiny_run_dir
    status, ctype, data = call(port, "GET", "/api/info")
    info = json.loads(data)
    index = json.loads((out / "traversals" / "index.json").read_text())
    assert status == 200 and ctype.startswith("application/json")
    assert [d["direction"] for d in info["directions"]] == [d["direction"] for d in index["directions"]]
    assert info["resolution"] == 16 and info["n_images"] > 0 and len(info["code_std"]) == info["n_codes"]
    status, ctype, page = call(port, "GET", "/")
    assert status == 200 and b"/api/render" in page and b"http" not in page.replace(b"http-equiv", b"")


def test_render_decodes_a_shift_and_reads_its_codes(server):
    port, explorer = server
    d = explorer.directions[0]["direction"]
    base = render(port, source="image", index=3)
    moved = render(port, source="image", index=3, shifts={str(d): explorer.shift_range})
    assert decoded(base).shape[:2] == (16, 16)
    assert not np.array_equal(decoded(base), decoded(moved))
    assert base["codes"] != moved["codes"] and len(base["codes"]) == len(explorer.code_mean)
    assert render(port, source="image", index=3)["codes"] == base["codes"]  # deterministic
    sample = render(port, source="sample", seed=7)
    assert not np.array_equal(decoded(sample), decoded(base))
    status, ctype, png = call(port, "GET", "/api/original/3")
    assert status == 200 and ctype == "image/png" and Image.open(io.BytesIO(png)).size == (16, 16)


BAD = {
    "malformed JSON": ("POST", "/api/render", b"{\"index\": 1,", 400),
    "not an object": ("POST", "/api/render", b"[1, 2]", 400),
    "nested too deeply": ("POST", "/api/render", b"[" * 8000 + b"]" * 8000, 400),
    "not UTF-8": ("POST", "/api/render", b"\xff\xfe\x00", 400),
    "index out of range": ("POST", "/api/render", b"{\"index\": 10000000}", 400),
    "negative index": ("POST", "/api/render", b"{\"index\": -1}", 400),
    "index not an integer": ("POST", "/api/render", b"{\"index\": 1.5}", 400),
    "unknown direction": ("POST", "/api/render", b"{\"index\": 0, \"shifts\": {\"999\": 1}}", 400),
    "direction not a number": ("POST", "/api/render", b"{\"index\": 0, \"shifts\": {\"up\": 1}}", 400),
    "shift too large": ("POST", "/api/render", b"{\"index\": 0, \"shifts\": {\"0\": 1e300}}", 400),
    "shift not finite": ("POST", "/api/render", b"{\"index\": 0, \"shifts\": {\"0\": NaN}}", 400),
    "shift not a number": ("POST", "/api/render", b"{\"index\": 0, \"shifts\": {\"0\": \"x\"}}", 400),
    "unknown source": ("POST", "/api/render", b"{\"source\": \"camera\"}", 400),
    "seed out of range": ("POST", "/api/render", b"{\"source\": \"sample\", \"seed\": 99999999999}", 400),
    "unknown field": ("POST", "/api/render", b"{\"index\": 0, \"scale\": 9}", 400),
    "client id too long": ("POST", "/api/render", ("{\"index\": 0, \"client\": \"%s\"}" % ("c" * 500)).encode(), 400),
    "huge body": ("POST", "/api/render", b"{\"index\": 0, \"pad\": \"" + b"x" * (4 * MAX_BODY) + b"\"}", 413),
    "wrong method": ("GET", "/api/render", None, 405),
    "unknown route": ("GET", "/api/nothing-here", None, 404),
    "original out of range": ("GET", "/api/original/99999999", None, 404),
    "original not a number": ("GET", "/api/original/abc", None, 404),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_get_a_4xx_json_line_and_the_server_lives_on(server, case):
    port, _ = server
    method, path, body, expected = BAD[case]
    status, ctype, data = call(port, method, path, body, {"Content-Type": "application/json"} if body else None)
    assert status == expected
    assert ctype.startswith("application/json")
    message = json.loads(data)["error"]
    assert message and "\n" not in message and len(message) < 300
    assert call(port, "GET", "/api/info")[0] == 200


def test_chunked_body_over_the_limit_is_refused(server):
    port, _ = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        chunks = (b"x" * 4096 for _ in range(2 * MAX_BODY // 4096))
        conn.request("POST", "/api/render", body=chunks, encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        assert conn.getresponse().status == 413
    finally:
        conn.close()
    assert call(port, "GET", "/api/info")[0] == 200


def test_a_superseded_request_is_not_decoded():
    latest = LatestOnly(max_clients=2)
    assert latest.arrive("a", 5) and not latest.arrive("a", 3)
    assert latest.arrive("b", 1) and latest.is_stale("a", 4) and not latest.is_stale("a", 5)
    latest.arrive("c", 1)  # the oldest client is forgotten beyond max_clients
    assert latest.arrive("a", 0)


def test_an_older_request_from_the_same_client_is_answered_as_superseded(server):
    port, _ = server
    assert render(port, index=0, client="t1", seq=10)["superseded"] is False
    out = render(port, index=0, client="t1", seq=9)
    assert out == {"superseded": True, "seq": 9}
    assert render(port, index=0, client="t2", seq=9)["superseded"] is False  # another client is not affected


def test_a_burst_from_one_client_decodes_far_fewer_than_it_sends(server, monkeypatch):
    """16 slider moves sent at once: the ones overtaken while waiting are skipped, the newest is always decoded."""
    port, explorer = server
    d = str(explorer.directions[0]["direction"])
    calls = []
    slow_render = explorer.render

    def render_slowly(*args):  # a decode as slow as a big Glow's, so the moves pile up behind it
        calls.append(args)
        time.sleep(0.2)
        return slow_render(*args)

    monkeypatch.setattr(explorer, "render", render_slowly)

    def move(seq: int) -> dict:
        time.sleep(0.01 * seq)  # sent in order, faster than they are decoded
        return render(port, index=1, shifts={d: seq / 16 * explorer.shift_range}, client="burst", seq=seq)

    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(move, range(1, 17)))
    assert outs[-1]["superseded"] is False
    assert sum(not o["superseded"] for o in outs) == len(calls) <= 4


def test_four_clients_times_200_moves_get_their_own_images(server):
    """Concurrent clients on different bases: every answer is the one that client asked for, no errors."""
    port, explorer = server
    d = str(explorer.directions[0]["direction"])
    values = np.linspace(-explorer.shift_range, explorer.shift_range, 5)
    expected = {(i, k): render(port, index=i, shifts={d: float(v)})["codes"]
                for i in range(4) for k, v in enumerate(values)}

    def client(i: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        wrong = 0
        for step in range(200):
            k = step % len(values)
            body = json.dumps({"index": i, "shifts": {d: float(values[k])}, "client": f"load{i}", "seq": step})
            conn.request("POST", "/api/render", body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            out = json.loads(r.read())
            assert r.status == 200, out
            wrong += out["codes"] != expected[(i, k)]
        conn.close()
        return wrong

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(client, range(4))) == [0, 0, 0, 0]
    assert call(port, "GET", "/api/info")[0] == 200


def test_explore_binds_loopback_by_default_and_refuses_bad_options(tiny_run_dir, tmp_path):
    from disgu.cli.explore import explore

    host = next(p for p in explore.params if p.name == "host")
    assert host.default == "127.0.0.1" and is_loopback(host.default)
    assert not is_loopback("0.0.0.0") and is_loopback("::1") and is_loopback("localhost")
    result = CliRunner().invoke(cli, ["explore", "--run", str(tmp_path)])
    assert result.exit_code == 2 and "--run" in result.output and result.output.count("\n") == 1
    taken = bind("127.0.0.1", 0)
    try:
        out, _ = tiny_run_dir
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(cli, ["explore", "--run", str(out), "--port", port])
        assert result.exit_code == 2 and f"--port {port}" in result.output
    finally:
        taken.close()


def test_moving_a_slider_in_chromium_changes_the_image_and_the_code_bars(server, tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip(NO_CHROMIUM)
    port, explorer = server
    browser = Browser(binary)
    state = ("[document.getElementById('decoded').src, "
             "[...document.querySelectorAll('#bars rect')].map(r => r.getAttribute('y') + ':' + "
             "r.getAttribute('height')).join(',')]")
    try:
        browser.open(f"http://127.0.0.1:{port}/")
        browser.wait_until("window.explorer && window.explorer.renders >= 1 && !window.explorer.busy")
        before = browser.evaluate(state)
        assert browser.evaluate("document.querySelectorAll('#sliders input').length") == len(explorer.directions)
        browser.evaluate("(() => { const s = document.querySelector('#sliders input'); s.value = s.max;"
                         " s.dispatchEvent(new Event('input')); })()")
        browser.wait_until("window.explorer.renders >= 2 && !window.explorer.busy")
        after = browser.evaluate(state)
        broken = browser.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
        errors = browser.console_errors()
        browser.screenshot(tmp_path / "explorer.png")
    finally:
        browser.close()
    assert before[0].startswith("data:image/png") and after[0] != before[0]
    assert before[1] and after[1] != before[1]
    assert broken == 0 and errors == []
