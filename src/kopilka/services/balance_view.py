"""What a till or a member sees: balances with pending and expiring points, and holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kopilka.domain.errors import NotFoundError
from kopilka.domain.member import Member
from kopilka.domain.messages import msg
from kopilka.domain.program import Program
from kopilka.ledger.ledger import Ledger
from kopilka.ledger.model import Balance, Hold
from kopilka.services.context import ServiceContext
from kopilka.services.scope import StoreScope
from kopilka.store.repos.balance_view import BalanceViewRepo
from kopilka.store.uow import UnitOfWork

SHOWN = 5  # dated amounts listed per kind


@dataclass(frozen=True, slots=True)
class DatedPoints:
    at: datetime
    points: int


@dataclass(frozen=True, slots=True)
class BalanceView:
    member_id: int
    status: str
    available: int
    pending: int
    held: int
    as_of: datetime
    pending_lots: list[DatedPoints] = field(default_factory=list)
    expiring: list[DatedPoints] = field(default_factory=list)


def balance_view(ctx: ServiceContext, program: Program, member_id: int) -> BalanceView:
    """A member's balances as of now, with the next pending activations and expiries.

    Activations, expiries and timed-out holds that are due but not yet booked (by the
    member's next operation or the next sweep) are shown as booked: the till must not
    offer points that expired last night. They are worked out by the ledger's own
    ``settle`` in a transaction that is rolled back, so a read never moves points.
    """
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        member = uow.members.get(program.id, member_id)
        if not uow.ledger.due_kinds(program.id, member_id, now):
            return _view(uow, member, now)
    with ctx.uow() as uow:  # never committed
        ledger = Ledger(uow.ledger, program)
        ledger.lock(member_id)
        ledger.settle(member_id, now)
        return _view(uow, member, now)


def balance_now(ctx: ServiceContext, program: Program, member_id: int) -> Balance:
    """A member's available, pending and held points as of now, as :func:`balance_view`
    works them out: one query when nothing is due, else the due activations, expiries and
    timed-out holds settled in a transaction that is rolled back (a read moves nothing).

    Every balance a member, a till or an auditor reads goes through here (or through
    :func:`settled_balance`), never the stored row alone: points that expired last night
    are not offered, nor shown as taken away by the next operation."""
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        uow.members.get(program.id, member_id, identifiers=False)
        if not uow.ledger.due_kinds(program.id, member_id, now):
            return uow.members.balance(member_id)
    with ctx.uow() as uow:  # never committed
        return settled_balance(uow, program, member_id, now)


def settled_balance(uow: UnitOfWork, program: Program, member_id: int, now: datetime) -> Balance:
    """The member's balance once what is due at ``now`` is settled in ``uow``, a unit of
    work the caller must not commit (reads in it then see the member as of now)."""
    ledger = Ledger(uow.ledger, program)
    ledger.lock(member_id)
    ledger.settle(member_id, now)
    return ledger.balance(member_id)


def _view(uow: UnitOfWork, member: Member, now: datetime) -> BalanceView:
    bal = uow.members.balance(member.id)
    view = BalanceViewRepo(uow.conn)
    return BalanceView(
        member_id=member.id,
        status=str(member.status),
        available=bal.available,
        pending=bal.pending,
        held=bal.held,
        as_of=now,
        pending_lots=[DatedPoints(at, p) for at, p in view.pending(member.id, SHOWN)],
        expiring=[DatedPoints(at, p) for at, p in view.expiring(member.id, now, SHOWN)],
    )


def get_hold(
    ctx: ServiceContext, program: Program, hold_id: int, *, scope: StoreScope | None = None
) -> Hold:
    """A hold of the program, or :class:`NotFoundError` (also for another program's hold,
    and with ``scope``, a store-bound caller's, for another store's hold)."""
    with ctx.uow(read_only=True) as uow:
        hold = BalanceViewRepo(uow.conn).hold(program.id, hold_id)
    if hold is None or (scope is not None and not scope.covers(hold.store)):
        raise NotFoundError(msg("hold %(id)s not found", id=hold_id), hold_id=hold_id)
    return hold


def active_holds(
    ctx: ServiceContext, program: Program, member_id: int, *, limit: int = 20
) -> list[Hold]:
    """The member's holds not yet captured, voided or expired, newest first (one whose
    time is up but which no sweep has ended yet is listed too: voiding it is harmless)."""
    with ctx.uow(read_only=True) as uow:
        return BalanceViewRepo(uow.conn).active_holds(program.id, member_id, limit)
