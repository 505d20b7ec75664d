"""The console's receipts list: the query a page's form sends, read once here, the page,
and the CSV export of the same list for roles that may see personal data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.numbers import NumberFormatError, parse_decimal
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from kopilka.domain.errors import KopilkaError, PermissionDenied, ValidationError
from kopilka.domain.identifiers import IdentifierKind
from kopilka.domain.money import parse_money
from kopilka.domain.program import Program
from kopilka.services import member_list
from kopilka.services import receipt_list as list_svc
from kopilka.services.apikeys import Permission
from kopilka.services.member_lookup import MemberRef
from kopilka.services.receipt_list import ReceiptQuery
from kopilka.web.console import Console
from kopilka.web.csv_export import csv_download
from kopilka.web.guard import Operator
from kopilka.web.i18n import N_, language, tr
from kopilka.web.render import WebRoute, status_of

FIELDS = (
    "date_from",
    "date_to",
    "store",
    "channel",
    "member_kind",
    "member",
    "amount_min",
    "amount_max",
    "status",
    "sort",
    "order",
)
SORT_LABELS = (("date", N_("date")), ("amount", N_("amount")))
ORDER_LABELS = (("desc", N_("descending")), ("asc", N_("ascending")))
STATUS_LABELS = (("booked", N_("not returned")), ("returned", N_("returned, in part or in full")))
# how a row's state reads (the filter's "returned" covers both kinds of return)
STATE_LABELS = {
    "booked": N_("booked"),
    "partly_returned": N_("partly returned"),
    "returned": N_("returned in full"),
}
CHANNEL_LABELS = (("till", N_("till")), ("web", N_("web shop")), ("app", N_("app")))
MEMBER_KINDS = (
    ("id", N_("member number")),
    ("card", N_("card number")),
    ("phone", N_("phone number")),
    ("email", N_("e-mail address")),
)
CSV_COLUMNS = (
    "id",
    "receipt_id",
    "occurred_at",
    "member_id",
    "store",
    "channel",
    "total",
    "discount",
    "points_earned",
    "points_redeemed",
    "status",
)
_SPACES = re.compile(r"[\s\u00a0\u202f]")
_STORE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _day(program: Program, raw: str, field: str, *, next_day: bool = False) -> datetime | None:
    """The start of a calendar day (or of the day after) in the program's time zone."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(tr("a date is written as 2026-03-14"), field=field) from None
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time.min, ZoneInfo(program.timezone))


def parse_amount(program: Program, raw: str, field: str) -> int | None:
    """An amount of money typed as the page's language writes it ("1 234,50" in Russian,
    "1,234.50" in English; a point is read as the decimal mark in both), in minor units
    of the program's currency."""
    text = _SPACES.sub("", raw or "")
    if not text:
        return None
    try:
        value = parse_decimal(text, locale=language(), strict=True)
        if value < 0:
            raise ValueError
        return parse_money(Decimal(value), program.currency, field=field)
    except (NumberFormatError, ValueError, KopilkaError):
        raise ValidationError(
            tr("an amount is written as 1500 or 1500.50, not below zero"), field=field
        ) from None


def _member(raw: str, kind: str) -> MemberRef | None:
    value = raw.strip()
    if not value:
        return None
    if kind == "id":
        if not value.isascii() or not value.isdigit() or not 1 <= int(value) < 2**63:
            raise ValidationError(tr("a member number is a whole number"), field="member")
        return MemberRef(member_id=int(value))
    try:
        known = IdentifierKind(kind)
    except ValueError:
        raise ValidationError(tr("choose how the member is named"), field="member_kind") from None
    if len(value) > 254:
        raise ValidationError(tr("the member is named in at most 254 characters"), field="member")
    return MemberRef(identifier=(known, value))


def receipt_query(
    program: Program, params: Mapping[str, str], *, after: bool = True
) -> ReceiptQuery:
    """The list's query from a page's parameters, or ValidationError naming the field."""
    sort = params.get("sort") or "date"
    if sort not in list_svc.SORTS:
        raise ValidationError(tr("sort by date or amount"), field="sort")
    order = params.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise ValidationError(tr("the order is ascending or descending"), field="order")
    channel = params.get("channel") or None
    if channel is not None and channel not in list_svc.CHANNELS:
        raise ValidationError(tr("channel is till, web or app"), field="channel")
    status = params.get("status") or None
    if status is not None and status not in list_svc.STATUSES:
        raise ValidationError(tr("status is booked or returned"), field="status")
    store = (params.get("store") or "").strip() or None
    if store is not None and not _STORE.match(store):
        raise ValidationError(
            tr("a store's code is letters, digits, '_', '.' or '-'"), field="store"
        )
    kind = params.get("member_kind") or "id"
    if kind not in {k for k, _label in MEMBER_KINDS}:
        raise ValidationError(tr("choose how the member is named"), field="member_kind")
    occurred_from = _day(program, params.get("date_from", ""), "date_from")
    occurred_before = _day(program, params.get("date_to", ""), "date_to", next_day=True)
    if occurred_from and occurred_before and occurred_before <= occurred_from:
        raise ValidationError(tr("the last day is before the first"), field="date_to")
    total_min = parse_amount(program, params.get("amount_min", ""), "amount_min")
    total_max = parse_amount(program, params.get("amount_max", ""), "amount_max")
    if total_min is not None and total_max is not None and total_max < total_min:
        raise ValidationError(tr("the largest amount is below the smallest"), field="amount_max")
    cursor = (params.get("after") or None) if after else None
    if cursor is not None and len(cursor) > 200:
        raise ValidationError(tr("the page cursor is not valid"), field="after")
    return ReceiptQuery(
        occurred_from=occurred_from,
        occurred_before=occurred_before,
        store=store,
        channel=channel,
        member=_member(params.get("member", ""), kind),
        total_min=total_min,
        total_max=total_max,
        status=status,
        sort=sort,
        descending=order == "desc",
        after=cursor,
    )


def list_context(console: Console, op: Operator, params: Mapping[str, str]) -> dict[str, Any]:
    """What the receipts page shows: the filters as typed, the page, whether the export
    is offered."""
    form = {k: params.get(k, "") for k in FIELDS}
    query = receipt_query(op.program, params)
    page = list_svc.list_receipts(console.ctx, op.program, query, scope=op.key.scope)
    return {
        "listing": page,
        "next_cursor": page["next"],
        "filters": form,
        "filter_query": urlencode({k: v for k, v in form.items() if v}),
        "first_page": not params.get("after"),
        "can_export": member_list.sees_personal_data(op.key.role),
    }


def options() -> dict[str, Any]:
    """The choices of the page's selects, in the page's language."""
    return {
        "channels": [(v, tr(label)) for v, label in CHANNEL_LABELS],
        "channel_names": {v: tr(label) for v, label in CHANNEL_LABELS},
        "member_kinds": [(v, tr(label)) for v, label in MEMBER_KINDS],
        "status_options": [(v, tr(label)) for v, label in STATUS_LABELS],
        "sort_options": [(v, tr(label)) for v, label in SORT_LABELS],
        "order_options": [(v, tr(label)) for v, label in ORDER_LABELS],
        "states": {k: tr(v) for k, v in STATE_LABELS.items()},
    }


def receipt_list_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    @router.get("/receipts")
    def receipts(request: Request) -> Response:
        op = console.operator(request)
        op.require(Permission.PURCHASES_READ)
        params = dict(request.query_params)
        status, error = 200, None
        try:
            listing = list_context(console, op, params)
        except KopilkaError as e:  # a filter as typed: shown with the list unfiltered
            status, error = status_of(e), e
            listing = list_context(console, op, {})
            listing["filters"] = {k: params.get(k, "") for k in FIELDS}
        return console.page(
            op, "admin_receipts.html", status, error=error, nav="receipts", **options(), **listing
        )

    @router.get("/receipts.csv")
    def export(request: Request) -> StreamingResponse:
        op = console.operator(request)
        op.require(Permission.PURCHASES_READ)
        if not member_list.sees_personal_data(op.key.role):
            raise PermissionDenied(
                tr("your role may not export the receipts list"), role=str(op.key.role)
            )
        query = receipt_query(op.program, dict(request.query_params), after=False)
        # a member nobody has is refused here, before the response starts
        list_svc.list_receipts(ctx, op.program, replace(query, limit=1), scope=op.key.scope)
        rows = list_svc.export_receipts(ctx, op.program, query, scope=op.key.scope)

        return csv_download(rows, CSV_COLUMNS, "receipts.csv", moment="occurred_at")

    return router
