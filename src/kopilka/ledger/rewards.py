"""Spending points on a reward of the catalog, and giving them back.

A ``reward`` entry draws lots like a redemption (soonest expiry first, only available
points); a ``reward_refund`` entry references it (``reverses_entry_id``) and gives its points
back to the lots they came from, as a return restores a spend: points whose lot has expired
meanwhile follow the program's restore policy. A reward is refunded whole or not at all, so
the refund can never exceed what was spent (``reversals_bounded`` of verify).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from kopilka.domain.errors import NotFoundError, ReversalExceeded, ValidationError
from kopilka.domain.messages import msg
from kopilka.ledger.core import LedgerCore, check_points
from kopilka.ledger.model import Account, DrawKind, EntryKind, Result


class RewardOps(LedgerCore):
    def spend_on_reward(
        self,
        member_id: int,
        points: int,
        now: datetime,
        *,
        reference: str,
        meta: Mapping[str, object] | None = None,
    ) -> Result:
        """Debit a reward's price: available points, soonest-expiring lots first.
        ``reference`` names the reward (its catalog code)."""
        check_points(points)
        bal = self.require_active(member_id)
        self.settle(member_id, now)
        self.require_available(bal, points)
        draft = self.draft(member_id, EntryKind.REWARD, points, now)
        draft.reference, draft.meta = reference, dict(meta) if meta else None
        taken = self.take_spendable(member_id, points, DrawKind.SPEND, draft)
        if taken != points:
            raise AssertionError(f"balance says {bal.available} but lots hold {taken}")
        draft.move(Account.AVAILABLE, Account.REDEEMED, points, member_id)
        entry_id = self.post_one(draft)
        return self.result(member_id, entry_id, EntryKind.REWARD, points)

    def refund_reward(
        self,
        entry_id: int,
        now: datetime,
        *,
        reason: str,
        actor: str | None = None,
        meta: Mapping[str, object] | None = None,
    ) -> Result:
        """Give back all the points of the ``reward`` entry ``entry_id`` (an unused reward
        cancelled or expired, under a program that refunds them). Works for a blocked
        member too: the points were theirs."""
        original = self.port.get_entry(entry_id)
        if original is None or original.program_id != self.program.id:
            raise NotFoundError(msg("entry %(id)s not found", id=entry_id), entry_id=entry_id)
        if original.kind != EntryKind.REWARD or original.member_id is None:
            raise ValidationError(
                msg("a %(kind)s entry is not a reward's", kind=original.kind), field="entry_id"
            )
        member_id = original.member_id
        self.lock(member_id)
        self.settle(member_id, now)
        if self.port.reversed_points(entry_id):
            raise ReversalExceeded(
                msg("the points of entry %(id)s were given back already", id=entry_id),
                entry_id=entry_id,
                reversible=0,
                requested=original.points,
            )
        draft = self.draft(member_id, EntryKind.REWARD_REFUND, original.points, now)
        draft.reverses_entry_id, draft.reason, draft.actor = entry_id, reason, actor
        draft.reference = original.reference
        if meta:
            draft.meta = dict(meta)
        spent = self.port.net_spent_by_lot([entry_id])
        credit = self.give_back(
            member_id, spent, original.points, DrawKind.RESTORE, Account.REDEEMED, draft
        )
        new_id = self.post_one(draft)
        self.finish_credit(member_id, new_id, credit, now)
        return self.result(
            member_id,
            new_id,
            EntryKind.REWARD_REFUND,
            original.points,
            reverses_entry_id=entry_id,
            **(draft.meta or {}),
        )
