"""An inbox for the scripts and the tests: a channel adapter that keeps every message sent
(rendered through the real templates) in place of the settings' adapters, so a member's
one-time sign-in code is read from the message they would have received."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kopilka.domain.notifications import Channel
from kopilka.services.notifications import Outgoing, Sender
from kopilka.services.notifications import send as send_module


class Inbox:
    """Every message sent while installed, by address; thread-safe (a browser's server
    runs in a thread)."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self._lock = threading.Lock()

    def send(self, message: Outgoing) -> str | None:
        with self._lock:
            self.sent.append(message)
            return f"inbox-{len(self.sent)}"

    def to(self, address: str) -> list[Outgoing]:
        """The messages sent to ``address`` (as stored: normalized), oldest first."""
        with self._lock:
            return [m for m in self.sent if m.address == address]

    def code(self, address: str) -> str | None:
        """The one-time code of the newest code message to ``address``, read from its
        plain text; None when none was sent."""
        codes = [m for m in self.to(address) if m.topic == "otp_code"]
        if not codes:
            return None
        found = re.search(r"\b(\d{6})\b", codes[-1].content.text)
        if found is None:
            raise AssertionError("a code message without a code")
        return found[1]

    def keep_it(self, channel: Channel, settings: object) -> Sender:
        """What replaces the settings' adapter picker: this inbox, whatever the channel."""
        return self

    @contextmanager
    def installed(self) -> Iterator[Inbox]:
        """Messages go here while the block runs, then to the settings' adapters again."""
        before = send_module.sender_for
        send_module.sender_for = self.keep_it  # type: ignore[assignment]
        try:
            yield self
        finally:
            send_module.sender_for = before
