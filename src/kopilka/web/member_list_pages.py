"""The console's members list: the query a page's form sends, read once here, and the
CSV export of the same list for roles that may see personal data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from kopilka.domain.errors import PermissionDenied, ValidationError
from kopilka.domain.program import Program
from kopilka.services import member_list as list_svc
from kopilka.services.apikeys import Permission
from kopilka.services.member_list import MemberQuery
from kopilka.web.console import Console
from kopilka.web.csv_export import csv_download
from kopilka.web.guard import Operator
from kopilka.web.i18n import N_, tr
from kopilka.web.render import WebRoute

FIELDS = (
    "q",
    "status",
    "tier",
    "enrolled_from",
    "enrolled_to",
    "balance_min",
    "balance_max",
    "last_purchase_before",
    "sort",
    "order",
)
SORT_LABELS = (("enrolled", N_("enrolled")), ("name", N_("name")), ("balance", N_("balance")))
ORDER_LABELS = (("asc", N_("ascending")), ("desc", N_("descending")))
CSV_COLUMNS = ("id", "name", "card", "phone", "email", "status", "tier", "balance", "enrolled_at")


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


def _points(raw: str, field: str) -> int | None:
    if not raw:
        return None
    try:
        return int(raw.replace(" ", ""))
    except ValueError:
        raise ValidationError(tr("points must be a whole number"), field=field) from None


def member_query(program: Program, params: Mapping[str, str], *, after: bool = True) -> MemberQuery:
    """The list's query from a page's parameters, or ValidationError naming the field."""
    sort = params.get("sort") or "enrolled"
    if sort not in list_svc.SORTS:
        raise ValidationError(tr("sort by enrolled, name or balance"), field="sort")
    status = params.get("status") or None
    if status is not None and status not in list_svc.STATUSES:
        raise ValidationError(tr("status is active or blocked"), field="status")
    search = (params.get("q") or "").strip()
    if len(search) > 254:
        raise ValidationError(tr("the search is limited to 254 characters"), field="q")
    return MemberQuery(
        search=search,
        status=status,
        tier=(params.get("tier") or "").strip() or None,
        enrolled_from=_day(program, params.get("enrolled_from", ""), "enrolled_from"),
        enrolled_before=_day(program, params.get("enrolled_to", ""), "enrolled_to", next_day=True),
        balance_min=_points(params.get("balance_min", ""), "balance_min"),
        balance_max=_points(params.get("balance_max", ""), "balance_max"),
        last_purchase_before=_day(
            program, params.get("last_purchase_before", ""), "last_purchase_before"
        ),
        sort=sort,
        # newest, richest first; names from A
        descending=(params.get("order") or ("asc" if sort == "name" else "desc")) == "desc",
        after=(params.get("after") or None) if after else None,
    )


def list_context(console: Console, op: Operator, params: Mapping[str, str]) -> dict[str, Any]:
    """What the members page shows of the list: the filters as typed, the page, whether
    personal data is masked and whether the export is offered."""
    form = {k: params.get(k, "") for k in FIELDS}
    masked = not list_svc.sees_personal_data(op.key.role)
    query = member_query(op.program, params)
    page = list_svc.list_members(console.ctx, op.program, query, masked=masked)
    filters = urlencode({k: v for k, v in form.items() if v})
    return {
        "listing": page,
        "next_cursor": page["next"],
        "statuses": list_svc.STATUSES,
        "by_name": "name",
        "sort_options": [(value, tr(label)) for value, label in SORT_LABELS],
        "order_options": [(value, tr(label)) for value, label in ORDER_LABELS],
        "filters": form,
        "filter_query": filters,
        "masked": masked,
        "can_export": not masked,
        "first_page": not params.get("after"),
    }


def member_list_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    @router.get("/members.csv")
    def export(request: Request) -> StreamingResponse:
        op = console.operator(request)
        op.require(Permission.MEMBERS_READ)
        if not list_svc.sees_personal_data(op.key.role):
            raise PermissionDenied(
                tr("your role may not export members' personal data"), role=str(op.key.role)
            )
        query = member_query(op.program, dict(request.query_params), after=False)
        rows = list_svc.export_members(ctx, op.program, query)

        return csv_download(rows, CSV_COLUMNS, "members.csv", moment="enrolled_at")

    return router
