"""Purchases with their lines, per-line awards and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from kopilka.store.db import FastFamily, FastStatement
from kopilka.store.repos.members import ADD_PURCHASE_STATS
from kopilka.store.repos.tiers import PG_VIEW, PurchaseView, TierRepo, view_params, view_with
from kopilka.store.tables import column_names, line_awards, purchase_lines, purchases, returns


@dataclass(slots=True)
class StoredLine:
    line_id: str
    sku: str
    category: str | None
    brand: str | None
    quantity: Decimal
    amount_minor: int
    discount_minor: int
    points_redeemed: int
    points_earned: int


@dataclass(slots=True)
class StoredAward:
    line_id: str
    rule_id: str
    rule_version: int
    points: int


@dataclass(slots=True)
class StoredReturn:
    return_id: str
    occurred_at: datetime
    points_clawed_back: int
    points_restored: int
    refund_minor: int
    lines: list[dict[str, Any]]


@dataclass(slots=True)
class StoredPurchase:
    id: int
    program_id: int
    member_id: int
    receipt_id: str
    occurred_at: datetime
    store: str | None
    channel: str | None
    total_minor: int
    discount_minor: int
    points_earned: int
    points_redeemed: int
    earn_entry_id: int | None
    redeem_entry_id: int | None
    rule_version: int | None
    meta: dict[str, Any] | None
    partner: str | None = None
    payment_method: str | None = None
    lines: list[StoredLine] = field(default_factory=list)
    awards: list[StoredAward] = field(default_factory=list)
    returns: list[StoredReturn] = field(default_factory=list)


_P = purchases.c


# built once: these run on every purchase
_INSERT_PURCHASE = FastStatement(
    insert(purchases).returning(_P.id), column_names(purchases, without=("id",))
)
_INSERT_LINES = FastStatement(insert(purchase_lines), column_names(purchase_lines))
_INSERT_AWARDS = FastStatement(insert(line_awards), column_names(line_awards, without=("id",)))
# the purchase, its lines and their awards, and what it adds to its member's lifetime
# totals: one statement on PostgreSQL
_INSERT_FAMILY = FastFamily(
    _INSERT_PURCHASE,
    "purchase_id",
    (_INSERT_LINES, _INSERT_AWARDS),
    attached=(ADD_PURCHASE_STATS,),
)
# a stored purchase read back (every return reads its purchase)
_LC, _AC, _RC = purchase_lines.c, line_awards.c, returns.c
_BY_RECEIPT = FastStatement(
    select(purchases).where(_P.program_id == bindparam("p"), _P.receipt_id == bindparam("r"))
)
_LINES_OF = FastStatement(
    select(
        _LC.line_id,
        _LC.sku,
        _LC.category,
        _LC.brand,
        _LC.quantity,
        _LC.amount_minor,
        _LC.discount_minor,
        _LC.points_redeemed,
        _LC.points_earned,
    )
    .where(_LC.purchase_id == bindparam("i"))
    .order_by(_LC.line_id)
)
_AWARDS_OF = FastStatement(
    select(_AC.line_id, _AC.rule_id, _AC.rule_version, _AC.points)
    .where(_AC.purchase_id == bindparam("i"))
    .order_by(_AC.id)
)
_RETURNS_OF = FastStatement(
    select(
        _RC.return_id,
        _RC.occurred_at,
        _RC.points_clawed_back,
        _RC.points_restored,
        _RC.refund_minor,
        _RC.lines,
    )
    .where(_RC.purchase_id == bindparam("i"))
    .order_by(_RC.id)
)


@dataclass(frozen=True, slots=True)
class PurchaseSummary:
    """One purchase as a member's purchase list shows it (the breakdown is elsewhere)."""

    receipt_id: str
    occurred_at: datetime
    store: str | None
    total_minor: int
    points_earned: int
    points_redeemed: int


class PurchaseRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, p: StoredPurchase) -> int:
        """Store a purchase with its lines and awards, and add it to its member's lifetime
        totals (spend after discounts, one purchase more); its id."""
        return _INSERT_FAMILY.insert(self.conn, *self._family(p))

    def add_and_view(
        self, p: StoredPurchase, start: datetime | None, end: datetime | None
    ) -> tuple[int, PurchaseView]:
        """:meth:`add`, and the member's tier view of the window ``[start, end)`` with the
        purchase in it (``TierRepo.purchase_view`` after the purchase): on PostgreSQL read
        in the purchase's own statement, so that a program with tiers pays no round trip
        more per purchase for it (``bench_purchase_cost --without-tiers``)."""
        if self.conn.dialect.name != "postgresql":
            pid = self.add(p)
            return pid, TierRepo(self.conn).purchase_view(p.member_id, start, end)
        row = _INSERT_FAMILY.insert_and_read(
            self.conn, *self._family(p), PG_VIEW, view_params(p.member_id, start, end)
        )
        spend = p.total_minor - p.discount_minor
        return int(row[0]), view_with(row[1:], start, end, p.occurred_at, spend, p.points_earned)

    def _family(
        self, p: StoredPurchase
    ) -> tuple[dict[str, Any], tuple[list[dict[str, Any]], ...], tuple[dict[str, Any], ...]]:
        """The values of the purchase's family: its row, its lines' and awards' rows, and
        what it adds to its member's totals."""
        return (
            {
                "program_id": p.program_id,
                "member_id": p.member_id,
                "receipt_id": p.receipt_id,
                "occurred_at": p.occurred_at,
                "store": p.store,
                "channel": p.channel,
                "total_minor": p.total_minor,
                "discount_minor": p.discount_minor,
                "points_earned": p.points_earned,
                "points_redeemed": p.points_redeemed,
                "earn_entry_id": p.earn_entry_id,
                "redeem_entry_id": p.redeem_entry_id,
                "rule_version": p.rule_version,
                "meta": p.meta,
                "partner": p.partner,
                "payment_method": p.payment_method,
            },
            (
                [
                    {
                        "line_id": ln.line_id,
                        "sku": ln.sku,
                        "category": ln.category,
                        "brand": ln.brand,
                        "quantity": str(ln.quantity),
                        "amount_minor": ln.amount_minor,
                        "discount_minor": ln.discount_minor,
                        "points_redeemed": ln.points_redeemed,
                        "points_earned": ln.points_earned,
                    }
                    for ln in p.lines
                ],
                [
                    {
                        "line_id": a.line_id,
                        "rule_id": a.rule_id,
                        "rule_version": a.rule_version,
                        "points": a.points,
                    }
                    for a in p.awards
                ],
            ),
            ({"m": p.member_id, "s": p.total_minor - p.discount_minor, "n": 1},),
        )

    def by_receipt(self, program_id: int, receipt_id: str) -> StoredPurchase | None:
        found = _BY_RECEIPT.mappings(self.conn, {"p": program_id, "r": receipt_id})
        if not found:
            return None
        p = StoredPurchase(**found[0])
        of = {"i": p.id}
        for r in _LINES_OF.tuples(self.conn, of):
            p.lines.append(StoredLine(r[0], r[1], r[2], r[3], Decimal(r[4]), *r[5:]))
        p.awards = [StoredAward(*a) for a in _AWARDS_OF.tuples(self.conn, of)]
        p.returns = [StoredReturn(*rt) for rt in _RETURNS_OF.tuples(self.conn, of)]
        return p

    def booked_at(self, program_id: int, receipt_id: str) -> tuple[str | None] | None:
        """The store a receipt of the program was booked at (None: no store), as a
        1-tuple; None when the program has no such receipt."""
        row = self.conn.execute(
            select(purchases.c.store).where(
                purchases.c.program_id == program_id, purchases.c.receipt_id == receipt_id
            )
        ).first()
        return (row[0],) if row is not None else None

    def recent_for_member(
        self, program_id: int, member_id: int, limit: int
    ) -> list[PurchaseSummary]:
        """The member's latest ``limit`` purchases in the program, newest first."""
        p = purchases.c
        rows = self.conn.execute(
            select(
                p.receipt_id,
                p.occurred_at,
                p.store,
                p.total_minor,
                p.points_earned,
                p.points_redeemed,
            )
            .where(p.program_id == program_id, p.member_id == member_id)
            .order_by(p.id.desc())
            .limit(limit)
        ).fetchall()
        return [PurchaseSummary(*r) for r in rows]

    def recent(self, program_id: int, limit: int) -> list[StoredPurchase]:
        """The program's latest ``limit`` purchases with their lines, newest first (no
        awards or returns: what a rules preview re-evaluates)."""
        rows = self.conn.execute(
            select(purchases).where(_P.program_id == program_id).order_by(_P.id.desc()).limit(limit)
        ).mappings()
        found = [StoredPurchase(**r) for r in rows]
        for p in found:
            for r in _LINES_OF.tuples(self.conn, {"i": p.id}):
                p.lines.append(StoredLine(r[0], r[1], r[2], r[3], Decimal(r[4]), *r[5:]))
        return found

    def latest_member(self, program_id: int) -> int | None:
        """The member of the program's most recent purchase (None before any)."""
        p = purchases.c
        row = self.conn.execute(
            select(p.member_id).where(p.program_id == program_id).order_by(p.id.desc()).limit(1)
        ).first()
        return int(row[0]) if row is not None else None

    def add_return(self, purchase_id: int, r: StoredReturn) -> None:
        self.conn.execute(
            insert(returns).values(
                purchase_id=purchase_id,
                return_id=r.return_id,
                occurred_at=r.occurred_at,
                points_clawed_back=r.points_clawed_back,
                points_restored=r.points_restored,
                refund_minor=r.refund_minor,
                lines=r.lines,
            )
        )
