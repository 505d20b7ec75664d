"""Events: a member's non-purchase action (a review, a share, a custom action) and the
points the rules in force give for it."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter

from kopilka.api.deps import AppMetrics, Ctx, CurrentProgram, IdempotencyKey, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.events import EventCreate, EventResult
from kopilka.services import events as event_svc
from kopilka.services.apikeys import Permission as P
from kopilka.services.audit_log import recorded_write

router = APIRouter(prefix=f"{V1}/events", tags=["events"])


@router.post(
    "",
    status_code=201,
    response_model=EventResult,
    dependencies=[permit(P.EVENTS_WRITE)],
    responses=responses(
        "unauthorized",
        "forbidden",
        "not_found",
        "member_blocked",
        "idempotency_conflict",
        "payload_too_large",
    ),
)
def record_event(
    body: EventCreate,
    ctx: Ctx,
    program: CurrentProgram,
    idempotency_key: IdempotencyKey,
    metrics: AppMetrics,
) -> event_svc.EventRecorded:
    """Record what the member did and earn what the rules give for it (nothing once a
    rule's limit is reached). One event per ``event_id``."""
    cmd = body.to_command()
    # under the caller's key; inside, the use case keeps the event's own key, so an event
    # sent again under a fresh key counts once
    result = recorded_write(
        ctx,
        program.id,
        key=idempotency_key,
        operation="event",
        request=cmd.fingerprint(),
        effect=lambda inner: cast(dict[str, Any], event_svc.record_event(inner, program, cmd)),
    )
    metrics.moved("earned", int(result["points_earned"]))
    return cast(event_svc.EventRecorded, result)
