"""Point movements for one member, each under an idempotency key.

These are the operations the CLI, the API and the jobs call. Each opens a unit of work,
runs one ledger operation and commits; a repeated key returns the stored outcome.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kopilka.domain.program import Program
from kopilka.ledger.ledger import Ledger
from kopilka.services.context import ServiceContext
from kopilka.store.uow import UnitOfWork


def _run(
    ctx: ServiceContext,
    program: Program,
    key: str,
    operation: str,
    request: dict[str, Any],
    op: Any,
) -> dict[str, Any]:
    def effect(uow: UnitOfWork) -> dict[str, Any]:
        result = op(Ledger(uow.ledger, program), ctx.now())
        return dict(result.to_dict())

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
) -> dict[str, Any]:
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
) -> dict[str, Any]:
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
) -> dict[str, Any]:
    """Reserve points at the till (``store``; None: none, as the web shop) until captured,
    voided or timed out."""
    req = {"member_id": member_id, "points": points, "ttl": ttl_seconds, "reference": reference}
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
) -> dict[str, Any]:
    """Spend all or part of a hold; the rest is released."""
    req = {"hold_id": hold_id, "points": points}
    return _run(ctx, program, key, "capture", req, lambda lg, now: lg.capture(hold_id, now, points))


def void(ctx: ServiceContext, program: Program, hold_id: int, *, key: str) -> dict[str, Any]:
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
) -> dict[str, Any]:
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
) -> dict[str, Any]:
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
