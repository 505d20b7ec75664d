"""What a till or a member sees: balances with pending and expiring points, and holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kopilka.domain.errors import NotFoundError
from kopilka.domain.program import Program
from kopilka.ledger.model import Hold
from kopilka.services.context import ServiceContext
from kopilka.store.repos.balance_view import BalanceViewRepo

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
    """A member's balances as stored, with the next pending activations and expiries.

    A read never moves points: activations and expiries that are due but not yet swept
    show up on the member's next operation or the next sweep.
    """
    now = ctx.now()
    with ctx.uow(read_only=True) as uow:
        member = uow.members.get(program.id, member_id)
        bal = uow.members.balance(member_id)
        view = BalanceViewRepo(uow.conn)
        return BalanceView(
            member_id=member_id,
            status=str(member.status),
            available=bal.available,
            pending=bal.pending,
            held=bal.held,
            as_of=now,
            pending_lots=[DatedPoints(at, p) for at, p in view.pending(member_id, SHOWN)],
            expiring=[DatedPoints(at, p) for at, p in view.expiring(member_id, now, SHOWN)],
        )


def get_hold(ctx: ServiceContext, program: Program, hold_id: int) -> Hold:
    """A hold of the program, or :class:`NotFoundError` (also for another program's hold)."""
    with ctx.uow(read_only=True) as uow:
        hold = BalanceViewRepo(uow.conn).hold(program.id, hold_id)
    if hold is None:
        raise NotFoundError(f"hold {hold_id} not found", hold_id=hold_id)
    return hold
