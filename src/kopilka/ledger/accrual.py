"""Earning, spending and manual adjustments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kopilka.domain.errors import ValidationError
from kopilka.domain.expiry import ExpiryPolicy
from kopilka.domain.messages import msg
from kopilka.ledger.core import LedgerCore, check_points
from kopilka.ledger.model import Account, DrawKind, EntryKind, Result


class AccrualOps(LedgerCore):
    def earn(
        self,
        member_id: int,
        points: int,
        now: datetime,
        *,
        rule_id: str | None = None,
        rule_version: int | None = None,
        reference: str | None = None,
        reason: str | None = None,
        meta: dict[str, Any] | None = None,
        expiries: Sequence[tuple[int, ExpiryPolicy | None]] | None = None,
    ) -> Result:
        """Credit ``points`` to a member as a new lot: pending when the program delays
        activation, available at once otherwise (repaying a negative balance first).

        ``expiries`` splits the points into one lot per part, each expiring under its own
        policy (a rule's; None: the program's); the parts add up to ``points``. The
        answer then lists the lots (``lots``: their ids, in the parts' order)."""
        check_points(points)
        parts = [(points, None)] if expiries is None else list(expiries)
        if not parts or sum(n for n, _ in parts) != points or any(n <= 0 for n, _ in parts):
            raise ValidationError(
                msg("the lots of an earning must add up to its points"), field="points"
            )
        self.require_active(member_id)
        self.settle(member_id, now)
        pending = self.program.activation_delay.total_seconds() > 0
        draft = self.draft(member_id, EntryKind.EARN, points, now)
        draft.rule_id, draft.rule_version = rule_id, rule_version
        draft.reference, draft.reason, draft.meta = reference, reason, meta
        draft.move(
            Account.ISSUED, Account.PENDING if pending else Account.AVAILABLE, points, member_id
        )
        entry_id = self.post_one(draft)
        lots = [
            self.new_lot(member_id, entry_id, n, now, source="earn", pending=pending, expiry=e)
            for n, e in parts
        ]
        if not pending:
            self.repay(member_id, entry_id, lots, points)
        lot = lots[0]
        more: dict[str, Any] = {} if expiries is None else {"lots": [x.id for x in lots]}
        return self.result(
            member_id,
            entry_id,
            EntryKind.EARN,
            points,
            lot_id=lot.id,
            available_at=lot.available_at.isoformat(),
            expires_at=lot.expires_at.isoformat() if lot.expires_at else None,
            **more,
        )

    def redeem(
        self,
        member_id: int,
        points: int,
        now: datetime,
        *,
        reference: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Result:
        """Spend available points, drawing lots soonest-expiry first."""
        check_points(points)
        bal = self.require_active(member_id)
        self.settle(member_id, now)
        self.require_available(bal, points)
        draft = self.draft(member_id, EntryKind.REDEEM, points, now)
        draft.reference, draft.meta = reference, meta
        taken = self.take_spendable(member_id, points, DrawKind.SPEND, draft)
        if taken != points:
            raise AssertionError(f"balance says {bal.available} but lots hold {taken}")
        draft.move(Account.AVAILABLE, Account.REDEEMED, points, member_id)
        entry_id = self.post_one(draft)
        return self.result(member_id, entry_id, EntryKind.REDEEM, points)

    def adjust(
        self,
        member_id: int,
        delta: int,
        now: datetime,
        *,
        reason: str,
        actor: str,
        meta: dict[str, Any] | None = None,
    ) -> Result:
        """A support agent's correction: +N is a new lot, -N draws lots like a redemption.
        ``meta`` is kept beside the entry's own (``delta``): a reason code and the text the
        member reads (``domain.reasons.Reason.meta``)."""
        if not reason or not reason.strip():
            raise ValidationError(msg("an adjustment needs a reason"), field="reason")
        if not actor or not actor.strip():
            raise ValidationError(msg("an adjustment needs an actor"), field="actor")
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise ValidationError(msg("delta must be a non-zero whole number"), field="delta")
        check_points(abs(delta), field="delta")
        bal = self.balance(member_id)
        self.settle(member_id, now)
        draft = self.draft(member_id, EntryKind.ADJUST, abs(delta), now)
        draft.reason, draft.actor = reason.strip(), actor.strip()
        draft.meta = {**(meta or {}), "delta": delta}
        if delta > 0:
            draft.move(Account.ADJUSTMENTS, Account.AVAILABLE, delta, member_id)
            entry_id = self.post_one(draft)
            lot = self.new_lot(member_id, entry_id, delta, now, source="adjust", pending=False)
            self.repay(member_id, entry_id, [lot], delta)
        else:
            self.require_available(bal, -delta, deduct=True)
            self.take_spendable(member_id, -delta, DrawKind.ADJUST, draft)
            draft.move(Account.AVAILABLE, Account.ADJUSTMENTS, -delta, member_id)
            entry_id = self.post_one(draft)
        return self.result(member_id, entry_id, EntryKind.ADJUST, abs(delta), delta=delta)
