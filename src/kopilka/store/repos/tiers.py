"""Tier rows: a member's standing (``member_tiers``), the history of changes
(``tier_changes``) and the metrics a tier is judged on, summed from purchases and returns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    func,
    insert,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import aliased

from kopilka.store.db import FastFamily, FastStatement
from kopilka.store.repos import new_id
from kopilka.store.repos.outbox import INSERT_ONE, NewEvent, one_row
from kopilka.store.tables import (
    journal_entries,
    member_tiers,
    members,
    postings,
    purchases,
    returns,
    tier_changes,
)

# the references of the earnings of event rules Kopilka counts as events' points: events
# sent to it and birthdays; a tier's welcome bonus (``tier_change:``) never, or reaching a
# tier could lift the member to the next one by itself
EVENT_REFERENCES = ("event:%", "birthday:%")

# bounds standing for "no bound" in the purchase path's one query
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _window_sums() -> FastStatement:
    """One round trip on the purchase path: the member's earned tier and the metrics of
    a window (spend, points, purchases, and what returns of those purchases took back),
    each a scalar subquery over the member's purchases by ``(member_id, occurred_at)``."""
    p, r, t = purchases.c, returns.c, member_tiers.c
    in_window = (
        p.member_id == bindparam("m"),
        p.occurred_at >= bindparam("s"),
        p.occurred_at < bindparam("e"),
    )

    def of_purchases(value: Any) -> Any:
        return select(value).where(*in_window).scalar_subquery()

    def of_returns(value: Any) -> Any:
        joined = returns.join(purchases, r.purchase_id == p.id)
        return select(value).select_from(joined).where(*in_window).scalar_subquery()

    def of_standing(column: Any) -> Any:
        return select(column).where(t.member_id == bindparam("m")).scalar_subquery()

    return FastStatement(
        select(
            of_purchases(func.coalesce(func.sum(p.total_minor - p.discount_minor), 0)),
            of_purchases(func.coalesce(func.sum(p.points_earned), 0)),
            of_purchases(func.count()),
            of_returns(func.coalesce(func.sum(r.refund_minor), 0)),
            of_returns(func.coalesce(func.sum(r.points_clawed_back), 0)),
            of_standing(func.count()).label("stored"),
            of_standing(t.earned_tier).label("earned_tier"),
            of_standing(t.manual_tier).label("manual_tier"),
            of_standing(t.manual_until).label("manual_until"),
            of_standing(t.paid_tier).label("paid_tier"),
            of_standing(t.paid_until).label("paid_until"),
            select(members.c.tier_code)
            .where(members.c.id == bindparam("m"))
            .scalar_subquery()
            .label("tier_code"),
        )
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
_INSERT_STANDINGS = FastStatement(insert(member_tiers), _STANDING_KEYS)
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
_PG_SET_TIER_CODES = text(
    "UPDATE members AS m SET tier_code = u.t, tier_until = u.u "
    "FROM unnest(CAST(:m AS bigint[]), CAST(:t AS varchar[]), CAST(:u AS timestamptz[])) "
    "AS u(id, t, u) WHERE m.id = u.id"
)
_PG_INSERT_CHANGES = text(
    "INSERT INTO tier_changes (program_id, member_id, from_tier, to_tier, at, reason, "
    "metrics, thresholds, rule_version, actor, note) "
    "SELECT u.program_id, u.member_id, u.from_tier, u.to_tier, u.at, u.reason, "
    "CAST(u.metrics AS jsonb), CAST(u.thresholds AS jsonb), u.rule_version, u.actor, u.note "
    "FROM unnest(CAST(:program_id AS bigint[]), CAST(:member_id AS bigint[]), "
    "CAST(:from_tier AS varchar[]), CAST(:to_tier AS varchar[]), "
    "CAST(:at AS timestamptz[]), CAST(:reason AS varchar[]), CAST(:metrics AS text[]), "
    "CAST(:thresholds AS text[]), CAST(:rule_version AS integer[]), "
    "CAST(:actor AS varchar[]), CAST(:note AS varchar[])) "
    "AS u(program_id, member_id, from_tier, to_tier, at, reason, metrics, thresholds, "
    "rule_version, actor, note)"
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


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as one list per key (the arrays of a PostgreSQL ``unnest``)."""
    return {k: [r[k] for r in rows] for k in rows[0]}


class TierRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

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

    def standings_between(
        self, program_id: int, first: int, last: int
    ) -> dict[int, tuple[Standing, str | None]]:
        """The standing and effective tier (``members.tier_code``) of each of the
        program's members (erased ones left out) with an id from ``first`` to ``last``, in
        one query: a review's or recompute's batch."""
        m, t = members.c, member_tiers.c
        rows = self.conn.execute(
            select(
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
            )
            .select_from(members.outerjoin(member_tiers, t.member_id == m.id))
            .where(
                m.program_id == program_id,
                m.id >= first,
                m.id <= last,
                m.erased_at.is_(None),
            )
        ).all()
        found: dict[int, tuple[Standing, str | None]] = {}
        for mid, code, stored, earned, manual, until, reason, grace, paid, paid_until, due in rows:
            standing = (
                Standing(mid, earned, manual, until, reason, grace, True, paid, paid_until, due)
                if stored is not None
                else Standing(mid)
            )
            found[mid] = (standing, code)
        return found

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
        for s in standings:
            row = {
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
            if s.stored:
                old.append({"m": s.member_id, **row})
            else:
                new.append({"member_id": s.member_id, "program_id": program_id, **row})
                s.stored = True
        _INSERT_STANDINGS.executemany(self.conn, new)
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
        rows = [{"m": m, "t": code, "u": until} for m, code, until in codes]
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(_PG_SET_TIER_CODES, _columns(rows))
        else:
            _SET_TIER_CODE.executemany(self.conn, rows)

    def add_changes(self, program_id: int, changes: list[dict[str, Any]]) -> None:
        """Append many lines to members' tier histories (each :meth:`add_change`'s
        values with its ``member_id``), in their order."""
        if not changes:
            return
        rows = [{k: c.get(k) for k in _CHANGE_KEYS} | {"program_id": program_id} for c in changes]
        if self.conn.dialect.name == "postgresql":
            for row in rows:
                for k in ("metrics", "thresholds"):
                    row[k] = None if row[k] is None else json.dumps(row[k])
            self.conn.execute(_PG_INSERT_CHANGES, _columns(rows))
        else:
            _INSERT_CHANGE.executemany(self.conn, rows)

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
        return [r[0] for r in rows]

    def member_count(self, program_id: int) -> int:
        """How many members a full review or recompute walks."""
        return int(
            self.conn.execute(
                select(func.count()).where(
                    members.c.program_id == program_id, members.c.erased_at.is_(None)
                )
            ).scalar_one()
        )
