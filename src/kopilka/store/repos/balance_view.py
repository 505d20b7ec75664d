"""Read queries behind a member's balance screen: pending lots, coming expiries, holds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from kopilka.ledger.model import Hold, HoldStatus
from kopilka.store.repos.ledger import HOLD_COLUMNS, _hold
from kopilka.store.tables import LOT_HAS_POINTS, holds, lots


class BalanceViewRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def pending(self, member_id: int, limit: int) -> list[tuple[datetime, int]]:
        """Points not yet active, summed by the instant they become available."""
        c = lots.c
        q = (
            select(c.available_at, func.sum(c.remaining))
            .where(
                c.member_id == member_id,
                c.activated_at.is_(None),
                c.expired_at.is_(None),
                LOT_HAS_POINTS,
            )
            .group_by(c.available_at)
            .order_by(c.available_at)
            .limit(limit)
        )
        return [(at, int(points)) for at, points in self.conn.execute(q)]

    def expiring(self, member_id: int, after: datetime, limit: int) -> list[tuple[datetime, int]]:
        """Points left in lots that will expire after ``after``, summed by expiry instant."""
        c = lots.c
        q = (
            select(c.expires_at, func.sum(c.remaining))
            .where(
                c.member_id == member_id,
                c.expired_at.is_(None),
                LOT_HAS_POINTS,
                c.expires_at.is_not(None),
                c.expires_at > after,
            )
            .group_by(c.expires_at)
            .order_by(c.expires_at)
            .limit(limit)
        )
        return [(at, int(points)) for at, points in self.conn.execute(q)]

    def hold(self, program_id: int, hold_id: int) -> Hold | None:
        """A hold of this program (``None`` for another program's hold)."""
        row = self.conn.execute(
            select(*HOLD_COLUMNS).where(holds.c.id == hold_id, holds.c.program_id == program_id)
        ).first()
        return _hold(row) if row else None

    def active_holds(self, program_id: int, member_id: int, limit: int) -> list[Hold]:
        """The member's active holds, newest first (``ix_holds_member``)."""
        c = holds.c
        q = (
            select(*HOLD_COLUMNS)
            .where(
                c.member_id == member_id,
                c.status == HoldStatus.ACTIVE.value,
                c.program_id == program_id,
            )
            .order_by(c.id.desc())
            .limit(limit)
        )
        return [_hold(row) for row in self.conn.execute(q)]
