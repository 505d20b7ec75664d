"""The analytics rollups' rows: what the ``analytics`` job adds, what a rebuild recomputes,
and the set-based reads the KPIs are made of.

Each figure of ``analytics_daily`` comes from one source, grouped in SQL by local day
(the program's time zone: PostgreSQL's ``timezone()``; on SQLite the zone's UTC offsets
over the data's span, :func:`kopilka.domain.analytics.offset_spans`), store, channel and
tier:

- points issued, redeemed, expired, adjusted: the postings of the program accounts
  (``issued``, ``redeemed``, ``breakage``, ``adjustments``) with the signs the overview
  gives them, so their sums are the ledger's totals; a return's or a capture's entry takes
  its purchase's store and channel through the entry it reverses;
- purchases, revenue, distinct purchasing members: ``purchases``; refunds: ``returns`` on
  the return's day; guest receipts: ``guest_receipts``; new members: ``members``.

Ledger figures, the expiry days and the member-months are additive: the job adds the
entries, lots, draws and purchases newer than its marks (``analytics_state``). Purchase
counts, distinct members and the rest are not (a distinct count does not add up): the job
recomputes the days its new rows fall on. The purchase gaps (``analytics_purchase_gaps``)
of the members with new purchases are taken away as they were and added as they are; the
cohort months (``analytics_cohort_months``) of the months the new purchases fall on, and
the month after, are recomputed from the member months.
"""

# the statements are assembled from fixed fragments, ints and a day expression built from a
# time zone name the domain validated; every value from outside is a bound parameter
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from kopilka.domain.analytics import offset_spans
from kopilka.store.tables import (
    analytics_alerts,
    analytics_cohort_months,
    analytics_daily,
    analytics_expiry_daily,
    analytics_member_months,
    analytics_purchase_gaps,
    analytics_rule_daily,
    analytics_settings,
    analytics_state,
    guest_receipts,
    journal_entries,
    lot_draws,
    lots,
    members,
    purchases,
    returns,
)

Key = tuple[date, str, str, str]  # local day, store, channel, tier
LEDGER_COLUMNS = ("points_issued", "points_redeemed", "points_expired", "points_adjusted")
PURCHASE_COLUMNS = (
    "purchases",
    "revenue_minor",
    "refunds_minor",
    "guest_receipts",
    "guest_revenue_minor",
    "active_members",
    "new_members",
)
DAILY_COLUMNS = LEDGER_COLUMNS + PURCHASE_COLUMNS


@dataclass(frozen=True, slots=True)
class Marks:
    """The newest id of each source the rollups include."""

    entry: int = 0
    purchase: int = 0
    return_: int = 0
    member: int = 0
    guest: int = 0
    lot: int = 0
    draw: int = 0


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _sqlite_text(at: datetime) -> str:
    utc = at.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(" ") if utc.microsecond else utc.isoformat(" ") + ".000000"


class AnalyticsRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"

    # ---- local days in SQL ------------------------------------------------------------
    def day_sql(self, column: str, timezone: str, lo: datetime | None, hi: datetime | None) -> str:
        """SQL for the local day of the UTC instant ``column`` in ``timezone``; on SQLite
        exact for instants in ``[lo, hi)`` (the zone's offsets over that span)."""
        zone = timezone.replace("'", "''")
        if self.pg:
            return f"CAST(timezone('{zone}', {column}) AS DATE)"
        if lo is None or hi is None:
            return f"date({column})"
        spans = offset_spans(timezone, lo, hi)
        if len(spans) == 1:
            return f"date({column}, '{spans[0][1]:+d} seconds')"
        whens = " ".join(
            f"WHEN {column} < '{_sqlite_text(until)}' THEN '{seconds:+d} seconds'"
            for until, seconds in spans[:-1]
        )
        return f"date({column}, CASE {whens} ELSE '{spans[-1][1]:+d} seconds' END)"

    @contextmanager
    def bulk_memory(self) -> Iterator[None]:
        """While a rebuild runs, memory for its sorts and groupings of millions of rows,
        which spill to disk otherwise: on SQLite a page cache of 256 MiB, the connection's
        setting put back afterwards (``temp_store`` cannot change inside a transaction);
        on PostgreSQL ``work_mem`` of 256 MiB for the rest of the rebuild's transaction
        (``SET LOCAL``; the default 4 MiB made the member months' grouping of a million
        purchases spill 33 batches to disk)."""
        if self.pg:
            self.conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
            yield
            return
        cache = self.conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
        self.conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MiB
        try:
            yield
        finally:
            self.conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache)}")

    def refresh_statistics(self) -> None:
        """On PostgreSQL, ANALYZE the rollups (a rebuild rewrites them wholly; until
        autovacuum samples them the planner guesses their sizes and picks poor plans for the
        KPIs' reads). SQLite plans them from their keys."""
        if self.pg:
            self.conn.exec_driver_sql(
                "ANALYZE analytics_daily, analytics_member_months, analytics_rule_daily,"
                " analytics_purchase_gaps, analytics_cohort_months, analytics_expiry_daily"
            )

    # ---- marks ---------------------------------------------------------------------------
    def newest(self) -> Marks:
        """The newest id of each source, whole database (their ids are global)."""

        def top(table: Table) -> int:
            return int(self.conn.execute(select(func.max(table.c.id))).scalar_one() or 0)

        return Marks(
            top(journal_entries),
            top(purchases),
            top(returns),
            top(members),
            top(guest_receipts),
            top(lots),
            top(lot_draws),
        )

    def marks(self, program_id: int) -> Marks | None:
        """How far the rollups of the program have read (``None``: never built)."""
        s = analytics_state.c
        row = self.conn.execute(
            select(
                s.last_entry_id,
                s.last_purchase_id,
                s.last_return_id,
                s.last_member_id,
                s.last_guest_id,
                s.last_lot_id,
                s.last_draw_id,
            ).where(s.program_id == program_id)
        ).first()
        return None if row is None else Marks(*(int(v) for v in row))

    def save_marks(self, program_id: int, marks: Marks, at: datetime) -> None:
        """Record how far the rollups of the program have read."""
        values = {
            "last_entry_id": marks.entry,
            "last_purchase_id": marks.purchase,
            "last_return_id": marks.return_,
            "last_member_id": marks.member,
            "last_guest_id": marks.guest,
            "last_lot_id": marks.lot,
            "last_draw_id": marks.draw,
            "updated_at": at,
        }
        self._upsert(
            analytics_state,
            [{"program_id": program_id, **values}],
            ["program_id"],
            set_=list(values),
        )

    def lock_marks(self, program_id: int) -> Marks:
        """The program's marks, its row locked to the end of the transaction (SQLite: the
        writer lock already serialises writers)."""
        if self.pg:
            self.conn.execute(
                text("SELECT 1 FROM analytics_state WHERE program_id = :p FOR UPDATE"),
                {"p": program_id},
            )
        return self.marks(program_id) or Marks()

    def data_span(self, program_id: int) -> tuple[datetime, datetime] | None:
        """The first and the last time of anything the rollups count for the program."""
        lo: datetime | None = None
        hi: datetime | None = None
        for sql in (
            "SELECT MIN(occurred_at), MAX(occurred_at) FROM journal_entries WHERE program_id = :p",
            "SELECT MIN(occurred_at), MAX(occurred_at) FROM purchases WHERE program_id = :p",
            "SELECT MIN(r.occurred_at), MAX(r.occurred_at) FROM returns r JOIN purchases pu "
            "ON pu.id = r.purchase_id WHERE pu.program_id = :p",
            "SELECT MIN(occurred_at), MAX(occurred_at) FROM guest_receipts WHERE program_id = :p",
            "SELECT MIN(enrolled_at), MAX(enrolled_at) FROM members WHERE program_id = :p",
        ):
            a, b = self.conn.execute(text(sql), {"p": program_id}).one()
            first, last = _instant(a), _instant(b)
            if first is not None and last is not None:
                lo = first if lo is None else min(lo, first)
                hi = last if hi is None else max(hi, last)
        return None if lo is None or hi is None else (lo, hi)

    # ---- upserts -------------------------------------------------------------------------
    def _upsert(
        self,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        keys: Sequence[str],
        *,
        add: Sequence[str] = (),
        set_: Sequence[str] = (),
    ) -> None:
        if not rows:
            return
        ins = (postgresql.insert if self.pg else sqlite.insert)(table)
        changes: dict[str, Any] = {c: table.c[c] + ins.excluded[c] for c in add}
        changes.update({c: ins.excluded[c] for c in set_})
        stmt = ins.on_conflict_do_update(index_elements=list(keys), set_=changes)
        for start in range(0, len(rows), 5000):
            self.conn.execute(stmt, list(rows[start : start + 5000]))

    # ---- the rollups' writes: INSERT ... SELECT ... ON CONFLICT, all in the database ----
    def _month_sql(self, day: str) -> str:
        if self.pg:
            return (
                f"(CAST(EXTRACT(YEAR FROM {day}) AS INTEGER) * 12"
                f" + CAST(EXTRACT(MONTH FROM {day}) AS INTEGER) - 1)"
            )
        return (
            f"(CAST(substr({day}, 1, 4) AS INTEGER) * 12"
            f" + CAST(substr({day}, 6, 2) AS INTEGER) - 1)"
        )

    def _span_of(
        self, table: str, alias: str, column: str, where: list[str], params: dict[str, Any]
    ) -> tuple[datetime | None, datetime | None]:
        row = self.conn.execute(
            text(
                f"SELECT MIN({alias}.{column}), MAX({alias}.{column}) FROM {table} {alias} "
                f"WHERE {' AND '.join(where)}"
            ),
            params,
        ).one()
        return _instant(row[0]), _instant(row[1], later=True)

    @staticmethod
    def _filter(
        alias: str,
        program_id: int,
        ids: tuple[int, int] | None,
        span: tuple[datetime, datetime] | None,
        upto: int | None = None,
    ) -> tuple[list[str], dict[str, Any]]:
        where = [f"{alias}.program_id = :p"]
        params: dict[str, Any] = {"p": program_id}
        if ids is not None:
            where.append(f"{alias}.id > :lo_id AND {alias}.id <= :hi_id")
            params.update(lo_id=ids[0], hi_id=ids[1])
        if span is not None:
            where.append(f"{alias}.occurred_at >= :lo AND {alias}.occurred_at < :hi")
            params.update(lo=span[0], hi=span[1])
        if upto is not None:
            where.append(f"{alias}.id <= :upto")
            params["upto"] = upto
        return where, params

    def _add_daily(self, columns: Sequence[str], select: str, params: dict[str, Any]) -> None:
        names = ", ".join(columns)
        adds = ", ".join(f"{c} = analytics_daily.{c} + excluded.{c}" for c in columns)
        self.conn.execute(
            text(
                "INSERT INTO analytics_daily (program_id, day, store, channel, tier, "
                f"{names}) {select} "
                "ON CONFLICT (program_id, day, store, channel, tier) DO UPDATE SET " + adds
            ),
            params,
        )

    def add_ledger(
        self,
        program_id: int,
        timezone: str,
        *,
        ids: tuple[int, int] | None = None,
        span: tuple[datetime, datetime] | None = None,
        upto: int | None = None,
    ) -> None:
        """Add the points issued, redeemed, expired and adjusted of the program's entries
        with ids in ``(ids[0], ids[1]]`` or occurring in ``span`` (ids up to ``upto``) to
        their days' rows."""
        where, params = self._filter("je", program_id, ids, span, upto)
        lo, hi = (
            span
            if span is not None
            else self._span_of("journal_entries", "je", "occurred_at", where, params)
        )
        if lo is None:
            return
        day = self.day_sql("e.occurred_at", timezone, lo, hi)
        # the postings summed per entry first, so the purchase (store, channel) and the
        # member (tier) are looked up once per entry, not once per posting
        self._add_daily(
            LEDGER_COLUMNS,
            f"""
            SELECT {int(program_id)}, {day}, COALESCE(pe.store, pr.store, ''),
                   COALESCE(pe.channel, pr.channel, ''), COALESCE(m.tier_code, ''),
                   SUM(e.issued), SUM(e.redeemed), SUM(e.expired), SUM(e.adjusted)
            FROM (SELECT je.id, je.occurred_at, je.member_id,
                         COALESCE(je.reverses_entry_id, je.id) AS source_id,
                         SUM(CASE WHEN p.account = 'issued' THEN -p.amount ELSE 0 END)
                             AS issued,
                         SUM(CASE WHEN p.account = 'redeemed' THEN p.amount ELSE 0 END)
                             AS redeemed,
                         SUM(CASE WHEN p.account = 'breakage' THEN p.amount ELSE 0 END)
                             AS expired,
                         SUM(CASE WHEN p.account = 'adjustments' THEN -p.amount ELSE 0 END)
                             AS adjusted
                  FROM journal_entries je
                  JOIN postings p ON p.entry_id = je.id
                  WHERE {" AND ".join(where)}
                    AND p.account IN ('issued', 'redeemed', 'breakage', 'adjustments')
                  GROUP BY je.id, je.occurred_at, je.member_id, je.reverses_entry_id) e
            LEFT JOIN purchases pe ON pe.earn_entry_id = e.source_id
            LEFT JOIN purchases pr ON pr.redeem_entry_id = e.source_id
            LEFT JOIN members m ON m.id = e.member_id
            WHERE 1 = 1
            GROUP BY 2, 3, 4, 5""",
            params,
        )

    def changed_span(
        self, program_id: int, since: Marks, upto: Marks
    ) -> tuple[datetime, datetime] | None:
        """The UTC span holding every purchase, return, guest receipt and enrolment of the
        program newer than ``since`` (up to ``upto``): the days to recompute."""
        queries = [
            (
                "SELECT MIN(occurred_at), MAX(occurred_at) FROM purchases "
                "WHERE program_id = :p AND id > :lo AND id <= :hi",
                since.purchase,
                upto.purchase,
            ),
            (
                "SELECT MIN(r.occurred_at), MAX(r.occurred_at) FROM returns r "
                "JOIN purchases pu ON pu.id = r.purchase_id "
                "WHERE pu.program_id = :p AND r.id > :lo AND r.id <= :hi",
                since.return_,
                upto.return_,
            ),
            (
                "SELECT MIN(occurred_at), MAX(occurred_at) FROM guest_receipts "
                "WHERE program_id = :p AND id > :lo AND id <= :hi",
                since.guest,
                upto.guest,
            ),
            (
                "SELECT MIN(enrolled_at), MAX(enrolled_at) FROM members "
                "WHERE program_id = :p AND id > :lo AND id <= :hi",
                since.member,
                upto.member,
            ),
        ]
        lo: datetime | None = None
        hi: datetime | None = None
        for sql, a, b in queries:
            if b <= a:
                continue
            first, last = self.conn.execute(text(sql), {"p": program_id, "lo": a, "hi": b}).one()
            f, l_ = _instant(first), _instant(last, later=True)
            if f is not None and l_ is not None:
                lo = f if lo is None else min(lo, f)
                hi = l_ if hi is None else max(hi, l_)
        return None if lo is None or hi is None else (lo, hi)

    def set_purchase_figures(
        self,
        program_id: int,
        timezone: str,
        first: date,
        last: date,
        span: tuple[datetime, datetime],
        upto: Marks,
    ) -> None:
        """Recompute the purchases' figures of the local days ``first`` to ``last`` (whose
        UTC bounds are ``span``) from the rows up to ``upto``."""
        d = analytics_daily.c
        self.conn.execute(
            analytics_daily.update()
            .where(d.program_id == program_id, d.day >= first, d.day <= last)
            .values(dict.fromkeys(PURCHASE_COLUMNS, 0))
        )
        lo, hi = span
        params = {
            "lo": lo,
            "hi": hi,
            "pu_hi": upto.purchase,
            "r_hi": upto.return_,
            "g_hi": upto.guest,
            "m_hi": upto.member,
        }
        p = int(program_id)
        day = self.day_sql("pu.occurred_at", timezone, lo, hi)
        self._add_daily(
            ("purchases", "revenue_minor", "active_members"),
            f"""
            SELECT {p}, {day}, COALESCE(pu.store, ''), COALESCE(pu.channel, ''),
                   COALESCE(m.tier_code, ''), COUNT(*), SUM(pu.total_minor),
                   COUNT(DISTINCT pu.member_id)
            FROM purchases pu LEFT JOIN members m ON m.id = pu.member_id
            WHERE pu.program_id = {p} AND pu.occurred_at >= :lo AND pu.occurred_at < :hi
              AND pu.id <= :pu_hi
            GROUP BY 2, 3, 4, 5""",
            params,
        )
        day = self.day_sql("r.occurred_at", timezone, lo, hi)
        self._add_daily(
            ("refunds_minor",),
            f"""
            SELECT {p}, {day}, COALESCE(pu.store, ''), COALESCE(pu.channel, ''),
                   COALESCE(m.tier_code, ''), SUM(r.refund_minor)
            FROM returns r JOIN purchases pu ON pu.id = r.purchase_id
            LEFT JOIN members m ON m.id = pu.member_id
            WHERE pu.program_id = {p} AND r.occurred_at >= :lo AND r.occurred_at < :hi
              AND r.id <= :r_hi
            GROUP BY 2, 3, 4, 5""",
            params,
        )
        day = self.day_sql("g.occurred_at", timezone, lo, hi)
        self._add_daily(
            ("guest_receipts", "guest_revenue_minor"),
            f"""
            SELECT {p}, {day}, COALESCE(g.store, ''), COALESCE(g.channel, ''), '',
                   COUNT(*), SUM(g.total_minor)
            FROM guest_receipts g
            WHERE g.program_id = {p} AND g.occurred_at >= :lo AND g.occurred_at < :hi
              AND g.id <= :g_hi
            GROUP BY 2, 3, 4, 5""",
            params,
        )
        day = self.day_sql("m.enrolled_at", timezone, lo, hi)
        self._add_daily(
            ("new_members",),
            f"""
            SELECT {p}, {day}, '', '', COALESCE(m.tier_code, ''), COUNT(*)
            FROM members m
            WHERE m.program_id = {p} AND m.enrolled_at >= :lo AND m.enrolled_at < :hi
              AND m.id <= :m_hi
            GROUP BY 2, 3, 4, 5""",
            params,
        )

    # ---- member months and rules -----------------------------------------------------------
    def add_member_months(
        self,
        program_id: int,
        timezone: str,
        ids: tuple[int, int] | None = None,
        span: tuple[datetime, datetime] | None = None,
    ) -> int:
        """Add the purchases with ids in ``ids`` (and occurring in ``span``) to their
        members' months; answers how many purchases."""
        where, params = self._filter("t", program_id, ids, span)
        lo, hi = self._span_of("purchases", "t", "occurred_at", where, params)
        if lo is None or hi is None:
            return 0
        count = int(
            self.conn.execute(
                text(f"SELECT COUNT(*) FROM purchases t WHERE {' AND '.join(where)}"),
                params,
            ).scalar_one()
        )
        first_member = self.conn.execute(
            text("SELECT MIN(enrolled_at) FROM members WHERE program_id = :p"), {"p": program_id}
        ).scalar_one()
        month = self._month_sql(self.day_sql("t.occurred_at", timezone, lo, hi))
        cohort = self._month_sql(
            self.day_sql("m.enrolled_at", timezone, _instant(first_member) or lo, hi)
        )
        # the purchases grouped by month and member first; the member's enrolment month
        # is then worked out once per group, not once per purchase
        self.conn.execute(
            text(f"""
                INSERT INTO analytics_member_months
                    (program_id, month_no, member_id, cohort, purchases, revenue_minor)
                SELECT {int(program_id)}, g.month_no, g.member_id, {cohort}, g.n, g.revenue
                FROM (SELECT {month} AS month_no, t.member_id, COUNT(*) AS n,
                             SUM(t.total_minor) AS revenue
                      FROM purchases t
                      WHERE {" AND ".join(where)}
                      GROUP BY 1, 2) g
                JOIN members m ON m.id = g.member_id
                WHERE 1 = 1
                ON CONFLICT (program_id, month_no, member_id) DO UPDATE SET
                    purchases = analytics_member_months.purchases + excluded.purchases,
                    revenue_minor = analytics_member_months.revenue_minor
                                    + excluded.revenue_minor"""),
            params,
        )
        return count

    def add_rule_days(
        self,
        program_id: int,
        timezone: str,
        ids: tuple[int, int] | None = None,
        span: tuple[datetime, datetime] | None = None,
    ) -> None:
        """Add the line awards of the purchases in ``ids`` (and ``span``) to the rules'
        days."""
        where, params = self._filter("t", program_id, ids, span)
        lo, hi = self._span_of("purchases", "t", "occurred_at", where, params)
        if lo is None:
            return
        day = self.day_sql("t.occurred_at", timezone, lo, hi)
        self.conn.execute(
            text(f"""
                INSERT INTO analytics_rule_daily (program_id, day, rule_id, points, awards)
                SELECT {int(program_id)}, {day}, a.rule_id, SUM(a.points), COUNT(*)
                FROM purchases t JOIN line_awards a ON a.purchase_id = t.id
                WHERE {" AND ".join(where)}
                GROUP BY 2, 3
                ON CONFLICT (program_id, day, rule_id) DO UPDATE SET
                    points = analytics_rule_daily.points + excluded.points,
                    awards = analytics_rule_daily.awards + excluded.awards"""),
            params,
        )

    def purchase_span(
        self, program_id: int, ids: tuple[int, int] | None = None
    ) -> tuple[datetime, datetime] | None:
        """The UTC span of the program's purchases (with ids in ``(ids[0], ids[1]]`` when
        given)."""
        where, params = self._filter("t", program_id, ids, None)
        lo, hi = self._span_of("purchases", "t", "occurred_at", where, params)
        return None if lo is None or hi is None else (lo, hi)

    def add_gaps(
        self,
        program_id: int,
        timezone: str,
        *,
        upto: int,
        sign: int = 1,
        members_of: tuple[int, int] | None = None,
        days: tuple[date, date] | None = None,
    ) -> None:
        """Add (``sign`` 1) or take away (-1) the purchase gaps of the program's purchases
        with ids up to ``upto``: each purchase counted on its local day against the local
        day of its member's purchase one and two earlier (by time, then id). Only the
        members with a purchase of ids ``(members_of[0], members_of[1]]`` when given; only
        the purchases on local days ``days`` when given (their earlier purchases are read
        whenever they were)."""
        span = self.purchase_span(program_id)
        if span is None:
            return
        day = self.day_sql("t.occurred_at", timezone, span[0], span[1])
        params: dict[str, Any] = {"p": program_id, "upto": upto}
        who = ""
        if members_of is not None:
            who = (
                "AND t.member_id IN (SELECT n.member_id FROM purchases n "
                "WHERE n.program_id = :p AND n.id > :m_lo AND n.id <= :m_hi)"
            )
            params.update(m_lo=members_of[0], m_hi=members_of[1])
        when = ""
        if days is not None:
            when = "AND d >= :d_first AND d <= :d_last"
            params.update(d_first=days[0], d_last=days[1])
        n = "COUNT(*)" if sign > 0 else "-COUNT(*)"
        # each purchase's day and its member's two earlier purchases' days (a window over
        # the member's purchases in time order), counted by pair of days: the rows depend
        # on the days, not on the purchases
        self.conn.execute(
            text(f"""
                WITH x AS (
                    SELECT d, LAG(d, 1) OVER w AS p1, LAG(d, 2) OVER w AS p2
                    FROM (SELECT t.member_id, t.occurred_at, t.id, {day} AS d
                          FROM purchases t
                          WHERE t.program_id = :p AND t.id <= :upto {who}) s
                    WINDOW w AS (PARTITION BY member_id ORDER BY occurred_at, id)
                )
                INSERT INTO analytics_purchase_gaps (program_id, back, earlier, day, purchases)
                SELECT {int(program_id)}, g.back, g.earlier, g.day, g.n
                FROM (SELECT 1 AS back, p1 AS earlier, d AS day, {n} AS n
                      FROM x WHERE p1 IS NOT NULL {when} GROUP BY p1, d
                      UNION ALL
                      SELECT 2, p2, d, {n} FROM x WHERE p2 IS NOT NULL {when} GROUP BY p2, d) g
                WHERE 1 = 1
                ON CONFLICT (program_id, back, earlier, day) DO UPDATE SET
                    purchases = analytics_purchase_gaps.purchases + excluded.purchases"""),
            params,
        )

    def drop_empty_gaps(self, program_id: int) -> None:
        """Delete the program's gap rows that count nothing (a member's later purchase
        moved them to other days)."""
        g = analytics_purchase_gaps.c
        self.conn.execute(
            delete(analytics_purchase_gaps).where(g.program_id == program_id, g.purchases == 0)
        )

    def set_cohort_months(
        self, program_id: int, first: int | None = None, last: int | None = None
    ) -> None:
        """Recompute the cohort months of months ``first`` to ``last`` (every month when
        not given) from the member months: by month and enrolment month, the members
        active, those also active the month before, their purchases and revenue."""
        c = analytics_cohort_months.c
        q = delete(analytics_cohort_months).where(c.program_id == program_id)
        params: dict[str, Any] = {"p": program_id}
        months = ""
        if first is not None and last is not None:
            q = q.where(c.month_no >= first, c.month_no <= last)
            months = "AND c.month_no >= :a AND c.month_no <= :b"
            params.update(a=first, b=last)
        self.conn.execute(q)
        mm = "analytics_member_months"
        self.conn.execute(
            text(f"""
                INSERT INTO analytics_cohort_months
                    (program_id, month_no, cohort, active, retained, purchases, revenue_minor)
                SELECT {int(program_id)}, c.month_no, c.cohort, COUNT(*),
                       SUM(CASE WHEN p.member_id IS NULL THEN 0 ELSE 1 END),
                       SUM(c.purchases), SUM(c.revenue_minor)
                FROM {mm} c LEFT JOIN {mm} p ON p.program_id = c.program_id
                     AND p.month_no = c.month_no - 1 AND p.member_id = c.member_id
                WHERE c.program_id = :p {months}
                GROUP BY c.month_no, c.cohort"""),
            params,
        )

    def add_expiry(
        self,
        program_id: int,
        timezone: str,
        *,
        lots_of: tuple[int, int],
        draws_of: tuple[int, int],
        span: tuple[datetime, datetime] | None = None,
    ) -> None:
        """Add the points of the program's lots with ids in ``(lots_of[0], lots_of[1]]``
        to their local expiry day's ``due``, and the ``expire`` draws with ids in
        ``draws_of`` to their lot's expiry day's ``expired``; only the lots expiring in
        ``span`` (UTC) when given."""
        if lots_of[1] <= lots_of[0] and draws_of[1] <= draws_of[0]:
            return  # nothing new (and no scan of the lots by program for it)
        row = self.conn.execute(
            text(
                "SELECT MIN(expires_at), MAX(expires_at) FROM lots "
                "WHERE program_id = :p AND expires_at IS NOT NULL"
            ),
            {"p": program_id},
        ).one()
        lo, hi = _instant(row[0]), _instant(row[1], later=True)
        if lo is None or hi is None:
            return
        day = self.day_sql("l.expires_at", timezone, lo, hi)
        params: dict[str, Any] = {
            "p": program_id,
            "l_lo": lots_of[0],
            "l_hi": lots_of[1],
            "d_lo": draws_of[0],
            "d_hi": draws_of[1],
        }
        when = ""
        if span is not None:
            when = "AND l.expires_at >= :lo AND l.expires_at < :hi"
            params.update(lo=span[0], hi=span[1])
        p = int(program_id)
        for column, select_ in (
            (
                "due",
                f"""SELECT {p}, {day}, SUM(l.amount) FROM lots l
                    WHERE l.program_id = :p AND l.expires_at IS NOT NULL {when}
                      AND l.id > :l_lo AND l.id <= :l_hi
                    GROUP BY 2""",
            ),
            (
                "expired",
                f"""SELECT {p}, {day}, SUM(d.amount)
                    FROM lot_draws d JOIN lots l ON l.id = d.lot_id
                    WHERE d.kind = 'expire' AND d.id > :d_lo AND d.id <= :d_hi
                      AND l.program_id = :p AND l.expires_at IS NOT NULL {when}
                    GROUP BY 2""",
            ),
        ):
            self.conn.execute(
                text(f"""
                    INSERT INTO analytics_expiry_daily (program_id, day, {column})
                    {select_}
                    ON CONFLICT (program_id, day) DO UPDATE SET
                        {column} = analytics_expiry_daily.{column} + excluded.{column}"""),
                params,
            )

    def clear(self, program_id: int, first: date | None = None, last: date | None = None) -> None:
        """Delete the program's rollup rows (of days ``first`` to ``last`` when given)."""
        for table in (
            analytics_daily,
            analytics_rule_daily,
            analytics_purchase_gaps,
            analytics_expiry_daily,
        ):
            q = delete(table).where(table.c.program_id == program_id)
            if first is not None and last is not None:
                q = q.where(table.c.day >= first, table.c.day <= last)
            self.conn.execute(q)
        for months in (analytics_member_months, analytics_cohort_months):
            q = delete(months).where(months.c.program_id == program_id)
            if first is not None and last is not None:
                q = q.where(
                    months.c.month_no >= first.year * 12 + first.month - 1,
                    months.c.month_no <= last.year * 12 + last.month - 1,
                )
            self.conn.execute(q)

    # ---- reads -------------------------------------------------------------------------------
    def daily(
        self, program_id: int, first: date | None, last: date, dimension: str | None
    ) -> Iterator[tuple[date, str, list[int]]]:
        """The daily rows of the program (days up to ``last``, from ``first`` when given),
        summed over everything but ``dimension`` (``None``: the program whole)."""
        d = analytics_daily.c
        label = d[dimension] if dimension else None
        cols = [func.sum(d[c]) for c in DAILY_COLUMNS]
        q = select(d.day, *([label] if label is not None else []), *cols).where(
            d.program_id == program_id, d.day <= last
        )
        if first is not None:
            q = q.where(d.day >= first)
        q = q.group_by(d.day, *([label] if label is not None else []))
        n = 2 if label is not None else 1
        dates: dict[Any, date] = {}
        for row in self.conn.execute(q).all():
            day = dates.get(row[0])
            if day is None:
                day = dates[row[0]] = _as_date(row[0])
            # SUM of integer columns is an int (SQLite) or a Decimal/int (PostgreSQL)
            yield day, (str(row[1]) if n == 2 else ""), [int(v) for v in row[n:]]

    def bucket_sql(self, day: str, grain: str) -> str:
        """SQL for the first day of the bucket (``day``, ``week``: its Monday, ``month``:
        its first) the date column ``day`` falls in."""
        if grain == "week":
            if self.pg:
                return f"CAST(date_trunc('week', {day}) AS DATE)"
            return (
                f"date({day}, '-' || ((CAST(strftime('%w', {day}) AS INTEGER) + 6) % 7) || ' days')"
            )
        if grain == "month":
            if self.pg:
                return f"CAST(date_trunc('month', {day}) AS DATE)"
            return f"date({day}, 'start of month')"
        return day

    def series(
        self, program_id: int, first: date, last: date, grain: str, dimension: str | None
    ) -> list[tuple[str, str, tuple[int, ...]]]:
        """The series' figures of days ``first`` to ``last``, summed in SQL by bucket of
        ``grain`` (its first day, ISO) and (when given) the value of ``dimension``: points
        issued, redeemed, expired, adjusted, purchases, revenue, guest receipts, guest
        revenue, new members."""
        b = self.bucket_sql("day", grain)
        key = dimension if dimension in ("store", "channel", "tier") else "''"
        names = (
            "points_issued",
            "points_redeemed",
            "points_expired",
            "points_adjusted",
            "purchases",
            "revenue_minor",
            "guest_receipts",
            "guest_revenue_minor",
            "new_members",
        )
        # BIGINT: PostgreSQL's SUM of bigints is a numeric (a Decimal per value)
        sums = ", ".join(f"CAST(SUM({c}) AS BIGINT)" for c in names)
        rows = self.conn.execute(
            text(
                f"SELECT {b}, {key}, {sums} FROM analytics_daily "
                "WHERE program_id = :p AND day >= :a AND day <= :b GROUP BY 1, 2"
            ),
            {"p": program_id, "a": first, "b": last},
        ).all()
        # SQLite's days are ISO text already; PostgreSQL's are dates
        return [
            (r[0] if isinstance(r[0], str) else r[0].isoformat(), str(r[1]), tuple(r[2:]))
            for r in rows
        ]

    def gap_counts(self, program_id: int, first: date, last: date) -> tuple[int, int]:
        """Of the purchases on local days ``first`` to ``last``: how many have their
        member's previous purchase in those days too, and how many the one before that."""
        row = self.conn.execute(
            text("""
                SELECT COALESCE(SUM(CASE WHEN back = 1 THEN purchases ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN back = 2 THEN purchases ELSE 0 END), 0)
                FROM analytics_purchase_gaps
                WHERE program_id = :p AND back IN (1, 2)
                  AND earlier >= :a AND earlier <= :b AND day <= :b"""),
            {"p": program_id, "a": first, "b": last},
        ).one()
        return int(row[0]), int(row[1])

    def purchases_in(self, program_id: int, first: date, last: date) -> int:
        """The program's purchases on local days ``first`` to ``last``."""
        return int(
            self.conn.execute(
                text(
                    "SELECT COALESCE(SUM(purchases), 0) FROM analytics_daily"
                    " WHERE program_id = :p AND day >= :a AND day <= :b"
                ),
                {"p": program_id, "a": first, "b": last},
            ).scalar_one()
        )

    def expiry_days(self, program_id: int, first: date | None, last: date) -> tuple[int, int]:
        """Points of the lots due to expire on local days ``first`` (from the first when
        ``None``) to ``last``, and how many of them expired."""
        row = self.conn.execute(
            text("""
                SELECT COALESCE(SUM(due), 0), COALESCE(SUM(expired), 0)
                FROM analytics_expiry_daily
                WHERE program_id = :p AND (:a_null OR day >= :a) AND day <= :b"""),
            {"p": program_id, "a": first, "a_null": first is None, "b": last},
        ).one()
        return int(row[0]), int(row[1])

    def expiring(self, program_id: int, lo: datetime | None, hi: datetime) -> tuple[int, int]:
        """Points of the lots due to expire in ``[lo, hi)`` and how many of them expired."""
        row = self.conn.execute(
            text("""
                SELECT COALESCE(SUM(l.amount), 0),
                       COALESCE(SUM((SELECT COALESCE(SUM(d.amount), 0) FROM lot_draws d
                                     WHERE d.lot_id = l.id AND d.kind = 'expire')), 0)
                FROM lots l
                WHERE l.program_id = :p AND l.expires_at IS NOT NULL
                  AND (:lo_null OR l.expires_at >= :lo) AND l.expires_at < :hi"""),
            {"p": program_id, "lo": lo, "lo_null": lo is None, "hi": hi},
        ).one()
        return int(row[0]), int(row[1])

    def month_activity(
        self, program_id: int, first: int, last: int
    ) -> dict[int, tuple[int, int, int]]:
        """By month ``first - 1`` to ``last``: members active, active in the month before
        too, and new among the active (enrolled in the month)."""
        out: dict[int, tuple[int, int, int]] = {}
        for month, active, kept, new in self.conn.execute(
            text("""
                SELECT month_no, SUM(active), SUM(retained),
                       SUM(CASE WHEN cohort = month_no THEN active ELSE 0 END)
                FROM analytics_cohort_months
                WHERE program_id = :p AND month_no >= :a AND month_no <= :b
                GROUP BY month_no"""),
            {"p": program_id, "a": first - 1, "b": last},
        ):
            out[int(month)] = (int(active), int(kept or 0), int(new or 0))
        return out

    def cohorts(
        self, program_id: int, first: int, last: int
    ) -> dict[int, dict[int, tuple[int, int]]]:
        """By enrolment month ``first`` to ``last`` and months since: members active and
        their revenue."""
        out: dict[int, dict[int, tuple[int, int]]] = {}
        for cohort, offset, n, revenue in self.conn.execute(
            text("""
                SELECT cohort, month_no - cohort, active, revenue_minor
                FROM analytics_cohort_months
                WHERE program_id = :p AND cohort >= :a AND cohort <= :b
                  AND month_no >= cohort"""),
            {"p": program_id, "a": first, "b": last},
        ):
            out.setdefault(int(cohort), {})[int(offset)] = (int(n), int(revenue or 0))
        return out

    def rules(self, program_id: int, first: date, last: date) -> list[tuple[str, int, int]]:
        """Points and awards by rule over days ``first`` to ``last``, most points first."""
        r = analytics_rule_daily.c
        q = (
            select(r.rule_id, func.sum(r.points), func.sum(r.awards))
            .where(r.program_id == program_id, r.day >= first, r.day <= last)
            .group_by(r.rule_id)
            .order_by(func.sum(r.points).desc(), r.rule_id)
        )
        return [(str(a), int(b or 0), int(c or 0)) for a, b, c in self.conn.execute(q)]

    # ---- settings, alerts, guest receipts ---------------------------------------------------
    def settings(self, program_id: int) -> tuple[int | None, int]:
        """The program's budget cap (basis points of turnover) and active days."""
        s = analytics_settings.c
        row = self.conn.execute(
            select(s.budget_cap_bp, s.active_days).where(s.program_id == program_id)
        ).first()
        return (None, 90) if row is None else (row[0], int(row[1]))

    def save_settings(
        self, program_id: int, cap_bp: int | None, active_days: int, at: datetime
    ) -> None:
        """Store the program's budget cap and active days."""
        self._upsert(
            analytics_settings,
            [
                {
                    "program_id": program_id,
                    "budget_cap_bp": cap_bp,
                    "active_days": active_days,
                    "updated_at": at,
                }
            ],
            ["program_id"],
            set_=("budget_cap_bp", "active_days", "updated_at"),
        )

    def alert_once(self, program_id: int, kind: str, month: str, at: datetime) -> bool:
        """Record the alert ``kind`` of ``month``; ``False`` when it was recorded already."""
        a = analytics_alerts.c
        exists = self.conn.execute(
            select(a.at).where(a.program_id == program_id, a.kind == kind, a.month == month)
        ).first()
        if exists is not None:
            return False
        self.conn.execute(
            analytics_alerts.insert().values(program_id=program_id, kind=kind, month=month, at=at)
        )
        return True

    def alerted_months(self, program_id: int, kind: str) -> set[str]:
        """The months whose alert ``kind`` was written."""
        a = analytics_alerts.c
        return {
            str(m)
            for (m,) in self.conn.execute(
                select(a.month).where(a.program_id == program_id, a.kind == kind)
            )
        }

    def add_guest_receipt(
        self,
        program_id: int,
        receipt_id: str,
        occurred_at: datetime,
        store: str | None,
        channel: str | None,
        total_minor: int,
        at: datetime,
    ) -> tuple[bool, int, datetime]:
        """Record a receipt without a member; an id already recorded is kept as it was
        (answers whether it is new, and the stored total and time)."""
        g = guest_receipts.c
        row = self.conn.execute(
            select(g.total_minor, g.occurred_at).where(
                g.program_id == program_id, g.receipt_id == receipt_id
            )
        ).first()
        if row is not None:
            return False, int(row[0]), _instant(row[1]) or occurred_at
        self.conn.execute(
            guest_receipts.insert().values(
                program_id=program_id,
                receipt_id=receipt_id,
                occurred_at=occurred_at,
                store=store,
                channel=channel,
                total_minor=total_minor,
                recorded_at=at,
            )
        )
        return True, total_minor, occurred_at


def _instant(value: Any, *, later: bool = False) -> datetime | None:
    """A database's datetime (SQLite: text) as an aware UTC instant; ``later``: just after
    it (the end of a half-open span)."""
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if later:
        at += timedelta(microseconds=1)
    return at
