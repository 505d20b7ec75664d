"""Analytics: guest receipts (a till's receipts without a member), the KPIs of a range,
pilots' returns, campaigns' costs, and exports for BI, streamed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, StreamingResponse

from kopilka.api.deps import Ctx, CurrentKey, permit
from kopilka.api.errors import responses
from kopilka.api.routers import V1
from kopilka.api.routers.purchases import _bound
from kopilka.api.schemas.analytics import (
    CampaignReportPublic,
    GuestReceiptCreate,
    GuestReceiptPublic,
    PilotReportPublic,
)
from kopilka.domain.analytics import DateRange, Dimension, Grain, local_day, parse_range
from kopilka.domain.errors import PermissionDenied
from kopilka.domain.program import Program
from kopilka.services import analytics as analytics_svc
from kopilka.services import campaigns as campaign_svc
from kopilka.services import exports as exports_svc
from kopilka.services import pilot_roi as pilot_svc
from kopilka.services.apikeys import Permission as P
from kopilka.services.member_list import sees_personal_data

router = APIRouter(prefix=f"{V1}/analytics", tags=["analytics"])
READ = responses("unauthorized", "forbidden")


@router.post(
    "/guest-receipts",
    status_code=201,
    response_model=GuestReceiptPublic,
    dependencies=[permit(P.PURCHASES_COMMIT)],
    responses=responses("unauthorized", "forbidden", "outside_key_scope"),
)
def record_guest_receipt(body: GuestReceiptCreate, ctx: Ctx, key: CurrentKey) -> Any:
    """Record a receipt without a member, for analytics only (the average check of
    non-members): no points, no member. A receipt id recorded before answers what was
    stored and records nothing (``recorded``: false)."""
    store = body.store
    if key.scope is not None:
        store = _bound("store", store, key.scope.store)
    channel: str | None = body.channel
    if key.channel is not None:
        channel = _bound("channel", channel, key.channel)
    command = body.to_command(key.program, ctx.now(), store=store, channel=channel or "till")
    return analytics_svc.record_guest_receipt(ctx, key.program, command)


# a local day, YYYY-MM-DD: the pattern and the format in the schema, the calendar checked
# by the domain (2026-02-30 is a 422 with the field named)
DAY = r"^\d{4}-\d{2}-\d{2}$"
DATE: dict[str, Any] = {"format": "date"}
FromDay = Annotated[
    str | None, Query(alias="from", max_length=10, pattern=DAY, json_schema_extra=DATE)
]
ToDay = Annotated[str | None, Query(alias="to", max_length=10, pattern=DAY, json_schema_extra=DATE)]


def _days(ctx: Ctx, program: Program, start: str | None, end: str | None) -> DateRange:
    """The local days asked for (default: the last 30 days in the program's zone)."""
    return parse_range(start, end, local_day(ctx.now(), program.timezone))


@router.get("/kpis", dependencies=[permit(P.ANALYTICS_READ)], responses=READ)
def kpis(
    ctx: Ctx,
    key: CurrentKey,
    start: FromDay = None,
    end: ToDay = None,
    grain: Grain = Grain.MONTH,
    by: Dimension = Dimension.NONE,
) -> Any:
    """Every KPI of docs/analytics.md for the local days ``from`` to ``to`` (default: the
    last 30 days), the series by ``grain`` and ``by`` store, channel or tier."""
    program = key.program
    days = _days(ctx, program, start, end)
    result = analytics_svc.kpis(ctx, program, analytics_svc.KpiQuery(days, grain, by))
    return JSONResponse(result)


@router.get(
    "/pilots",
    response_model=PilotReportPublic,
    dependencies=[permit(P.ANALYTICS_READ)],
    responses=READ,
)
def pilots(
    ctx: Ctx,
    key: CurrentKey,
    start: FromDay = None,
    end: ToDay = None,
) -> Any:
    """The return of each pilot (a rule applied to a share of the members, the others its
    control group) over the local days ``from`` to ``to`` (default: the last 30 days): the
    pilot's members' extra spending against the control group's, its points' cost and the
    ROI, with 95 % confidence intervals (docs/analytics.md)."""
    program = key.program
    days = _days(ctx, program, start, end)
    return pilot_svc.pilot_returns(ctx, program, days)


@router.get(
    "/campaigns",
    response_model=CampaignReportPublic,
    dependencies=[permit(P.ANALYTICS_READ)],
    responses=READ,
)
def campaigns(
    ctx: Ctx,
    key: CurrentKey,
    start: FromDay = None,
    end: ToDay = None,
) -> Any:
    """Each campaign's points, awards and cost over the local days ``from`` to ``to``
    (default: the last 30 days): the rules sharing a ``campaign:`` code, added up."""
    program = key.program
    days = _days(ctx, program, start, end)
    return campaign_svc.campaign_costs(ctx, program, days)


# what an export answers: the CSV text or the Parquet file, never JSON
EXPORTED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the dataset, streamed",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get(
    "/exports/{dataset}",
    dependencies=[permit(P.ANALYTICS_EXPORT)],
    responses={**READ, **EXPORTED},
    response_class=StreamingResponse,
)
def export(
    ctx: Ctx,
    key: CurrentKey,
    dataset: Annotated[  # the schema lists the datasets; the service refuses another
        str,
        Path(
            max_length=16,
            pattern="^[a-z]+$",
            json_schema_extra={"enum": list(exports_svc.DATASETS)},
        ),
    ],
    start: FromDay = None,
    end: ToDay = None,
    format: exports_svc.ExportFormat = exports_svc.ExportFormat.CSV,
    personal_data: bool = False,
) -> StreamingResponse:
    """A dataset (purchases, lines, awards, entries, members) of the local days ``from``
    to ``to``, streamed as CSV or Parquet in the layout of docs/analytics.md. Members'
    personal data only for the roles that see it (403 otherwise)."""
    program = key.program
    if personal_data and not sees_personal_data(key.role):
        raise PermissionDenied(f"role {key.role} may not export personal data", role=str(key.role))
    days = _days(ctx, program, start, end)
    query = exports_svc.ExportQuery(dataset, days, format, personal_data)
    media = (
        "text/csv; charset=utf-8"
        if format is exports_svc.ExportFormat.CSV
        else ("application/vnd.apache.parquet")
    )
    return StreamingResponse(
        exports_svc.export_chunks(ctx, program, query),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{query.filename(program)}"'},
    )
