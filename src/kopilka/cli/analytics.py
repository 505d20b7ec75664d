"""``kopilka analytics``: rebuild the rollups from the journal, read the KPIs, the
pilots' returns and the campaigns' costs, set the budget cap, record guest receipts from a
CSV, and export data for BI."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from kopilka.cli.progress import progress_bar
from kopilka.cli.runtime import console, kopilka, parse_instant, print_json
from kopilka.cli.selectors import Json, ProgramCode
from kopilka.domain.analytics import DateRange, Dimension, Grain, local_day, parse_range
from kopilka.domain.errors import ValidationError
from kopilka.domain.money import format_money, parse_money
from kopilka.domain.program import Program
from kopilka.services import analytics as analytics_svc
from kopilka.services import campaigns as campaign_svc
from kopilka.services import exports as exports_svc
from kopilka.services import pilot_roi as pilot_svc
from kopilka.services import programs as program_svc
from kopilka.services.context import ServiceContext

app = typer.Typer(
    help="Analytics: rollups, KPIs, the budget cap and exports for BI.", no_args_is_help=True
)

From = Annotated[str | None, typer.Option("--from", help="First local day, YYYY-MM-DD (included).")]
To = Annotated[str | None, typer.Option("--to", help="Last local day, YYYY-MM-DD (included).")]
T = TypeVar("T")


def _of_range(
    program_code: str,
    start: str | None,
    end: str | None,
    read: Callable[[ServiceContext, Program, DateRange], T],
) -> T:
    """What ``read`` answers for the program and its local days ``start`` to ``end``
    (default: the last 30 days in the program's zone)."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        days = parse_range(start, end, local_day(k.services.now(), program.timezone))
        return read(k.services, program, days)


@app.command()
def rebuild(
    program_code: ProgramCode, start: From = None, end: To = None, json_out: Json = False
) -> None:
    """Rebuild the rollups from the journal and the purchases: all of them, or the days
    from --from to --to (and their whole months' member activity)."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        days: DateRange | None = None
        if start or end:
            days = parse_range(start, end, local_day(k.services.now(), program.timezone))
        with progress_bar("rebuilding analytics", analytics_svc.REBUILD_STEPS) as advance:
            report = analytics_svc.rebuild(k.services, program, days, tick=advance)
    if json_out:
        print_json(report)
        return
    console().print(
        f"program {report['program']}: rebuilt {report['days']:,} days "
        f"({report['purchases']:,} purchases)"
    )


@app.command()
def refresh(program_code: ProgramCode, json_out: Json = False) -> None:
    """Add what is new to the rollups now (what the worker's ``analytics`` job does)."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        report = analytics_svc.refresh(k.services, program)
    if json_out:
        print_json(report)
        return
    console().print(
        f"program {report['program']}: {report['entries']:,} entries and "
        f"{report['purchases']:,} purchases added, {report['days']:,} days recomputed"
    )


@app.command()
def kpis(
    program_code: ProgramCode,
    start: From = None,
    end: To = None,
    grain: Annotated[Grain, typer.Option(help="Buckets of the series.")] = Grain.MONTH,
    by: Annotated[Dimension, typer.Option(help="Break the series down by.")] = Dimension.NONE,
    json_out: Json = False,
) -> None:
    """The KPIs of a range of local days (default: the last 30), as docs/analytics.md
    defines them."""
    result = _of_range(
        program_code,
        start,
        end,
        lambda ctx, program, days: analytics_svc.kpis(
            ctx, program, analytics_svc.KpiQuery(days, grain, by)
        ),
    )
    if json_out:
        print_json(result)
        return
    out = console()
    out.print(
        f"program {result['program']}, {result['start']} to {result['end']} ({result['timezone']})"
    )
    for name, value in result["totals"].items():
        out.print(f"  {name}: {value if value is not None else '-'}")


@app.command()
def pilots(
    program_code: ProgramCode, start: From = None, end: To = None, json_out: Json = False
) -> None:
    """Each pilot's return over a range of local days (default: the last 30): the pilot's
    members' extra spending against its control group's, the points' cost and the ROI,
    with 95 % confidence intervals (docs/analytics.md)."""
    report = _of_range(program_code, start, end, pilot_svc.pilot_returns)
    if json_out:
        print_json(report)
        return
    out = console()
    out.print(f"program {report['program']}, {report['from_day']} to {report['to_day']}")
    if not report["pilots"]:
        out.print("no pilot with a share of the members in force in this range")
        return
    money = report["currency"]

    def cash(minor: float | None) -> str:
        return "-" if minor is None else format_money(round(minor), money)

    def share(x: float | None) -> str:
        return "-" if x is None else f"{x:.0%}"

    table = Table(
        "rule",
        "share",
        "members",
        "control",
        "uplift/member",
        "incremental",
        "cost",
        "ROI",
        "95 % interval",
        "reliable",
    )
    for p in report["pilots"]:
        table.add_row(
            p["rule_id"],
            f"{p['share_percent']:g} %",
            str(p["pilot"]["members"]),
            str(p["control"]["members"]),
            cash(p["uplift_minor"]),
            cash(p["incremental_revenue_minor"]),
            cash(p["cost_minor"]),
            share(p["roi"]),
            f"{share(p['roi_low'])} .. {share(p['roi_high'])}",
            "yes" if p["reliable"] else "no",
        )
    out.print(table)


@app.command()
def campaigns(
    program_code: ProgramCode, start: From = None, end: To = None, json_out: Json = False
) -> None:
    """Each campaign's points, awards and cost over a range of local days (default: the
    last 30): the rules sharing a ``campaign:`` code in the rules document, added up."""
    report = _of_range(program_code, start, end, campaign_svc.campaign_costs)
    if json_out:
        print_json(report)
        return
    out = console()
    out.print(f"program {report['program']}, {report['from_day']} to {report['to_day']}")
    if not report["campaigns"]:
        out.print("no rule names a campaign in this range")
        return
    table = Table("campaign", "rules", "points", "awards", "cost")
    for c in report["campaigns"]:
        table.add_row(
            c["campaign"],
            ", ".join(c["rules"]),
            f"{c['points']:,}",
            f"{c['awards']:,}",
            format_money(c["cost_minor"], report["currency"]),
        )
    out.print(table)


@app.command()
def budget(
    program_code: ProgramCode,
    cap: Annotated[
        str | None,
        typer.Option(
            help="Monthly cap of the program's cost, % of turnover (e.g. 3.5); 'none' removes it."
        ),
    ] = None,
    active_days: Annotated[
        int | None, typer.Option(help="Days without a purchase before a member is inactive.")
    ] = None,
    json_out: Json = False,
) -> None:
    """Show or set the program's budget cap and active days."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        current = analytics_svc.get_settings(k.services, program)
        if cap is not None or active_days is not None:
            cap_bp = current["budget_cap_bp"]
            if cap is not None:
                cap_bp = None if cap.strip().lower() == "none" else _basis_points(cap)
            current = analytics_svc.set_settings(
                k.services,
                program,
                analytics_svc.SetAnalyticsSettings(
                    cap_bp, active_days if active_days is not None else current["active_days"]
                ),
            )
    if json_out:
        print_json(current)
        return
    shown = "none" if current["budget_cap_bp"] is None else f"{current['budget_cap_bp'] / 100}%"
    console().print(f"budget cap: {shown}; active days: {current['active_days']}")


def _basis_points(text: str) -> int:
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip().rstrip("%"))
    except InvalidOperation:
        raise ValidationError("the cap is a percentage, e.g. 3.5", field="cap") from None
    bp = value * 100
    if bp != bp.to_integral_value():
        raise ValidationError("the cap has at most two decimals", field="cap")
    return int(bp)


@app.command("guest-receipts")
def guest_receipts(
    program_code: ProgramCode,
    path: Annotated[Path, typer.Argument(help="CSV: receipt_id,occurred_at,total[,store,channel]")],
    json_out: Json = False,
) -> None:
    """Record receipts without a member from a CSV (a store's turnover for the average
    check of non-members): every row is checked before any is written."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        commands = []
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"receipt_id", "occurred_at", "total"} - set(reader.fieldnames or ())
            if missing:
                raise ValidationError(
                    f"the CSV lacks columns: {', '.join(sorted(missing))}", field="columns"
                )
            for n, row in enumerate(reader, start=2):
                try:
                    at = parse_instant(row["occurred_at"], "occurred_at")
                    assert at is not None
                    commands.append(
                        analytics_svc.RecordGuestReceipt(
                            row["receipt_id"].strip(),
                            at,
                            parse_money(row["total"], program.currency),
                            (row.get("store") or "").strip() or None,
                            (row.get("channel") or "").strip() or None,
                        )
                    )
                except ValidationError as exc:
                    raise ValidationError(
                        f"line {n}: {exc.message}", field=exc.details.get("field", "row")
                    ) from None
        recorded = 0
        with progress_bar("recording receipts", len(commands)) as advance:
            for command in commands:
                recorded += analytics_svc.record_guest_receipt(k.services, program, command)[
                    "recorded"
                ]
                advance(1)
    result = {"rows": len(commands), "recorded": recorded}
    if json_out:
        print_json(result)
        return
    console().print(
        f"{recorded:,} of {len(commands):,} receipts recorded (the others were recorded before)"
    )


@app.command()
def export(
    program_code: ProgramCode,
    dataset: Annotated[str, typer.Argument(help="purchases, lines, awards, entries or members")],
    start: From = None,
    end: To = None,
    fmt: Annotated[
        exports_svc.ExportFormat, typer.Option("--format", help="csv or parquet")
    ] = exports_svc.ExportFormat.CSV,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    personal_data: Annotated[
        bool, typer.Option("--personal-data", help="Members' names, birthday and gender too.")
    ] = False,
) -> None:
    """Export a dataset of a range of local days for BI, in the layout of
    docs/analytics.md (the operator at the command line may export personal data)."""
    with kopilka() as k:
        program = program_svc.get_program(k.services, program_code)
        days = parse_range(start, end, local_day(k.services.now(), program.timezone))
        query = exports_svc.ExportQuery(dataset, days, fmt, personal_data)
        total = exports_svc.count(k.services, program, query)
        out = output.open("wb") if output else sys.stdout.buffer
        try:
            with progress_bar(f"exporting {dataset}", total) as advance:
                for chunk in exports_svc.export_chunks(k.services, program, query, advance):
                    out.write(chunk)
        finally:
            if output:
                out.close()
            else:
                out.flush()
