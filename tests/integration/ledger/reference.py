"""An in-memory reference model of one program's ledger, for the stateful test.

It knows nothing of journals, postings or SQL: members hold lots and holds, and each
operation is written straight from the rules of docs/architecture.md (draw order by soonest expiry,
then earliest earned, then creation; holds that end once; the restore and the
negative-balance policies; debts repaid by new points). The stateful test runs every
operation on the model and on the real ledger and compares balances and errors.

Operations mutate the model; the caller runs them on a copy (``copy.deepcopy``) and keeps
the copy only when the real ledger succeeded too, as a failed request changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kopilka.domain.errors import (
    HoldExpired,
    HoldNotActive,
    InsufficientPoints,
    MemberBlocked,
    ReversalExceeded,
    ValidationError,
)
from kopilka.domain.expiry import ExpiryPolicy
from kopilka.domain.program import NegativeBalancePolicy, Program, RestorePolicy

REVERSIBLE = frozenset({"earn", "adjust", "redeem", "capture"})


@dataclass(eq=False)
class MLot:
    seq: int  # creation order, which is the database id order
    remaining: int
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None
    activated: bool
    expired: bool = False  # swept to breakage

    def is_expired(self, now: datetime) -> bool:
        return self.expired or (self.expires_at is not None and self.expires_at <= now)

    def draw_key(self) -> tuple[bool, datetime, datetime, int]:
        """Soonest expiry first (never-expiring last), then earliest earned, then oldest."""
        return (
            self.expires_at is None,
            self.expires_at or self.earned_at,
            self.earned_at,
            self.seq,
        )


@dataclass(eq=False)
class Spent:
    """Points an entry (or a hold) still has out of one lot."""

    lot: MLot
    out: int


@dataclass(eq=False)
class MMember:
    id: int
    available: int = 0
    held: int = 0
    blocked: bool = False
    lots: list[MLot] = field(default_factory=list)
    holds: list[MHold] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return sum(lot.remaining for lot in self.lots if not lot.activated)

    def balances(self) -> tuple[int, int, int]:
        return (self.available, self.pending, self.held)


@dataclass(eq=False)
class MHold:
    member: MMember
    amount: int
    expires_at: datetime
    spent: list[Spent]
    status: str = "active"


@dataclass(eq=False)
class MEntry:
    """An entry the real ledger may be asked to reverse."""

    kind: str
    member: MMember
    points: int
    lot: MLot | None = None  # earn, credit adjustment
    spent: list[Spent] = field(default_factory=list)  # redeem, capture
    reversed: int = 0

    @property
    def reversible(self) -> bool:
        return self.kind in REVERSIBLE

    @property
    def left(self) -> int:
        return self.points - self.reversed


@dataclass
class Credit:
    lots: list[MLot] = field(default_factory=list)
    amount: int = 0
    reissue: int = 0


class ReferenceLedger:
    """The expected state of one program: members, their lots and holds, the entries."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.members: dict[int, MMember] = {}
        self.holds: dict[int, MHold] = {}
        self.entries: dict[int, MEntry] = {}
        self._seq = 0

    # -- operations (raise the ledger's business errors where it must refuse) -------------
    def enroll(self, member_id: int) -> None:
        self.members[member_id] = MMember(member_id)

    def earn(
        self, member_id: int, points: int, now: datetime, expiry: ExpiryPolicy | None = None
    ) -> MEntry:
        m = self._active(member_id)
        self.settle(m, now)
        pending = self.program.activation_delay > timedelta(0)
        lot = self._new_lot(m, points, now, pending=pending, expiry=expiry)
        if not pending:
            m.available += points
            self._repay(m, [lot], points)
        return MEntry("earn", m, points, lot=lot)

    def redeem(self, member_id: int, points: int, now: datetime) -> MEntry:
        m = self._active(member_id)
        self.settle(m, now)
        spent = self._spend(m, points, now)
        return MEntry("redeem", m, points, spent=spent)

    def spend_on_reward(self, member_id: int, points: int, now: datetime) -> MEntry:
        """A reward's price: spent as a redemption is, but its entry is not reversible
        (only the reward's own refund gives it back)."""
        m = self._active(member_id)
        self.settle(m, now)
        spent = self._spend(m, points, now)
        return MEntry("reward", m, points, spent=spent)

    def refund_reward(self, entry_id: int, now: datetime) -> MEntry:
        """An unused reward's points back, whole, to the lots they came from (no blocked
        check: the points were the member's)."""
        entry = self.entries[entry_id]
        m = entry.member
        self.settle(m, now)
        entry.reversed = entry.points
        self._credit(m, self._give_back(m, entry.spent, entry.points, now), now)
        return MEntry("reward_refund", m, entry.points)

    def hold(self, member_id: int, points: int, ttl: timedelta, now: datetime) -> MHold:
        m = self._active(member_id)
        self.settle(m, now)
        spent = self._spend(m, points, now)
        m.held += points
        hold = MHold(m, points, now + ttl, spent)
        m.holds.append(hold)
        return hold

    def capture(self, hold_id: int, points: int | None, now: datetime) -> MEntry:
        hold = self._active_hold(hold_id)
        if now >= hold.expires_at:
            raise HoldExpired("hold timed out")
        m = hold.member
        if m.blocked:
            raise MemberBlocked("blocked")
        amount = hold.amount if points is None else points
        if amount > hold.amount:
            raise InsufficientPoints("capture exceeds hold")
        m.held -= hold.amount
        self._credit(m, self._give_back(m, hold.spent, hold.amount - amount, now), now)
        hold.status = "captured"
        # the capture's spent points are what the hold still has out after the release
        return MEntry("capture", m, amount, spent=hold.spent)

    def void(self, hold_id: int, now: datetime) -> None:
        self._end_hold(self._active_hold(hold_id), "voided", now)

    def reverse(self, entry_id: int, points: int | None, now: datetime) -> MEntry:
        entry = self.entries[entry_id]
        if not entry.reversible:
            raise ValidationError(f"a {entry.kind} entry cannot be reversed")
        m = entry.member
        self.settle(m, now)
        amount = entry.left if points is None else points
        if amount > entry.left or amount == 0:
            raise ReversalExceeded("too much")
        entry.reversed += amount
        if entry.kind in ("earn", "adjust"):
            self._claw_back(m, entry, amount, now)
        else:
            self._credit(m, self._give_back(m, entry.spent, amount, now), now)
        return MEntry("reverse", m, amount)

    def adjust(self, member_id: int, delta: int, now: datetime) -> MEntry:
        m = self.members[member_id]  # no blocked check: support may correct anyone
        self.settle(m, now)
        if delta > 0:
            lot = self._new_lot(m, delta, now, pending=False)
            m.available += delta
            self._repay(m, [lot], delta)
            return MEntry("adjust", m, delta, lot=lot)
        self._spend(m, -delta, now)
        return MEntry("adjust_debit", m, -delta)

    def set_blocked(self, member_id: int, blocked: bool) -> None:
        self.members[member_id].blocked = blocked

    # -- time-driven -----------------------------------------------------------------------
    def settle(self, m: MMember, now: datetime) -> None:
        """What a member operation does first: timed-out holds, activation, expiry."""
        for hold in list(m.holds):
            if hold.status == "active" and hold.expires_at <= now:
                self._end_hold(hold, "expired", now)
        self._activate(m, now)
        self._expire(m, now)

    def sweep_holds(self, now: datetime) -> None:
        for m in self._sorted_members():
            for hold in list(m.holds):
                if hold.status == "active" and hold.expires_at <= now:
                    self._end_hold(hold, "expired", now)

    def sweep_activation(self, now: datetime) -> None:
        for m in self._sorted_members():
            self._activate(m, now)

    def sweep_expiry(self, now: datetime) -> None:
        for m in self._sorted_members():
            self._expire(m, now)

    # -- the mechanics ---------------------------------------------------------------------
    def _sorted_members(self) -> list[MMember]:
        return [self.members[k] for k in sorted(self.members)]

    def _active(self, member_id: int) -> MMember:
        m = self.members[member_id]
        if m.blocked:
            raise MemberBlocked("blocked")
        return m

    def _active_hold(self, hold_id: int) -> MHold:
        hold = self.holds[hold_id]
        if hold.status != "active":
            raise HoldNotActive(f"hold is {hold.status}")
        return hold

    def _new_lot(
        self,
        m: MMember,
        amount: int,
        now: datetime,
        *,
        pending: bool,
        expiry: ExpiryPolicy | None = None,
    ) -> MLot:
        self._seq += 1
        available_at = self.program.available_at(now) if pending else now
        lot = MLot(
            seq=self._seq,
            remaining=amount,
            earned_at=now,
            available_at=available_at,
            expires_at=self.program.expires_at(now, available_at, expiry),
            activated=not pending,
        )
        m.lots.append(lot)
        return lot

    @staticmethod
    def _take(lots: list[MLot], need: int) -> list[Spent]:
        out: list[Spent] = []
        for lot in lots:
            if need == 0:
                break
            amount = min(lot.remaining, need)
            if amount > 0:
                lot.remaining -= amount
                need -= amount
                out.append(Spent(lot, amount))
        return out

    @staticmethod
    def _spendable(m: MMember, now: datetime) -> list[MLot]:
        lots = [
            lot for lot in m.lots if lot.activated and lot.remaining > 0 and not lot.is_expired(now)
        ]
        return sorted(lots, key=MLot.draw_key)

    def _spend(self, m: MMember, points: int, now: datetime) -> list[Spent]:
        if m.available < points:
            raise InsufficientPoints("not enough")
        spent = self._take(self._spendable(m, now), points)
        if sum(s.out for s in spent) != points:
            raise AssertionError("model: available balance and lots disagree")
        m.available -= points
        return spent

    def _repay(self, m: MMember, lots: list[MLot], credited: int) -> None:
        """New available points repay a debt first: the lots keep what the balance shows."""
        need = credited - max(m.available, 0)
        if need > 0:
            self._take(lots, need)

    def _give_back(self, m: MMember, spent: list[Spent], amount: int, now: datetime) -> Credit:
        """Return points to the lots they came from, latest draw first; an expired lot's
        share follows the restore policy (breakage, or a fresh lot)."""
        credit = Credit()
        left = amount
        for s in reversed(spent):
            if left == 0:
                break
            give = min(s.out, left)
            if give <= 0:
                continue
            left -= give
            s.out -= give
            if not s.lot.is_expired(now):
                s.lot.remaining += give
                credit.lots.append(s.lot)
                credit.amount += give
            elif self.program.restore_policy == RestorePolicy.REISSUE:
                credit.reissue += give
                credit.amount += give
        if left:
            raise AssertionError("model: giving back more than was spent")
        return credit

    def _credit(self, m: MMember, credit: Credit, now: datetime) -> None:
        m.available += credit.amount
        lots = list(credit.lots)
        if credit.reissue:
            lots.append(self._new_lot(m, credit.reissue, now, pending=False))
        self._repay(m, lots, credit.amount)

    def _end_hold(self, hold: MHold, status: str, now: datetime) -> None:
        m = hold.member
        m.held -= hold.amount
        self._credit(m, self._give_back(m, hold.spent, hold.amount, now), now)
        hold.status = status

    def _activate(self, m: MMember, now: datetime) -> None:
        due = [
            lot
            for lot in m.lots
            if not lot.activated and not lot.expired and lot.available_at <= now
        ]
        total = sum(lot.remaining for lot in due)
        for lot in due:
            lot.activated = True
        if total:
            m.available += total
            self._repay(m, [lot for lot in due if lot.remaining], total)

    def _expire(self, m: MMember, now: datetime) -> None:
        for lot in m.lots:
            if (
                not lot.expired
                and lot.remaining > 0
                and lot.expires_at is not None
                and lot.expires_at <= now
            ):
                if lot.activated:
                    m.available -= lot.remaining
                lot.remaining = 0
                lot.expired = True

    def _claw_back(self, m: MMember, entry: MEntry, amount: int, now: datetime) -> None:
        """Take earned points back: from the lot the earning made first, then from other
        lots in draw order; the rest is a debt or forgiven, as the program says."""
        taken = 0
        lot = entry.lot
        if lot is not None and not lot.is_expired(now):
            taken = min(lot.remaining, amount)
            lot.remaining -= taken
            if lot.activated:
                m.available -= taken
        short = amount - taken
        if short:
            other = sum(s.out for s in self._take(self._spendable(m, now), short))
            m.available -= other
            short -= other
        if short and self.program.negative_balance == NegativeBalancePolicy.DEBT:
            m.available -= short
