"""Failed sign-ins are counted; past a limit, sign-in is refused for a while.

Guessing the phone that goes with a known card number costs a script nothing per try.
Each sign-in area counts the failed sign-ins of a client address, and of the identity
tried (a card number) wherever the address, in a moving window (the ``limits`` library),
and refuses the next try of either with how long to wait until the window has room
again. A sign-in that succeeds clears its identity's count, not its address's.

Where the counts live is ``KOPILKA_SIGN_IN_STORE``: ``memory://`` (the default) keeps
them in each server process, so with N workers an address gets up to N times the limit
and a restart forgets them; ``redis://host:port/db`` shares them between every worker
and server. A store that does not answer lets sign-ins through (with a warning in the
log) rather than lock every member out.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from limits import parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("kopilka.web")

# a sign-in waits at most this long for a store that does not answer
STORE_TIMEOUT_S = 0.5


class SignInThrottle:
    def __init__(self, limit: str, store: str = "memory://", area: str = "") -> None:
        """``limit``: ``"10 per 15 minutes"``, in the ``limits`` notation; ``store``:
        ``memory://`` or a Redis URL (``KOPILKA_SIGN_IN_STORE``); ``area``: keeps apart
        the counts of areas that share a store."""
        self.item = parse(limit)
        self.area = area
        options: dict[str, float | str] = {}
        if not store.startswith("memory://"):
            options = {
                "key_prefix": "kopilka",
                "socket_timeout": STORE_TIMEOUT_S,
                "socket_connect_timeout": STORE_TIMEOUT_S,
            }
        self._limiter = MovingWindowRateLimiter(
            storage_from_string(store, wrap_exceptions=True, **options)
        )

    def _counted(self, address: str, identity: str | None) -> list[tuple[str, str, str]]:
        keys = [(self.area, "address", address)]
        return [*keys, (self.area, "identity", identity)] if identity else keys

    def retry_after(self, address: str, identity: str | None = None) -> int | None:
        """Whole seconds to wait before the next try, if the address or the identity has
        used up its failures; else None."""
        resets: list[float] = []
        with _unlimited_if_the_store_fails():
            resets = [
                self._limiter.get_window_stats(self.item, *key).reset_time
                for key in self._counted(address, identity)
                if not self._limiter.test(self.item, *key)
            ]
        if not resets:
            return None
        return max(1, math.ceil(max(resets) - time.time()))

    def failed(self, address: str, identity: str | None = None) -> None:
        with _unlimited_if_the_store_fails():
            for key in self._counted(address, identity):
                self._limiter.hit(self.item, *key)

    def succeeded(self, identity: str) -> None:
        with _unlimited_if_the_store_fails():
            self._limiter.clear(self.item, self.area, "identity", identity)


@contextmanager
def _unlimited_if_the_store_fails() -> Iterator[None]:
    try:
        yield
    except StorageError as e:  # neither the address nor the identity: personal data
        reason = type(e.storage_error).__name__
        log.warning("sign-in counts unavailable, not limiting: %s", reason)
