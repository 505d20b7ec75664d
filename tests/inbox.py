"""An inbox for tests: a channel adapter that keeps every message sent (rendered through
the real templates), installed in place of the settings' adapters, so a test reads a
one-time code from the message the member would have received."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from scripts.inbox import Inbox as BaseInbox

from kopilka.services.notifications import send as send_module


class Inbox(BaseInbox):
    """:class:`scripts.inbox.Inbox`, installed for one test by pytest's monkeypatch."""

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Inbox:
        monkeypatch.setattr(send_module, "sender_for", self.keep_it)
        return self


@contextmanager
def sms_provider() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A local fake SMS provider for servers in another process (``KOPILKA_SMS_ADAPTER=http``,
    ``KOPILKA_SMS_URL``): its URL and the JSON bodies it was posted, as they come."""
    received: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(json.loads(self.rfile.read(length)))
            body = b'{"id": "fake"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None  # quiet: the test reads what was posted, not the access log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sms", received
    finally:
        server.shutdown()
        server.server_close()


def code_in(received: list[dict[str, str]], to: str) -> str | None:
    """The code of the newest code SMS a fake provider got for ``to``."""
    texts = [m["text"] for m in received if m.get("to") == to and m.get("topic") == "otp_code"]
    found = re.search(r"\b(\d{6})\b", texts[-1]) if texts else None
    return None if found is None else found[1]
