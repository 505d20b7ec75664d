"""Webhook subscriptions of the key's program: add (the secret answered once), list,
read, change, remove; a subscription's delivery log; redelivery of one event or of a
time range (the worker's ``outbox`` job sends). Admin only (``webhooks:manage``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from kopilka.api.deps import Ctx, CurrentProgram, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.schemas.common import MAX_ID
from kopilka.api.schemas.webhooks import (
    DeliveryAttemptOut,
    Redelivered,
    RedeliverRequest,
    SubscriptionChange,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
)
from kopilka.services import webhooks as webhook_svc
from kopilka.services.apikeys import Permission as P
from kopilka.services.webhooks import DeliveryAttempt, Subscription, SubscriptionAdded

router = APIRouter(prefix=f"{V1}/webhooks", tags=["webhooks"])
SubscriptionId = Annotated[int, Path(ge=1, le=MAX_ID)]
MANAGE = [permit(P.WEBHOOKS_MANAGE)]


@router.get(
    "",
    response_model=list[SubscriptionOut],
    dependencies=MANAGE,
    responses=responses("unauthorized", "forbidden"),
)
def list_subscriptions(ctx: Ctx, program: CurrentProgram) -> list[Subscription]:
    """The program's subscriptions, without their secrets."""
    return webhook_svc.list_subscriptions(ctx, program)


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionCreated,
    dependencies=MANAGE,
    responses=responses("unauthorized", "forbidden"),
)
def add_subscription(
    body: SubscriptionCreate, ctx: Ctx, program: CurrentProgram
) -> SubscriptionAdded:
    """Subscribe a URL to the program's events; the answer carries the signing secret,
    which is never shown again."""
    return webhook_svc.add_subscription(ctx, program, body.to_command())


@router.get(
    "/{subscription_id}",
    response_model=SubscriptionOut,
    dependencies=MANAGE,
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def get_subscription(
    subscription_id: SubscriptionId, ctx: Ctx, program: CurrentProgram
) -> Subscription:
    """One subscription, without its secret."""
    return webhook_svc.get_subscription(ctx, program, subscription_id)


@router.patch(
    "/{subscription_id}",
    response_model=SubscriptionOut,
    dependencies=MANAGE,
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def change_subscription(
    subscription_id: SubscriptionId, body: SubscriptionChange, ctx: Ctx, program: CurrentProgram
) -> Subscription:
    """Change the URL (checked as when added) or the event types; the secret stays."""
    return webhook_svc.change_subscription(ctx, program, body.to_command(subscription_id))


@router.delete(
    "/{subscription_id}",
    status_code=204,
    dependencies=MANAGE,
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def remove_subscription(
    subscription_id: SubscriptionId, ctx: Ctx, program: CurrentProgram
) -> Response:
    """Stop sending to the subscription; its delivery log stays."""
    webhook_svc.remove_subscription(ctx, program, subscription_id)
    return Response(status_code=204)


@router.get(
    "/{subscription_id}/deliveries",
    response_model=list[DeliveryAttemptOut],
    dependencies=MANAGE,
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def delivery_log(
    subscription_id: SubscriptionId,
    ctx: Ctx,
    program: CurrentProgram,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryAttempt]:
    """The subscription's delivery attempts, newest first: the event, its delivery's
    status now, the answer's status code, the error and the time taken."""
    return webhook_svc.delivery_log(ctx, program, subscription_id, limit)


@router.post(
    "/{subscription_id}/redeliver",
    response_model=Redelivered,
    dependencies=MANAGE,
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def redeliver(
    subscription_id: SubscriptionId, body: RedeliverRequest, ctx: Ctx, program: CurrentProgram
) -> Redelivered:
    """Send one event again, or the events created in a time range: their deliveries
    become due now with their attempts reset (events from before the subscription, of
    its types, get one); the worker's next ``outbox`` run sends them, with their ids."""
    n = webhook_svc.redeliver(
        ctx,
        program,
        subscription_id,
        event_id=body.event_id,
        since=body.since,
        until=body.until,
    )
    return Redelivered(redelivered=n)
