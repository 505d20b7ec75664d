"""Reversals, for returns: claw back earned points, give spent points back.

A reversal references the entry it corrects and never gives back more than that entry
moved (earlier reversals of the same entry count). Spent points return to the lots they
were drawn from; points whose lot has expired meanwhile follow the restore policy.
Clawed-back points come from the lot the earning created first, then from other lots in
draw order; what is still missing becomes a negative balance (debt policy) or is
forgiven (forgive policy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from kopilka.domain.errors import NotFoundError, ReversalExceeded, ValidationError
from kopilka.domain.messages import msg
from kopilka.domain.program import NegativeBalancePolicy
from kopilka.ledger.core import LedgerCore, check_points
from kopilka.ledger.model import Account, DrawKind, Entry, EntryDraft, EntryKind, Lot, Result

REVERSIBLE = frozenset({EntryKind.EARN, EntryKind.ADJUST, EntryKind.REDEEM, EntryKind.CAPTURE})


class ReversalOps(LedgerCore):
    def reverse(
        self,
        entry_id: int,
        now: datetime,
        *,
        points: int | None = None,
        reason: str | None = None,
        reference: str | None = None,
        actor: str | None = None,
        from_lots: Sequence[tuple[int, int]] | None = None,
        meta: Mapping[str, object] | None = None,
    ) -> Result:
        """Reverse all (``points=None``) or part of an earn, credit adjustment, redemption
        or capture. ``from_lots`` (an earning of several lots): how many of the points to
        claw back from which of its lots (lot id, points), before any other lot. ``meta``
        is kept with the entry beside what the reversal itself records (e.g. the reason
        code and the member's text of a return made by support)."""
        original = self.port.get_entry(entry_id)
        if original is None or original.program_id != self.program.id:
            raise NotFoundError(msg("entry %(id)s not found", id=entry_id), entry_id=entry_id)
        if (
            original.kind not in REVERSIBLE
            or original.member_id is None
            or (original.kind == EntryKind.ADJUST and (original.meta or {}).get("delta", 0) < 0)
        ):
            raise ValidationError(
                msg("a %(kind)s entry cannot be reversed", kind=original.kind), field="entry_id"
            )
        member_id = original.member_id
        self.lock(member_id)
        self.settle(member_id, now)
        left = original.points - self.port.reversed_points(entry_id)
        amount = left if points is None else check_points(points)
        if amount > left or amount == 0:
            raise ReversalExceeded(
                msg(
                    "entry %(id)s has %(available)s points left to reverse, "
                    "%(requested)s requested",
                    id=entry_id,
                    available=left,
                    requested=amount,
                ),
                entry_id=entry_id,
                reversible=left,
                requested=amount,
            )
        draft = self.draft(member_id, EntryKind.REVERSE, amount, now)
        draft.reverses_entry_id, draft.reason = entry_id, reason
        draft.reference, draft.actor = reference, actor
        if meta:
            draft.meta = dict(meta)
        if original.kind in (EntryKind.EARN, EntryKind.ADJUST):
            self._claw_back(original, amount, draft, from_lots)
            new_id = self.post_one(draft)
        else:
            spent_entries = [original.id]
            if original.kind == EntryKind.CAPTURE:
                hold = self.port.get_hold(original.hold_id or 0)
                assert hold is not None
                spent_entries.append(hold.entry_id)
            reversals = self.port.reversal_ids(entry_id)
            spent = self.port.net_spent_by_lot([*spent_entries, *reversals])
            credit = self.give_back(
                member_id, spent, amount, DrawKind.RESTORE, Account.REDEEMED, draft
            )
            new_id = self.post_one(draft)
            self.finish_credit(member_id, new_id, credit, now)
        return self.result(
            member_id,
            new_id,
            EntryKind.REVERSE,
            amount,
            reverses_entry_id=entry_id,
            **(draft.meta or {}),
        )

    def _claw_back(
        self,
        original: Entry,
        amount: int,
        draft: EntryDraft,
        from_lots: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        member_id = draft.member_id
        assert member_id is not None
        source = Account.ISSUED if original.kind == EntryKind.EARN else Account.ADJUSTMENTS
        wanted: list[tuple[Lot, int]]
        if from_lots:
            by_id = {
                lot.id: lot
                for lot in self.fetch_lots(
                    lambda: self.port.lots_by_id([i for i, _ in from_lots]).values()
                )
            }
            wanted = []
            for lot_id, n in from_lots:
                lot = by_id.get(lot_id)
                if lot is None or lot.entry_id != original.id:
                    raise ValidationError(
                        msg("lot %(lot_id)s is not of entry %(id)s", lot_id=lot_id, id=original.id),
                        field="from_lots",
                    )
                wanted.append((lot, n))
        else:
            found = self.fetch_lots(
                lambda: [x for x in [self.port.lot_of_entry(original.id)] if x is not None]
            )
            wanted = [(found[0], amount)] if found else []
        taken = 0
        for lot, n in wanted:
            if taken == amount or lot.is_expired(draft.occurred_at):
                continue
            got = self.take([lot], min(n, amount - taken), DrawKind.CLAWBACK, draft.draws)
            self.touch(lot)
            bucket = Account.AVAILABLE if lot.activated_at is not None else Account.PENDING
            draft.move(bucket, source, got, member_id)
            taken += got
        short = amount - taken
        if short:
            other = self.take_spendable(member_id, short, DrawKind.CLAWBACK, draft)
            draft.move(Account.AVAILABLE, source, other, member_id)
            short -= other
        if short:
            if self.program.negative_balance == NegativeBalancePolicy.DEBT:
                draft.move(Account.AVAILABLE, source, short, member_id)
                draft.meta = {**(draft.meta or {}), "debt": short}
            else:
                draft.meta = {**(draft.meta or {}), "forgiven": short}
