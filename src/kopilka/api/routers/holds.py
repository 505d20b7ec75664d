"""Holds for tills: reserve points, then capture (fully or partly) or void.

A hold nobody resolves times out by server time: the member's next operation ends it,
and so does the back-office sweep (``POST /v1/admin/jobs/expire-holds``).

A hold is made at the caller's store (a web shop's, or an unbound key's, at none). A
store-bound key reads, captures and voids only its own store's holds: another store's
hold answers 404, as a missing one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from kopilka.api.deps import AppMetrics, Ctx, CurrentKey, IdempotencyKey, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.common import MAX_ID
from kopilka.api.schemas.points import CaptureRequest, HoldCreate, HoldPublic, LedgerResult
from kopilka.ledger.model import Hold
from kopilka.services import members as member_svc
from kopilka.services import points as points_svc
from kopilka.services.apikeys import ApiKey
from kopilka.services.apikeys import Permission as P
from kopilka.services.balance_view import get_hold
from kopilka.services.context import ServiceContext
from kopilka.services.points import Capture, LedgerOutcome, PlaceHold, VoidHold

router = APIRouter(prefix=f"{V1}/holds", tags=["holds"])
HoldId = Annotated[int, Path(ge=1, le=MAX_ID)]
ENDING = responses(
    "unauthorized",
    "forbidden",
    "not_found",
    "member_blocked",
    "insufficient_points",
    "hold_not_active",
    "hold_expired",
    "idempotency_conflict",
    "payload_too_large",
)


@router.post(
    "",
    status_code=201,
    response_model=LedgerResult,
    dependencies=[permit(P.HOLDS_WRITE)],
    responses=responses(
        "unauthorized",
        "forbidden",
        "not_found",
        "member_blocked",
        "insufficient_points",
        "idempotency_conflict",
        "payload_too_large",
    ),
)
def create_hold(
    body: HoldCreate,
    ctx: Ctx,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
    metrics: AppMetrics,
) -> LedgerOutcome:
    """Reserve points of the member's available balance until captured, voided or timed
    out, at the key's store."""
    program = key.program
    member_svc.get_member(ctx, program, body.member_id)  # the member is in this program
    result = points_svc.hold(
        ctx,
        program,
        PlaceHold(
            body.member_id,
            body.points,
            key=idempotency_key,
            ttl_seconds=body.ttl_seconds,
            reference=body.reference,
            store=key.store_code,
        ),
    )
    metrics.moved("held", body.points)
    return result


def _hold_of(ctx: ServiceContext, key: ApiKey, hold_id: int) -> Hold:
    """The hold, if it is of the key's program and (for a bound key) store; else 404."""
    return get_hold(ctx, key.program, hold_id, scope=key.scope)


@router.get(
    "/{hold_id:int}",
    response_model=HoldPublic,
    dependencies=[permit(P.MEMBERS_READ)],
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def read_hold(hold_id: HoldId, ctx: Ctx, key: CurrentKey) -> HoldPublic:
    """A hold and its state (active, captured, voided, expired)."""
    h = _hold_of(ctx, key, hold_id)
    return HoldPublic(
        id=h.id,
        member_id=h.member_id,
        amount=h.amount,
        status=str(h.status),
        captured=h.captured,
        reference=h.reference,
        created_at=h.created_at,
        expires_at=h.expires_at,
    )


@router.post(
    "/{hold_id:int}/capture",
    response_model=LedgerResult,
    dependencies=[permit(P.HOLDS_WRITE)],
    responses=ENDING,
)
def capture(
    hold_id: HoldId,
    ctx: Ctx,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
    metrics: AppMetrics,
    body: CaptureRequest | None = None,
) -> LedgerOutcome:
    """Spend all of a hold or a part of it; the rest goes back to the member."""
    _hold_of(ctx, key, hold_id)  # the hold is in this program, at the key's store
    result = points_svc.capture(
        ctx,
        key.program,
        Capture(hold_id, key=idempotency_key, points=body.points if body else None),
    )
    metrics.moved("captured", int(result["points"]))
    return result


@router.post(
    "/{hold_id:int}/void",
    response_model=LedgerResult,
    dependencies=[permit(P.HOLDS_VOID)],
    responses=ENDING,
)
def void(
    hold_id: HoldId, ctx: Ctx, key: CurrentKey, idempotency_key: IdempotencyKey
) -> LedgerOutcome:
    """Cancel a hold; its points go back to the lots they came from. Needs ``holds:void``
    (tills, web shops, support, admin)."""
    _hold_of(ctx, key, hold_id)
    return points_svc.void(ctx, key.program, VoidHold(hold_id, key=idempotency_key))
