"""The screenshots of docs/report.md and docs/explorer.md: a run's report and its explorer in headless Chromium.

Run: PYTHONPATH=src python benchmarks/page_screenshots.py --run runs/demo --out docs/images
Writes RUN/report.html (as `disgu report` does), then report.png (the top of the page) and
explorer.png (after moving two sliders) into --out. Needs Chromium, starlette, uvicorn and
websocket-client (`pip install -e '.[test]'`); takes under a minute.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser import NO_CHROMIUM, Browser, find_chromium


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a finished `disgu run` dir")
    parser.add_argument("--out", required=True, help="folder for report.png and explorer.png")
    parser.add_argument("--image", type=int, default=123457, help="dataset image shown in the explorer")
    args = parser.parse_args()
    binary = find_chromium()
    if binary is None:
        sys.exit(f"page_screenshots: {NO_CHROMIUM}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from disgu.explore.server import bind, make_server
    from disgu.report import write_report

    page = write_report(args.run)
    browser = Browser(binary, width=1180, height=1250)
    try:
        browser.open(page.resolve().as_uri())
        browser.screenshot(out / "report.png")

        sock = bind("127.0.0.1", 0)
        server, _ = make_server(args.run, sock)
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        browser.send("Emulation.setDeviceMetricsOverride", width=1180, height=660, deviceScaleFactor=1, mobile=False)
        browser.open(f"http://127.0.0.1:{sock.getsockname()[1]}/")
        browser.wait_until("window.explorer && window.explorer.renders >= 1 && !window.explorer.busy")
        browser.evaluate(f"document.getElementById('index').value = {args.image};"
                         " document.getElementById('show-image').click()")
        browser.wait_until("window.explorer.renders >= 2 && !window.explorer.busy")
        for slot, value in ((0, 0.8), (2, -0.6)):
            browser.evaluate(f"(() => {{ const s = document.querySelectorAll('#sliders input')[{slot}];"
                             f" s.value = {value} * s.max; s.dispatchEvent(new Event('input')); }})()")
        time.sleep(0.5)
        browser.wait_until("!window.explorer.busy")
        time.sleep(0.3)  # let the last image paint
        browser.screenshot(out / "explorer.png")
        server.should_exit = True
    finally:
        browser.close()
    print(f"wrote {out / 'report.png'} and {out / 'explorer.png'}")


if __name__ == "__main__":
    main()
