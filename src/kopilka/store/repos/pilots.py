"""What a pilot's return is computed from: the members enrolled by the end of a period and
what each spent in it (the purchases' totals, read by the program-and-time index)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from kopilka.store.tables import members, purchases


class PilotRepo:
    """Reads for :mod:`kopilka.services.pilot_roi`."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def members_enrolled_before(self, program_id: int, before: datetime) -> list[int]:
        """The ids of the program's members enrolled before ``before``."""
        m = members.c
        q = select(m.id).where(m.program_id == program_id, m.enrolled_at < before)
        return [int(i) for i in self.conn.execute(q).scalars()]

    def spending(self, program_id: int, lo: datetime, hi: datetime) -> dict[int, int]:
        """Each member's purchases' totals (minor units) in ``[lo, hi)``; members without a
        purchase there are left out."""
        p = purchases.c
        q = (
            select(p.member_id, func.sum(p.total_minor))
            .where(p.program_id == program_id, p.occurred_at >= lo, p.occurred_at < hi)
            .group_by(p.member_id)
        )
        return {int(m): int(s or 0) for m, s in self.conn.execute(q)}
