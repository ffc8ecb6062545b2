"""Serve the explorer with uvicorn on a socket bound here, so a taken port is a one-line error."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

from disgu.errors import UserError

MAX_CONNECTIONS = 64  # beyond this uvicorn answers 503 instead of queueing without bound


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise UserError(f"--host {host}: cannot resolve it ({err.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise UserError(f"--port {port}: cannot listen on {host}:{port} ({err.strerror})") from None
    sock.listen(128)
    return sock


def make_server(run_dir: str | Path, sock: socket.socket):
    """(uvicorn.Server, Explorer) for a run dir; `server.run(sockets=[sock])` serves until stopped."""
    import uvicorn

    from disgu.explore.api import make_app
    from disgu.explore.model import Explorer

    explorer = Explorer(run_dir)
    config = uvicorn.Config(make_app(explorer), log_level="warning", limit_concurrency=MAX_CONNECTIONS,
                            timeout_keep_alive=5, access_log=False)
    return uvicorn.Server(config), explorer


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, say: Callable[[str], None] = print) -> None:
    """Serve the explorer of a run dir until Ctrl-C."""
    sock = bind(host, port)
    try:
        server, explorer = make_server(run_dir, sock)
        actual = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        say(f"disgu explore: {explorer.run_dir} ({len(explorer.directions)} directions, "
            f"{explorer.n_images} dataset images) at http://{shown}:{actual}/ (Ctrl-C stops)")
        if not is_loopback(host):
            say(f"disgu explore: warning: --host {host} is not loopback; anyone who can reach this machine "
                f"can use the explorer")
        server.run(sockets=[sock])
    finally:
        sock.close()
