"""Birthday bonuses (``birthday_bonuses``): the members born on a day, and which of them
were credited the ``birthday`` event's points in a year (one row per member and year)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, extract, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kopilka.store.tables import birthday_bonuses, members

_m = members.c


class BirthdayBonusRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def born_on(
        self, program_id: int, days: list[tuple[int, int]], after_member: int, limit: int
    ) -> list[tuple[int, date, str]]:
        """(member, birthday, status) of the members not erased born on any of ``days``
        (month, day), after ``after_member`` in id order, at most ``limit``."""
        month, day = extract("month", _m.birthday), extract("day", _m.birthday)
        q = (
            select(_m.id, _m.birthday, _m.status)
            .where(
                _m.program_id == program_id,
                _m.id > after_member,
                _m.birthday.is_not(None),
                _m.erased_at.is_(None),
                or_(*[and_(month == m, day == d) for m, d in days]),
            )
            .order_by(_m.id)
            .limit(limit)
        )
        return [(int(m), b, str(s)) for m, b, s in self.conn.execute(q)]

    def credited(self, member_ids: list[int], year: int) -> set[int]:
        """Which of ``member_ids`` were credited their birthday bonus of ``year``."""
        if not member_ids:
            return set()
        b = birthday_bonuses.c
        q = select(b.member_id).where(b.member_id.in_(member_ids), b.year == year)
        return {int(m) for (m,) in self.conn.execute(q)}

    def claim(
        self, program_id: int, member_id: int, year: int, day: date, points: int, at: datetime
    ) -> bool:
        """Record the member's bonus of ``year``; False when it is recorded already (by an
        earlier run, or by a concurrent one: on PostgreSQL the insert waits for the other
        transaction and then does nothing)."""
        insert: Any = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        result = self.conn.execute(
            insert(birthday_bonuses)
            .values(
                program_id=program_id,
                member_id=member_id,
                year=year,
                day=day,
                points=points,
                at=at,
            )
            .on_conflict_do_nothing(index_elements=["member_id", "year"])
            # the returned row says it was written (rowcount is -1 here on psycopg)
            .returning(birthday_bonuses.c.member_id)
        )
        return result.first() is not None
