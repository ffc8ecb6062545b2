"""Explorer latency per slider move: 200 moves of one client over loopback HTTP, as the page sends them.

Run: PYTHONPATH=src python benchmarks/explorer_latency.py --run runs/demo [--moves 200] [--threads 1]
Starts the explorer of RUN on a free loopback port in this process, then sends `--moves` render
requests one after another (the page keeps one in flight), each moving one direction's slider a
step along a sweep on one dataset image, and prints the median and 95th percentile of the round
trip (HTTP + decode + encode + PNG) and of the server's decode time, in milliseconds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from disgu.explore.server import bind, make_server

    sock = bind("127.0.0.1", 0)
    server, explorer = make_server(args.run, sock)
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = sock.getsockname()[1]
    dirs = [d["direction"] for d in explorer.directions]
    sweep = np.sin(np.linspace(0, 4 * np.pi, args.moves)) * explorer.shift_range
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    round_trip, decode = [], []
    for step in range(args.moves + 5):  # the first 5 warm up (base latent cache, allocator) and are not counted
        k = max(step - 5, 0)
        body = json.dumps({"index": 4321, "shifts": {str(dirs[(k // 25) % len(dirs)]): float(sweep[k])},
                           "client": "bench", "seq": step})
        t0 = time.perf_counter()
        conn.request("POST", "/api/render", body=body, headers={"Content-Type": "application/json"})
        out = json.loads(conn.getresponse().read())
        if step >= 5:
            round_trip.append((time.perf_counter() - t0) * 1000)
            decode.append(out["decode_ms"])
    server.should_exit = True
    res = explorer.frozen.resolution
    print(f"{args.run}: {res}x{res}, {len(dirs)} directions, {args.moves} moves, torch threads {args.threads}")
    for name, values in (("round trip", round_trip), ("server decode+encode", decode)):
        print(f"  {name}: median {np.median(values):.1f} ms, p95 {np.percentile(values, 95):.1f} ms")


if __name__ == "__main__":
    main()
