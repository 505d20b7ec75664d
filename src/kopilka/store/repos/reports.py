"""Stored reports: the ledger's verify reports and the programs' totals snapshots.

A report is computed in one read transaction (``consistent_snapshot``: PostgreSQL's
REPEATABLE READ, SQLite's read transaction over WAL), so its checks and figures all
describe the same state of the ledger, the one as of ``last_entry_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text, update

from kopilka.store.repos import new_id
from kopilka.store.tables import journal_entries, program_totals, verify_reports

# the reports kept per program (an hourly job keeps four days; older ones are dropped)
KEEP_REPORTS = 100


@dataclass(frozen=True, slots=True)
class VerifyReportRow:
    id: int
    program_id: int
    started_at: datetime
    checked_at: datetime
    last_entry_id: int | None
    ok: bool
    checks: list[dict[str, Any]]
    totals: dict[str, Any]
    ran_by: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class TotalsRow:
    program_id: int
    as_of: datetime
    last_entry_id: int | None
    totals: dict[str, Any]
    duration_ms: int


def consistent_snapshot(conn: Connection) -> None:
    """Make the transaction just begun on ``conn`` read one state of the database for all
    its statements (call before its first query). SQLite's read transaction already does:
    its first read fixes the WAL snapshot it sees."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))


class ReportRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def last_entry_id(self, program_id: int) -> int | None:
        """The newest journal entry of the program (what a report is "as of")."""
        # the primary key read backwards up to the program's first entry (no index by
        # program: MAX over a WHERE would read every entry)
        c = journal_entries.c
        q = select(c.id).where(c.program_id == program_id).order_by(c.id.desc()).limit(1)
        value = self.conn.execute(q).scalar_one_or_none()
        return None if value is None else int(value)

    # --- verify reports ------------------------------------------------------------------

    def add_verify_report(
        self,
        program_id: int,
        *,
        started_at: datetime,
        checked_at: datetime,
        last_entry_id: int | None,
        ok: bool,
        checks: list[dict[str, Any]],
        totals: dict[str, Any],
        ran_by: str,
        duration_ms: int,
    ) -> int:
        """Store a report and drop the program's reports beyond the newest KEEP_REPORTS."""
        report_id = new_id(
            self.conn.execute(
                insert(verify_reports).values(
                    program_id=program_id,
                    started_at=started_at,
                    checked_at=checked_at,
                    last_entry_id=last_entry_id,
                    ok=ok,
                    checks=checks,
                    totals=totals,
                    ran_by=ran_by[:128],
                    duration_ms=duration_ms,
                )
            )
        )
        c = verify_reports.c
        oldest_kept = self.conn.execute(
            select(c.id)
            .where(c.program_id == program_id)
            .order_by(c.id.desc())
            .offset(KEEP_REPORTS - 1)
            .limit(1)
        ).scalar_one_or_none()
        if oldest_kept is not None:
            self.conn.execute(
                delete(verify_reports).where(c.program_id == program_id, c.id < oldest_kept)
            )
        return report_id

    def latest_verify_report(self, program_id: int) -> VerifyReportRow | None:
        c = verify_reports.c
        r = self.conn.execute(
            select(verify_reports).where(c.program_id == program_id).order_by(c.id.desc()).limit(1)
        ).first()
        if r is None:
            return None
        return VerifyReportRow(
            id=int(r.id),
            program_id=int(r.program_id),
            started_at=r.started_at,
            checked_at=r.checked_at,
            last_entry_id=None if r.last_entry_id is None else int(r.last_entry_id),
            ok=bool(r.ok),
            checks=list(r.checks),
            totals=dict(r.totals),
            ran_by=str(r.ran_by),
            duration_ms=int(r.duration_ms),
        )

    # --- totals snapshots ----------------------------------------------------------------

    def put_totals(
        self,
        program_id: int,
        *,
        as_of: datetime,
        last_entry_id: int | None,
        totals: dict[str, Any],
        duration_ms: int,
    ) -> None:
        """Replace the program's snapshot, unless a newer one is stored already (two runs
        racing: the one that read the later state wins)."""
        c = program_totals.c
        values = {
            "as_of": as_of,
            "last_entry_id": last_entry_id,
            "totals": totals,
            "duration_ms": duration_ms,
        }
        done = self.conn.execute(
            update(program_totals)
            .where(c.program_id == program_id, c.as_of <= as_of)
            .values(**values)
        )
        if done.rowcount:
            return
        exists = self.conn.execute(select(c.program_id).where(c.program_id == program_id)).first()
        if exists is None:
            self.conn.execute(insert(program_totals).values(program_id=program_id, **values))

    def totals(self, program_id: int) -> TotalsRow | None:
        c = program_totals.c
        r = self.conn.execute(select(program_totals).where(c.program_id == program_id)).first()
        if r is None:
            return None
        return TotalsRow(
            program_id=int(r.program_id),
            as_of=r.as_of,
            last_entry_id=None if r.last_entry_id is None else int(r.last_entry_id),
            totals=dict(r.totals),
            duration_ms=int(r.duration_ms),
        )
