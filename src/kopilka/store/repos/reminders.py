"""Reminder rows: each program's settings (``reminder_settings``), and the members each
kind of reminder is for, read set-based (open lots by expiry, the last purchase, birthdays,
members with a tier), a page at a time in member id order."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, and_, extract, func, insert, or_, select, update

from kopilka.store.tables import (
    LOT_HAS_POINTS,
    lots,
    member_balances,
    members,
    purchases,
    reminder_settings,
)

_m = members.c
# reminders go to members who can read them: active, not erased
_REACHABLE = (_m.status == "active", _m.erased_at.is_(None))


class ReminderRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def settings(self, program_id: int) -> dict[str, object] | None:
        row = self.conn.execute(
            select(reminder_settings.c.settings).where(reminder_settings.c.program_id == program_id)
        ).first()
        return None if row is None else dict(row[0])

    def save_settings(
        self, program_id: int, settings: dict[str, object], at: datetime, actor: str
    ) -> None:
        values = {"settings": settings, "updated_at": at, "updated_by": actor}
        done = self.conn.execute(
            update(reminder_settings)
            .where(reminder_settings.c.program_id == program_id)
            .values(**values)
        )
        if not done.rowcount:
            self.conn.execute(insert(reminder_settings).values(program_id=program_id, **values))

    def expiring(
        self, program_id: int, after: datetime, until: datetime, from_member: int, limit: int
    ) -> list[tuple[int, datetime, int]]:
        """(member, expiry instant, points) of the open lots with points that expire in
        ``(after, until]``, summed by member and instant, members from ``from_member`` on."""
        c = lots.c
        q = (
            select(c.member_id, c.expires_at, func.sum(c.remaining))
            .join(members, _m.id == c.member_id)
            .where(
                c.program_id == program_id,
                c.expired_at.is_(None),
                LOT_HAS_POINTS,
                c.expires_at > after,
                c.expires_at <= until,
                c.member_id >= from_member,
                *_REACHABLE,
            )
            .group_by(c.member_id, c.expires_at)
            .order_by(c.member_id, c.expires_at)
            .limit(limit)
        )
        return [(int(m), at, int(points)) for m, at, points in self.conn.execute(q)]

    def last_activity(
        self, program_id: int, before: datetime, after_member: int, limit: int
    ) -> list[tuple[int, datetime]]:
        """(member, last purchase or else enrolment) of the members whose last one is
        at or before ``before``, members after ``after_member``."""
        p = purchases.c
        last = (
            select(func.max(p.occurred_at))
            .where(p.member_id == _m.id)
            .correlate(members)
            .scalar_subquery()
        )
        activity = func.coalesce(last, _m.enrolled_at)
        q = (
            select(_m.id, activity)
            .where(
                _m.program_id == program_id, _m.id > after_member, activity <= before, *_REACHABLE
            )
            .order_by(_m.id)
            .limit(limit)
        )
        return [(int(m), at) for m, at in self.conn.execute(q)]

    def born_on(self, program_id: int, days: list[tuple[int, int]]) -> list[tuple[int, date]]:
        """(member, birthday) of the members born on any of ``days`` (month, day)."""
        month, day = extract("month", _m.birthday), extract("day", _m.birthday)
        q = (
            select(_m.id, _m.birthday)
            .where(
                _m.program_id == program_id,
                _m.birthday.is_not(None),
                or_(*[and_(month == m, day == d) for m, d in days]),
                *_REACHABLE,
            )
            .order_by(_m.id)
        )
        return [(int(m), b) for m, b in self.conn.execute(q)]

    def with_tier(self, program_id: int, after_member: int, limit: int) -> list[int]:
        """Members who hold a tier, after ``after_member``."""
        q = (
            select(_m.id)
            .where(
                _m.program_id == program_id,
                _m.tier_code.is_not(None),
                _m.id > after_member,
                *_REACHABLE,
            )
            .order_by(_m.id)
            .limit(limit)
        )
        return [int(m) for (m,) in self.conn.execute(q)]

    def available(self, member_id: int) -> int:
        """The member's available points (0 before their first movement)."""
        row = self.conn.execute(
            select(member_balances.c.available).where(member_balances.c.member_id == member_id)
        ).first()
        return 0 if row is None else int(row[0])
