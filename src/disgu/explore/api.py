"""The explorer's JSON API (Starlette): routes, request checking and request coalescing.

Every bad request gets a 4xx JSON body {"error": "<one line>"} and the server carries on. Decodes
run one at a time (the CPU is the bottleneck; two at once only make both slower), and a request
that a newer one from the same client has superseded while it waited is answered at once with
{"superseded": true} instead of being decoded: a fast slider never queues up stale decodes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import threading
import time
from collections import OrderedDict
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from disgu.errors import UserError
from disgu.explore.model import Explorer

MAX_BODY = 16 * 1024  # bytes; a render request with a shift for each of 64 directions is about 2 KB
MAX_CLIENT_ID = 64
MAX_CLIENTS = 4096


class BadRequest(Exception):
    """A request the API refuses: an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class LatestOnly:
    """The newest sequence number seen per client, so a waiting request can tell it has been superseded.

    Clients are the page's random ids; the table keeps the most recent MAX_CLIENTS of them.
    """

    def __init__(self, max_clients: int = MAX_CLIENTS):
        self._latest: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self.max_clients = max_clients

    def arrive(self, client: str, seq: int) -> bool:
        """Record a request; False when a newer one from this client was seen already."""
        with self._lock:
            newest = self._latest.get(client)
            if newest is not None and seq < newest:
                return False
            self._latest[client] = seq
            self._latest.move_to_end(client)
            while len(self._latest) > self.max_clients:
                self._latest.popitem(last=False)
            return True

    def is_stale(self, client: str, seq: int) -> bool:
        with self._lock:
            return self._latest.get(client, seq) > seq


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object, refusing bodies over MAX_BODY (413) and anything but an object (400)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, "Content-Length is not a number")
        if int(declared) > MAX_BODY:
            raise BadRequest(413, f"body of {declared} bytes is over the limit of {MAX_BODY}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadRequest(413, f"body is over the limit of {MAX_BODY} bytes")
    try:
        data = json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise BadRequest(400, f"body is not valid JSON ({err})") from None
    except RecursionError:  # '[[[[...' nested deeper than the decoder's stack
        raise BadRequest(400, "body is JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest(400, f"body must be a JSON object, got {type(data).__name__}")
    return data


def _int_field(data: dict[str, Any], name: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if value is None:
        raise BadRequest(400, f"{name}: missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(400, f"{name}: expected an integer, got {json.dumps(value)[:40]}")
    return value


def parse_render(data: dict[str, Any], explorer: Explorer) -> tuple[str, int, dict[int, float], str | None, int]:
    """(source, index or seed, {direction: shift}, client, seq) of a render request, checked."""
    unknown = set(data) - {"source", "index", "seed", "shifts", "client", "seq"}
    if unknown:
        raise BadRequest(400, f"unknown field(s): {', '.join(sorted(unknown))[:80]}")
    source = data.get("source", "image")
    if source not in ("image", "sample"):
        raise BadRequest(400, f"source: expected 'image' or 'sample', got {json.dumps(source)[:40]}")
    number = _int_field(data, "index" if source == "image" else "seed")
    shifts_in = data.get("shifts", {})
    if not isinstance(shifts_in, dict):
        raise BadRequest(400, "shifts: expected an object {direction: shift}")
    known = {int(d["direction"]) for d in explorer.directions}
    shifts: dict[int, float] = {}
    for key, value in shifts_in.items():
        try:
            d = int(key)
        except ValueError:
            raise BadRequest(400, f"shifts: {key[:20]!r} is not a direction number") from None
        if d not in known:
            raise BadRequest(400, f"shifts: unknown direction {d} (known: {', '.join(map(str, sorted(known)))})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BadRequest(400, f"shifts[{d}]: expected a finite number")
        if abs(value) > explorer.shift_limit:
            raise BadRequest(400, f"shifts[{d}]: {value} is outside +-{explorer.shift_limit:g}")
        shifts[d] = float(value)
    client = data.get("client")
    if client is not None and (not isinstance(client, str) or not 0 < len(client) <= MAX_CLIENT_ID):
        raise BadRequest(400, f"client: expected a string of 1 to {MAX_CLIENT_ID} characters")
    seq = _int_field(data, "seq", 0)
    try:
        explorer.check_source(source, number)
    except UserError as err:
        raise BadRequest(400, str(err)) from None
    return source, number, shifts, client, seq


def make_app(explorer: Explorer) -> Starlette:
    """The explorer's web app: the page at /, the JSON API under /api/."""
    latest = LatestOnly()
    decode_lock = asyncio.Lock()
    page = resources.files("disgu.explore").joinpath("static/explorer.html").read_text(encoding="utf-8")

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def info(request: Request) -> Response:
        return JSONResponse(explorer.info())

    async def original(request: Request) -> Response:
        raw = request.path_params["index"]
        if not raw.isdigit() or not 0 <= int(raw) < explorer.n_images:
            raise BadRequest(404, f"index: {raw[:20]!r} is not an image index (0 .. {explorer.n_images - 1})")
        async with decode_lock:  # the dataset and the models are used by one request at a time
            png = await run_in_threadpool(explorer.original_png, int(raw))
        return Response(png, media_type="image/png")

    async def render(request: Request) -> Response:
        source, number, shifts, client, seq = parse_render(await read_json(request), explorer)
        superseded = {"superseded": True, "seq": seq}
        if client is not None and not latest.arrive(client, seq):
            return JSONResponse(superseded)
        async with decode_lock:
            if client is not None and latest.is_stale(client, seq):
                return JSONResponse(superseded)
            t0 = time.perf_counter()
            out = await run_in_threadpool(explorer.render, source, number, shifts)
            ms = (time.perf_counter() - t0) * 1000
        return JSONResponse({"superseded": False, "seq": seq, "source": source, "number": number,
                             "image": "data:image/png;base64," + base64.b64encode(out.png).decode("ascii"),
                             "codes": out.codes, "decode_ms": round(ms, 2)})

    allowed = {"/api/info": "GET", "/api/render": "POST"}

    async def not_found(request: Request) -> Response:
        path = request.url.path
        if path in allowed or path.startswith("/api/original/"):
            use = allowed.get(path, "GET")
            raise BadRequest(405, f"method {request.method} is not allowed on {path[:80]} (use {use})")
        raise BadRequest(404, f"no such API route: {path[:80]}")

    async def bad_request(request: Request, exc: Exception) -> Response:
        return _error(exc.status, str(exc))  # type: ignore[attr-defined]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = getattr(exc, "detail", "") or "error"
        if status == 405:
            detail = f"method {request.method} is not allowed on {request.url.path[:80]}"
        elif status == 404:
            detail = f"no such page: {request.url.path[:80]}"
        return _error(status, detail)

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, f"internal error: {type(exc).__name__}: {exc}"[:200])

    routes = [
        Route("/", index), Route("/api/info", info), Route("/api/original/{index}", original),
        Route("/api/render", render, methods=["POST"]),
        Route("/api/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
    return Starlette(routes=routes, exception_handlers={BadRequest: bad_request, HTTPException: http_error,
                                                       Exception: server_error})
