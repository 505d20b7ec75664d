"""The load generator's HTTP requests, sent straight into the API's ASGI application.

``bench_purchase_cost --via asgi`` books its purchases through the whole application
(middleware, routing, authentication, validation, the route and its answer's encoding)
without sockets, the HTTP server or a second process: what the server's Python costs per
request, measured as steadily as the service alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
App = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def scope_of(head: bytes) -> Scope:
    """The ASGI scope of a request's bytes up to its body (``bench.loadgen`` builds them)."""
    start, *fields = head.split(b"\r\n")
    method, target, _version = start.split(b" ")
    path, _, query = target.partition(b"?")
    headers = [
        (name.strip().lower(), value.strip())
        for name, _, value in (f.partition(b":") for f in fields if f)
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.decode(),
        "scheme": "http",
        "path": path.decode(),
        "raw_path": path,
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(app: App, head: bytes, body: bytes) -> tuple[int, bytes]:
    """Send one request; its status and body."""
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope_of(head), receive, send)
    return status, b"".join(chunks)
