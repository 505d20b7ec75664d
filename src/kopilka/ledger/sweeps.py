"""Time-driven movements: activation of pending lots, expiry of lots and of holds.

Each runs as of a given instant and is safe to repeat: a lot is activated once and
expired once (at or after its ``expires_at``), a hold ends once. Sweeps work in batches
of members, one entry per member and movement; member operations run the same steps for
their own member first (``settle``) so that nobody spends points that are already due
to expire. The whole-database expiry sweep is set-based (``LedgerPort.expire_lots``):
the same entries, draws and postings as ``_expire`` writes, in a few statements a batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from kopilka.ledger.core import LedgerCore
from kopilka.ledger.model import Account, Draw, DrawKind, EntryDraft, EntryKind, Lot

BATCH = 2000
BULK_BATCH = 20000


class Step(NamedTuple):
    """One batch of a sweep: how many members it found due, and how many lots or holds it
    handled. A sweep goes on while members are found: rows a concurrent operation handled
    first count as found but not as handled."""

    found: int
    done: int


class SweepOps(LedgerCore):
    def settle(self, member_id: int, now: datetime) -> None:
        """Bring one (locked) member up to date: timed-out holds, due activations, expiry.

        Done once per member and instant within a transaction; one query tells whether
        anything is due at all, so the common case costs a single round trip.
        """
        if self._settled.get(member_id) == now:
            return
        self._settled[member_id] = now
        self.flush_lots()
        due = self.port.due_kinds(self.program.id, member_id, now)
        if not due:
            return
        for hold in self.port.due_holds(self.program.id, now, [member_id], BATCH):
            self.expire_hold(hold, now)
        self._activate(
            self.fetch_lots(
                lambda: self.port.due_activation(self.program.id, now, [member_id], BATCH)
            ),
            now,
        )
        self._expire(
            self.fetch_lots(lambda: self.port.due_expiry(self.program.id, now, [member_id], BATCH)),
            now,
        )

    # -- whole-database sweeps (one batch per call; the caller loops) -----------------------
    def activate_batch(self, as_of: datetime, limit: int = BATCH) -> Step:
        """Activate the due lots of the members owning the next ``limit`` due lots."""
        members = {
            lot.member_id for lot in self.port.due_activation(self.program.id, as_of, None, limit)
        }
        if not members:
            return Step(0, 0)
        self.lock(*members)
        lots = self.fetch_lots(
            lambda: self.port.due_activation(self.program.id, as_of, sorted(members), limit)
        )
        return Step(len(members), self._activate(lots, as_of))

    def expire_batch(self, as_of: datetime, limit: int = BULK_BATCH) -> Step:
        """Expire every due lot of the members owning the next ``limit`` due lots, set-based
        (one entry per member, as ``_expire`` would write it)."""
        return self.expire_members(
            as_of, self.port.due_expiry_members(self.program.id, as_of, limit)
        )

    def expire_members(self, as_of: datetime, members: Sequence[int]) -> Step:
        """Expire every due lot of ``members`` (found due by ``due_expiry_members``), set-based;
        several transactions may do this at once for disjoint sets of members. The port
        locks the members itself (ascending ids), without loading their balances."""
        if not members:
            return Step(0, 0)
        lots, _points = self.port.expire_lots(self.program.id, as_of, members)
        for member_id in members:  # the SQL changed them: never reuse the cached rows
            self._balances.pop(member_id, None)
        return Step(len(members), lots)

    def expire_holds_batch(self, as_of: datetime, limit: int = BATCH) -> Step:
        """End the holds that timed out, for the members owning the next ``limit`` of them."""
        members = sorted(
            {h.member_id for h in self.port.due_holds(self.program.id, as_of, None, limit)}
        )
        if not members:
            return Step(0, 0)
        self.lock(*members)
        count = 0
        for hold in self.port.due_holds(self.program.id, as_of, members, limit):
            self.expire_hold(hold, as_of)
            count += 1
        return Step(len(members), count)

    # -- the movements ----------------------------------------------------------------------
    def _activate(self, lots: Sequence[Lot], now: datetime) -> int:
        by_member = _group(lots)
        drafts: list[EntryDraft] = []
        for member_id, member_lots in by_member.items():
            total = sum(lot.remaining for lot in member_lots)
            for lot in member_lots:
                lot.activated_at = now
                self.touch(lot)
            if total == 0:
                continue
            draft = self.draft(member_id, EntryKind.ACTIVATE, total, now)
            draft.move(Account.PENDING, Account.AVAILABLE, total, member_id)
            draft.meta = {"lots": [lot.id for lot in member_lots]}
            drafts.append(draft)
        ids = self.post(drafts)
        for draft, entry_id in zip(drafts, ids, strict=True):
            assert draft.member_id is not None
            if self.balance(draft.member_id).available < draft.points:
                credited = [lot for lot in by_member[draft.member_id] if lot.remaining]
                self.repay(draft.member_id, entry_id, credited, draft.points)
        self.flush_lots()
        return len(lots)

    def _expire(self, lots: Sequence[Lot], now: datetime) -> int:
        drafts: list[EntryDraft] = []
        for member_id, member_lots in _group(lots).items():
            draft = self.draft(member_id, EntryKind.EXPIRE, 0, now)
            for lot in member_lots:
                amount = lot.remaining
                bucket = Account.AVAILABLE if lot.activated_at is not None else Account.PENDING
                lot.remaining = 0
                lot.expired_at = now
                self.touch(lot)
                if amount:
                    draft.draws.append(Draw(lot.id, DrawKind.EXPIRE, amount))
                    draft.move(bucket, Account.BREAKAGE, amount, member_id)
                    draft.points += amount
            if draft.points:
                drafts.append(draft)
        self.post(drafts)
        return len(lots)


def _group(lots: Sequence[Lot]) -> dict[int, list[Lot]]:
    out: dict[int, list[Lot]] = defaultdict(list)
    for lot in lots:
        out[lot.member_id].append(lot)
    return dict(sorted(out.items()))
