"""Earning and spending points directly (back office, web shop) under idempotency keys."""

from __future__ import annotations

from fastapi import APIRouter

from kopilka.api.deps import AppMetrics, Ctx, CurrentProgram, IdempotencyKey, ProgramMember, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.points import EarnRequest, LedgerResult, RedeemRequest
from kopilka.services import points as points_svc
from kopilka.services.apikeys import Permission as P
from kopilka.services.points import Earn, LedgerOutcome, Redeem

router = APIRouter(prefix=f"{V1}/members/{{member_id:int}}", tags=["points"])
WRITE = responses(
    "unauthorized",
    "forbidden",
    "not_found",
    "member_blocked",
    "idempotency_conflict",
    "insufficient_points",
    "payload_too_large",
)


@router.post(
    "/earn",
    status_code=201,
    response_model=LedgerResult,
    dependencies=[permit(P.POINTS_EARN)],
    responses=WRITE,
)
def earn(
    member_id: ProgramMember,
    body: EarnRequest,
    ctx: Ctx,
    program: CurrentProgram,
    idempotency_key: IdempotencyKey,
    metrics: AppMetrics,
) -> LedgerOutcome:
    """Credit points (pending first if the program delays activation)."""
    result = points_svc.earn(
        ctx,
        program,
        Earn(
            member_id,
            body.points,
            key=idempotency_key,
            reason=body.reason,
            reference=body.reference,
        ),
    )
    metrics.moved("earned", body.points)
    return result


@router.post(
    "/redeem",
    status_code=201,
    response_model=LedgerResult,
    dependencies=[permit(P.POINTS_REDEEM)],
    responses=WRITE,
)
def redeem(
    member_id: ProgramMember,
    body: RedeemRequest,
    ctx: Ctx,
    program: CurrentProgram,
    idempotency_key: IdempotencyKey,
    metrics: AppMetrics,
) -> LedgerOutcome:
    """Spend available points at once, soonest-expiring first."""
    result = points_svc.redeem(
        ctx, program, Redeem(member_id, body.points, key=idempotency_key, reference=body.reference)
    )
    metrics.moved("redeemed", body.points)
    return result
