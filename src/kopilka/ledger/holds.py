"""Two-phase redemption at the till: hold, then capture (fully or partly), void or expire.

A hold draws its points from the lots when it is made (so they cannot be spent twice)
and moves them from available to held. It ends exactly once: captured (the captured part
goes to redeemed, the rest back to the lots it came from), voided, or expired by server
time. An expired hold cannot be captured.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kopilka.domain.errors import (
    HoldExpired,
    HoldNotActive,
    InsufficientPoints,
    NotFoundError,
    ValidationError,
)
from kopilka.domain.messages import msg
from kopilka.ledger.core import Credit, LedgerCore, check_points
from kopilka.ledger.model import (
    Account,
    DrawKind,
    EntryDraft,
    EntryKind,
    Hold,
    HoldStatus,
    Result,
)


class HoldOps(LedgerCore):
    def hold(
        self,
        member_id: int,
        points: int,
        now: datetime,
        *,
        ttl: timedelta | None = None,
        reference: str | None = None,
        store: str | None = None,
    ) -> Result:
        """Reserve ``points`` of the member's available balance until ``now + ttl``, at
        ``store`` (None: no store, as a web shop's hold)."""
        check_points(points)
        ttl = ttl if ttl is not None else self.program.hold_ttl
        if not (timedelta(seconds=1) <= ttl <= timedelta(days=30)):
            raise ValidationError(
                msg("hold lifetime must be between 1 second and 30 days"), field="ttl"
            )
        bal = self.require_active(member_id)
        self.settle(member_id, now)
        self.require_available(bal, points)
        draft = self.draft(member_id, EntryKind.HOLD, points, now)
        draft.reference = reference
        self.take_spendable(member_id, points, DrawKind.SPEND, draft)
        draft.move(Account.AVAILABLE, Account.HELD, points, member_id)
        entry_id = self.post_one(draft)
        hold = Hold(
            id=0,
            member_id=member_id,
            amount=points,
            status=HoldStatus.ACTIVE,
            captured=0,
            reference=reference,
            created_at=now,
            expires_at=now + ttl,
            entry_id=entry_id,
            store=store,
        )
        hold.id = self.port.insert_hold(self.program.id, hold)
        return self.result(
            member_id,
            entry_id,
            EntryKind.HOLD,
            points,
            hold_id=hold.id,
            expires_at=hold.expires_at.isoformat(),
        )

    def _active_hold(self, hold_id: int, now: datetime) -> Hold:
        hold = self.port.get_hold(hold_id)
        if hold is None:
            raise NotFoundError(msg("hold %(id)s not found", id=hold_id), hold_id=hold_id)
        self.lock(hold.member_id)
        hold = self.port.get_hold(hold_id)  # re-read under the member lock
        assert hold is not None
        if hold.status != HoldStatus.ACTIVE:
            raise HoldNotActive(
                msg("hold %(id)s is already %(status)s", id=hold_id, status=str(hold.status)),
                hold_id=hold_id,
                status=str(hold.status),
            )
        return hold

    def capture(self, hold_id: int, now: datetime, points: int | None = None) -> Result:
        """Spend all or part of a hold; the rest goes back to the lots it came from."""
        hold = self._active_hold(hold_id, now)
        if now >= hold.expires_at:
            raise HoldExpired(
                msg("hold %(id)s expired at %(at)s", id=hold_id, at=hold.expires_at.isoformat()),
                hold_id=hold_id,
            )
        self.require_active(hold.member_id)
        amount = hold.amount if points is None else check_points(points)
        if amount > hold.amount:
            # more than the hold has is a refusal of the state, as spending more than the
            # balance: 409 insufficient_points
            raise InsufficientPoints(
                msg(
                    "cannot capture %(requested)s points from a hold of %(available)s",
                    requested=amount,
                    available=hold.amount,
                ),
                available=hold.amount,
                requested=amount,
            )
        draft = self.draft(hold.member_id, EntryKind.CAPTURE, amount, now)
        draft.hold_id, draft.reference = hold.id, hold.reference
        draft.move(Account.HELD, Account.REDEEMED, amount, hold.member_id)
        credit = self._release(hold, hold.amount - amount, draft)
        entry_id = self.post_one(draft)
        self.finish_credit(hold.member_id, entry_id, credit, now)
        hold.status, hold.captured, hold.resolved_entry_id = HoldStatus.CAPTURED, amount, entry_id
        self.port.update_hold(hold)
        return self.result(
            hold.member_id,
            entry_id,
            EntryKind.CAPTURE,
            amount,
            hold_id=hold.id,
            released=hold.amount - amount,
        )

    def void(
        self,
        hold_id: int,
        now: datetime,
        *,
        reason: str | None = None,
        actor: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Result:
        """Cancel a hold: every held point goes back to the lot it came from. A support
        agent's void names its ``reason`` and ``actor``; ``meta`` keeps a reason code and
        the text the member reads."""
        hold = self._active_hold(hold_id, now)
        entry_id = self._end_hold(
            hold, EntryKind.VOID, HoldStatus.VOIDED, now, reason=reason, actor=actor, meta=meta
        )
        return self.result(hold.member_id, entry_id, EntryKind.VOID, hold.amount, hold_id=hold.id)

    def _end_hold(
        self,
        hold: Hold,
        kind: EntryKind,
        status: HoldStatus,
        now: datetime,
        *,
        reason: str | None = None,
        actor: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        draft = self.draft(hold.member_id, kind, hold.amount, now)
        draft.hold_id, draft.reference = hold.id, hold.reference
        draft.reason, draft.actor = reason, actor
        if meta:
            draft.meta = dict(meta)
        credit = self._release(hold, hold.amount, draft)
        entry_id = self.post_one(draft)
        self.finish_credit(hold.member_id, entry_id, credit, now)
        hold.status, hold.resolved_entry_id = status, entry_id
        self.port.update_hold(hold)
        return entry_id

    def _release(self, hold: Hold, amount: int, draft: EntryDraft) -> Credit:
        if amount == 0:
            return Credit()
        spent = self.port.net_spent_by_lot([hold.entry_id])
        return self.give_back(hold.member_id, spent, amount, DrawKind.RELEASE, Account.HELD, draft)

    def expire_hold(self, hold: Hold, now: datetime) -> int:
        """End a hold that timed out (by server time); its points go back."""
        return self._end_hold(hold, EntryKind.HOLD_EXPIRE, HoldStatus.EXPIRED, now)
