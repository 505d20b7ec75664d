"""The BI exports' rows: purchases, their lines and awards, journal entries and members of a
program over a UTC span, read in id order. Purchases, entries and members come from one
statement streamed in batches (PostgreSQL: a server-side cursor; SQLite steps its cursor),
so the database sorts once; lines and awards by keyset pages of purchase ids (a page's
purchases are the progress's unit)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

# each dataset's SELECT, its columns in the documented order (docs/analytics.md); ``:after``
# is the keyset (the last id of the previous page)
_SQL: dict[str, str] = {
    "purchases": """
        SELECT t.id, t.receipt_id, t.member_id, t.occurred_at, t.store, t.channel,
               t.total_minor, t.discount_minor, t.points_earned, t.points_redeemed,
               t.rule_version, t.partner, t.payment_method
        FROM purchases t
        WHERE t.program_id = :p AND t.occurred_at >= :lo AND t.occurred_at < :hi
          AND t.id > :after
        ORDER BY t.id LIMIT :n""",
    "lines": """
        SELECT t.id, t.receipt_id, l.line_id, l.sku, l.category, l.brand, l.quantity,
               l.amount_minor, l.discount_minor, l.points_earned, l.points_redeemed
        FROM purchases t JOIN purchase_lines l ON l.purchase_id = t.id
        WHERE t.program_id = :p AND t.occurred_at >= :lo AND t.occurred_at < :hi
          AND t.id > :after AND t.id <= :upto
        ORDER BY t.id, l.line_id""",
    "awards": """
        SELECT t.id, t.receipt_id, a.line_id, a.rule_id, a.rule_version, a.points
        FROM purchases t JOIN line_awards a ON a.purchase_id = t.id
        WHERE t.program_id = :p AND t.occurred_at >= :lo AND t.occurred_at < :hi
          AND t.id > :after AND t.id <= :upto
        ORDER BY t.id, a.id""",
    "entries": """
        SELECT t.id, t.member_id, t.kind, t.points, t.occurred_at, t.reverses_entry_id,
               t.rule_id, t.rule_version, t.reference
        FROM journal_entries t
        WHERE t.program_id = :p AND t.occurred_at >= :lo AND t.occurred_at < :hi
          AND t.id > :after
        ORDER BY t.id LIMIT :n""",
    "members": """
        SELECT t.id, t.status, t.tier_code, t.enrolled_at, t.purchase_count,
               t.lifetime_spend_minor, t.first_name, t.last_name, t.birthday, t.gender
        FROM members t
        WHERE t.program_id = :p AND t.enrolled_at >= :lo AND t.enrolled_at < :hi
          AND t.id > :after
        ORDER BY t.id LIMIT :n""",
}
_PURCHASE_IDS = """
    SELECT t.id FROM purchases t
    WHERE t.program_id = :p AND t.occurred_at >= :lo AND t.occurred_at < :hi AND t.id > :after
    ORDER BY t.id LIMIT :n"""
# the datasets read through their purchases: a page of purchase ids first, then their rows
_BY_PURCHASE = frozenset({"lines", "awards"})


def _sqlite_time(at: datetime) -> str:
    """``at`` as the text SQLite stores UTC times as (``UTCDateTime``: naive UTC, six
    decimals), for a statement run on the driver's cursor."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", timespec="microseconds")


class ExportRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def times_as_text(self) -> bool:
        """Whether times and dates come back as ISO text (SQLite) rather than objects."""
        return self.conn.dialect.name == "sqlite"

    def count(self, dataset: str, program_id: int, lo: datetime, hi: datetime) -> int:
        """How many purchases (``purchases``, ``lines``, ``awards``), entries or members
        the span holds (what a progress bar counts)."""
        table, column = {
            "entries": ("journal_entries", "occurred_at"),
            "members": ("members", "enrolled_at"),
        }.get(dataset, ("purchases", "occurred_at"))
        return int(
            self.conn.execute(
                text(
                    f"SELECT COUNT(*) FROM {table} WHERE program_id = :p "  # noqa: S608
                    f"AND {column} >= :lo AND {column} < :hi"
                ),
                {"p": program_id, "lo": lo, "hi": hi},
            ).scalar_one()
        )

    def batches(
        self, dataset: str, program_id: int, lo: datetime, hi: datetime, size: int
    ) -> Iterator[tuple[int, Sequence[Sequence[Any]]]]:
        """The dataset's rows in batches of up to ``size``, each with how many of the
        counted things (purchases, entries, members) it covers: one streamed statement for
        the datasets of a row per counted thing, keyset pages for lines and awards."""
        if dataset in _BY_PURCHASE:
            yield from self.pages(dataset, program_id, lo, hi, size)
            return
        # the keyset page's statement without its page: one ORDER BY over the whole span,
        # run on the driver's own cursor (PostgreSQL: a named, server-side one), whose
        # rows are plain tuples: a million rows pass no Python code of SQLAlchemy's
        sql = _SQL[dataset].replace("ORDER BY t.id LIMIT :n", "ORDER BY t.id")
        params = {"p": program_id, "lo": lo, "hi": hi, "after": 0}
        raw = self.conn.connection.driver_connection
        if self.conn.dialect.name == "postgresql":
            cursor = raw.cursor(name=f"kopilka_export_{dataset}")  # type: ignore[union-attr]
            sql = re.sub(r":(\w+)", r"%(\1)s", sql)
        else:
            cursor = raw.cursor()  # type: ignore[union-attr]
            params["lo"], params["hi"] = _sqlite_time(lo), _sqlite_time(hi)
        try:
            cursor.execute(sql, params)
            while True:
                part = cursor.fetchmany(size)
                if not part:
                    return
                yield len(part), part
        finally:
            cursor.close()

    def pages(
        self, dataset: str, program_id: int, lo: datetime, hi: datetime, size: int
    ) -> Iterator[tuple[int, Sequence[Sequence[Any]]]]:
        """The dataset's rows page by page, each with how many of the counted things
        (purchases, entries, members) it covers."""
        params: dict[str, Any] = {"p": program_id, "lo": lo, "hi": hi, "after": 0, "n": size}
        if dataset in _BY_PURCHASE:
            ids = text(_PURCHASE_IDS)
            while True:
                page = [r[0] for r in self.conn.execute(ids, params)]
                if not page:
                    return
                rows = self.conn.execute(text(_SQL[dataset]), {**params, "upto": page[-1]}).all()
                yield len(page), rows
                params["after"] = page[-1]
        sql = text(_SQL[dataset])
        while True:
            rows = self.conn.execute(sql, params).all()
            if not rows:
                return
            yield len(rows), rows
            params["after"] = rows[-1][0]
