"""Point movements for one member, each under an idempotency key.

These are the operations the CLI, the API and the jobs call. Each opens a unit of work,
runs one ledger operation and commits; a repeated key returns the stored outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TypedDict

from kopilka.domain.program import Program
from kopilka.ledger.ledger import Ledger
from kopilka.ledger.model import Result
from kopilka.services.context import ServiceContext
from kopilka.store.uow import UnitOfWork


class Balances(TypedDict):
    """A member's points after an operation."""

    available: int
    pending: int
    held: int


class LedgerOutcome(TypedDict):
    """What a point movement did: its journal entry and the member's balances after it.

    The format of the outcome stored under the idempotency key (``Result.to_dict()``):
    outcomes stored before are replayed as they are, so keys and shapes never change."""

    entry_id: int | None
    kind: str
    points: int
    member_id: int
    balance: Balances
    hold_id: int | None
    details: dict[str, object]


def outcome(result: Result) -> LedgerOutcome:
    """The stored (and answered) form of a ledger operation's result."""
    return {
        "entry_id": result.entry_id,
        "kind": str(result.kind),
        "points": result.points,
        "member_id": result.member_id,
        "balance": {"available": result.available, "pending": result.pending, "held": result.held},
        "hold_id": result.hold_id,
        "details": result.details,
    }


def _run(
    ctx: ServiceContext,
    program: Program,
    key: str,
    operation: str,
    request: Mapping[str, object],
    op: Callable[[Ledger, datetime], Result],
) -> LedgerOutcome:
    def effect(uow: UnitOfWork) -> LedgerOutcome:
        return outcome(op(Ledger(uow.ledger, program), ctx.now()))

    return ctx.idempotent(program.id, key, operation, request, effect)


def earn(
    ctx: ServiceContext,
    program: Program,
    member_id: int,
    points: int,
    *,
    key: str,
    reason: str | None = None,
    reference: str | None = None,
    rule_id: str | None = None,
    rule_version: int | None = None,
) -> LedgerOutcome:
    """Credit points (a new lot, pending if the program delays activation)."""
    req = {
        "member_id": member_id,
        "points": points,
        "reason": reason,
        "reference": reference,
        "rule_id": rule_id,
        "rule_version": rule_version,
    }
    return _run(
        ctx,
        program,
        key,
        "earn",
        req,
        lambda lg, now: lg.earn(
            member_id,
            points,
            now,
            reason=reason,
            reference=reference,
            rule_id=rule_id,
            rule_version=rule_version,
        ),
    )


def redeem(
    ctx: ServiceContext,
    program: Program,
    member_id: int,
    points: int,
    *,
    key: str,
    reference: str | None = None,
) -> LedgerOutcome:
    """Spend available points, soonest-expiring lots first."""
    req = {"member_id": member_id, "points": points, "reference": reference}
    return _run(
        ctx,
        program,
        key,
        "redeem",
        req,
        lambda lg, now: lg.redeem(member_id, points, now, reference=reference),
    )


def hold(
    ctx: ServiceContext,
    program: Program,
    member_id: int,
    points: int,
    *,
    key: str,
    ttl_seconds: int | None = None,
    reference: str | None = None,
    store: str | None = None,
) -> LedgerOutcome:
    """Reserve points at the till (``store``; None: none, as the web shop) until captured,
    voided or timed out."""
    req: dict[str, object] = {
        "member_id": member_id,
        "points": points,
        "ttl": ttl_seconds,
        "reference": reference,
    }
    if store is not None:  # absent otherwise: a hold's request hash stays what it was
        req["store"] = store
    ttl = timedelta(seconds=ttl_seconds) if ttl_seconds is not None else None
    return _run(
        ctx,
        program,
        key,
        "hold",
        req,
        lambda lg, now: lg.hold(member_id, points, now, ttl=ttl, reference=reference, store=store),
    )


def capture(
    ctx: ServiceContext, program: Program, hold_id: int, *, key: str, points: int | None = None
) -> LedgerOutcome:
    """Spend all or part of a hold; the rest is released."""
    req = {"hold_id": hold_id, "points": points}
    return _run(ctx, program, key, "capture", req, lambda lg, now: lg.capture(hold_id, now, points))


def void(ctx: ServiceContext, program: Program, hold_id: int, *, key: str) -> LedgerOutcome:
    """Cancel a hold; its points go back to the lots they came from."""
    return _run(
        ctx, program, key, "void", {"hold_id": hold_id}, lambda lg, now: lg.void(hold_id, now)
    )


def reverse(
    ctx: ServiceContext,
    program: Program,
    entry_id: int,
    *,
    key: str,
    points: int | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> LedgerOutcome:
    """Reverse an earning (claw back) or a spending (restore), fully or partly."""
    req = {"entry_id": entry_id, "points": points, "reason": reason, "actor": actor}
    return _run(
        ctx,
        program,
        key,
        "reverse",
        req,
        lambda lg, now: lg.reverse(entry_id, now, points=points, reason=reason, actor=actor),
    )


def adjust(
    ctx: ServiceContext,
    program: Program,
    member_id: int,
    delta: int,
    *,
    key: str,
    reason: str,
    actor: str,
) -> LedgerOutcome:
    """A manual correction with a reason and the actor who made it."""
    req = {"member_id": member_id, "delta": delta, "reason": reason, "actor": actor}
    return _run(
        ctx,
        program,
        key,
        "adjust",
        req,
        lambda lg, now: lg.adjust(member_id, delta, now, reason=reason, actor=actor),
    )
