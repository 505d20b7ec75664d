"""The console's members list: search, filters, orders and keyset pages (no OFFSET)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select

from kopilka.store.db import UNICODE_LOWER
from kopilka.store.tables import member_balances, member_identifiers, members, purchases

# the highest code point: ``value < prefix + TOP`` bounds a prefix as a range, which the
# (program_id, kind, value) index serves on both databases (LIKE is not always indexed)
TOP = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class ListFilter:
    """What the repository filters on, already normalised by the service."""

    program_id: int
    names: str | None = None  # lower-case name prefix
    identifiers: tuple[tuple[str, str], ...] = ()  # (kind, normalised prefix), any of them
    status: str | None = None
    tier: str | None = None
    enrolled_from: datetime | None = None
    enrolled_before: datetime | None = None
    balance_min: int | None = None
    balance_max: int | None = None
    last_purchase_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class ListedMember:
    id: int
    first_name: str | None
    last_name: str | None
    status: str
    tier_code: str | None
    enrolled_at: datetime
    available: int


def _prefix(column: Any, prefix: str) -> ColumnElement[bool]:
    return and_(column >= prefix, column < prefix + TOP)


# every member has a balances row (enrollment and the bulk importer write one): an inner
# join lets the (program_id, available, member_id) index serve the order by balance
BALANCE = member_balances.c.available
SORT_KEYS: dict[str, Any] = {
    "enrolled": members.c.enrolled_at,
    "name": members.c.last_name,  # NULLs apart: MemberListRepo._by_name
    "balance": BALANCE,
}


class MemberListRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def page(
        self,
        f: ListFilter,
        sort: str,
        descending: bool,
        after: tuple[Any, int] | None,
        limit: int,
    ) -> list[ListedMember]:
        """Up to ``limit`` members in order ``(sort key, id)``, after the cursor's pair."""
        m = members.c
        base = (
            select(
                m.id,
                m.first_name,
                m.last_name,
                m.status,
                m.tier_code,
                m.enrolled_at,
                BALANCE.label("available"),
            )
            .select_from(members.join(member_balances, member_balances.c.member_id == m.id))
            .where(*self._where(f))
        )
        if sort == "name":
            return self._by_name(base, descending, after, limit)
        key = SORT_KEYS[sort]
        # the tie-break from the table whose index serves the order
        last = member_balances.c.member_id if sort == "balance" else m.id
        q = base
        if after is not None:
            q = q.where(_after(key, last, *after, descending))
        order = (key.desc(), last.desc()) if descending else (key.asc(), last.asc())
        return [ListedMember(*row) for row in self.conn.execute(q.order_by(*order).limit(limit))]

    def _by_name(
        self, base: Any, descending: bool, after: tuple[Any, int] | None, limit: int
    ) -> list[ListedMember]:
        """By last name, then those without one (the reverse when descending): two index
        range reads rather than a sort of every member. A cursor whose name is None is in
        the second part."""
        m = members.c
        parts: list[tuple[ColumnElement[bool], Any]] = [
            (m.last_name.isnot(None), m.last_name),
            (m.last_name.is_(None), None),
        ]
        if descending:
            parts.reverse()
        rows: list[ListedMember] = []
        started = after is None
        for where, key in parts:
            q = base.where(where)
            if not started and after is not None:
                if (after[0] is None) != (key is None):
                    continue  # the cursor is in the later part: this one was read
                started = True
                q = q.where(_after(key, m.id, *after, descending))
            order: tuple[Any, ...]
            if key is not None:
                order = (key.desc(), m.id.desc()) if descending else (key.asc(), m.id.asc())
            else:
                order = (m.id.desc(),) if descending else (m.id.asc(),)
            q = q.order_by(*order).limit(limit - len(rows))
            rows.extend(ListedMember(*row) for row in self.conn.execute(q))
            if len(rows) >= limit:
                break
        return rows

    def _where(self, f: ListFilter) -> list[ColumnElement[bool]]:
        m = members.c
        where: list[ColumnElement[bool]] = [
            m.program_id == f.program_id,
            member_balances.c.program_id == f.program_id,
        ]
        matches: list[ColumnElement[bool]] = []
        if f.names is not None:
            # case-insensitive prefix of the last or the first name
            columns: list[Any] = [m.last_name, m.first_name]
            if " " in f.names:  # "anna petr": the whole name's beginning
                columns.append(
                    func.coalesce(m.first_name, "") + " " + func.coalesce(m.last_name, "")
                )
            lower = func.lower
            if self.conn.dialect.name == "sqlite" and not f.names.isascii():
                # SQLite's own lower() leaves "Кузьмина" as it is: Python's folds it
                lower = getattr(func, UNICODE_LOWER)
            for column in columns:
                matches.append(lower(column).like(_escape(f.names) + "%", escape="\\"))
        if f.identifiers:
            i = member_identifiers.c
            # driven from the (program_id, kind, value) index: the few members whose
            # identifier starts so, rather than every member tested in turn
            matches.append(
                m.id.in_(
                    select(i.member_id).where(
                        i.program_id == f.program_id,
                        or_(*(and_(i.kind == k, _prefix(i.value, v)) for k, v in f.identifiers)),
                    )
                )
            )
        if matches:
            where.append(or_(*matches))
        if f.status is not None:
            where.append(m.status == f.status)
        if f.tier is not None:
            where.append(m.tier_code == f.tier)
        if f.enrolled_from is not None:
            where.append(m.enrolled_at >= f.enrolled_from)
        if f.enrolled_before is not None:
            where.append(m.enrolled_at < f.enrolled_before)
        if f.balance_min is not None:
            where.append(f.balance_min <= BALANCE)
        if f.balance_max is not None:
            where.append(f.balance_max >= BALANCE)
        if f.last_purchase_before is not None:
            # bought at least once, and nothing since that instant
            p = purchases.c
            where.append(m.purchase_count > 0)
            where.append(
                ~exists().where(p.member_id == m.id, p.occurred_at >= f.last_purchase_before)
            )
        return where

    def identifiers_of(self, member_ids: Sequence[int]) -> dict[int, dict[str, str]]:
        """Each member's identifiers by kind (the first of a kind, by id)."""
        if not member_ids:
            return {}
        i = member_identifiers.c
        rows = self.conn.execute(
            select(i.member_id, i.kind, i.value)
            .where(i.member_id.in_(list(member_ids)))
            .order_by(i.id)
        )
        found: dict[int, dict[str, str]] = {}
        for member_id, kind, value in rows:
            found.setdefault(member_id, {}).setdefault(kind, value)
        return found


def _after(key: Any, last: Any, value: Any, last_id: int, descending: bool) -> Any:
    """Rows after ``(value, last_id)`` in the order ``(key, last)``; no key: by id alone."""
    if key is None:
        return last < last_id if descending else last > last_id
    if descending:
        return or_(key < value, and_(key == value, last < last_id))
    return or_(key > value, and_(key == value, last > last_id))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
