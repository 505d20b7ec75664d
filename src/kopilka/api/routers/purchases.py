"""Purchases: quote a basket, commit it (earn and redeem), return it in full or by line,
and read it back with its points by line and rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import orjson
from fastapi import APIRouter, Path
from fastapi.responses import Response

from kopilka.api.deps import AppMetrics, Ctx, CurrentKey, IdempotencyKey, permit
from kopilka.api.errors import responses
from kopilka.api.offload import run_write
from kopilka.api.routers import V1
from kopilka.api.schemas.purchases import (
    BasketIn,
    PurchaseCreate,
    PurchasePublic,
    PurchaseResult,
    QuotePublic,
    QuoteRequest,
    ReturnCreate,
    ReturnResult,
)
from kopilka.domain.errors import OutsideKeyScope
from kopilka.domain.ids import ID_PATTERN, ID_RULE, MAX_ID_CHARS
from kopilka.domain.money import format_money
from kopilka.services import purchases as purchase_svc
from kopilka.services.apikeys import ApiKey
from kopilka.services.apikeys import Permission as P
from kopilka.services.context import ServiceContext

router = APIRouter(prefix=f"{V1}/purchases", tags=["purchases"])
ReceiptId = Annotated[
    str, Path(max_length=MAX_ID_CHARS, pattern=ID_PATTERN, description=f"an id: {ID_RULE}")
]
BASKET = ("unauthorized", "forbidden", "outside_key_scope", "not_found", "redemption_not_allowed")
WRITE = ("idempotency_conflict", "payload_too_large")


def placed(key: ApiKey, body: BasketIn) -> tuple[str | None, str]:
    """The store and channel the body's basket is booked at: the caller's.

    Store and channel are conditions of rules, so they come from the key: a bound key
    (:attr:`ApiKey.scope`) books at its own store, a pos key in the till channel and an
    ecommerce key in the web channel. A body may repeat them; one that names another is
    refused (403 outside_key_scope) before anything is read or written. An unbound admin
    key books where the body says (the channel defaults to till)."""
    store = body.store
    scope = key.scope
    if scope is not None:
        store = _bound("store", store, scope.store)
    channel: str | None = body.channel
    if key.channel is not None:
        channel = _bound("channel", channel, key.channel)
    return store, channel or "till"


def _bound(name: str, given: str | None, value: str | None) -> str | None:
    if given is not None and given != value:
        bound = f"{name} {value}" if value is not None else f"no {name}"
        raise OutsideKeyScope(
            f"this API key is bound to {bound}; it may not book {name} {given}",
            field=name,
            given=str(given),
            bound=str(value) if value is not None else "",
        )
    return value


def created(result: Mapping[str, object]) -> Response:
    """201 with the use case's answer as JSON. The answers of the hot writes are built to
    the shape of their response model (which documents them), so they skip FastAPI's
    re-validation and encoding of the model."""
    return Response(orjson.dumps(result), status_code=201, media_type="application/json")


@router.post(
    "/quote",
    response_model=QuotePublic,
    dependencies=[permit(P.PURCHASES_QUOTE)],
    responses=responses(*BASKET, "insufficient_points", "payload_too_large"),
)
def quote(body: QuoteRequest, ctx: Ctx, key: CurrentKey) -> purchase_svc.Quote:
    """Points the basket would earn by line and rule, and what points could pay (at most
    ``max_redeemable``; ``redeem_points`` shows the discount). With ``redeem_amount``
    (money to pay with points), the server works out ``redeem_points``: rounded up to the
    redemption step, capped by the limits. Writes nothing, so it takes no Idempotency-Key."""
    store, channel = placed(key, body)
    cmd = body.to_command(key.program, ctx.now(), store=store, channel=channel)
    return purchase_svc.quote(ctx, key.program, cmd)


@router.post(
    "",
    status_code=201,
    response_model=PurchaseResult,
    dependencies=[permit(P.PURCHASES_COMMIT)],
    responses=responses(
        *BASKET,
        "member_blocked",
        "insufficient_points",
        "hold_not_active",
        "hold_expired",
        *WRITE,
    ),
)
async def commit(
    body: PurchaseCreate,
    ctx: Ctx,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
    metrics: AppMetrics,
) -> Response:
    """Book a purchase: pay with points (``redeem_points``, the points that pay
    ``redeem_amount`` of money, or the hold ``hold_id``) and earn by the rules in force,
    in one transaction. One purchase per ``receipt_id``.
    A bound key books at its own store, and pays only with its own store's holds."""
    # the request is checked and parsed here; only the booking (which reads and stores the
    # Idempotency-Key and the receipt's own key in the purchase's transaction) holds the
    # writer lock on SQLite
    store, channel = placed(key, body)
    cmd = body.to_command(key.program, ctx.now(), store=store, channel=channel)
    book = purchase_svc.prepare_commit(
        ctx, key.program, cmd, caller_key=idempotency_key, scope=key.scope
    )
    result = await run_write(ctx, book)
    metrics.moved("earned", int(result["points_earned"]))
    metrics.moved("redeemed", int(result["points_redeemed"]))
    return created(result)


def _return(
    ctx: ServiceContext, key: ApiKey, cmd: purchase_svc.ProcessReturn, idempotency_key: str
) -> purchase_svc.ReturnBooked:
    return purchase_svc.process_return(
        ctx, key.program, cmd, caller_key=idempotency_key, scope=key.scope
    )


def _returned_lines(
    lines: list[purchase_svc.StoredReturnLine], currency: str
) -> list[dict[str, object]]:
    # stored return lines keep their refund in minor units; the API shows money as text
    return [
        {k: v for k, v in x.items() if k != "refund_minor"}
        | {"refund": format_money(int(x.get("refund_minor", 0)), currency)}
        for x in lines
    ]


@router.get(
    "/{receipt_id}",
    response_model=PurchasePublic,
    dependencies=[permit(P.PURCHASES_READ)],
    responses=responses("unauthorized", "forbidden", "not_found"),
)
def get_purchase(receipt_id: ReceiptId, ctx: Ctx, key: CurrentKey) -> dict[str, object]:
    """A purchase with its points by line and the rule (and version) behind each award,
    and its returns. A bound key finds only its own store's purchases."""
    program = key.program
    found = purchase_svc.get_purchase(ctx, program, receipt_id, scope=key.scope)
    returns = [
        {**r, "lines": _returned_lines(r["lines"], program.currency)} for r in found["returns"]
    ]
    return {**found, "returns": returns}


@router.post(
    "/{receipt_id}/returns",
    status_code=201,
    response_model=ReturnResult,
    dependencies=[permit(P.PURCHASES_RETURN)],
    responses=responses("unauthorized", "forbidden", "not_found", "reversal_exceeded", *WRITE),
)
async def process_return(
    receipt_id: ReceiptId,
    body: ReturnCreate,
    ctx: Ctx,
    key: CurrentKey,
    idempotency_key: IdempotencyKey,
    metrics: AppMetrics,
) -> Response:
    """Return the whole purchase (no ``lines``) or some lines or quantities: the points
    the returned lines earned are taken back and the points spent on them given back,
    exactly as booked. One return per ``return_id``. A bound key returns only its own
    store's purchases (another store's receipt is not found)."""
    cmd = body.to_command(receipt_id)
    result = await run_write(ctx, _return, ctx, key, cmd, idempotency_key)
    metrics.moved("clawed_back", int(result["points_clawed_back"]))
    metrics.moved("restored", int(result["points_restored"]))
    return created(result)
