"""Failed sign-ins are counted; past a limit, sign-in is refused for a while.

Guessing the phone that goes with a known card number costs a script nothing per try.
Each sign-in area counts the failed sign-ins of a client address, and of the identity
tried (a card number) wherever the address, in a moving window (the ``limits`` library),
and refuses the next try of either with how long to wait until the window has room
again. A sign-in that succeeds clears its identity's count, not its address's.

The counts live in the process's memory: with N server workers an address gets up to N
times the limit, and a restart forgets them.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class SignInThrottle:
    def __init__(self, limit: str) -> None:
        """``limit``: ``"10 per 15 minutes"``, in the ``limits`` notation."""
        self.item = parse(limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @staticmethod
    def _counted(address: str, identity: str | None) -> list[tuple[str, str]]:
        return [("address", address)] + ([("identity", identity)] if identity else [])

    def retry_after(self, address: str, identity: str | None = None) -> int | None:
        """Whole seconds to wait before the next try, if the address or the identity has
        used up its failures; else None."""
        spent = [
            self._limiter.get_window_stats(self.item, *key).reset_time
            for key in self._counted(address, identity)
            if not self._limiter.test(self.item, *key)
        ]
        if not spent:
            return None
        return max(1, math.ceil(max(spent) - time.time()))

    def failed(self, address: str, identity: str | None = None) -> None:
        for key in self._counted(address, identity):
            self._limiter.hit(self.item, *key)

    def succeeded(self, identity: str) -> None:
        self._limiter.clear(self.item, "identity", identity)
