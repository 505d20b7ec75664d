"""The outbox's rows: events written in the transaction of the change they tell of.

An event's ``seq`` is one more than the member's last: the writer holds the member's lock
(a balance row on PostgreSQL, the one writer on SQLite), and the unique ``(member_id, seq)``
refuses a second writer that would not, so one member's events have one order. A program
event (``member_id`` null: an import finished, ...) has ``seq`` 1 and no order among others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from kopilka.store.db import FastStatement
from kopilka.store.rows import db_json, db_time, insert_rows
from kopilka.store.tables import journal_entries, outbox_events
from kopilka.store.types import Json, UTCDateTime


@dataclass(frozen=True, slots=True)
class NewEvent:
    id: str
    program_id: int
    member_id: int | None  # None: a program event
    type: str
    schema_version: int
    payload: Mapping[str, object]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    program_id: int
    member_id: int | None
    seq: int
    type: str
    schema_version: int
    payload: dict[str, Any]
    created_at: datetime
    dispatched_at: datetime | None


@dataclass(frozen=True, slots=True)
class SweptEntry:
    entry_id: int
    member_id: int
    kind: str
    points: int
    hold_id: int | None


def _event(r: Any) -> EventRow:
    return EventRow(
        r.id,
        r.program_id,
        r.member_id,
        r.seq,
        r.type,
        r.schema_version,
        dict(r.payload),
        r.created_at,
        r.dispatched_at,
    )


_O = outbox_events.c
# an event's columns as every writer of the outbox gives them
EVENT_COLUMNS = (
    "id",
    "program_id",
    "member_id",
    "seq",
    "type",
    "schema_version",
    "payload",
    "created_at",
)
# one event of one member, numbered after the member's last, in one statement: this runs on
# every purchase (bench_purchase_cost)
_INSERT_ONE = FastStatement(
    insert(outbox_events).from_select(
        ["id", "program_id", "member_id", "seq", "type", "schema_version", "payload", "created_at"],
        select(
            bindparam("id", type_=_O.id.type),
            bindparam("p", type_=_O.program_id.type),
            bindparam("m", type_=_O.member_id.type),
            # literals, not bound values: the statement is spliced into a tier upgrade's
            # one statement on PostgreSQL (``repos/tiers.py``), which takes no values of its own
            func.coalesce(func.max(_O.seq), literal_column("0")) + literal_column("1"),
            bindparam("type", type_=_O.type.type),
            bindparam("v", type_=_O.schema_version.type),
            bindparam("payload", type_=Json),
            bindparam("at", type_=UTCDateTime),
        ).where(_O.member_id == bindparam("m2", type_=_O.member_id.type)),
    )
)


# one member's event as a statement of its own (``INSERT_ONE``: its values, ``one_row``)
INSERT_ONE = _INSERT_ONE


def one_row(e: NewEvent) -> dict[str, Any]:
    """The values :data:`INSERT_ONE` writes ``e`` with."""
    return {
        "id": e.id,
        "p": e.program_id,
        "m": e.member_id,
        "m2": e.member_id,
        "type": e.type,
        "v": e.schema_version,
        "payload": e.payload,
        "at": e.created_at,
    }


class OutboxRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, events: Sequence[NewEvent]) -> None:
        """Insert ``events`` in their order, each with its member's next ``seq``."""
        if not events:
            return
        if len(events) == 1:
            _INSERT_ONE.execute(self.conn, one_row(events[0]))
            return
        members = sorted({e.member_id for e in events if e.member_id is not None})
        c = outbox_events.c
        last: dict[int | None, int] = dict.fromkeys(members, 0)
        if members:
            q = select(c.member_id, func.max(c.seq)).group_by(c.member_id)
            if len(members) == 1:
                q = q.where(c.member_id == members[0])
            elif self.conn.dialect.name == "postgresql":
                # one array parameter: psycopg parses a query text of thousands of
                # placeholders again on every call
                ids = bindparam("members", members, type_=ARRAY(BigInteger))
                q = q.where(c.member_id == any_(ids))
            else:
                q = q.where(c.member_id.in_(members))
            for member_id, seq in self.conn.execute(q):
                last[int(member_id)] = int(seq)
        rows = []
        ts = db_time(self.conn)
        for e in events:
            # a program event (no member) is not numbered in any member's order: seq 1
            seq = 1 if e.member_id is None else last[e.member_id] + 1
            last[e.member_id] = seq
            rows.append(
                (
                    e.id,
                    e.program_id,
                    e.member_id,
                    seq,
                    e.type,
                    e.schema_version,
                    db_json(dict(e.payload)),
                    ts(e.created_at),
                )
            )
        # COPY on PostgreSQL, multi-row INSERTs on SQLite: a review's batch writes thousands
        insert_rows(self.conn, "outbox_events", EVENT_COLUMNS, rows)

    def for_member(self, member_id: int) -> list[EventRow]:
        """A member's events in their order."""
        c = outbox_events.c
        q = select(outbox_events).where(c.member_id == member_id).order_by(c.seq)
        return [_event(r) for r in self.conn.execute(q)]

    def for_program(self, program_id: int, limit: int = 1000) -> list[EventRow]:
        """A program's events, oldest first (by member and order within a member)."""
        c = outbox_events.c
        q = (
            select(outbox_events)
            .where(c.program_id == program_id)
            .order_by(c.created_at, c.member_id, c.seq)
            .limit(limit)
        )
        return [_event(r) for r in self.conn.execute(q)]

    def count_by_type(self, program_id: int) -> dict[str, int]:
        """How many events of each type the program has."""
        c = outbox_events.c
        q = select(c.type, func.count()).where(c.program_id == program_id).group_by(c.type)
        return {str(t): int(n) for t, n in self.conn.execute(q)}

    # --- what a sweep's batch wrote ------------------------------------------------------

    def last_entry_id(self) -> int:
        """The journal's highest entry id now (a sweep's entries all come after it)."""
        return int(self.conn.execute(select(func.max(journal_entries.c.id))).scalar() or 0)

    def swept_entries(
        self,
        program_id: int,
        after_id: int,
        at: datetime,
        kinds: Sequence[str],
        members: Sequence[int] | None = None,
    ) -> list[SweptEntry]:
        """The entries of ``kinds`` the program's sweep as of ``at`` wrote after ``after_id``
        (its own transaction's: a sweep stamps its entries with its ``at``; ``members``:
        the only members it handled, when transactions of one sweep run at once)."""
        j = journal_entries.c
        q = (
            select(j.id, j.member_id, j.kind, j.points, j.hold_id)
            .where(
                and_(
                    j.program_id == program_id,
                    j.id > after_id,
                    j.occurred_at == at,
                    j.kind.in_(list(kinds)),
                    j.member_id.is_not(None),
                )
            )
            .order_by(j.id)
        )
        if members is not None:
            q = q.where(j.member_id.in_(list(members)))
        return [
            SweptEntry(int(r.id), int(r.member_id), str(r.kind), int(r.points), r.hold_id)
            for r in self.conn.execute(q)
        ]
