"""The console's analytics dashboard (``/admin/analytics``): the KPIs of a range of local
days, five charts drawn on the server (:mod:`kopilka.web.svg_charts`), each with its
numbers in a table beside it and as CSV, the points by rule and by campaign and the
pilots' returns as tables, and the exports for BI. An analyst sees all of it; nothing on
it names a member."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse
from markupsafe import Markup

from kopilka.domain.analytics import Dimension, Grain, local_day, parse_range
from kopilka.domain.errors import PermissionDenied, ValidationError
from kopilka.services import analytics as analytics_svc
from kopilka.services import campaigns as campaign_svc
from kopilka.services import exports as exports_svc
from kopilka.services import pilot_roi as pilot_svc
from kopilka.services.analytics import Kpis
from kopilka.services.apikeys import Permission
from kopilka.services.campaigns import CampaignReport
from kopilka.services.member_list import sees_personal_data
from kopilka.services.pilot_roi import PilotReport
from kopilka.web.console import Console
from kopilka.web.csv_export import cell
from kopilka.web.i18n import N_, money, number, percent, tr
from kopilka.web.render import WebRoute
from kopilka.web.svg_charts import bar_chart, heat_map, line_chart

CHARTS = ("liability", "points", "active", "cohorts", "budget", "rules", "campaigns", "pilots")
GRAINS = {"day": N_("by day"), "week": N_("by week"), "month": N_("by month")}
DIMENSIONS = {
    "none": N_("the whole program"),
    "store": N_("by store"),
    "channel": N_("by channel"),
    "tier": N_("by tier"),
}
DATASETS = {
    "purchases": N_("Purchases"),
    "lines": N_("Purchase lines"),
    "awards": N_("Points by line and rule"),
    "entries": N_("Ledger entries"),
    "members": N_("Members"),
}


@dataclass(frozen=True, slots=True)
class Table:
    """A chart's numbers: the page's header words and cells, and the CSV's columns and
    values (codes and plain numbers, stable for a spreadsheet)."""

    headers: list[str]
    rows: list[list[str]]
    csv_columns: list[str]
    csv_rows: list[list[object]]


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    svg: Markup | None
    table: Table


def _share(value: float | None) -> str:
    return "—" if value is None else percent(value)


def _charts(k: Kpis) -> list[Chart]:
    cur = k["currency"]

    def m(minor: int | None) -> str:
        return "—" if minor is None else money(f"{minor / 100:.2f}", cur)

    charts: list[Chart] = []
    liability = k["liability"]
    labels = [p["bucket"] for p in liability]
    charts.append(
        Chart(
            "liability",
            str(tr("Outstanding points (liability) at the end of each period")),
            line_chart(
                "chart-liability",
                str(tr("Outstanding points over time")),
                str(
                    tr(
                        "Points the program owes its members at the end of each period; the "
                        "table below the chart gives every value."
                    )
                ),
                labels,
                [p["points"] for p in liability],
            ),
            Table(
                [str(tr("Period")), str(tr("Points")), str(tr("In money"))],
                [[p["bucket"], number(p["points"]), m(p["minor"])] for p in liability],
                ["period", "points", "money_minor"],
                [[p["bucket"], p["points"], p["minor"]] for p in liability],
            ),
        )
    )
    by_bucket: dict[str, list[int]] = {}
    for p in k["series"]:
        row = by_bucket.setdefault(p["bucket"], [0, 0, 0, 0])
        row[0] += p["issued"]
        row[1] += p["redeemed"]
        row[2] += p["expired"]
        row[3] += p["adjusted"]
    buckets = sorted(by_bucket)
    charts.append(
        Chart(
            "points",
            str(tr("Points issued, redeemed and expired")),
            bar_chart(
                "chart-points",
                str(tr("Points issued, redeemed and expired by period")),
                str(tr("Three bars per period: issued, redeemed, expired.")),
                buckets,
                [
                    (str(tr("issued")), [by_bucket[b][0] for b in buckets]),
                    (str(tr("redeemed")), [by_bucket[b][1] for b in buckets]),
                    (str(tr("expired")), [by_bucket[b][2] for b in buckets]),
                ],
            ),
            Table(
                [
                    str(tr("Period")),
                    str(tr("Issued")),
                    str(tr("Redeemed")),
                    str(tr("Expired")),
                    str(tr("Adjusted")),
                ],
                [[b, *(number(v) for v in by_bucket[b])] for b in buckets],
                ["period", "issued", "redeemed", "expired", "adjusted"],
                [[b, *by_bucket[b]] for b in buckets],
            ),
        )
    )
    retention = k["retention"]
    charts.append(
        Chart(
            "active",
            str(tr("Active members, retention and churn by month")),
            bar_chart(
                "chart-active",
                str(tr("Members with a purchase, by month")),
                str(tr("One bar per month: the members who bought that month.")),
                [r["month"] for r in retention],
                [(str(tr("active members")), [r["active"] for r in retention])],
            ),
            Table(
                [
                    str(tr("Month")),
                    str(tr("Active")),
                    str(tr("Active the month before")),
                    str(tr("Still active")),
                    str(tr("Retention (CRR)")),
                    str(tr("Churn")),
                ],
                [
                    [
                        r["month"],
                        number(r["active"]),
                        number(r["previous"]),
                        number(r["retained"]),
                        _share(r["crr"]),
                        _share(r["churn"]),
                    ]
                    for r in retention
                ],
                ["month", "active", "previous", "retained", "crr", "churn"],
                [
                    [r["month"], r["active"], r["previous"], r["retained"], r["crr"], r["churn"]]
                    for r in retention
                ],
            ),
        )
    )
    cohorts = k["cohorts"]
    width = max((len(c["shares"]) for c in cohorts), default=0)
    charts.append(
        Chart(
            "cohorts",
            str(tr("Cohort retention by month of enrolment")),
            heat_map(
                "chart-cohorts",
                str(tr("Cohort retention heat map")),
                str(
                    tr(
                        "A row per month of enrolment, a cell per month since: the share of the "
                        "cohort that bought that month; darker is more."
                    )
                ),
                [c["cohort"] for c in cohorts],
                [c["shares"] for c in cohorts],
            )
            if cohorts
            else None,
            Table(
                [
                    str(tr("Cohort")),
                    str(tr("Members")),
                    *(f"+{i}" for i in range(width)),
                    str(tr("12-month value per member")),
                ],
                [
                    [
                        c["cohort"],
                        number(c["members"]),
                        *(_share(s) for s in c["shares"]),
                        *([""] * (width - len(c["shares"]))),
                        m(c["clv_12_minor"]),
                    ]
                    for c in cohorts
                ],
                ["cohort", "members", *(f"m{i}" for i in range(width)), "clv_12_minor"],
                [
                    [
                        c["cohort"],
                        c["members"],
                        *c["shares"],
                        *([None] * (width - len(c["shares"]))),
                        c["clv_12_minor"],
                    ]
                    for c in cohorts
                ],
            ),
        )
    )
    budget = k["budget"]
    charts.append(
        Chart(
            "budget",
            str(tr("Program cost against the budget cap")),
            bar_chart(
                "chart-budget",
                str(tr("Program cost as a share of turnover, by month")),
                str(
                    tr(
                        "One bar per month: the points issued at their value as a percentage "
                        "of turnover; the dashed mark is the cap."
                    )
                ),
                [b["month"] for b in budget],
                [(str(tr("cost, % of turnover")), [(b["share"] or 0) * 100 for b in budget])],
                limit=[None if b["cap_bp"] is None else b["cap_bp"] / 100 for b in budget],
                fmt="{:,.1f}%",
            ),
            Table(
                [
                    str(tr("Month")),
                    str(tr("Cost")),
                    str(tr("Turnover")),
                    str(tr("Share")),
                    str(tr("Cap")),
                    str(tr("Over the cap")),
                ],
                [
                    [
                        b["month"],
                        m(b["cost_minor"]),
                        m(b["turnover_minor"]),
                        _share(b["share"]),
                        "—" if b["cap_bp"] is None else f"{b['cap_bp'] / 100:.2f} %",
                        str(tr("yes")) if b["over_cap"] else str(tr("no")),
                    ]
                    for b in budget
                ],
                ["month", "cost_minor", "turnover_minor", "share", "cap_bp", "over_cap"],
                [
                    [
                        b["month"],
                        b["cost_minor"],
                        b["turnover_minor"],
                        b["share"],
                        b["cap_bp"],
                        b["over_cap"],
                    ]
                    for b in budget
                ],
            ),
        )
    )
    rules = k["rules"]
    charts.append(
        Chart(
            "rules",
            str(tr("Points and cost by rule")),
            None,
            Table(
                [str(tr("Rule")), str(tr("Points")), str(tr("Awards")), str(tr("Cost"))],
                [
                    [r["rule_id"], number(r["points"]), number(r["awards"]), m(r["cost_minor"])]
                    for r in rules
                ],
                ["rule_id", "points", "awards", "cost_minor"],
                [[r["rule_id"], r["points"], r["awards"], r["cost_minor"]] for r in rules],
            ),
        )
    )
    return charts


def _campaigns(report: CampaignReport) -> Chart:
    """The campaigns' points and cost as a table."""
    cur = report["currency"]
    rows = report["campaigns"]
    return Chart(
        "campaigns",
        str(tr("Points and cost by campaign")),
        None,
        Table(
            [
                str(tr("Campaign")),
                str(tr("Rules")),
                str(tr("Points")),
                str(tr("Awards")),
                str(tr("Cost")),
            ],
            [
                [
                    c["campaign"],
                    ", ".join(c["rules"]),
                    number(c["points"]),
                    number(c["awards"]),
                    money(f"{c['cost_minor'] / 100:.2f}", cur),
                ]
                for c in rows
            ],
            ["campaign", "rules", "points", "awards", "cost_minor"],
            [
                [c["campaign"], " ".join(c["rules"]), c["points"], c["awards"], c["cost_minor"]]
                for c in rows
            ],
        ),
    )


def _pilots(report: PilotReport) -> Chart:
    """The pilots' returns as a table (no drawing: a few rows of figures with intervals)."""
    cur = report["currency"]

    def m(minor: float | None) -> str:
        return "—" if minor is None else money(f"{minor / 100:.2f}", cur)

    def between(low: str, high: str) -> str:
        return str(tr("%(low)s to %(high)s", low=low, high=high))

    rows = report["pilots"]
    return Chart(
        "pilots",
        str(tr("Pilots and their return")),
        None,
        Table(
            [
                str(tr("Rule")),
                str(tr("Share of members")),
                str(tr("Members in the pilot")),
                str(tr("Control group")),
                str(tr("Spent per member, pilot")),
                str(tr("Spent per member, control")),
                str(tr("Extra per member (95-percent interval)")),
                str(tr("Incremental revenue")),
                str(tr("Points cost")),
                str(tr("ROI (95-percent interval)")),
                str(tr("Groups large enough")),
            ],
            [
                [
                    p["rule_id"],
                    _share(p["share_percent"] / 100),
                    number(p["pilot"]["members"]),
                    number(p["control"]["members"]),
                    m(p["pilot"]["mean_minor"]),
                    m(p["control"]["mean_minor"]),
                    f"{m(p['uplift_minor'])} ({between(m(p['uplift_low']), m(p['uplift_high']))})",
                    m(p["incremental_revenue_minor"]),
                    m(p["cost_minor"]),
                    f"{_share(p['roi'])} ({between(_share(p['roi_low']), _share(p['roi_high']))})",
                    str(tr("yes")) if p["reliable"] else str(tr("no")),
                ]
                for p in rows
            ],
            [
                "rule_id",
                "share_percent",
                "pilot_members",
                "control_members",
                "pilot_mean_minor",
                "control_mean_minor",
                "uplift_minor",
                "uplift_low",
                "uplift_high",
                "incremental_revenue_minor",
                "points",
                "cost_minor",
                "roi",
                "roi_low",
                "roi_high",
                "reliable",
            ],
            [
                [
                    p["rule_id"],
                    p["share_percent"],
                    p["pilot"]["members"],
                    p["control"]["members"],
                    p["pilot"]["mean_minor"],
                    p["control"]["mean_minor"],
                    p["uplift_minor"],
                    p["uplift_low"],
                    p["uplift_high"],
                    p["incremental_revenue_minor"],
                    p["points"],
                    p["cost_minor"],
                    p["roi"],
                    p["roi_low"],
                    p["roi_high"],
                    int(p["reliable"]),
                ]
                for p in rows
            ],
        ),
    )


def _figures(k: Kpis) -> list[tuple[str, str]]:
    """The range's KPIs as (words, value) pairs in the page's language."""
    t = k["totals"]
    cur = k["currency"]

    def m(minor: int | None) -> str:
        return "—" if minor is None else money(f"{minor / 100:.2f}", cur)

    def n(v: int) -> str:
        return number(v)

    def f(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}"

    return [
        (str(tr("Points issued")), n(t["issued"])),
        (str(tr("Points redeemed")), n(t["redeemed"])),
        (str(tr("Points expired")), n(t["expired"])),
        (str(tr("Redemption rate")), _share(t["redemption_rate"])),
        (str(tr("Breakage rate")), _share(t["breakage_rate"])),
        (str(tr("Outstanding points")), n(t["liability_points"])),
        (str(tr("Outstanding liability")), m(t["liability_minor"])),
        (str(tr("Liability net of expected breakage")), m(t["liability_net_minor"])),
        (str(tr("Purchases by members")), n(t["purchases"])),
        (str(tr("Purchase frequency")), f(t["purchase_frequency"])),
        (str(tr("Repeat purchase rate")), _share(t["repeat_purchase_rate"])),
        (str(tr("Average check, members")), m(t["average_check_member_minor"])),
        (str(tr("Average check, non-members")), m(t["average_check_guest_minor"])),
        (
            str(tr("Active members (%(days)s days)", days=k["active_days"])),
            f"{n(t['active_members'])} ({_share(t['active_share'])})",
        ),
        (str(tr("New members")), n(t["new_members"])),
        (str(tr("Program cost")), m(t["cost_minor"])),
        (str(tr("Cost, share of turnover")), _share(t["cost_share"])),
        (str(tr("12-month value per member")), m(t["clv_12_minor"])),
    ]


def _csv(table: Table, filename: str) -> StreamingResponse:
    import csv
    import io

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(table.csv_columns)
        for row in table.csv_rows:
            writer.writerow(["" if v is None else cell(v) for v in row])
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def analytics_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/admin", route_class=WebRoute, include_in_schema=False)
    ctx = console.ctx

    def charts(op: Any, kpis: Kpis, params: dict[str, str]) -> list[Chart]:
        days = parse_range(params["from"], params["to"], local_day(ctx.now(), op.program.timezone))
        return [
            *_charts(kpis),
            _campaigns(campaign_svc.campaign_costs(ctx, op.program, days)),
            _pilots(pilot_svc.pilot_returns(ctx, op.program, days)),
        ]

    def read(request: Request) -> tuple[Any, Kpis, dict[str, str]]:
        op = console.operator(request)
        op.require(Permission.ANALYTICS_READ)
        q = request.query_params
        program = op.program
        days = parse_range(
            q.get("from") or None, q.get("to") or None, local_day(ctx.now(), program.timezone)
        )
        grain = _choice(Grain, q.get("grain") or "month", "grain")
        by = _choice(Dimension, q.get("by") or "none", "by")
        kpis = analytics_svc.kpis(ctx, program, analytics_svc.KpiQuery(days, grain, by))
        params = {
            "from": days.start.isoformat(),
            "to": days.end.isoformat(),
            "grain": grain.value,
            "by": by.value,
        }
        return op, kpis, params

    @router.get("/analytics")
    def dashboard(request: Request) -> Response:
        op, kpis, params = read(request)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        warn = [b for b in kpis["budget"] if b["over_cap"]]
        return console.page(
            op,
            "admin_analytics.html",
            kpis=kpis,
            params=params,
            start=params["from"],
            end=params["to"],
            broken_down=params["by"] != Dimension.NONE.value,
            formats=[("csv", "CSV"), ("parquet", "Parquet")],
            query=query,
            figures=_figures(kpis),
            charts=charts(op, kpis, params),
            over_cap=warn,
            grains=[(code, str(tr(word))) for code, word in GRAINS.items()],
            dimensions=[(code, str(tr(word))) for code, word in DIMENSIONS.items()],
            datasets=[(code, str(tr(word))) for code, word in DATASETS.items()],
            can_export=op.can(Permission.ANALYTICS_EXPORT),
            personal=sees_personal_data(op.key.role),
            nav="analytics",
        )

    @router.get("/analytics/{chart}.csv")
    def chart_csv(request: Request, chart: Annotated[str, Path(max_length=40)]) -> Response:
        if chart not in CHARTS:
            raise ValidationError(str(tr("unknown chart")), field="chart")
        op, kpis, params = read(request)
        table = next(c.table for c in charts(op, kpis, params) if c.id == chart)
        return _csv(table, f"{kpis['program']}-{chart}-{params['from']}-{params['to']}.csv")

    @router.get("/analytics/export")
    def export(request: Request) -> Response:
        op = console.operator(request)
        op.require(Permission.ANALYTICS_EXPORT)
        q = request.query_params
        program = op.program
        personal = q.get("personal_data") == "1"
        if personal and not sees_personal_data(op.key.role):
            raise PermissionDenied(str(tr("Your role may not export members' personal data.")))
        days = parse_range(
            q.get("from") or None, q.get("to") or None, local_day(ctx.now(), program.timezone)
        )
        fmt = _choice(exports_svc.ExportFormat, q.get("format") or "csv", "format")
        query = exports_svc.ExportQuery(q.get("dataset") or "", days, fmt, personal)
        media = (
            "text/csv; charset=utf-8"
            if fmt is exports_svc.ExportFormat.CSV
            else "application/vnd.apache.parquet"
        )
        return StreamingResponse(
            exports_svc.export_chunks(ctx, program, query),
            media_type=media,
            headers={
                "Content-Disposition": f'attachment; filename="{query.filename(program)}"',
                "Cache-Control": "no-store",
            },
        )

    return router


def _choice(kind: Callable[[str], Any], value: str, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ValidationError(
            str(tr("%(value)s is not a choice here", value=value)), field=field
        ) from None
