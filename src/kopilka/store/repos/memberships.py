"""Paid membership rows: the memberships members bought (``paid_memberships``) and each
sale with its money (``membership_sales``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from kopilka.store.repos import new_id
from kopilka.store.tables import membership_sales, paid_memberships


@dataclass(frozen=True, slots=True)
class StoredMembership:
    """One membership as stored."""

    id: int
    member_id: int
    plan_code: str
    tier_code: str
    status: str
    started_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class StoredSale:
    """One sale line: its receipt, kind, money (a refund's negative) and the term it sold."""

    receipt_id: str
    kind: str
    amount_minor: int
    currency: str
    at: datetime
    term_start: datetime | None
    term_end: datetime | None


_M = paid_memberships.c
_COLUMNS = (_M.id, _M.member_id, _M.plan_code, _M.tier_code, _M.status, _M.started_at, _M.ends_at)


class MembershipRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        program_id: int,
        member_id: int,
        plan_code: str,
        tier_code: str,
        started_at: datetime,
        ends_at: datetime,
        now: datetime,
    ) -> int:
        """Store a new, active membership; its id."""
        return new_id(
            self.conn.execute(
                insert(paid_memberships).values(
                    program_id=program_id,
                    member_id=member_id,
                    plan_code=plan_code,
                    tier_code=tier_code,
                    status="active",
                    started_at=started_at,
                    ends_at=ends_at,
                    updated_at=now,
                )
            )
        )

    def get(self, member_id: int, membership_id: int) -> StoredMembership | None:
        """The member's membership with this id (None: none of theirs)."""
        row = self.conn.execute(
            select(*_COLUMNS).where(_M.id == membership_id, _M.member_id == member_id)
        ).first()
        return StoredMembership(*row) if row else None

    def of_member(self, member_id: int, limit: int = 20) -> list[StoredMembership]:
        """The member's memberships, newest first."""
        rows = self.conn.execute(
            select(*_COLUMNS).where(_M.member_id == member_id).order_by(_M.id.desc()).limit(limit)
        )
        return [StoredMembership(*r) for r in rows]

    def update(self, membership_id: int, status: str, ends_at: datetime, now: datetime) -> None:
        """Set a membership's status and term end."""
        self.conn.execute(
            update(paid_memberships)
            .where(_M.id == membership_id)
            .values(status=status, ends_at=ends_at, updated_at=now)
        )

    def add_sale(
        self,
        program_id: int,
        member_id: int,
        membership_id: int,
        sale: StoredSale,
    ) -> None:
        """Record a sale line (a receipt id sells once per program: the table's key)."""
        self.conn.execute(
            insert(membership_sales).values(
                program_id=program_id,
                member_id=member_id,
                membership_id=membership_id,
                receipt_id=sale.receipt_id,
                kind=sale.kind,
                amount_minor=sale.amount_minor,
                currency=sale.currency,
                at=sale.at,
                term_start=sale.term_start,
                term_end=sale.term_end,
            )
        )

    def receipt_used(self, program_id: int, receipt_id: str) -> bool:
        """Whether a sale already carries this receipt id."""
        s = membership_sales.c
        found = self.conn.execute(
            select(s.id).where(s.program_id == program_id, s.receipt_id == receipt_id)
        ).first()
        return found is not None

    def sales(self, membership_id: int) -> list[StoredSale]:
        """A membership's sales, oldest first."""
        s = membership_sales.c
        rows = self.conn.execute(
            select(s.receipt_id, s.kind, s.amount_minor, s.currency, s.at, s.term_start, s.term_end)
            .where(s.membership_id == membership_id)
            .order_by(s.id)
        )
        return [StoredSale(*r) for r in rows]

    def paid_total(self, membership_id: int) -> int:
        """What the membership's sales took, less what refunds gave back (minor units)."""
        s = membership_sales.c
        total = self.conn.execute(
            select(func.coalesce(func.sum(s.amount_minor), 0)).where(
                s.membership_id == membership_id
            )
        ).scalar_one()
        return int(total)
