"""The console's receipts list: filters, orders and keyset pages (no OFFSET), and what a
page's rows were returned of."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select

from kopilka.store.tables import journal_entries, purchase_lines, purchases, returns


@dataclass(frozen=True, slots=True)
class ReceiptFilter:
    """What the repository filters on, already checked and resolved by the service.

    ``store``: a store's code; ``no_store``: only receipts booked without one (a
    store-bound caller without a store sees only those). ``returned``: True, receipts
    with at least one return; False, those with none."""

    program_id: int
    occurred_from: datetime | None = None
    occurred_before: datetime | None = None
    store: str | None = None
    no_store: bool = False
    channel: str | None = None
    member_id: int | None = None
    total_min: int | None = None
    total_max: int | None = None
    returned: bool | None = None


@dataclass(frozen=True, slots=True)
class ListedReceipt:
    id: int
    receipt_id: str
    member_id: int
    occurred_at: datetime
    store: str | None
    channel: str | None
    total_minor: int
    discount_minor: int
    points_earned: int
    points_redeemed: int


# fewer receipts than this in an amount range are found by the amount index (see
# ReceiptListRepo._few_by_amount)
FEW = 2000
SORT_KEYS: dict[str, Any] = {"date": purchases.c.occurred_at, "amount": purchases.c.total_minor}


class ReceiptListRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def page(
        self,
        f: ReceiptFilter,
        sort: str,
        descending: bool,
        after: tuple[Any, int] | None,
        limit: int,
    ) -> list[ListedReceipt]:
        """Up to ``limit`` receipts in order ``(sort key, id)``, after the cursor's pair."""
        p = purchases.c
        key = SORT_KEYS[sort]
        q = select(
            p.id,
            p.receipt_id,
            p.member_id,
            p.occurred_at,
            p.store,
            p.channel,
            p.total_minor,
            p.discount_minor,
            p.points_earned,
            p.points_redeemed,
        ).where(*self._where(f, amounts_by_index=sort == "amount" or self._few_by_amount(f)))
        if after is not None:
            value, last_id = after
            # the first condition bounds the index range (an OR alone is read as a filter
            # from the start of the order, so a deep page would read every page before it)
            if descending:
                q = q.where(key <= value, or_(key < value, and_(key == value, p.id < last_id)))
            else:
                q = q.where(key >= value, or_(key > value, and_(key == value, p.id > last_id)))
        order = (key.desc(), p.id.desc()) if descending else (key.asc(), p.id.asc())
        rows = self.conn.execute(q.order_by(*order).limit(limit))
        return [ListedReceipt(**row._mapping) for row in rows]

    def _few_by_amount(self, f: ReceiptFilter) -> bool:
        """Whether the amount filters alone leave fewer than FEW receipts: then their
        index finds them and they are sorted by date; otherwise the date index is read
        in order and the amounts tested on the way, since a page's receipts are then
        found within a few thousand rows (a planner may pick either way, and SQLite
        picks the amount index even for half of a million receipts, then sorts them)."""
        if f.total_min is None and f.total_max is None:
            return False
        p = purchases.c
        bounds: list[ColumnElement[bool]] = [p.program_id == f.program_id]
        if f.total_min is not None:
            bounds.append(p.total_minor >= f.total_min)
        if f.total_max is not None:
            bounds.append(p.total_minor <= f.total_max)
        some = select(p.id).where(*bounds).limit(FEW).subquery()
        return int(self.conn.execute(select(func.count()).select_from(some)).scalar_one()) < FEW

    def _where(self, f: ReceiptFilter, *, amounts_by_index: bool) -> list[ColumnElement[bool]]:
        p = purchases.c
        # "+ 0" keeps a planner from reading the amount index (see _few_by_amount)
        total = p.total_minor if amounts_by_index else p.total_minor + 0
        where: list[ColumnElement[bool]] = [p.program_id == f.program_id]
        if f.occurred_from is not None:
            where.append(p.occurred_at >= f.occurred_from)
        if f.occurred_before is not None:
            where.append(p.occurred_at < f.occurred_before)
        if f.no_store:
            where.append(p.store.is_(None))
        elif f.store is not None:
            where.append(p.store == f.store)
        if f.channel is not None:
            where.append(p.channel == f.channel)
        if f.member_id is not None:
            where.append(p.member_id == f.member_id)
        if f.total_min is not None:
            where.append(total >= f.total_min)
        if f.total_max is not None:
            where.append(total <= f.total_max)
        if f.returned is not None:
            # the (purchase_id, return_id) unique index answers it per receipt
            some = exists().where(returns.c.purchase_id == p.id)
            where.append(some if f.returned else ~some)
        return where

    def returned_of(self, purchase_ids: Sequence[int]) -> dict[int, tuple[Decimal, Decimal]]:
        """For each of the purchases that has a return: the quantity bought in all and the
        quantity returned so far (the sum over its lines), to tell a partial return from
        a full one."""
        if not purchase_ids:
            return {}
        ids = list(purchase_ids)
        returned: dict[int, Decimal] = {}
        for purchase_id, lines in self.conn.execute(
            select(returns.c.purchase_id, returns.c.lines).where(returns.c.purchase_id.in_(ids))
        ):
            for x in lines:
                returned[purchase_id] = returned.get(purchase_id, Decimal(0)) + Decimal(
                    str(x["quantity"])
                )
        if not returned:
            return {}
        bought: dict[int, Decimal] = {}
        pl = purchase_lines.c
        for purchase_id, quantity in self.conn.execute(
            select(pl.purchase_id, pl.quantity).where(pl.purchase_id.in_(list(returned)))
        ):
            bought[purchase_id] = bought.get(purchase_id, Decimal(0)) + Decimal(quantity)
        return {i: (bought.get(i, Decimal(0)), q) for i, q in returned.items()}

    def receipt_of(self, program_id: int, purchase_id: int) -> tuple[str, str | None] | None:
        """The receipt id and store of the program's purchase ``purchase_id``."""
        p = purchases.c
        row = self.conn.execute(
            select(p.receipt_id, p.store).where(p.id == purchase_id, p.program_id == program_id)
        ).first()
        return (row[0], row[1]) if row else None

    def id_of(self, program_id: int, receipt_id: str) -> int | None:
        """The purchase id of the program's receipt ``receipt_id``."""
        p = purchases.c
        return self.conn.execute(
            select(p.id).where(p.program_id == program_id, p.receipt_id == receipt_id)
        ).scalar_one_or_none()

    def reasons_of(
        self, program_id: int, member_id: int, references: Sequence[str]
    ) -> dict[str, tuple[str | None, dict[str, Any] | None]]:
        """The reason and meta of the member's return entries booked under
        ``references`` (a return's ``receipt/return`` reference), by reference."""
        if not references:
            return {}
        e = journal_entries.c
        rows = self.conn.execute(
            select(e.reference, e.reason, e.meta)
            .where(
                e.member_id == member_id,
                e.program_id == program_id,
                e.kind == "reverse",
                e.reference.in_(list(references)),
            )
            .order_by(e.id)
        )
        return {ref: (reason, meta) for ref, reason, meta in rows}
