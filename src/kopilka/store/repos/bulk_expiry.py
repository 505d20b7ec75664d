"""Set-based expiry of many lots at once (the whole-database expiry sweep).

The same movement as ``kopilka.ledger.sweeps.SweepOps._expire`` performs lot by lot:
per member one ``expire`` entry; per lot one ``expire`` draw of what it had left, its
``remaining`` set to 0 and its ``expired_at`` to the sweep's instant; per entry one
posting per bucket the points left (``available`` for activated lots, ``pending`` for
the others) and one to ``breakage``; the balances lowered to match. On PostgreSQL it
locks the members' balance rows itself first (ascending ids, one statement with the ids
as one array); SQLite's write transaction is already exclusive.

PostgreSQL does it in one statement of data-modifying CTEs (one round trip and no
scratch table per batch: the due lots are read once, and every write works from that
one materialised set). SQLite has no data-modifying CTEs, so there the due lots go into
a temporary table and a handful of ``INSERT ... SELECT`` / ``UPDATE ... FROM``
statements write the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from kopilka.store.types import UTCDateTime

_T = UTCDateTime()

# -- PostgreSQL: one statement ---------------------------------------------------------------
# `due` is the batch's due lots as of the statement's snapshot (the members are locked,
# so nothing else changes their lots); every other CTE works from it. The lot update
# finds the rows by the tuple ids `due` read them at (`ctid = ANY(ARRAY(...))`, a TID
# scan: no descent of pk_lots per lot; a join with the CTE let the planner walk pk_lots
# from its start every batch). Those are the rows' latest versions because the members
# were locked before the snapshot was taken. Should one have changed all the same (a
# writer ignoring the member lock), READ COMMITTED's recheck either follows it to its
# newest version as it would by primary key (PostgreSQL 15's TID-scan recheck accepts
# any version) or skips it; so the statement returns how many rows it updated and
# `expire_lots` refuses (rolls back) the batch unless that is every due lot. Entry ids
# come out in member order.
_PG_EXPIRE = text(
    """
WITH due AS MATERIALIZED (
    SELECT id, ctid AS tid, member_id, remaining AS amount,
           activated_at IS NOT NULL AS active
    FROM lots
    WHERE program_id = :p AND member_id = ANY(:members) AND expired_at IS NULL
      AND remaining > 0 AND expires_at <= :t
), sums AS MATERIALIZED (
    SELECT member_id, SUM(amount) AS points,
           SUM(CASE WHEN active THEN amount ELSE 0 END) AS active_points,
           SUM(CASE WHEN active THEN 0 ELSE amount END) AS pending_points
    FROM due GROUP BY member_id
), entries AS (
    INSERT INTO journal_entries (program_id, member_id, kind, points, occurred_at)
    SELECT :p, member_id, 'expire', points, :t FROM sums ORDER BY member_id
    RETURNING member_id, id
), closed AS (
    UPDATE lots SET remaining = 0, expired_at = :t WHERE ctid = ANY(ARRAY(SELECT tid FROM due))
    RETURNING 1
), draws AS (
    INSERT INTO lot_draws (lot_id, entry_id, kind, amount)
    SELECT d.id, e.id, 'expire', d.amount
    FROM due d JOIN entries e ON e.member_id = d.member_id ORDER BY d.id
), posted AS (
    INSERT INTO postings (entry_id, program_id, account, member_id, amount)
    SELECT e.id, :p, x.account, x.member_id, x.amount
    FROM entries e JOIN sums s ON s.member_id = e.member_id
    CROSS JOIN LATERAL (VALUES (1, 'available', s.member_id, -s.active_points),
                               (2, 'pending', s.member_id, -s.pending_points),
                               (3, 'breakage', NULL::bigint, s.points))
        AS x (n, account, member_id, amount)
    WHERE x.amount <> 0
    ORDER BY e.id, x.n
), balances AS (
    UPDATE member_balances b
    SET available = b.available - s.active_points, pending = b.pending - s.pending_points
    FROM sums s WHERE b.member_id = s.member_id AND b.member_id = ANY(:members)
)
SELECT (SELECT COUNT(*) FROM due), (SELECT COALESCE(SUM(points), 0) FROM sums),
       (SELECT COUNT(*) FROM closed)
"""
).bindparams(bindparam("t", type_=_T))

# the lock comes first, in a statement of its own: the expiry statement's snapshot must
# be taken once every member is locked
_PG_LOCK = text(
    "SELECT member_id FROM member_balances WHERE member_id = ANY(:members) "
    "ORDER BY member_id FOR UPDATE"
)

# -- SQLite: two temporary tables and a few statements ---------------------------------------
_SQLITE_SETUP = (
    "CREATE TEMP TABLE IF NOT EXISTS kopilka_due "
    "(lot_id INTEGER PRIMARY KEY, member_id INTEGER NOT NULL, amount INTEGER NOT NULL, "
    "active INTEGER NOT NULL)",
    # per member: the id its entry gets, and what leaves each bucket
    "CREATE TEMP TABLE IF NOT EXISTS kopilka_due_members "
    "(member_id INTEGER PRIMARY KEY, entry_id INTEGER NOT NULL, "
    "active_points INTEGER NOT NULL, pending_points INTEGER NOT NULL)",
    "DELETE FROM kopilka_due",
    "DELETE FROM kopilka_due_members",
)
# the member ids travel as one JSON array (json_each), not as thousands of parameters
_SELECT_DUE = text(
    "INSERT INTO kopilka_due (lot_id, member_id, amount, active) "
    "SELECT id, member_id, remaining, activated_at IS NOT NULL FROM lots "
    "WHERE member_id IN (SELECT value FROM json_each(:members)) AND program_id = :p "
    "AND expired_at IS NULL AND remaining > 0 AND expires_at <= :t"
).bindparams(bindparam("t", type_=_T))
_LAST_ENTRY = text("SELECT COALESCE(MAX(id), 0) FROM journal_entries")
# SQLite has one writer (the transaction began IMMEDIATE) and gives a new row the highest
# rowid plus one (no AUTOINCREMENT): the entries, written in member order, get the ids
# after the highest one, exactly as if SQLite had numbered them; so each member's entry id
# is known before the entry is written, and nothing has to be read back
_SUMS = text(
    "INSERT INTO kopilka_due_members (member_id, entry_id, active_points, pending_points) "
    "SELECT member_id, :last + ROW_NUMBER() OVER (ORDER BY member_id), "
    "SUM(CASE WHEN active THEN amount ELSE 0 END), "
    "SUM(CASE WHEN active THEN 0 ELSE amount END) "
    "FROM kopilka_due GROUP BY member_id ORDER BY member_id"
)
_ENTRIES = text(
    "INSERT INTO journal_entries (id, program_id, member_id, kind, points, occurred_at) "
    "SELECT entry_id, :p, member_id, 'expire', active_points + pending_points, :t "
    "FROM kopilka_due_members ORDER BY entry_id"
).bindparams(bindparam("t", type_=_T))
_DRAWS = text(
    "INSERT INTO lot_draws (lot_id, entry_id, kind, amount) "
    "SELECT d.lot_id, m.entry_id, 'expire', d.amount FROM kopilka_due d "
    "JOIN kopilka_due_members m ON m.member_id = d.member_id ORDER BY d.lot_id"
)
# per entry: the bucket(s) the points leave (available 1, pending 2), then breakage (3)
_POSTINGS = text(
    "INSERT INTO postings (entry_id, program_id, account, member_id, amount) "
    "SELECT entry_id, :p, account, member, amount FROM ("
    "  SELECT entry_id, 1 AS n, 'available' AS account, member_id AS member, "
    "  -active_points AS amount FROM kopilka_due_members WHERE active_points <> 0"
    "  UNION ALL"
    "  SELECT entry_id, 2, 'pending', member_id, -pending_points FROM kopilka_due_members"
    "  WHERE pending_points <> 0"
    "  UNION ALL"
    "  SELECT entry_id, 3, 'breakage', NULL, active_points + pending_points"
    "  FROM kopilka_due_members"
    ") ORDER BY entry_id, n"
)
_LOTS = text(
    "UPDATE lots SET remaining = 0, expired_at = :t WHERE id IN (SELECT lot_id FROM kopilka_due)"
).bindparams(bindparam("t", type_=_T))
# the IN makes SQLite walk the batch's members and find each balance by its key (the
# join alone scanned every balance row: the temporary table has no statistics)
_BALANCES = text(
    "UPDATE member_balances SET available = available - s.active_points, "
    "pending = pending - s.pending_points FROM kopilka_due_members AS s "
    "WHERE member_balances.member_id = s.member_id "
    "AND member_balances.member_id IN (SELECT member_id FROM kopilka_due_members)"
)
_POINTS = text("SELECT COALESCE(SUM(active_points + pending_points), 0) FROM kopilka_due_members")


def expire_lots(
    conn: Connection, program_id: int, as_of: datetime, member_ids: Sequence[int]
) -> tuple[int, int]:
    """Lock the members and expire every due lot of theirs; returns (lots, points) expired."""
    if not member_ids:
        return 0, 0
    if conn.dialect.name == "postgresql":
        members = sorted({int(m) for m in member_ids})
        conn.execute(_PG_LOCK, {"members": members}).all()
        lots, points, closed = conn.execute(
            _PG_EXPIRE, {"p": program_id, "t": as_of, "members": members}
        ).one()
        if closed != lots:
            raise RuntimeError(
                f"expiry sweep: {lots} lots due but {closed} updated (a lot changed under the "
                "member lock); the batch is not written"
            )
        return int(lots), int(points)
    return _expire_sqlite(conn, program_id, as_of, member_ids)


def _expire_sqlite(
    conn: Connection, program_id: int, as_of: datetime, member_ids: Sequence[int]
) -> tuple[int, int]:
    for statement in _SQLITE_SETUP:
        conn.exec_driver_sql(statement)
    params: dict[str, Any] = {
        "p": program_id,
        "t": as_of,
        "members": json.dumps([int(m) for m in member_ids]),
    }
    lots = conn.execute(_SELECT_DUE, params).rowcount
    if not lots:
        return 0, 0
    last = conn.execute(_LAST_ENTRY).scalar_one()
    conn.execute(_SUMS, {"last": last})
    conn.execute(_ENTRIES, params)
    conn.execute(_DRAWS)
    conn.execute(_POSTINGS, params)
    conn.execute(_LOTS, params)
    conn.execute(_BALANCES)
    return lots, int(conn.execute(_POINTS).scalar_one())
