"""Tier rows: a member's standing (``member_tiers``), the history of changes
(``tier_changes``) and the metrics a tier is judged on, summed from purchases and returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from kopilka.store.db import FastStatement
from kopilka.store.repos import new_id
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
        grace_since=None,
        review_due=bindparam("d"),
        updated_at=bindparam("now"),
    )
)
_SET_TIER_CODE = FastStatement(
    update(members)
    .where(members.c.id == bindparam("m"))
    .values(tier_code=bindparam("t"), tier_until=bindparam("u"))
)
_INSERT_CHANGE = FastStatement(
    insert(tier_changes),
    (
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
    ),
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
        row = _WINDOW.tuples(
            self.conn, {"m": member_id, "s": start or EARLIEST, "e": end or LATEST}
        )[0]
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
    ) -> None:
        """Store a purchase's upgrade: the earned tier (grace ends; the next anniversary
        review ``review_due``), the effective tier (and when it lapses by time, ``until``)
        when either changed, and the history line ``change`` (tier_changes' other columns)."""
        values = {"m": member_id, "p": program_id, "t": earned, "now": now, "d": review_due}
        (_UPDATE_EARNED if view.stored else _INSERT_STANDING).execute(self.conn, values)
        if effective != view.tier_code or view.manual_until or view.paid_until:
            _SET_TIER_CODE.execute(self.conn, {"m": member_id, "t": effective, "u": until})
        row = {"program_id": program_id, "member_id": member_id, "at": now, **change}
        _INSERT_CHANGE.execute(self.conn, row)

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
