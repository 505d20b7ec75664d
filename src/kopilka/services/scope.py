"""What a store-bound caller may see and change.

A till's key (and any key created with a store) acts for one store: it books there, and
reads, returns, captures and voids only that store's receipts and holds. The web shop's
key acts for the store it was created with, or, without one, for what is booked with no
store (its own web orders and holds). Everything else of the program answers ``not
found`` to it, as if it did not exist: a bound caller learns nothing of other stores.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoreScope:
    """The receipts and holds of one store (``store`` None: those booked without one)."""

    store: str | None

    def covers(self, store: str | None) -> bool:
        """Whether a receipt or hold booked at ``store`` is within this scope."""
        return store == self.store
