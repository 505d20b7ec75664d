"""The old dict bodies of the tests, turned into the use cases' commands as the API does it.

Each helper runs the HTTP request model on the dict (the API's one parse) and builds the
command with its ``to_command``; a body the API would refuse with 422 raises the domain's
``ValidationError`` (what ``api/errors.py`` maps to 422) naming the first field, so a test's
``pytest.raises(ValidationError)`` around the service call keeps its assertion. Store and
channel are the body's (an unbound admin key's): the channel defaults to till."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from kopilka.api.schemas.events import EventCreate
from kopilka.api.schemas.purchases import PurchaseCreate, QuoteRequest, ReturnCreate
from kopilka.api.schemas.rules import PreviewRequest
from kopilka.domain.errors import ValidationError
from kopilka.domain.program import Program
from kopilka.services.context import ServiceContext
from kopilka.services.events import RecordEvent
from kopilka.services.purchases import BookPurchase, ProcessReturn, QuotePurchase
from kopilka.services.rules import PreviewRules

M = TypeVar("M", bound=pydantic.BaseModel)


def parsed(model: type[M], body: Mapping[str, Any] | Any) -> M:
    """``model`` validated from ``body``; pydantic's error as the domain's ValidationError."""
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ValidationError(f"{where}: {first['msg']}", field=where) from None


def purchase(ctx: ServiceContext, program: Program, body: Mapping[str, Any]) -> BookPurchase:
    """The purchase command of ``body`` (a POST /v1/purchases body), as of ``ctx.now()``."""
    m = parsed(PurchaseCreate, body)
    return m.to_command(program, ctx.now(), store=m.store, channel=m.channel or "till")


def quote(ctx: ServiceContext, program: Program, body: Mapping[str, Any]) -> QuotePurchase:
    """The quote command of ``body`` (a POST /v1/purchases/quote body). Tests quote the
    purchase bodies they then book: its receipt and hold ids are left out (the quote
    never read them)."""
    if isinstance(body, Mapping):
        body = {k: v for k, v in body.items() if k not in ("receipt_id", "hold_id")}
    m = parsed(QuoteRequest, body)
    return m.to_command(program, ctx.now(), store=m.store, channel=m.channel or "till")


def return_(receipt_id: str, body: Mapping[str, Any]) -> ProcessReturn:
    """The return command of ``body`` (a POST /v1/purchases/{receipt_id}/returns body)."""
    return parsed(ReturnCreate, body).to_command(receipt_id)


def event(body: Mapping[str, Any]) -> RecordEvent:
    """The event command of ``body`` (a POST /v1/events body)."""
    return parsed(EventCreate, body).to_command()


def preview(
    ctx: ServiceContext,
    program: Program,
    document: str,
    *,
    fmt: str = "yaml",
    purchase: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
) -> PreviewRules:
    """The preview command of a POST /v1/rules/preview body with these parts (a purchase
    body's receipt and hold ids are left out, as for :func:`quote`)."""
    body: dict[str, Any] = {"document": document, "format": fmt}
    if purchase is not None:
        body["purchase"] = {k: v for k, v in purchase.items() if k not in ("receipt_id", "hold_id")}
    if event is not None:
        body["event"] = dict(event)
    return parsed(PreviewRequest, body).to_command(program, ctx.now())
