"""Purchases with their lines, per-line awards and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select

from kopilka.store.db import FastFamily, FastStatement
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
# the purchase, its lines and their awards: one statement on PostgreSQL
_INSERT_FAMILY = FastFamily(_INSERT_PURCHASE, "purchase_id", (_INSERT_LINES, _INSERT_AWARDS))


class PurchaseRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, p: StoredPurchase) -> int:
        return _INSERT_FAMILY.insert(
            self.conn,
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
        )

    def by_receipt(self, program_id: int, receipt_id: str) -> StoredPurchase | None:
        row = self.conn.execute(
            select(purchases).where(_P.program_id == program_id, _P.receipt_id == receipt_id)
        ).first()
        if row is None:
            return None
        m = dict(row._mapping)
        p = StoredPurchase(**m)
        lc = purchase_lines.c
        for r in self.conn.execute(
            select(
                lc.line_id,
                lc.sku,
                lc.category,
                lc.brand,
                lc.quantity,
                lc.amount_minor,
                lc.discount_minor,
                lc.points_redeemed,
                lc.points_earned,
            )
            .where(lc.purchase_id == p.id)
            .order_by(lc.line_id)
        ):
            p.lines.append(StoredLine(r[0], r[1], r[2], r[3], Decimal(r[4]), *r[5:]))
        ac = line_awards.c
        for a in self.conn.execute(
            select(ac.line_id, ac.rule_id, ac.rule_version, ac.points)
            .where(ac.purchase_id == p.id)
            .order_by(ac.id)
        ):
            p.awards.append(StoredAward(a[0], a[1], a[2], a[3]))
        rc = returns.c
        for rt in self.conn.execute(
            select(
                rc.return_id,
                rc.occurred_at,
                rc.points_clawed_back,
                rc.points_restored,
                rc.refund_minor,
                rc.lines,
            )
            .where(rc.purchase_id == p.id)
            .order_by(rc.id)
        ):
            p.returns.append(StoredReturn(rt[0], rt[1], rt[2], rt[3], rt[4], rt[5]))
        return p

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
