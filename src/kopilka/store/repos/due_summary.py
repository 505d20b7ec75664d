"""What the time-driven sweeps would do as of an instant, read without writing
(``kopilka expire --dry-run``).

The same selections as the sweeps make (``LedgerRepo.due_holds``, ``due_activation``,
``due_expiry`` and the set-based expiry of ``bulk_expiry``), counted and summed in three
reads. A hold that times out gives its points back to lots, which may then be due to
expire as well: those points are counted by the real sweep, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func, select

from kopilka.ledger.model import HoldStatus
from kopilka.store.tables import LOT_HAS_POINTS, holds, lots


@dataclass(frozen=True)
class Due:
    """How many holds or lots a sweep would handle, their points, and whose they are."""

    count: int
    points: int
    members: int


def _due(
    conn: Connection, table: Table, amount: ColumnElement[Any], *where: ColumnElement[bool]
) -> Due:
    row = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(amount), 0),
            func.count(func.distinct(table.c.member_id)),
        ).where(*where)
    ).one()
    return Due(int(row[0]), int(row[1]), int(row[2]))


def due_summary(conn: Connection, program_id: int, as_of: datetime) -> dict[str, Due]:
    """Per sweep (``expire_holds``, ``activate_due``, ``expire_due``), what is due at
    ``as_of`` in the program: read only, nothing is locked or written."""
    return {
        "expire_holds": _due(
            conn,
            holds,
            holds.c.amount,
            holds.c.program_id == program_id,
            holds.c.status == HoldStatus.ACTIVE.value,
            holds.c.expires_at <= as_of,
        ),
        "activate_due": _due(
            conn,
            lots,
            lots.c.remaining,
            lots.c.program_id == program_id,
            lots.c.activated_at.is_(None),
            lots.c.expired_at.is_(None),
            lots.c.available_at <= as_of,
        ),
        "expire_due": _due(
            conn,
            lots,
            lots.c.remaining,
            lots.c.program_id == program_id,
            lots.c.expired_at.is_(None),
            LOT_HAS_POINTS,
            lots.c.expires_at <= as_of,
        ),
    }
