"""The service's one pure-ASGI middleware: a request body limit enforced while reading, and request metrics.

One layer instead of two (each layer is a coroutine call and a wrapped ``send`` per message; BENCHMARKS.md 2c).
"""

from __future__ import annotations

import json
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import Metrics


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number (None when absent); ValueError when it is not one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value)
    return None


class RequestMiddleware:
    """Two duties on every HTTP request:

    - **body limit**: 413 for bodies over ``max_bytes``, at once when Content-Length says so, otherwise as
      soon as the streamed body passes the limit (nothing past the limit is buffered); 400 for a
      Content-Length that is not a number;
    - **metrics**: count and time every answer (these early ones included) by route template, never the raw
      path (bounded label values).
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.detail = f"request body larger than the {max_bytes} byte limit"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        seen = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise HTTPException(413, self.detail)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                if exceeded and message["status"] != 413:
                    # Whatever the parser made of the cut-off body, the client hears 413.
                    status = 413
                    await _send_json(send, 413, self.detail)
                    raise _Replaced
                status = message["status"]
            await send(message)

        try:
            try:
                declared = _declared_length(scope)
            except ValueError:
                status = 400
                await _send_json(send, 400, "invalid Content-Length header")
                return
            if declared is not None and declared > self.max_bytes:
                status = 413
                await _send_json(send, 413, self.detail)
                return
            await self.app(scope, limited_receive, guarded_send)
        except _Replaced:
            pass
        finally:
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - start)


class _Replaced(Exception):
    """Internal: the app's response was replaced by a 413 and must not continue."""
