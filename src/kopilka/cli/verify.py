"""``kopilka verify``: prove the ledger invariants over the whole database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from kopilka.cli.errors import EXIT_VIOLATIONS
from kopilka.cli.runtime import console, err_console, kopilka, print_json
from kopilka.cli.selectors import Json
from kopilka.ledger.verify import CHECKS, CheckResult, VerifyReport
from kopilka.services import audit, ledger_reports
from kopilka.services import programs as program_svc

# the totals worth a line each, in the order an accountant reads them
TOTALS = (
    ("liability", "liability (sum of member balances)"),
    ("issued", "issued"),
    ("redeemed", "redeemed"),
    ("breakage", "breakage (expired)"),
    ("adjustments", "adjustments"),
    ("available", "available"),
    ("pending", "pending"),
    ("held", "held"),
    ("members", "members"),
    ("entries", "journal entries"),
    ("lots", "lots"),
)


def print_report(report: VerifyReport, scope: str) -> None:
    """The checks as a table, then the totals, then the verdict."""
    out = console()
    table = Table("check", "result", "violations", "what it proves", title=f"verify: {scope}")
    for c in report.checks:
        table.add_row(
            c.name,
            "[green]ok[/]" if c.ok else "[red]FAIL[/]",
            str(c.violations),
            c.description + "".join(f"\n  [red]{s}[/]" for s in c.samples),
        )
    out.print(table)
    totals = Table("total", "points", title="totals")
    for key, label in TOTALS:
        if key in report.totals:
            # program accounts hold the other side: show them as positive amounts
            value = report.totals[key]
            shown = -value if key in ("issued", "adjustments") else value
            totals.add_row(label, f"{shown:,}")
    out.print(totals)
    if report.ok:
        out.print(f"[green]ledger verified: all {len(CHECKS)} checks hold[/]")
    else:
        failed = sum(not c.ok for c in report.checks)
        err_console().print(f"[red]ledger NOT verified: {failed} check(s) failed[/]")


def stored_as_report(stored: ledger_reports.StoredVerifyReport) -> VerifyReport:
    """The stored report in the form the command prints (the same checks and totals)."""
    checks = [
        CheckResult(c["name"], c["description"], c["violations"], list(c["samples"]))
        for c in stored["checks"]
    ]
    return VerifyReport(checks, dict(stored["totals"]))


def verify(
    program_code: Annotated[
        str | None,
        typer.Option("--program", "-p", help="Only this program (code or id); default: all."),
    ] = None,
    json_out: Json = False,
) -> None:
    """Recompute every balance from the journal; exit 1 if any invariant is broken. With
    --program the report is also stored, as the worker's verify job stores it: the
    console's verify page shows it."""
    with kopilka() as k:
        if program_code:
            program = program_svc.get_program(k.services, program_code)
            report = stored_as_report(ledger_reports.check_ledger(k.services, program, "cli"))
        else:
            report = audit.verify_ledger(k.services, None)
    if json_out:
        print_json(report.to_dict())
    else:
        print_report(report, program_code or "all programs")
    if not report.ok:
        raise typer.Exit(EXIT_VIOLATIONS)
