"""Tier rows: a member's standing (``member_tiers``), the history of changes
(``tier_changes``) and the metrics a tier is judged on, summed from purchases and returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from kopilka.domain.tiers import Threshold, Tier
from kopilka.store.db import FastFamily, FastStatement
from kopilka.store.repos import new_id
from kopilka.store.repos.outbox import EVENT_COLUMNS, INSERT_ONE, NewEvent, one_row
from kopilka.store.rows import db_json, db_time, insert_rows, sqlite_many
from kopilka.store.tables import (
    journal_entries,
    member_tiers,
    members,
    outbox_events,
    postings,
    purchases,
    returns,
    tier_changes,
)
from kopilka.store.types import UTCDateTime

# the references of the earnings of event rules Kopilka counts as events' points: events
# sent to it and birthdays; a tier's welcome bonus (``tier_change:``) never, or reaching a
# tier could lift the member to the next one by itself
EVENT_REFERENCES = ("event:%", "birthday:%")

# bounds standing for "no bound" in the purchase path's one query
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _window_sums() -> FastStatement:
    """One round trip on the purchase path: the metrics of a window (spend, points,
    purchases, and what returns of those purchases took back), the member's standing and
    effective tier: the member's row joined to their standing and to two one-row sums over
    their purchases by ``(member_id, occurred_at)`` (as :data:`PG_VIEW`; a scalar
    subquery per value read the purchases three times and the standing five)."""
    p, r, t, m = purchases.c, returns.c, member_tiers.c, members.c
    in_window = (
        p.member_id == bindparam("m"),
        p.occurred_at >= bindparam("s"),
        p.occurred_at < bindparam("e"),
    )
    buys = (
        select(
            func.coalesce(func.sum(p.total_minor - p.discount_minor), 0).label("spend"),
            func.coalesce(func.sum(p.points_earned), 0).label("points"),
            func.count().label("n"),
        )
        .where(*in_window)
        .subquery("w")
    )
    backs = (
        select(
            func.coalesce(func.sum(r.refund_minor), 0).label("spend"),
            func.coalesce(func.sum(r.points_clawed_back), 0).label("points"),
        )
        .select_from(returns.join(purchases, r.purchase_id == p.id))
        .where(*in_window)
        .subquery("b")
    )
    return FastStatement(
        select(
            buys.c.spend,
            buys.c.points,
            buys.c.n,
            backs.c.spend,
            backs.c.points,
            t.member_id.is_not(None).label("stored"),
            t.earned_tier,
            t.manual_tier,
            t.manual_until,
            t.paid_tier,
            t.paid_until,
            m.tier_code,
        )
        .select_from(
            members.outerjoin(member_tiers, t.member_id == m.id)
            .join(buys, true())
            .join(backs, true())
        )
        .where(m.id == bindparam("m"))
    )


# a purchase's upgrade, written without Connection.execute's overhead (about one
# purchase in three of a new program's first days reaches its first tier)
_INSERT_STANDING = FastStatement(
    insert(member_tiers).values(
        member_id=bindparam("m"),
        program_id=bindparam("p"),
        earned_tier=bindparam("t"),
        review_due=bindparam("d"),
        updated_at=bindparam("now"),
    )
)
_UPDATE_EARNED = FastStatement(
    update(member_tiers)
    .where(member_tiers.c.member_id == bindparam("m"))
    .values(
        earned_tier=bindparam("t"),
        grace_since=null(),  # not a bound value: spliced into a family on PostgreSQL
        review_due=bindparam("d"),
        updated_at=bindparam("now"),
    )
)
_SET_TIER_CODE = FastStatement(
    update(members)
    .where(members.c.id == bindparam("m"))
    .values(tier_code=bindparam("t"), tier_until=bindparam("u"))
)
_CHANGE_KEYS = (
    "program_id",
    "member_id",
    "from_tier",
    "to_tier",
    "at",
    "reason",
    "metrics",
    "thresholds",
    "rule_version",
    "actor",
    "note",
)
_INSERT_CHANGE = FastStatement(insert(tier_changes), _CHANGE_KEYS)
# a purchase's upgrade in one statement on PostgreSQL (one after the other elsewhere): the
# history line (its id returned, for a welcome bonus's entries) with, attached, the
# standing's insert or update, the effective tier when it changed, and the ``tier.changed``
# event when the effective tier changed; by (standing stored, tier set, event)
_INSERT_CHANGE_ID = FastStatement(insert(tier_changes).returning(tier_changes.c.id), _CHANGE_KEYS)
_UPGRADES = {
    (stored, code, event): FastFamily(
        _INSERT_CHANGE_ID,
        "id",
        (),
        attached=(
            _UPDATE_EARNED if stored else _INSERT_STANDING,
            *((_SET_TIER_CODE,) if code else ()),
            *((INSERT_ONE,) if event else ()),
        ),
    )
    for stored in (False, True)
    for code in (False, True)
    for event in (False, True)
}


# a review's or recompute's batch, written in bulk (services/tiers.py: _Writes)
_STANDING_KEYS = (
    "member_id",
    "program_id",
    "earned_tier",
    "manual_tier",
    "manual_until",
    "manual_reason",
    "grace_since",
    "paid_tier",
    "paid_until",
    "review_due",
    "updated_at",
)
_UPDATE_STANDING = FastStatement(
    update(member_tiers)
    .where(member_tiers.c.member_id == bindparam("m"))
    .values(
        earned_tier=bindparam("earned_tier"),
        manual_tier=bindparam("manual_tier"),
        manual_until=bindparam("manual_until"),
        manual_reason=bindparam("manual_reason"),
        grace_since=bindparam("grace_since"),
        paid_tier=bindparam("paid_tier"),
        paid_until=bindparam("paid_until"),
        review_due=bindparam("review_due"),
        updated_at=bindparam("updated_at"),
    )
)
# PostgreSQL: a batch's updates as one statement over arrays (psycopg's executemany sends
# one statement per row); the values are cast as the columns are typed
_PG_UPDATE_STANDINGS = text(
    "UPDATE member_tiers AS t SET earned_tier = u.earned_tier, manual_tier = u.manual_tier, "
    "manual_until = u.manual_until, manual_reason = u.manual_reason, "
    "grace_since = u.grace_since, paid_tier = u.paid_tier, paid_until = u.paid_until, "
    "review_due = u.review_due, updated_at = u.updated_at "
    "FROM unnest(CAST(:m AS bigint[]), CAST(:earned_tier AS varchar[]), "
    "CAST(:manual_tier AS varchar[]), CAST(:manual_until AS timestamptz[]), "
    "CAST(:manual_reason AS varchar[]), CAST(:grace_since AS timestamptz[]), "
    "CAST(:paid_tier AS varchar[]), CAST(:paid_until AS timestamptz[]), "
    "CAST(:review_due AS timestamptz[]), CAST(:updated_at AS timestamptz[])) "
    "AS u(member_id, earned_tier, manual_tier, manual_until, manual_reason, grace_since, "
    "paid_tier, paid_until, review_due, updated_at) "
    "WHERE t.member_id = u.member_id"
)
# the rows as one JSON text (orjson writes it in C; psycopg would dump three arrays
# element by element in Python)
_PG_SET_TIER_CODES = (
    "UPDATE members AS m SET tier_code = u.t, tier_until = u.u "
    "FROM json_to_recordset(%s::json) AS u(m bigint, t varchar, u timestamptz) "
    "WHERE m.id = u.m"
)


@dataclass(frozen=True, slots=True)
class PurchaseView:
    """What the purchase path reads in its one query: the window's metrics, the
    member's standing (``stored``: a row exists) and effective tier."""

    metrics: tuple[int, int, int]
    stored: bool
    earned_tier: str | None
    manual_tier: str | None
    manual_until: datetime | None
    tier_code: str | None
    paid_tier: str | None = None
    paid_until: datetime | None = None


_WINDOW = _window_sums()

# PostgreSQL: what ``_WINDOW`` reads, as a query of the purchase's own statement
# (``PurchaseRepo.add_and_view``: ``FastFamily.insert_and_read``); it sees the member's
# purchases without the one being written, which ``view_with`` adds
PG_VIEW = (
    "SELECT w.spend - b.spend AS spend, w.points - b.points AS points, w.n AS n, "
    "t.member_id IS NOT NULL AS stored, t.earned_tier AS earned_tier, "
    "t.manual_tier AS manual_tier, t.manual_until AS manual_until, "
    "t.paid_tier AS paid_tier, t.paid_until AS paid_until, m.tier_code AS tier_code "
    "FROM (SELECT coalesce(sum(total_minor - discount_minor), 0) AS spend, "
    "coalesce(sum(points_earned), 0) AS points, count(*) AS n FROM purchases "
    "WHERE member_id = %(m)s::bigint AND occurred_at >= %(s)s::timestamptz "
    "AND occurred_at < %(e)s::timestamptz) AS w, "
    "(SELECT coalesce(sum(r.refund_minor), 0) AS spend, "
    "coalesce(sum(r.points_clawed_back), 0) AS points "
    "FROM returns AS r JOIN purchases AS p ON r.purchase_id = p.id "
    "WHERE p.member_id = %(m)s::bigint AND p.occurred_at >= %(s)s::timestamptz "
    "AND p.occurred_at < %(e)s::timestamptz) AS b, "
    "members AS m LEFT JOIN member_tiers AS t ON t.member_id = m.id "
    "WHERE m.id = %(m)s::bigint"
)


def view_params(member_id: int, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """The parameters of :data:`PG_VIEW` (and of ``_WINDOW``) for a window."""
    return {"m": member_id, "s": start or EARLIEST, "e": end or LATEST}


def _utc(at: datetime | None) -> datetime | None:
    return None if at is None else at.astimezone(UTC)


def view_with(
    row: tuple[Any, ...],
    start: datetime | None,
    end: datetime | None,
    occurred_at: datetime,
    spend_minor: int,
    points: int,
) -> PurchaseView:
    """The view of :data:`PG_VIEW`'s ``row`` (read before a purchase was written) with
    that purchase (at ``occurred_at``, ``spend_minor`` after discounts, ``points``
    earned) counted when it falls in ``[start, end)``: what ``_WINDOW`` reads after it."""
    spend, earned, count, stored, tier, manual, until, paid, paid_until, code = row
    inside = (start is None or occurred_at >= start) and (end is None or occurred_at < end)
    metrics = (int(spend), int(earned), int(count))
    if inside:
        metrics = (metrics[0] + spend_minor, metrics[1] + points, metrics[2] + 1)
    return PurchaseView(
        metrics, bool(stored), tier, manual, _utc(until), code, paid, _utc(paid_until)
    )


@dataclass(slots=True)
class Standing:
    """A member's stored tier standing (a member without a row has earned nothing)."""

    member_id: int
    earned_tier: str | None = None
    manual_tier: str | None = None
    manual_until: datetime | None = None
    manual_reason: str | None = None
    grace_since: datetime | None = None
    stored: bool = False
    paid_tier: str | None = None
    paid_until: datetime | None = None
    # the next anniversary review (reset whenever the earned tier changes)
    review_due: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredChange:
    """One line of a member's tier history."""

    id: int
    from_tier: str | None
    to_tier: str | None
    at: datetime
    reason: str
    metrics: dict[str, int] | None
    thresholds: dict[str, int] | None
    rule_version: int | None
    actor: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Screen:
    """What lets the database pass over the members of a review's or recompute's batch
    that nothing can happen to, so that they never reach Python: no manual or paid floor,
    the stored effective tier equal to the earned one, and no tier's entry bar met above
    the earned tier (a recompute); for a review also not in grace, nothing qualifying above
    it in the period under way, and the earned tier's retention bar met (or nothing to
    lose). A sufficient test only: every member it lets through is decided in Python."""

    tiers: tuple[Tier, ...]  # lowest first
    combine_all: bool
    review: bool  # a review's test; else a recompute's (only a rise changes anything)
    downgrades: bool  # a review: whether a missed retention bar changes anything


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One member of a review's or recompute's batch: the standing, the stored effective
    tier and the metrics of the judged window and (a calendar review) of the period under
    way, purchases' points included only when asked (``(0, 0, 0)``: nothing there)."""

    standing: Standing
    tier_code: str | None
    judged: tuple[int, int, int]
    current: tuple[int, int, int] | None


Window = tuple[datetime | None, datetime | None]


# the test of a column of member ids against a list of them (``_batch_sums``)
Among = Callable[[ColumnElement[int]], ColumnElement[bool]]


def _batch_sums(
    name: str,
    window: Window,
    first: int,
    last: int,
    purchase_points: bool,
    among: Among | None = None,
) -> tuple[Any, Any, tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]]:
    """The purchases and what returns took back of them in ``window``, summed per member of
    ids ``first`` to ``last`` (and ``among`` a few of them), as two grouped subqueries to
    join to the members, and the (spend, points, purchases) expressions over them (0 when
    absent)."""
    p, r = purchases.c, returns.c
    start, end = window
    where: list[ColumnElement[bool]] = [p.member_id >= first, p.member_id <= last]
    if among is not None:
        where.append(among(p.member_id))
    if start is not None:
        where.append(p.occurred_at >= start)
    if end is not None:
        where.append(p.occurred_at < end)
    buys = (
        select(
            p.member_id.label("member_id"),
            func.sum(p.total_minor - p.discount_minor).label("spend"),
            func.sum(p.points_earned).label("points"),
            func.count().label("n"),
        )
        .where(*where)
        .group_by(p.member_id)
        .subquery(f"{name}_buys")
    )
    backs = (
        select(
            p.member_id.label("member_id"),
            func.sum(r.refund_minor).label("spend"),
            func.sum(r.points_clawed_back).label("points"),
        )
        .select_from(returns.join(purchases, r.purchase_id == p.id))
        .where(*where)
        .group_by(p.member_id)
        .subquery(f"{name}_backs")
    )
    spend = func.coalesce(buys.c.spend, 0) - func.coalesce(backs.c.spend, 0)
    points: ColumnElement[Any] = (
        func.coalesce(buys.c.points, 0) - func.coalesce(backs.c.points, 0)
        if purchase_points
        else literal(0)
    )
    return buys, backs, (spend, points, func.coalesce(buys.c.n, 0))


def _met(bar: Threshold, sums: tuple[Any, Any, Any], combine_all: bool) -> ColumnElement[bool]:
    """SQL of ``Threshold.met``: the bar's tested metrics against the sums."""
    by_name = {"spend": sums[0], "points": sums[1], "purchases": sums[2]}
    parts = [by_name[name] >= value for name, value in bar.parts()]
    if not parts:
        return true()
    return and_(*parts) if combine_all else or_(*parts)


def _qualified_rank(
    tiers: tuple[Tier, ...], sums: tuple[Any, Any, Any], combine_all: bool
) -> ColumnElement[int]:
    """SQL of ``TierPolicy.qualified``'s rank: the highest tier whose entry bar is met."""
    whens = [(_met(t.entry, sums, combine_all), i) for i, t in reversed(list(enumerate(tiers)))]
    return case(*whens, else_=-1)


def _earned_rank(tiers: tuple[Tier, ...]) -> ColumnElement[int]:
    """SQL of the stored earned tier's rank (-1: none, or a code the policy lacks)."""
    return case(
        {tier.code: i for i, tier in enumerate(tiers)}, value=member_tiers.c.earned_tier, else_=-1
    )


def _with_standings(first: int, last: int, buys: Any, backs: Any) -> Any:
    """The members joined to their standings and to a window's sums (``_batch_sums``),
    for ids ``first`` to ``last``; the standings' range named as well: PostgreSQL
    otherwise hashed every standing of the table (a sequential scan of a million rows per
    batch)."""
    m, t = members.c, member_tiers.c
    standings = and_(t.member_id == m.id, t.member_id >= first, t.member_id <= last)
    return (
        members.outerjoin(member_tiers, standings)
        .outerjoin(buys, buys.c.member_id == m.id)
        .outerjoin(backs, backs.c.member_id == m.id)
    )


def _unchanged(
    screen: Screen,
    judged: tuple[Any, Any, Any],
    current: tuple[Any, Any, Any] | None,
) -> ColumnElement[bool]:
    """SQL true for a member the screen proves unchanged (never NULL)."""
    m, t = members.c, member_tiers.c
    earned = _earned_rank(screen.tiers)
    tests: list[ColumnElement[bool]] = [
        t.manual_tier.is_(None),
        t.paid_tier.is_(None),
        m.tier_code.is_not_distinct_from(t.earned_tier),
        _qualified_rank(screen.tiers, judged, screen.combine_all) <= earned,
    ]
    if screen.review:
        tests.append(t.grace_since.is_(None))
        if current is not None:
            tests.append(_qualified_rank(screen.tiers, current, screen.combine_all) <= earned)
        if screen.downgrades:
            kept = [
                and_(t.earned_tier == tier.code, _met(tier.keep, judged, screen.combine_all))
                for tier in screen.tiers
            ]
            tests.append(or_(earned < 0, *kept))
    return and_(*tests)


# a recompute's plain rises of one batch (``TierRepo.raise_in_bulk``): a temporary table
# on the transaction's connection, dropped before it commits
_RISES = Table(
    "tier_rises",
    MetaData(),
    Column("member_id", BigInteger, primary_key=True, autoincrement=False),
    Column("before", String(64)),
    Column("after", String(64)),
    Column("stored", Boolean),
    Column("spend", BigInteger),
    Column("points", BigInteger),
    Column("purchases", BigInteger),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True, slots=True)
class BulkRise:
    """What a recompute's rises in bulk write beside the tiers: the instant, the next
    review of a tier reached then, the rules version, the history lines' reason and note,
    the ``tier.changed`` events' schema version and, by tier reached, the bar stored as
    having decided it."""

    now: datetime
    review_due: datetime
    rule_version: int
    reason: str
    note: str
    schema_version: int
    bars: dict[str, dict[str, int]]


def _uuid4(dialect: str) -> ColumnElement[str]:
    """SQL of a random (version 4) UUID's text, as ``str(uuid.uuid4())`` writes it."""
    if dialect == "postgresql":
        return cast(func.gen_random_uuid(), String)

    def hexes(n: int) -> Any:
        return func.lower(func.hex(func.randomblob(n)))

    uuid: ColumnElement[str] = (
        hexes(4)
        + "-"
        + hexes(2)
        + "-4"
        + func.substr(hexes(2), 2)
        + "-"
        + func.substr("89ab", 1 + func.abs(func.random()) % 4, 1)
        + func.substr(hexes(2), 2)
        + "-"
        + hexes(6)
    )
    return uuid


def _json_object(dialect: str, *pairs: Any) -> ColumnElement[Any]:
    """SQL of a JSON object of ``key, value, ...`` as the column stores it."""
    if dialect == "postgresql":
        return func.jsonb_build_object(*pairs)
    return func.json_object(*pairs)


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as one list per key (the arrays of a PostgreSQL ``unnest``)."""
    return {k: [r[k] for r in rows] for k in rows[0]}


class TierRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock_members(self, program_id: int, member_ids: list[int]) -> None:
        """Lock the members' balance rows (in id order) as ``LedgerRepo.lock_balances``
        and a purchase lock them, reading nothing: a review's batch. PostgreSQL only (one
        array parameter); on SQLite the writer already holds the whole database."""
        if self.conn.dialect.name != "postgresql" or not member_ids:
            return
        self.conn.exec_driver_sql(
            "SELECT member_id FROM member_balances WHERE program_id = %(p)s "
            "AND member_id = ANY(%(ids)s) ORDER BY member_id FOR UPDATE",
            {"p": program_id, "ids": sorted(member_ids)},
        )

    def plan_for_values(self) -> None:
        """PostgreSQL: plan this transaction's statements for their own values. psycopg
        prepares a statement run five times, and PostgreSQL then settles on a generic plan;
        for a batch's ranges of member ids that plan read the purchases table whole (a
        recompute again at 1,000,000 members: 63 s, against 16 s planned per batch)."""
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        else:
            self.conn.exec_driver_sql("PRAGMA cache_size = -131072")

    @property
    def reads_before_locks(self) -> bool:
        """Whether what a transaction read before it locked a member's rows may be stale
        once it holds the lock (PostgreSQL, read committed); SQLite's writer holds the
        whole database from its first statement."""
        return self.conn.dialect.name == "postgresql"

    def metrics(
        self, member_id: int, start: datetime | None, end: datetime | None
    ) -> tuple[int, int, int]:
        """Spend (minor units), points earned and purchases of the member's purchases in
        ``[start, end)``, each less what returns of those purchases took back."""
        p = purchases.c
        where = [p.member_id == member_id]
        if start is not None:
            where.append(p.occurred_at >= start)
        if end is not None:
            where.append(p.occurred_at < end)
        row = self.conn.execute(
            select(
                func.coalesce(func.sum(p.total_minor - p.discount_minor), 0),
                func.coalesce(func.sum(p.points_earned), 0),
                func.count(),
            ).where(*where)
        ).one()
        r = returns.c
        back = self.conn.execute(
            select(
                func.coalesce(func.sum(r.refund_minor), 0),
                func.coalesce(func.sum(r.points_clawed_back), 0),
            )
            .select_from(returns.join(purchases, r.purchase_id == p.id))
            .where(*where)
        ).one()
        return int(row[0]) - int(back[0]), int(row[1]) - int(back[1]), int(row[2])

    def other_points(
        self,
        member_id: int,
        start: datetime | None,
        end: datetime | None,
        *,
        events: bool,
        adjustments: bool,
    ) -> int:
        """Qualifying points from outside purchases earned in ``[start, end)``: the points of
        event rules (less what reversals took back of them) with ``events``, the net of
        support's adjustments (added less deducted) with ``adjustments``."""
        e = journal_entries.c
        where = [e.member_id == member_id]
        if start is not None:
            where.append(e.occurred_at >= start)
        if end is not None:
            where.append(e.occurred_at < end)
        total = 0
        if events:
            earned = and_(
                *where, e.kind == "earn", or_(*(e.reference.like(r) for r in EVENT_REFERENCES))
            )
            total += int(
                self.conn.execute(
                    select(func.coalesce(func.sum(e.points), 0)).where(earned)
                ).scalar_one()
            )
            back = aliased(journal_entries)
            total -= int(
                self.conn.execute(
                    select(func.coalesce(func.sum(back.c.points), 0))
                    .select_from(back.join(journal_entries, back.c.reverses_entry_id == e.id))
                    .where(earned, back.c.kind == "reverse")
                ).scalar_one()
            )
        if adjustments:
            # an adjustment moves points between the member and the program's
            # ``adjustments`` account: that posting is minus the member's delta
            p = postings.c
            total -= int(
                self.conn.execute(
                    select(func.coalesce(func.sum(p.amount), 0))
                    .select_from(journal_entries.join(postings, p.entry_id == e.id))
                    .where(*where, e.kind == "adjust", p.account == "adjustments")
                ).scalar_one()
            )
        return total

    def other_points_between(
        self,
        first: int,
        last: int,
        start: datetime | None,
        end: datetime | None,
        *,
        events: bool,
        adjustments: bool,
    ) -> dict[int, int]:
        """:meth:`other_points` of ``[start, end)`` for every member with an id from
        ``first`` to ``last`` who has any, summed per member by the database (a review's
        or recompute's batch); a member without such points is absent."""
        e = journal_entries.c
        where = [e.member_id >= first, e.member_id <= last]
        if start is not None:
            where.append(e.occurred_at >= start)
        if end is not None:
            where.append(e.occurred_at < end)
        found: dict[int, int] = {}

        def add(rows: Any, sign: int) -> None:
            for mid, points in rows:
                found[int(mid)] = found.get(int(mid), 0) + sign * int(points or 0)

        if events:
            earned = and_(
                *where, e.kind == "earn", or_(*(e.reference.like(r) for r in EVENT_REFERENCES))
            )
            add(
                self.conn.execute(
                    select(e.member_id, func.sum(e.points)).where(earned).group_by(e.member_id)
                ).all(),
                1,
            )
            back = aliased(journal_entries)
            add(
                self.conn.execute(
                    select(e.member_id, func.sum(back.c.points))
                    .select_from(back.join(journal_entries, back.c.reverses_entry_id == e.id))
                    .where(earned, back.c.kind == "reverse")
                    .group_by(e.member_id)
                ).all(),
                -1,
            )
        if adjustments:
            # the ``adjustments`` account's posting is minus the member's delta
            p = postings.c
            add(
                self.conn.execute(
                    select(e.member_id, func.sum(p.amount))
                    .select_from(journal_entries.join(postings, p.entry_id == e.id))
                    .where(*where, e.kind == "adjust", p.account == "adjustments")
                    .group_by(e.member_id)
                ).all(),
                -1,
            )
        return found

    def reached_at(self, member_id: int, tier: str) -> datetime | None:
        """When the member's tier history last shows them reaching ``tier`` (the newest
        change to it), for a standing stored before reviews had due dates."""
        c = tier_changes.c
        at: datetime | None = self.conn.execute(
            select(func.max(c.at)).where(c.member_id == member_id, c.to_tier == tier)
        ).scalar_one_or_none()
        return at

    def purchase_view(
        self, member_id: int, start: datetime | None, end: datetime | None
    ) -> PurchaseView:
        """The metrics of ``[start, end)`` (as :meth:`metrics`) with the member's standing
        and effective tier, in one round trip (the purchase path's statement)."""
        row = _WINDOW.tuples(self.conn, view_params(member_id, start, end))[0]
        (spend, points, count, back_spend, back_points, stored, earned, manual, until) = row[:9]
        paid, paid_until, code = row[9:]
        return PurchaseView(
            (int(spend) - int(back_spend or 0), int(points) - int(back_points or 0), int(count)),
            bool(stored),
            earned,
            manual,
            until,
            code,
            paid,
            paid_until,
        )

    def record_upgrade(
        self,
        program_id: int,
        view: PurchaseView,
        member_id: int,
        earned: str,
        effective: str | None,
        now: datetime,
        change: dict[str, Any],
        until: datetime | None = None,
        review_due: datetime | None = None,
        event: NewEvent | None = None,
    ) -> int:
        """Store a purchase's upgrade: the earned tier (grace ends; the next anniversary
        review ``review_due``), the effective tier (and when it lapses by time, ``until``)
        when either changed, the history line ``change`` (tier_changes' other columns) and
        ``event`` (the ``tier.changed`` event, when the effective tier changed), in one
        statement on PostgreSQL; the history line's id."""
        code = bool(effective != view.tier_code or view.manual_until or view.paid_until)
        attached = [{"m": member_id, "p": program_id, "t": earned, "now": now, "d": review_due}]
        if code:
            attached.append({"m": member_id, "t": effective, "u": until})
        if event is not None:
            attached.append(one_row(event))
        row = {"program_id": program_id, "member_id": member_id, "at": now, **change}
        return _UPGRADES[view.stored, code, event is not None].insert(self.conn, row, (), attached)

    def batch(
        self,
        program_id: int,
        first: int,
        last: int,
        judged: Window,
        current: Window | None,
        *,
        purchase_points: bool,
        screen: Screen | None = None,
        only: list[int] | None = None,
    ) -> list[BatchRow]:
        """The program's members (erased ones left out) with ids ``first`` to ``last``,
        each with their standing, stored effective tier and the metrics of ``judged`` and
        ``current`` (:meth:`window_metrics` of each window, the purchases' points only
        with ``purchase_points``), in id order, in one query; with ``screen``, only the
        members it does not prove unchanged; with ``only``, only those members (a few of
        the range: the sums are still taken over the range)."""
        q = self._batch_query(
            program_id, first, last, judged, current, purchase_points, screen, only, False
        )
        found: list[BatchRow] = []
        for row in self.conn.execute(q).all():
            mid, code, stored, earned, manual, until, reason, grace = row[:8]
            paid, paid_until, due = row[8:11]
            standing = (
                Standing(mid, earned, manual, until, reason, grace, True, paid, paid_until, due)
                if stored is not None
                else Standing(mid)
            )
            sj, pj, nj = row[11:14]
            now = (int(row[14]), int(row[15]), int(row[16])) if current is not None else None
            found.append(BatchRow(standing, code, (int(sj), int(pj), int(nj)), now))
        return found

    def batch_ids(
        self,
        program_id: int,
        first: int,
        last: int,
        judged: Window,
        current: Window | None,
        *,
        purchase_points: bool,
        screen: Screen | None = None,
    ) -> list[int]:
        """The ids :meth:`batch` would answer for, nothing else (PostgreSQL reads the
        members again once they are locked)."""
        q = self._batch_query(
            program_id, first, last, judged, current, purchase_points, screen, None, True
        )
        return list(self.conn.execute(q).scalars().all())

    def _batch_query(
        self,
        program_id: int,
        first: int,
        last: int,
        judged: Window,
        current: Window | None,
        purchase_points: bool,
        screen: Screen | None,
        only: list[int] | None,
        ids_only: bool,
    ) -> Any:
        m, t = members.c, member_tiers.c
        among = None if only is None else self._among(only)
        sums = _batch_sums("judged", judged, first, last, purchase_points, among)
        source = _with_standings(first, last, sums[0], sums[1])
        columns: list[Any] = [*sums[2]]
        now_sums = None
        if current is not None:
            now_sums = _batch_sums("current", current, first, last, purchase_points, among)
            source = source.outerjoin(now_sums[0], now_sums[0].c.member_id == m.id).outerjoin(
                now_sums[1], now_sums[1].c.member_id == m.id
            )
            columns += [*now_sums[2]]
        every = (
            [m.id]
            if ids_only
            else [
                m.id,
                m.tier_code,
                t.member_id,
                t.earned_tier,
                t.manual_tier,
                t.manual_until,
                t.manual_reason,
                t.grace_since,
                t.paid_tier,
                t.paid_until,
                t.review_due,
                *columns,
            ]
        )
        q = (
            select(*every)
            .select_from(source)
            .where(
                m.program_id == program_id,
                m.id >= first,
                m.id <= last,
                m.erased_at.is_(None),
            )
            .order_by(m.id)
        )
        if among is not None:
            q = q.where(among(m.id))
        if screen is not None:
            q = q.where(
                not_(_unchanged(screen, sums[2], now_sums[2] if now_sums is not None else None))
            )
        return q

    def raise_in_bulk(
        self,
        program_id: int,
        first: int,
        last: int,
        judged: Window,
        tiers: tuple[Tier, ...],
        combine_all: bool,
        rise: BulkRise,
        *,
        purchase_points: bool,
    ) -> list[tuple[int, str | None, str]]:
        """A recompute's plain rises among the members with ids ``first`` to ``last``,
        decided and written by the database in a few statements: a member with no manual
        or paid floor, not in grace, whose stored effective tier is the earned one and
        whose ``judged`` window's metrics meet a higher tier's entry bar rises to the
        highest such tier, with what ``services/tiers.py: _apply`` writes for that rise
        (the standing, the effective tier, the history line with the metrics and the bar,
        the ``tier.changed`` event). Answers ``(member, before, after)`` of each in id
        order. The caller holds the range's locks (PostgreSQL) and checked that no welcome
        bonus is due on a rise (each is a ledger earning)."""
        dialect = self.conn.dialect.name
        m, t, r = members.c, member_tiers.c, _RISES.c
        buys, backs, sums = _batch_sums("judged", judged, first, last, purchase_points)
        rank = _qualified_rank(tiers, sums, combine_all)
        earned = _earned_rank(tiers)
        source = _with_standings(first, last, buys, backs)
        q = select(
            m.id,
            m.tier_code,
            case({i: tier.code for i, tier in enumerate(tiers)}, value=rank),
            t.member_id.is_not(None),
            *sums,
        ).select_from(source)
        q = q.where(
            m.program_id == program_id,
            m.id >= first,
            m.id <= last,
            m.erased_at.is_(None),
            t.manual_tier.is_(None),
            t.paid_tier.is_(None),
            t.grace_since.is_(None),
            m.tier_code.is_not_distinct_from(t.earned_tier),
            rank > earned,
        )
        _RISES.drop(self.conn, checkfirst=True)
        _RISES.create(self.conn)
        try:
            self.conn.execute(insert(_RISES).from_select([c.name for c in _RISES.c], q))
            if dialect == "postgresql":
                # its size known to the planner (a temporary table has no statistics
                # until analysed, and its joins were planned as if it were large)
                self.conn.exec_driver_sql("ANALYZE tier_rises")
            raised = [
                (int(mid), before, after)
                for mid, before, after in self.conn.execute(
                    select(r.member_id, r.before, r.after).order_by(r.member_id)
                )
            ]
            if raised:
                self._write_rises(program_id, first, last, rise, dialect)
        finally:
            _RISES.drop(self.conn)
        return raised

    def _write_rises(
        self, program_id: int, first: int, last: int, rise: BulkRise, dialect: str
    ) -> None:
        m, t, r, o = members.c, member_tiers.c, _RISES.c, outbox_events.c
        now = bindparam("now", rise.now, type_=UTCDateTime)
        due = bindparam("due", rise.review_due, type_=UTCDateTime)
        self.conn.execute(
            insert(member_tiers).from_select(
                ["member_id", "program_id", "earned_tier", "review_due", "updated_at"],
                select(r.member_id, literal(program_id), r.after, due, now)
                .where(not_(r.stored))
                .order_by(r.member_id),
            )
        )
        # each by its key, the risen tier looked up by the temporary table's key (as
        # ``UPDATE ... FROM``, SQLite walked the whole target table for every batch),
        # within the batch's range (PostgreSQL merged the rows with the target's key
        # from its start: a walk growing with every batch)
        risen = select(r.after).where(r.member_id == t.member_id).scalar_subquery()
        self.conn.execute(
            update(member_tiers)
            .where(
                t.member_id.in_(select(r.member_id).where(r.stored)),
                t.member_id.between(first, last),
            )
            .values(earned_tier=risen, grace_since=None, review_due=due, updated_at=now)
        )
        risen = select(r.after).where(r.member_id == m.id).scalar_subquery()
        self.conn.execute(
            update(members)
            .where(m.id.in_(select(r.member_id)), m.id.between(first, last))
            .values(tier_code=risen, tier_until=None)
        )

        def json_text(value: Any) -> Any:
            text_ = literal(db_json(value))
            return cast(text_, JSONB) if dialect == "postgresql" else text_

        bar = case(
            {code: json_text(v) for code, v in rise.bars.items()}, value=r.after, else_=null()
        )
        metrics = _json_object(
            dialect, "spend", r.spend, "points", r.points, "purchases", r.purchases
        )
        self.conn.execute(
            insert(tier_changes).from_select(
                list(_CHANGE_KEYS),
                select(
                    literal(program_id),
                    r.member_id,
                    r.before,
                    r.after,
                    now,
                    literal(rise.reason),
                    metrics,
                    bar,
                    literal(rise.rule_version),
                    literal("system"),
                    literal(rise.note),
                ).order_by(r.member_id),
            )
        )
        last_seq = select(func.max(o.seq)).where(o.member_id == r.member_id).scalar_subquery()
        payload = _json_object(
            dialect,
            "member_id",
            r.member_id,
            "from_tier",
            r.before,
            "to_tier",
            r.after,
            "reason",
            literal(rise.reason),
            "at",
            literal(rise.now.isoformat()),
            "rule_version",
            literal(rise.rule_version),
        )
        self.conn.execute(
            insert(outbox_events).from_select(
                list(EVENT_COLUMNS),
                select(
                    _uuid4(dialect),
                    literal(program_id),
                    r.member_id,
                    func.coalesce(last_seq, 0) + 1,
                    literal("tier.changed"),
                    literal(rise.schema_version),
                    payload,
                    now,
                ).order_by(r.member_id),
            )
        )

    def _among(self, only: list[int]) -> Among:
        """The test of a column against the member ids ``only`` (a batch's few)."""
        if self.conn.dialect.name == "postgresql":
            # one array parameter, as a set to join: a generic plan misjudges
            # ``= ANY(:ids)`` of thousands of ids
            ids = bindparam("only", only, type_=ARRAY(BigInteger))
            return lambda column: column.in_(select(func.unnest(ids)))
        return lambda column: column.in_(only)

    def window_metrics(
        self, first: int, last: int, start: datetime | None, end: datetime | None
    ) -> dict[int, tuple[int, int, int]]:
        """:meth:`metrics` of ``[start, end)`` for every member with an id from ``first``
        to ``last`` who has purchases in it, summed in the database (two grouped queries
        along ``ix_purchases_member_time``); a member without purchases there is absent."""
        p, r = purchases.c, returns.c
        where = [p.member_id >= first, p.member_id <= last]
        if start is not None:
            where.append(p.occurred_at >= start)
        if end is not None:
            where.append(p.occurred_at < end)
        found: dict[int, tuple[int, int, int]] = {
            int(mid): (int(spend), int(points), int(n))
            for mid, spend, points, n in self.conn.execute(
                select(
                    p.member_id,
                    func.coalesce(func.sum(p.total_minor - p.discount_minor), 0),
                    func.coalesce(func.sum(p.points_earned), 0),
                    func.count(),
                )
                .where(*where)
                .group_by(p.member_id)
            ).all()
        }
        back = self.conn.execute(
            select(
                p.member_id,
                func.coalesce(func.sum(r.refund_minor), 0),
                func.coalesce(func.sum(r.points_clawed_back), 0),
            )
            .select_from(returns.join(purchases, r.purchase_id == p.id))
            .where(*where)
            .group_by(p.member_id)
        ).all()
        for mid, spend, points in back:
            had = found.get(int(mid))
            if had is not None:
                found[int(mid)] = (had[0] - int(spend), had[1] - int(points), had[2])
        return found

    def save_standings(self, program_id: int, standings: list[Standing], now: datetime) -> None:
        """Store many standings at once (as :meth:`save`, each an insert or an update)."""
        new, old = [], []
        ts = db_time(self.conn)
        for s in standings:
            if s.stored:
                old.append(
                    {
                        "m": s.member_id,
                        "earned_tier": s.earned_tier,
                        "manual_tier": s.manual_tier,
                        "manual_until": s.manual_until,
                        "manual_reason": s.manual_reason,
                        "grace_since": s.grace_since,
                        "paid_tier": s.paid_tier,
                        "paid_until": s.paid_until,
                        "review_due": s.review_due,
                        "updated_at": now,
                    }
                )
            else:
                new.append(
                    (
                        s.member_id,
                        program_id,
                        s.earned_tier,
                        s.manual_tier,
                        ts(s.manual_until),
                        s.manual_reason,
                        ts(s.grace_since),
                        s.paid_tier,
                        ts(s.paid_until),
                        ts(s.review_due),
                        ts(now),
                    )
                )
                s.stored = True
        insert_rows(self.conn, "member_tiers", _STANDING_KEYS, new)
        if not old:
            return
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(_PG_UPDATE_STANDINGS, _columns(old))
        else:
            _UPDATE_STANDING.executemany(self.conn, old)

    def set_tier_codes(self, codes: list[tuple[int, str | None, datetime | None]]) -> None:
        """:meth:`set_tier_code` for many members at once: ``(member, tier, until)``."""
        if not codes:
            return
        if self.conn.dialect.name == "postgresql":
            rows = [
                {"m": m, "t": code, "u": until.isoformat() if until else None}
                for m, code, until in codes
            ]
            self.conn.exec_driver_sql(_PG_SET_TIER_CODES, (db_json(rows),))
            return
        ts = db_time(self.conn)
        sqlite_many(
            self.conn,
            "UPDATE members SET tier_code = ?, tier_until = ? WHERE id = ?",
            [(code, ts(until), m) for m, code, until in codes],
        )

    def add_changes(self, program_id: int, changes: list[dict[str, Any]]) -> None:
        """Append many lines to members' tier histories (each :meth:`add_change`'s
        values with its ``member_id``), in their order."""
        if not changes:
            return
        ts = db_time(self.conn)
        insert_rows(
            self.conn,
            "tier_changes",
            _CHANGE_KEYS,
            [
                (
                    program_id,
                    c["member_id"],
                    c.get("from_tier"),
                    c.get("to_tier"),
                    ts(c["at"]),
                    c["reason"],
                    db_json(c.get("metrics")),
                    db_json(c.get("thresholds")),
                    c.get("rule_version"),
                    c.get("actor"),
                    c.get("note"),
                )
                for c in changes
            ],
        )

    def standing(self, member_id: int) -> Standing:
        """The member's standing (an empty one when none is stored)."""
        t = member_tiers.c
        row = self.conn.execute(
            select(
                t.earned_tier,
                t.manual_tier,
                t.manual_until,
                t.manual_reason,
                t.grace_since,
                t.paid_tier,
                t.paid_until,
                t.review_due,
            ).where(t.member_id == member_id)
        ).first()
        if row is None:
            return Standing(member_id)
        earned, manual, until, reason, grace, paid, paid_until, due = row
        return Standing(
            member_id, earned, manual, until, reason, grace, True, paid, paid_until, due
        )

    def save(self, program_id: int, standing: Standing, now: datetime) -> None:
        """Store the standing (insert or update)."""
        values = {
            "earned_tier": standing.earned_tier,
            "manual_tier": standing.manual_tier,
            "manual_until": standing.manual_until,
            "manual_reason": standing.manual_reason,
            "grace_since": standing.grace_since,
            "paid_tier": standing.paid_tier,
            "paid_until": standing.paid_until,
            "review_due": standing.review_due,
            "updated_at": now,
        }
        if standing.stored:
            self.conn.execute(
                update(member_tiers)
                .where(member_tiers.c.member_id == standing.member_id)
                .values(**values)
            )
        else:
            self.conn.execute(
                insert(member_tiers).values(
                    member_id=standing.member_id, program_id=program_id, **values
                )
            )
            standing.stored = True

    def tier_code(self, member_id: int) -> str | None:
        """The member's effective tier, as rules read it."""
        code: str | None = self.conn.execute(
            select(members.c.tier_code).where(members.c.id == member_id)
        ).scalar_one_or_none()
        return code

    def set_tier_code(
        self, member_id: int, code: str | None, until: datetime | None = None
    ) -> None:
        """Set the effective tier rules read, and when it lapses by time alone (``until``:
        a paid or manual floor lifting it ends then; None: not by time)."""
        self.conn.execute(
            update(members)
            .where(members.c.id == member_id)
            .values(tier_code=code, tier_until=until)
        )

    def tier_until(self, member_id: int) -> datetime | None:
        """When the member's stored effective tier lapses by time alone."""
        at: datetime | None = self.conn.execute(
            select(members.c.tier_until).where(members.c.id == member_id)
        ).scalar_one_or_none()
        return at

    def add_change(self, program_id: int, member_id: int, **values: Any) -> int:
        """Append one line to the member's tier history; its id."""
        return new_id(
            self.conn.execute(
                insert(tier_changes).values(program_id=program_id, member_id=member_id, **values)
            )
        )

    def last_change_id(self, member_id: int) -> int:
        """The id of the member's newest tier change."""
        return int(
            self.conn.execute(
                select(func.max(tier_changes.c.id)).where(tier_changes.c.member_id == member_id)
            ).scalar_one()
        )

    def history(self, member_id: int, limit: int = 50) -> list[StoredChange]:
        """The member's tier changes, newest first."""
        c = tier_changes.c
        rows = self.conn.execute(
            select(
                c.id,
                c.from_tier,
                c.to_tier,
                c.at,
                c.reason,
                c.metrics,
                c.thresholds,
                c.rule_version,
                c.actor,
                c.note,
            )
            .where(c.member_id == member_id)
            .order_by(c.id.desc())
            .limit(limit)
        )
        return [StoredChange(**r._mapping) for r in rows]

    def changes_between(
        self,
        member_id: int,
        since: datetime | None,
        until: datetime | None,
        limit: int = 200,
    ) -> list[StoredChange]:
        """The member's tier changes at ``since`` or later and before ``until`` (either
        open when ``None``), newest first."""
        c = tier_changes.c
        q = select(
            c.id,
            c.from_tier,
            c.to_tier,
            c.at,
            c.reason,
            c.metrics,
            c.thresholds,
            c.rule_version,
            c.actor,
            c.note,
        ).where(c.member_id == member_id)
        if since is not None:
            q = q.where(c.at >= since)
        if until is not None:
            q = q.where(c.at < until)
        rows = self.conn.execute(q.order_by(c.at.desc(), c.id.desc()).limit(limit))
        return [StoredChange(**r._mapping) for r in rows]

    def distribution(self, program_id: int) -> dict[str | None, int]:
        """How many of the program's members (erased ones left out) are at each effective
        tier now (``None``: no tier)."""
        m = members.c
        rows = self.conn.execute(
            select(m.tier_code, func.count())
            .where(m.program_id == program_id, m.erased_at.is_(None))
            .group_by(m.tier_code)
        )
        return {code: int(n) for code, n in rows}

    def changes_since(
        self, program_id: int, since: datetime
    ) -> list[tuple[datetime, str | None, str | None]]:
        """Every tier change of the program's members at ``since`` or later: (when, from,
        to), oldest first."""
        c = tier_changes.c
        rows = self.conn.execute(
            select(c.at, c.from_tier, c.to_tier)
            .where(c.program_id == program_id, c.at >= since)
            .order_by(c.at)
        )
        return [(at, a, b) for at, a, b in rows]

    def member_ids(self, program_id: int, after: int, limit: int) -> list[int]:
        """A page of the program's member ids (active or not), in id order after ``after``."""
        m = members.c
        rows = self.conn.execute(
            select(m.id)
            .where(and_(m.program_id == program_id, m.id > after, m.erased_at.is_(None)))
            .order_by(m.id)
            .limit(limit)
        )
        return list(rows.scalars().all())

    def member_count(self, program_id: int) -> int:
        """How many members a full review or recompute walks."""
        return int(
            self.conn.execute(
                select(func.count()).where(
                    members.c.program_id == program_id, members.c.erased_at.is_(None)
                )
            ).scalar_one()
        )
