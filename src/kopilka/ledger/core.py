"""The ledger's working core: posting entries, drawing lots, giving points back.

Every operation of :class:`kopilka.ledger.Ledger` runs inside one unit of work whose
member balance rows are locked first (ascending id order), so concurrent operations on
a member serialize and never overspend. Entries are built in memory as
:class:`EntryDraft` objects whose postings sum to zero by construction and are checked
again before being written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kopilka.domain.errors import (
    InsufficientPoints,
    MemberBlocked,
    NotFoundError,
    ValidationError,
)
from kopilka.domain.expiry import ExpiryPolicy
from kopilka.domain.messages import msg
from kopilka.domain.program import Program, RestorePolicy
from kopilka.ledger.model import (
    Account,
    Balance,
    Draw,
    DrawKind,
    EntryDraft,
    EntryKind,
    Hold,
    Lot,
    Result,
)
from kopilka.ledger.ports import LedgerPort

MAX_POINTS = 10**12


class LedgerInvariantError(AssertionError):
    """A programming error: the ledger was about to write something unbalanced."""


def check_points(points: int, *, field: str = "points", allow_zero: bool = False) -> int:
    """Points are whole, positive (or zero where allowed) and bounded."""
    if isinstance(points, bool) or not isinstance(points, int):
        raise ValidationError(msg("%(field)s must be a whole number", field=field), field=field)
    if points < 0 or (points == 0 and not allow_zero):
        raise ValidationError(
            msg("%(field)s must be a positive whole number", field=field), field=field
        )
    if points > MAX_POINTS:
        raise ValidationError(msg("%(field)s is too large", field=field), field=field)
    return points


class LedgerCore:
    """State shared by the operations: the port, the program and this transaction's balances."""

    def __init__(self, port: LedgerPort, program: Program) -> None:
        self.port = port
        self.program = program
        self._balances: dict[int, Balance] = {}
        self._dirty_lots: dict[int, Lot] = {}
        # identity map: one Lot object per lot id within the transaction
        self._lots: dict[int, Lot] = {}
        # members already brought up to date in this transaction, and as of when
        self._settled: dict[int, datetime] = {}

    # -- balances ---------------------------------------------------------------------------
    def lock(self, *member_ids: int) -> dict[int, Balance]:
        """Lock the members (ascending id) for the rest of the transaction."""
        wanted = sorted({m for m in member_ids if m not in self._balances})
        if wanted:
            found = self.port.lock_balances(self.program.id, wanted)
            missing = [m for m in wanted if m not in found]
            if missing:
                raise NotFoundError(
                    msg("member %(id)s not found", id=missing[0]), member_id=missing[0]
                )
            self._balances.update(found)
        return {m: self._balances[m] for m in member_ids}

    def know_locked(self, bal: Balance) -> None:
        """A member's balance row that the caller locked itself as ``lock`` would (with
        the look-up of the member, say): ``lock`` then has nothing to ask for it."""
        self._balances.setdefault(bal.member_id, bal)

    def balance(self, member_id: int) -> Balance:
        return self.lock(member_id)[member_id]

    def require_active(self, member_id: int) -> Balance:
        bal = self.balance(member_id)
        if bal.status != "active":
            raise MemberBlocked(
                msg("member %(id)s is blocked and can neither earn nor spend", id=member_id),
                member_id=member_id,
            )
        return bal

    def result(
        self, member_id: int, entry_id: int | None, kind: str, points: int, **extra: object
    ) -> Result:
        bal = self.balance(member_id)
        hold_id = extra.pop("hold_id", None)
        return Result(
            entry_id=entry_id,
            kind=kind,
            points=points,
            member_id=member_id,
            available=bal.available,
            pending=bal.pending,
            held=bal.held,
            hold_id=hold_id if isinstance(hold_id, int) else None,
            details=dict(extra),
        )

    @staticmethod
    def require_available(bal: Balance, points: int, *, deduct: bool = False) -> None:
        """Spending never takes the available balance below zero (invariant 4 of
        docs/architecture.md)."""
        if bal.available >= points:
            return
        have = max(bal.available, 0)
        message = (
            msg(
                "member has %(available)s points available, cannot deduct %(requested)s",
                available=have,
                requested=points,
            )
            if deduct
            else msg(
                "member has %(available)s points available, %(requested)s requested",
                available=have,
                requested=points,
            )
        )
        raise InsufficientPoints(message, available=have, requested=points)

    # implemented by the operation mixins (see kopilka.ledger.Ledger)
    def settle(self, member_id: int, now: datetime) -> None:
        raise NotImplementedError

    def expire_hold(self, hold: Hold, now: datetime) -> int:
        raise NotImplementedError

    # -- writing ----------------------------------------------------------------------------
    def draft(
        self, member_id: int | None, kind: EntryKind, points: int, now: datetime
    ) -> EntryDraft:
        return EntryDraft(
            program_id=self.program.id,
            member_id=member_id,
            kind=kind,
            points=points,
            occurred_at=now,
        )

    def post(self, drafts: Sequence[EntryDraft]) -> list[int]:
        """Check and apply entries, then write them with the balances they leave (one
        statement for an entry of one member, where the store can) and the touched lots."""
        for d in drafts:
            if sum(p.amount for p in d.postings) != 0:
                raise LedgerInvariantError(f"entry {d.kind} does not balance: {d.postings}")
        touched: dict[int, Balance] = {}
        for d in drafts:
            for p in d.postings:
                if p.member_id is None:
                    continue
                bal = self._balances[p.member_id]
                if p.account == Account.AVAILABLE:
                    bal.available += p.amount
                elif p.account == Account.PENDING:
                    bal.pending += p.amount
                elif p.account == Account.HELD:
                    bal.held += p.amount
                touched[p.member_id] = bal
        for bal in touched.values():
            if bal.pending < 0 or bal.held < 0:
                raise LedgerInvariantError(f"negative pending/held for member {bal.member_id}")
        ids = self.port.write_entries(drafts, list(touched.values()))
        self.flush_lots()
        return ids

    def post_one(self, draft: EntryDraft) -> int:
        return self.post([draft])[0]

    def touch(self, lot: Lot) -> None:
        self._dirty_lots[lot.id] = lot

    def known(self, lots: Iterable[Lot]) -> list[Lot]:
        """Lots as this transaction knows them: cached objects win over fresh rows."""
        return [self._lots.setdefault(lot.id, lot) for lot in lots]

    def fetch_lots(self, fetch: Callable[[], Iterable[Lot]]) -> list[Lot]:
        """Run a lot query after saving pending lot changes, through the identity map."""
        self.flush_lots()
        return self.known(fetch())

    def flush_lots(self) -> None:
        if self._dirty_lots:
            self.port.update_lots(self._dirty_lots.values())
            self._dirty_lots.clear()

    # -- lots -------------------------------------------------------------------------------
    def new_lot(
        self,
        member_id: int,
        entry_id: int,
        amount: int,
        now: datetime,
        *,
        source: str,
        pending: bool,
        expiry: ExpiryPolicy | None = None,
    ) -> Lot:
        """A new lot of ``amount`` points; it expires under ``expiry`` (a rule's own)
        or else the program's policy."""
        available_at = self.program.available_at(now) if pending else now
        lot = Lot(
            id=0,
            member_id=member_id,
            entry_id=entry_id,
            source=source,
            amount=amount,
            remaining=amount,
            earned_at=now,
            available_at=available_at,
            expires_at=self.program.expires_at(now, available_at, expiry),
            activated_at=None if pending else now,
        )
        lot.id = self.port.insert_lots(self.program.id, [lot])[0]
        self._lots[lot.id] = lot
        return lot

    @staticmethod
    def take(lots: Iterable[Lot], need: int, kind: DrawKind, out: list[Draw]) -> int:
        """Draw up to ``need`` points from ``lots`` in the order given; returns what was taken."""
        taken = 0
        for lot in lots:
            if taken == need:
                break
            amount = min(lot.remaining, need - taken)
            if amount <= 0:
                continue
            lot.remaining -= amount
            out.append(Draw(lot.id, kind, amount))
            taken += amount
        return taken

    def take_spendable(self, member_id: int, need: int, kind: DrawKind, draft: EntryDraft) -> int:
        lots = self.fetch_lots(lambda: self.port.spendable_lots(member_id, draft.occurred_at))
        taken = self.take(lots, need, kind, draft.draws)
        for lot in lots:
            self.touch(lot)
        return taken

    def give_back(
        self,
        member_id: int,
        spent: Sequence[tuple[int, int]],
        amount: int,
        kind: DrawKind,
        source: Account,
        draft: EntryDraft,
    ) -> Credit:
        """Return ``amount`` points to the lots they were drawn from, latest draw first.

        ``spent`` lists (lot id, points still out) in draw order. Points whose lot has
        expired meanwhile follow the program's restore policy: straight to breakage, or
        into a fresh lot. The postings go from ``source`` to available (or breakage).
        """
        now = draft.occurred_at
        by_id = {
            lot.id: lot
            for lot in self.fetch_lots(
                lambda: self.port.lots_by_id([lot_id for lot_id, _ in spent]).values()
            )
        }
        left = amount
        credit = Credit()
        for lot_id, out in reversed(spent):
            if left == 0:
                break
            give = min(out, left)
            if give <= 0:
                continue
            left -= give
            lot = by_id[lot_id]
            draft.draws.append(Draw(lot.id, kind, -give))
            if not lot.is_expired(now):
                lot.remaining += give
                self.touch(lot)
                credit.lots.append(lot)
                credit.amount += give
            elif self.program.restore_policy == RestorePolicy.EXPIRE:
                draft.draws.append(Draw(lot.id, DrawKind.EXPIRE, give))
                credit.expired += give
            else:
                draft.draws.append(Draw(lot.id, DrawKind.REISSUE, give))
                credit.reissue += give
                credit.amount += give
        if left:
            raise LedgerInvariantError(f"asked to give back {amount}, only {amount - left} out")
        draft.move(source, Account.AVAILABLE, credit.amount, member_id)
        draft.move(source, Account.BREAKAGE, credit.expired, member_id)
        if credit.expired or credit.reissue:
            draft.meta = {
                **(draft.meta or {}),
                "expired_on_return": credit.expired,
                "reissued": credit.reissue,
            }
        return credit

    def finish_credit(self, member_id: int, entry_id: int, credit: Credit, now: datetime) -> None:
        """Create the reissue lot, if any, and repay a debt from the credited points."""
        lots = list(credit.lots)
        if credit.reissue:
            lots.append(
                self.new_lot(
                    member_id, entry_id, credit.reissue, now, source="reissue", pending=False
                )
            )
        self.repay(member_id, entry_id, lots, credit.amount)

    def repay(self, member_id: int, entry_id: int, lots: list[Lot], credited: int) -> None:
        """New available points repay a negative balance first (the debt policy): the lots
        keep only what the balance shows."""
        bal = self.balance(member_id)
        repay = credited - max(bal.available, 0)
        if repay > 0:
            draws: list[Draw] = []
            self.take(lots, repay, DrawKind.REPAY, draws)
            for lot in lots:
                self.touch(lot)
            self.port.insert_draws(entry_id, draws)
        self.flush_lots()


@dataclass(slots=True)
class Credit:
    """Points an entry gives back to a member: into which lots, and what expired."""

    lots: list[Lot] = field(default_factory=list)
    amount: int = 0  # reaches available (including the reissued part)
    reissue: int = 0  # goes into a fresh lot
    expired: int = 0  # lot had expired: straight to breakage
