"""ASGI middleware: the request body size limit, request metrics, and the last resort that
answers an unhandled exception."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kopilka.api.errors import PROBLEM_JSON, STATUS, TYPE_BASE
from kopilka.api.metrics import Metrics
from kopilka.logging import BODY_SCOPE_KEY


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413 problem+json.

    The bytes are counted as they arrive (a missing or false Content-Length does not
    help a client), and the body is buffered, so the application never sees a part of
    an oversize request and nothing is written.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # the log of a failure masks what the request carried (kopilka.logging)
        scope[BODY_SCOPE_KEY] = body
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        status, title = STATUS["payload_too_large"]
        body = json.dumps(
            {
                "type": TYPE_BASE + "payload_too_large",
                "title": title,
                "status": status,
                "detail": f"request body exceeds {self.max_bytes} bytes",
                "instance": scope.get("path", ""),
                "code": "payload_too_large",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class RequestMetrics:
    """Count and time requests by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            # path_format: the template as documented, without convertors ({member_id:int})
            template = getattr(route, "path_format", None) or "unmatched"
            self.metrics.observe_request(
                scope["method"], template, status, time.perf_counter() - started
            )


class LastResort:
    """Answer an exception that no handler took with ``handler``'s response, and end it.

    Starlette's outermost middleware also calls the application's handler for
    ``Exception``, but then raises the exception again, for the server to log: uvicorn
    wrote every 500 a second time, with its own traceback. Installed inside the other
    middleware (they see the 500), this one lets nothing through: the handler logs the
    error once. A response already started cannot be replaced; it is left unfinished
    and the server closes the connection."""

    def __init__(self, app: ASGIApp, handler: Callable[[Request, Exception], Response]) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_started(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_started)
        except Exception as exc:  # the handler decides what the client and the log see
            response = self.handler(Request(scope), exc)
            if not started:
                await response(scope, receive, send)
