"""What the ledger needs from storage. ``kopilka.store.repos.ledger.LedgerRepo`` implements it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from kopilka.ledger.model import Balance, Draw, Entry, EntryDraft, Hold, Lot


class LedgerPort(Protocol):
    def lock_balances(self, program_id: int, member_ids: Iterable[int]) -> dict[int, Balance]:
        """Lock the program's members' balance rows in ascending id order and return them
        (members of other programs are not found)."""
        ...

    def write_entries(
        self, drafts: Sequence[EntryDraft], balances: Sequence[Balance] = ()
    ) -> list[int]:
        """Insert entries with their postings and lot draws, and save ``balances`` (the
        members' balances with the entries applied; in the same statement where the store
        can); return the new ids in order."""
        ...

    def insert_draws(self, entry_id: int, draws: Sequence[Draw]) -> None: ...

    def insert_lots(self, program_id: int, lots: Sequence[Lot]) -> list[int]: ...

    def update_lots(self, lots: Iterable[Lot]) -> None:
        """Persist remaining/activated_at/expired_at of the given lots."""
        ...

    def spendable_lots(self, member_id: int, now: datetime) -> list[Lot]:
        """Activated, unexpired lots with points left, in draw order."""
        ...

    def lots_by_id(self, lot_ids: Sequence[int]) -> dict[int, Lot]: ...

    def lot_of_entry(self, entry_id: int) -> Lot | None: ...

    def due_activation(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int] | None, limit: int
    ) -> list[Lot]: ...

    def due_expiry(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int] | None, limit: int
    ) -> list[Lot]: ...

    def due_kinds(self, program_id: int, member_id: int, as_of: datetime) -> frozenset[str]:
        """Which of "holds", "activation", "expiry" have something due for the member."""
        ...

    def due_expiry_members(self, program_id: int, as_of: datetime, limit: int) -> list[int]:
        """Members owning the first ``limit`` lots due to expire (ascending ids)."""
        ...

    def expire_lots(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int]
    ) -> tuple[int, int]:
        """Expire every due lot of the members at once, one entry per member: draws,
        postings to breakage, lots closed, balances lowered. The port locks the members
        itself (ascending ids) before it reads their lots. Returns (lots, points)."""
        ...

    def due_holds(
        self, program_id: int, as_of: datetime, member_ids: Sequence[int] | None, limit: int
    ) -> list[Hold]: ...

    def net_spent_by_lot(self, entry_ids: Sequence[int]) -> list[tuple[int, int]]:
        """Per lot (in first-draw order): points the entries' spend/release/restore draws
        still have out of it."""
        ...

    def get_entry(self, entry_id: int) -> Entry | None: ...

    def reversed_points(self, entry_id: int) -> int:
        """Sum of points of the entries that reverse ``entry_id``."""
        ...

    def reversal_ids(self, entry_id: int) -> list[int]:
        """Ids of the entries that reverse ``entry_id``."""
        ...

    def insert_hold(self, program_id: int, hold: Hold) -> int: ...

    def get_hold(self, hold_id: int) -> Hold | None: ...

    def update_hold(self, hold: Hold) -> None: ...
