"""The ledger's stored reports: verifications and the overview's totals, computed by the
worker's jobs (or on demand) and read by the console's pages.

Recomputing the ledger grows with the program (15 s at a million members), and so does
summing every member's balance for the overview; a page reads the latest stored result
instead, with the time it is as of. Each is computed in one consistent read transaction,
so its figures are exact as of that time, the newest journal entry it saw named.

- ``verify``: every invariant of :mod:`kopilka.ledger.verify`, hourly by default, or now
  (the console's "Check now", ``kopilka verify --program``);
- ``totals``: the overview's figures (:class:`~kopilka.services.programs.ProgramTotals`),
  every minute.
"""

from __future__ import annotations

import time
from typing import TypedDict

from kopilka.domain.program import Program
from kopilka.ledger.verify import VerifyReport, verify
from kopilka.services.context import ServiceContext
from kopilka.services.programs import ProgramTotals, totals_from_accounts
from kopilka.store.repos.reports import (
    ReportRepo,
    TotalsRow,
    VerifyReportRow,
    consistent_snapshot,
)
from kopilka.store.repos.verification import VerificationRepo

VERIFY_JOB = "verify"
TOTALS_JOB = "totals"


class CheckView(TypedDict):
    """One invariant's result in a stored report."""

    name: str
    description: str
    ok: bool
    violations: int
    samples: list[str]


class StoredVerifyReport(TypedDict):
    """A stored verification of a program's ledger."""

    id: int
    ok: bool
    started_at: str
    checked_at: str
    last_entry_id: int | None
    checks: list[CheckView]
    failed: int
    totals: dict[str, int]
    ran_by: str
    duration_ms: int


class TotalsSnapshot(TypedDict):
    """The overview's figures, exact as of ``as_of`` (``stored``: read from the ``totals``
    job's snapshot; otherwise computed for this request, none having been stored yet)."""

    totals: ProgramTotals
    as_of: str
    last_entry_id: int | None
    stored: bool
    duration_ms: int


def _checks(report: VerifyReport) -> list[CheckView]:
    return [
        {
            "name": c.name,
            "description": c.description,
            "ok": c.ok,
            "violations": c.violations,
            "samples": list(c.samples),
        }
        for c in report.checks
    ]


def _report_view(row: VerifyReportRow) -> StoredVerifyReport:
    checks: list[CheckView] = [
        {
            "name": str(c["name"]),
            "description": str(c.get("description", "")),
            "ok": int(c["violations"]) == 0,
            "violations": int(c["violations"]),
            "samples": [str(s) for s in c.get("samples", [])],
        }
        for c in row.checks
    ]
    return {
        "id": row.id,
        "ok": row.ok,
        "started_at": row.started_at.isoformat(),
        "checked_at": row.checked_at.isoformat(),
        "last_entry_id": row.last_entry_id,
        "checks": checks,
        "failed": sum(not c["ok"] for c in checks),
        "totals": row.totals,
        "ran_by": row.ran_by,
        "duration_ms": row.duration_ms,
    }


def check_ledger(ctx: ServiceContext, program: Program, ran_by: str) -> StoredVerifyReport:
    """Verify the program's ledger now (every invariant, recomputed from the journal, in
    one consistent read) and store the report; ``ran_by`` says who asked (``job``,
    ``cli``, ``console:<actor>``)."""
    started = ctx.now()
    t0 = time.perf_counter()
    with ctx.uow(read_only=True) as uow:
        consistent_snapshot(uow.conn)
        last_entry = ReportRepo(uow.conn).last_entry_id(program.id)
        report = verify(VerificationRepo(uow.conn), program.id)
    duration_ms = round((time.perf_counter() - t0) * 1000)
    checked = ctx.now()
    with ctx.uow() as uow:
        repo = ReportRepo(uow.conn)
        repo.add_verify_report(
            program.id,
            started_at=started,
            checked_at=checked,
            last_entry_id=last_entry,
            ok=report.ok,
            checks=[dict(c) for c in _checks(report)],
            totals=report.totals,
            ran_by=ran_by,
            duration_ms=duration_ms,
        )
        stored = repo.latest_verify_report(program.id)
        uow.commit()
    assert stored is not None
    return _report_view(stored)


def latest_verify_report(ctx: ServiceContext, program: Program) -> StoredVerifyReport | None:
    """The program's newest stored verification (None: never verified yet)."""
    with ctx.uow(read_only=True) as uow:
        row = ReportRepo(uow.conn).latest_verify_report(program.id)
    return None if row is None else _report_view(row)


def _totals_view(row: TotalsRow, stored: bool) -> TotalsSnapshot:
    return {
        "totals": totals_from_accounts(row.totals),
        "as_of": row.as_of.isoformat(),
        "last_entry_id": row.last_entry_id,
        "stored": stored,
        "duration_ms": row.duration_ms,
    }


def _compute_totals(ctx: ServiceContext, program: Program) -> TotalsRow:
    t0 = time.perf_counter()
    with ctx.uow(read_only=True) as uow:
        consistent_snapshot(uow.conn)
        as_of = ctx.now()
        last_entry = ReportRepo(uow.conn).last_entry_id(program.id)
        accounts = VerificationRepo(uow.conn).totals(program.id)
    duration_ms = round((time.perf_counter() - t0) * 1000)
    return TotalsRow(program.id, as_of, last_entry, accounts, duration_ms)


def snapshot_totals(ctx: ServiceContext, program: Program) -> TotalsSnapshot:
    """Recompute the overview's figures from every balance and posting of the program (in
    one consistent read) and store them as its snapshot, as of now."""
    row = _compute_totals(ctx, program)
    with ctx.uow() as uow:
        ReportRepo(uow.conn).put_totals(
            program.id,
            as_of=row.as_of,
            last_entry_id=row.last_entry_id,
            totals=row.totals,
            duration_ms=row.duration_ms,
        )
        uow.commit()
    return _totals_view(row, stored=True)


def overview_totals(ctx: ServiceContext, program: Program) -> TotalsSnapshot:
    """The overview's figures: the stored snapshot (one row, whatever the program's size),
    or, before the ``totals`` job first ran, computed now (and not stored: a page's
    request writes nothing)."""
    with ctx.uow(read_only=True) as uow:
        row = ReportRepo(uow.conn).totals(program.id)
    if row is not None:
        return _totals_view(row, stored=True)
    return _totals_view(_compute_totals(ctx, program), stored=False)
