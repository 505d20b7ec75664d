"""Set-based expiry of many lots at once (the whole-database expiry sweep).

The same movement as ``kopilka.ledger.sweeps.SweepOps._expire`` performs lot by lot,
written as a handful of INSERT ... SELECT / UPDATE statements over a temporary table of
the due lots, so a sweep costs a few statements per batch of members instead of several
per lot. The caller has locked the members' balance rows first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from kopilka.store.types import UTCDateTime

_CREATE = {
    "postgresql": (
        "CREATE TEMP TABLE IF NOT EXISTS kopilka_due "
        "(lot_id BIGINT PRIMARY KEY, member_id BIGINT NOT NULL, amount BIGINT NOT NULL, "
        "active BOOLEAN NOT NULL)",
        "CREATE TEMP TABLE IF NOT EXISTS kopilka_due_entries "
        "(member_id BIGINT PRIMARY KEY, entry_id BIGINT NOT NULL)",
    ),
    "sqlite": (
        "CREATE TEMP TABLE IF NOT EXISTS kopilka_due "
        "(lot_id INTEGER PRIMARY KEY, member_id INTEGER NOT NULL, amount INTEGER NOT NULL, "
        "active INTEGER NOT NULL)",
        "CREATE TEMP TABLE IF NOT EXISTS kopilka_due_entries "
        "(member_id INTEGER PRIMARY KEY, entry_id INTEGER NOT NULL)",
    ),
}
_INDEX = "CREATE INDEX IF NOT EXISTS kopilka_due_member ON kopilka_due (member_id, active)"

_SELECT_DUE = text(
    "INSERT INTO kopilka_due (lot_id, member_id, amount, active) "
    "SELECT id, member_id, remaining, activated_at IS NOT NULL FROM lots "
    "WHERE program_id = :p AND member_id IN :members AND expired_at IS NULL "
    "AND remaining > 0 AND expires_at <= :t"
).bindparams(bindparam("members", expanding=True), bindparam("t", type_=UTCDateTime()))

_ENTRIES = text(
    "INSERT INTO journal_entries (program_id, member_id, kind, points, occurred_at) "
    "SELECT :p, member_id, 'expire', SUM(amount), :t FROM kopilka_due "
    "GROUP BY member_id ORDER BY member_id RETURNING member_id, id"
).bindparams(bindparam("t", type_=UTCDateTime()))
_DRAWS = text(
    "INSERT INTO lot_draws (lot_id, entry_id, kind, amount) "
    "SELECT d.lot_id, e.entry_id, 'expire', d.amount FROM kopilka_due d "
    "JOIN kopilka_due_entries e ON e.member_id = d.member_id ORDER BY d.lot_id"
)
_MEMBER_POSTINGS = text(
    "INSERT INTO postings (entry_id, program_id, account, member_id, amount) "
    "SELECT e.entry_id, :p, CASE WHEN d.active THEN 'available' ELSE 'pending' END, "
    "d.member_id, -SUM(d.amount) FROM kopilka_due d "
    "JOIN kopilka_due_entries e ON e.member_id = d.member_id "
    "GROUP BY e.entry_id, d.member_id, d.active"
)
_BREAKAGE_POSTINGS = text(
    "INSERT INTO postings (entry_id, program_id, account, member_id, amount) "
    "SELECT e.entry_id, :p, 'breakage', NULL, SUM(d.amount) FROM kopilka_due d "
    "JOIN kopilka_due_entries e ON e.member_id = d.member_id GROUP BY e.entry_id"
)
_LOTS = text(
    "UPDATE lots SET remaining = 0, expired_at = :t WHERE id IN (SELECT lot_id FROM kopilka_due)"
).bindparams(bindparam("t", type_=UTCDateTime()))
_BALANCES = text(
    "UPDATE member_balances SET available = available - s.active_points, "
    "pending = pending - s.pending_points FROM ("
    "  SELECT member_id, "
    "  SUM(CASE WHEN active THEN amount ELSE 0 END) AS active_points, "
    "  SUM(CASE WHEN active THEN 0 ELSE amount END) AS pending_points "
    "  FROM kopilka_due GROUP BY member_id) AS s "
    "WHERE member_balances.member_id = s.member_id"
)
# PostgreSQL keeps the new entry ids server-side in one statement; SQLite has no
# data-modifying CTE, so its ids come back to Python and go into the temp table
_ENTRIES_PG = text(
    "WITH e AS (INSERT INTO journal_entries (program_id, member_id, kind, points, occurred_at) "
    "SELECT :p, member_id, 'expire', SUM(amount), :t FROM kopilka_due "
    "GROUP BY member_id ORDER BY member_id RETURNING member_id, id) "
    "INSERT INTO kopilka_due_entries (member_id, entry_id) SELECT member_id, id FROM e"
).bindparams(bindparam("t", type_=UTCDateTime()))


def expire_lots(
    conn: Connection, program_id: int, as_of: datetime, member_ids: Sequence[int]
) -> tuple[int, int]:
    """Expire every due lot of the (locked) members; returns (lots, points) expired."""
    for statement in _CREATE[conn.dialect.name]:
        conn.exec_driver_sql(statement)
    conn.exec_driver_sql(_INDEX)
    conn.exec_driver_sql("DELETE FROM kopilka_due")
    conn.exec_driver_sql("DELETE FROM kopilka_due_entries")
    params: dict[str, Any] = {"p": program_id, "t": as_of, "members": list(member_ids)}
    lots = conn.execute(_SELECT_DUE, params).rowcount
    if not lots:
        return 0, 0
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE kopilka_due")
        conn.execute(_ENTRIES_PG, params)
    else:
        entries = [{"m": m, "e": e} for m, e in conn.execute(_ENTRIES, params)]
        conn.execute(text("INSERT INTO kopilka_due_entries VALUES (:m, :e)"), entries)
    conn.execute(_DRAWS)
    conn.execute(_MEMBER_POSTINGS, params)
    conn.execute(_BREAKAGE_POSTINGS, params)
    conn.execute(_LOTS, params)
    conn.execute(_BALANCES)
    points = conn.execute(text("SELECT COALESCE(SUM(amount), 0) FROM kopilka_due")).scalar_one()
    return lots, int(points)
